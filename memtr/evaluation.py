"""The evaluation stage: beam search with fairseq-generate, BLEU and chrF with sacrebleu.

Hypotheses are decoded from subwords back to plain text (``--post-process
sentencepiece``) and scored against the raw, untokenized references that the data stage
keeps, so the scores are comparable with published sacrebleu numbers.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import sacrebleu

from memtr.training import PLUGIN_DIR, device_args, thread_env

HYPOTHESIS = re.compile(r"^D-(\d+)\t\S+\t(.*)$", re.M)


def generate(
    checkpoint: Path, data: Path, split: str, ev: dict, bpe: bool, threads: int
) -> list[str]:
    """Decode ``split`` with beam search; return hypotheses in corpus order."""
    command = [
        sys.executable, "-m", "fairseq_cli.generate", str(data),
        "--user-dir", str(PLUGIN_DIR), "--path", str(checkpoint), "--task", "translation",
        "--gen-subset", split, "--beam", str(ev["beam"]), "--lenpen", str(ev["lenpen"]),
        "--max-len-a", str(ev["max_len_a"]), "--max-len-b", str(ev["max_len_b"]),
        "--batch-size", str(ev["batch_size"]),
        # fairseq 0.12.x silently drops a last batch whose size is not a multiple of this
        # (8 by default), which would leave sentences unscored.
        "--required-batch-size-multiple", "1",
        *(["--post-process", "sentencepiece"] if bpe else []),
        *device_args(),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=thread_env(threads))
    if proc.returncode != 0:
        raise RuntimeError(f"fairseq-generate failed: {proc.stderr.strip().splitlines()[-1]}")
    hyps = {int(i): text for i, text in HYPOTHESIS.findall(proc.stdout)}
    return [hyps[i] for i in sorted(hyps)]


def score(hyps: list[str], refs: list[str], tokenize: str) -> dict:
    """Corpus BLEU and chrF with their sacrebleu signatures."""
    if len(hyps) != len(refs):
        raise RuntimeError(
            f"{len(hyps)} hypotheses for {len(refs)} references: sentences were lost"
        )
    bleu = sacrebleu.metrics.BLEU(tokenize=tokenize)
    chrf = sacrebleu.metrics.CHRF()
    b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
    return {
        "bleu": round(b.score, 2),
        "chrf": round(c.score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "sentences": len(hyps),
    }


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def paired_bootstrap(
    system: list[str], baseline: list[str], refs: list[str], tokenize: str, resamples: int
) -> float:
    """p-value of sacrebleu's paired bootstrap test (BLEU) of ``system`` against ``baseline``."""
    from sacrebleu.significance import PairedTest

    bleu = sacrebleu.metrics.BLEU(tokenize=tokenize)
    systems = [("baseline", baseline), ("system", system)]
    test = PairedTest(
        systems, {"BLEU": bleu}, references=[refs], test_type="bs", n_samples=resamples
    )
    _, scores = test()
    return float(scores[next(k for k in scores if k != "System")][1].p_value)


EVAL_LM_RESULT = re.compile(r"Loss \(base 2\): ([\d.]+), Perplexity: ([\d.]+)")
EVAL_LM_TOKENS = re.compile(r"Evaluated ([\d,]+) tokens")


def eval_lm_command(checkpoint: Path, data: Path, split: str, params) -> list[str]:
    """``fairseq-eval-lm`` over ``split`` with the training's segments (``stream_lm``).

    ``eval.batch_size`` rows: each row is one contiguous part of the split, read segment by
    segment, so a recurrent memory carries over the whole row.
    """
    return [
        sys.executable, "-m", "fairseq_cli.eval_lm", str(data),
        "--user-dir", str(PLUGIN_DIR), "--path", str(checkpoint), "--task", "stream_lm",
        "--tokens-per-sample", str(params.train["tokens_per_sample"]),
        "--batch-size", str(params.eval["batch_size"]), "--gen-subset", split,
        "--num-workers", "0", "--output-word-probs", *device_args(),
    ]  # fmt: skip


# fairseq-eval-lm --output-word-probs: one log line per segment, "<id> w1 [lp1]\tw2 [lp2]..."
# with natural-log probabilities, after its logger's prefix (one of two formats)
SEGMENT_LINE = re.compile(
    r"^(?:.*\| fairseq_cli\.eval_lm \| |INFO:fairseq_cli\.eval_lm:)(\d+) (.*\[-?[\d.]+\])\s*$"
)
WORD_SCORE = re.compile(r" \[(-?[\d.]+)\]$")


def segment_scores(log: str) -> tuple[list[tuple[int, float, int]], str]:
    """(row, negative log-likelihood in nats, tokens) of every segment, in the order
    fairseq-eval-lm scored them, from its word probabilities; and the log without those
    (long) lines. ``stream_lm`` numbers a segment by its batch row, so the order is what
    tells segments apart: every model reads the same segments in the same order."""
    segments, kept = [], []
    for line in log.splitlines():
        found = SEGMENT_LINE.match(line)
        if found is None:
            kept.append(line)
            continue
        words = found.group(2).split("\t")
        nll = -sum(float(WORD_SCORE.search(w).group(1)) for w in words)
        segments.append((int(found.group(1)), nll, len(words)))
    return segments, "".join(x + "\n" for x in kept)


def check_segments(segments: list[tuple[int, float, int]], loss_base2: float, tokens: int,
                   split: str) -> None:  # fmt: skip
    """The segments must add up to fairseq's own total: every token once, the same loss."""
    count = sum(n for _, _, n in segments)
    loss = sum(nll for _, nll, _ in segments) / max(count, 1) / math.log(2)
    if count != tokens or abs(loss - loss_base2) > 1e-3:
        raise RuntimeError(
            f"fairseq-eval-lm on {split}: per-segment scores ({count} tokens, loss {loss:.4f}) "
            f"do not add up to its total ({tokens} tokens, loss {loss_base2:.4f})"
        )


def eval_lm(checkpoint: Path, data: Path, split: str, params, outputs: Path, label: str) -> dict:
    """Perplexity of a language model on ``split``. Writes fairseq's log (without the
    per-word lines) to ``outputs/eval_lm.<label>.log`` and, in scoring order, each segment's
    row, negative log-likelihood (nats) and tokens to ``outputs/segment_nll.<label>.tsv``:
    the per-example output of the paired bootstrap."""
    command = eval_lm_command(checkpoint, data, split, params)
    env = thread_env(params.train["threads"])
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    segments, log = segment_scores(proc.stdout + proc.stderr)
    log_path = outputs / f"eval_lm.{label}.log"
    log_path.write_text(log, encoding="utf-8")
    result = EVAL_LM_RESULT.search(log)
    tokens = EVAL_LM_TOKENS.search(log)
    if proc.returncode != 0 or result is None or tokens is None:
        raise RuntimeError(f"fairseq-eval-lm failed on {split}; see {log_path}")
    scores = {
        "ppl": round(float(result.group(2)), 3),
        "loss_base2": round(float(result.group(1)), 4),
        "tokens": int(tokens.group(1).replace(",", "")),
    }
    check_segments(segments, float(result.group(1)), scores["tokens"], split)
    rows = (f"{row}\t{nll:.6f}\t{n}\n" for row, nll, n in segments)
    (outputs / f"segment_nll.{label}.tsv").write_text("".join(rows), encoding="utf-8")
    return scores


def classify(checkpoint: Path, data: Path, split: str, batch_size: int) -> list[tuple[str, str]]:
    """(predicted, gold) label of every example of ``split``, in the split's order."""
    import torch
    from fairseq import checkpoint_utils

    import fairseq_plugins  # noqa: F401  (registers the models; safe globals)

    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={"data": str(data)}
    )
    model = models[0].eval()
    task.load_dataset(split)
    batches = task.get_batch_iterator(
        task.dataset(split), max_sentences=batch_size, required_batch_size_multiple=1
    ).next_epoch_itr(shuffle=False)
    labels = task.label_dictionary
    offset = labels.nspecial
    pairs: dict[int, tuple[str, str]] = {}
    with torch.no_grad():
        for sample in batches:
            logits, _ = model(
                **sample["net_input"],
                features_only=True,
                classification_head_name="sentence_classification_head",
            )  # fmt: skip  (B, classes)
            predicted = logits.argmax(-1).tolist()
            gold = sample["target"].view(-1).tolist()
            for i, p, g in zip(sample["id"].tolist(), predicted, gold, strict=True):
                pairs[i] = (labels[p + offset], labels[g + offset])
    return [pairs[i] for i in sorted(pairs)]


def accuracy(pairs: list[tuple[str, str]]) -> float:
    """Share of examples whose predicted label is the gold one, in percent."""
    return round(100.0 * sum(p == g for p, g in pairs) / len(pairs), 2)


def paired_bootstrap_p(statistic, system, baseline, resamples: int, seed: int = 12345) -> float:
    """Two-sided p-value of a paired bootstrap of ``statistic(system) - statistic(baseline)``.

    As sacrebleu's test does for BLEU: resample the examples (rows of the arrays) with
    replacement, centre the resampled differences, and count how often they are at least as
    far from 0 as the observed difference. ``statistic`` maps (resamples, examples, ...)
    arrays to one value per resample.
    """
    import numpy as np

    a, b = np.asarray(system, dtype=float), np.asarray(baseline, dtype=float)
    observed = statistic(a[None])[0] - statistic(b[None])[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(resamples, len(a)))
    deltas = statistic(a[idx]) - statistic(b[idx])
    centred = deltas - deltas.mean()
    return float((np.abs(centred) >= abs(observed)).sum() + 1) / (resamples + 1)


def paired_bootstrap_accuracy(system: list[bool], baseline: list[bool], resamples: int) -> float:
    """Paired bootstrap p-value of the difference of accuracy, per-example correctness."""
    return paired_bootstrap_p(lambda x: x.mean(axis=1), system, baseline, resamples)


def perplexity_of(segments):
    """Perplexity of (..., segments, 2) arrays of (nll in nats, tokens): over the last two
    axes, exp(total nll / total tokens); base e, the same value as fairseq's base-2 one."""
    import numpy as np

    return np.exp(segments[..., 0].sum(axis=-1) / segments[..., 1].sum(axis=-1))


def paired_bootstrap_perplexity(
    system: list[tuple[int, float, int]], baseline: list[tuple[int, float, int]], resamples: int
) -> float:
    """Paired bootstrap p-value of the difference of perplexity, resampling segments, each
    scored by both models: ``(row, nll, tokens)`` in the same order (see segment_scores)."""
    if [(r, n) for r, _, n in system] != [(r, n) for r, _, n in baseline]:
        raise ValueError("paired bootstrap of perplexity: the two models scored other segments")
    pairs = [[(nll, n) for _, nll, n in model] for model in (system, baseline)]
    return paired_bootstrap_p(perplexity_of, *pairs, resamples)

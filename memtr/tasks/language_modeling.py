"""Language modelling: the plugin's ``stream_lm`` task, ``fairseq-eval-lm`` perplexity.

Every variant (the baseline too) reads the same segments of ``train.tokens_per_sample``
tokens in the same order, in training and in evaluation, so all are scored on the same
tokens and a recurrent memory carries over a whole row of segments. The paired test
resamples segments, each scored by both models.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memtr.specs.language_modeling import LanguageModelingSpec
from memtr.tasks.base import EvalRun, Sources, Task, outputs_per_seed

if TYPE_CHECKING:
    from memtr.config.params import Params

EVAL_LM_RESULT = re.compile(r"Loss \(base 2\): ([\d.]+), Perplexity: ([\d.]+)")
EVAL_LM_TOKENS = re.compile(r"Evaluated ([\d,]+) tokens")
# fairseq-eval-lm --output-word-probs: one log line per segment, "<id> w1 [lp1]\tw2 [lp2]..."
# with natural-log probabilities, after its logger's prefix (one of two formats)
SEGMENT_LINE = re.compile(
    r"^(?:.*\| fairseq_cli\.eval_lm \| |INFO:fairseq_cli\.eval_lm:)(\d+) (.*\[-?[\d.]+\])\s*$"
)
WORD_SCORE = re.compile(r" \[(-?[\d.]+)\]$")
Segment = tuple[int, float, int]  # (batch row, negative log-likelihood in nats, tokens)


class LanguageModeling(Task):
    spec_class = LanguageModelingSpec

    def model_options(self, args: dict) -> dict:
        """``model.args``; where the input/output dims are not set, the embedding size for
        both, as fairseq's own LM architectures derive them (the plain ``transformer_lm``
        keeps 512, a surprise for a small model: a 512-wide projection)."""
        args = dict(args)
        dim = args.get("decoder_embed_dim")
        if dim is not None:
            args.setdefault("decoder_input_dim", dim)
            args.setdefault("decoder_output_dim", dim)
        return args

    def fairseq_args(self, params: Params, data: Path) -> list[str]:
        t = params.train
        return [
            "--task", "stream_lm", "--tokens-per-sample", str(t["tokens_per_sample"]),
            "--batch-size", str(lm_rows(params, t["max_tokens"])), "--criterion", "cross_entropy",
        ]  # fmt: skip

    def evaluate(self, params: Params, run: EvalRun, label: str) -> dict:
        from memtr.datasets.extra_sets import eval_location

        data, split = eval_location(label, run.data, run.extra)
        result = eval_lm(run.model, data, split, params, run.metrics / "outputs", label)
        print(f"{run.variant} seed {run.seed} {label}: perplexity {result['ppl']}")
        return result

    def paired_bootstrap(self, params: Params, src: Sources, variant: str, against: str,
                         label: str) -> dict:  # fmt: skip
        name = f"segment_nll.{label}.tsv"
        segments = [
            [[(int(row), float(nll), int(n)) for row, nll, n in (x.split("\t") for x in lines)]
             for lines in outputs_per_seed(params, src.metrics, v, name)]
            for v in (variant, against)
        ]  # fmt: skip
        return paired_bootstrap_perplexity(*segments, params.eval["bootstrap_resamples"])

    def result_columns(self, variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {"recurrent": variant.recurrent}

    def legend(self, params: Params, table: Any) -> list[str]:
        return [
            "perplexity: `fairseq-eval-lm` over the whole split in segments of "
            f"{params.train['tokens_per_sample']} tokens (lower is better); every variant is "
            "scored on the same tokens.",
        ]


def lm_rows(params: Params, tokens: int) -> int:
    """Batch rows of a language model: ``tokens`` per batch cut into segments."""
    return max(1, tokens // params.train["tokens_per_sample"])


def eval_lm_command(checkpoint: Path, data: Path, split: str, params: Params) -> list[str]:
    """``fairseq-eval-lm`` over ``split`` with the training's segments (``stream_lm``).

    ``eval.batch_size`` rows: each row is one contiguous part of the split, read segment by
    segment, so a recurrent memory carries over the whole row.
    """
    from memtr.run.fairseq import PLUGIN_DIR, device_args

    return [
        sys.executable, "-m", "fairseq_cli.eval_lm", str(data),
        "--user-dir", str(PLUGIN_DIR), "--path", str(checkpoint), "--task", "stream_lm",
        "--tokens-per-sample", str(params.train["tokens_per_sample"]),
        "--batch-size", str(params.eval["batch_size"]), "--gen-subset", split,
        "--num-workers", "0", "--output-word-probs", *device_args(),
    ]  # fmt: skip


def segment_scores(log: str) -> tuple[list[Segment], str]:
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


def check_segments(segments: list[Segment], loss_base2: float, tokens: int, split: str) -> None:
    """The segments must add up to fairseq's own total: every token once, the same loss."""
    count = sum(n for _, _, n in segments)
    loss = sum(nll for _, nll, _ in segments) / max(count, 1) / math.log(2)
    if count != tokens or abs(loss - loss_base2) > 1e-3:
        raise RuntimeError(
            f"fairseq-eval-lm on {split}: per-segment scores ({count} tokens, loss {loss:.4f}) "
            f"do not add up to its total ({tokens} tokens, loss {loss_base2:.4f})"
        )


def eval_lm(checkpoint: Path, data: Path, split: str, params: Params, outputs: Path,
            label: str) -> dict:  # fmt: skip
    """Perplexity of a language model on ``split``. Writes fairseq's log (without the
    per-word lines) to ``outputs/eval_lm.<label>.log`` and, in scoring order, each segment's
    row, negative log-likelihood (nats) and tokens to ``outputs/segment_nll.<label>.tsv``:
    the per-example output of the paired bootstrap."""
    from memtr.run.fairseq import thread_env

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


def perplexity_of(segments):
    """Perplexity of (..., segments, 2) arrays of (nll in nats, tokens): over the last two
    axes, exp(total nll / total tokens); base e, the same value as fairseq's base-2 one."""
    import numpy as np

    return np.exp(segments[..., 0].sum(axis=-1) / segments[..., 1].sum(axis=-1))


def paired_bootstrap_perplexity(system: list[list[Segment]], baseline: list[list[Segment]],
                                resamples: int) -> dict:  # fmt: skip
    """:func:`memtr.stats.paired_bootstrap` of perplexity: each seed's segments of each
    variant, ``(row, nll, tokens)`` in the same order (see segment_scores), resampling
    segments (the same for every seed and both variants)."""
    from memtr.stats import paired_bootstrap

    order = {tuple((r, n) for r, _, n in seed) for model in (system, baseline) for seed in model}
    if len(order) != 1:
        raise ValueError("paired bootstrap of perplexity: the models scored other segments")
    pairs = [[[(nll, n) for _, nll, n in seed] for seed in model] for model in (system, baseline)]
    return paired_bootstrap(perplexity_of, *pairs, resamples)

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

from memtr.scoring.language_modeling import Segment
from memtr.settings import EvalSettings, TrainSettings
from memtr.specs.language_modeling import LanguageModelingSpec
from memtr.tasks.base import EvalRun, Task

EVAL_LM_RESULT = re.compile(r"Loss \(base 2\): ([\d.]+), Perplexity: ([\d.]+)")
EVAL_LM_TOKENS = re.compile(r"Evaluated ([\d,]+) tokens")
# fairseq-eval-lm --output-word-probs: one log line per segment, "<id> w1 [lp1]\tw2 [lp2]..."
# with natural-log probabilities, after its logger's prefix (one of two formats)
SEGMENT_LINE = re.compile(
    r"^(?:.*\| fairseq_cli\.eval_lm \| |INFO:fairseq_cli\.eval_lm:)(\d+) (.*\[-?[\d.]+\])\s*$"
)
WORD_SCORE = re.compile(r" \[(-?[\d.]+)\]$")


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

    def fairseq_args(self, train: TrainSettings, data: Path, restore: str | None) -> list[str]:
        segment = train.tokens_per_sample
        return [
            "--task", "stream_lm", "--tokens-per-sample", str(segment),
            "--batch-size", str(lm_rows(segment, train.max_tokens)), "--criterion", "cross_entropy",
        ]  # fmt: skip

    def evaluate(self, ev: EvalSettings, run: EvalRun, label: str) -> dict:
        from memtr.datasets.extra_sets import eval_location

        data, split = eval_location(label, run.data, run.extra)
        result = eval_lm(run, data, split, ev.batch_size, label)
        print(f"{run.variant} seed {run.seed} {label}: perplexity {result['ppl']}")
        return result


def lm_rows(segment: int, tokens: int) -> int:
    """Batch rows of a language model: ``tokens`` per batch cut into ``segment``s."""
    return max(1, tokens // segment)


def eval_lm_command(
    checkpoint: Path, data: Path, split: str, segment: int, batch_size: int
) -> list[str]:
    """``fairseq-eval-lm`` over ``split`` with the training's segments (``stream_lm``).

    ``eval.batch_size`` rows: each row is one contiguous part of the split, read segment by
    segment, so a recurrent memory carries over the whole row.
    """
    from memtr.run.fairseq import PLUGIN_DIR, device_args

    return [
        sys.executable, "-m", "fairseq_cli.eval_lm", str(data),
        "--user-dir", str(PLUGIN_DIR), "--path", str(checkpoint), "--task", "stream_lm",
        "--tokens-per-sample", str(segment),
        "--batch-size", str(batch_size), "--gen-subset", split,
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


def eval_lm(run: EvalRun, data: Path, split: str, batch_size: int, label: str) -> dict:
    """Perplexity of a language model on ``split``. Writes fairseq's log (without the
    per-word lines) to ``outputs/eval_lm.<label>.log`` and, in scoring order, each segment's
    row, negative log-likelihood (nats) and tokens to ``outputs/segment_nll.<label>.tsv``:
    the per-example output of the paired bootstrap."""
    from memtr.run.fairseq import thread_env

    outputs = run.metrics / "outputs"
    command = eval_lm_command(run.model, data, split, run.segment, batch_size)
    env = thread_env(run.threads)
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

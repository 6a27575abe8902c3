"""Translation: fairseq's ``translation`` task, beam search, sacrebleu BLEU and chrF.

Hypotheses are decoded from subwords back to plain text (``--post-process
sentencepiece``) and scored against the raw, untokenized references that the data stage
keeps, so the scores are comparable with published sacrebleu numbers. The paired test is
sacrebleu's own paired bootstrap of BLEU.
"""

from __future__ import annotations

import re
from pathlib import Path

from memtr.scoring.translation import score
from memtr.settings import TrainSettings
from memtr.specs.translation import TranslationEval, TranslationSpec
from memtr.tasks.base import EvalRun, Task

HYPOTHESIS = re.compile(r"^D-(\d+)\t\S+\t(.*)$", re.M)


class Translation(Task):
    spec_class = TranslationSpec

    def fairseq_args(self, train: TrainSettings, data: Path, restore: str | None) -> list[str]:
        return [
            "--task", "translation", "--max-tokens", str(train.max_tokens),
            "--criterion", "label_smoothed_cross_entropy",
            "--label-smoothing", str(train.label_smoothing),
        ]  # fmt: skip

    def evaluate(self, ev: TranslationEval, run: EvalRun, label: str) -> dict:
        from memtr.common.textio import read_lines
        from memtr.datasets.extra_sets import eval_location, reference_file

        data, split = eval_location(label, run.data, run.extra)
        refs = list(read_lines(reference_file(label, run.prep, run.extra, run.target)))
        hyps = generate(run.model, data, split, ev, bpe=True, threads=run.threads)
        outputs = run.metrics / "outputs" / f"hyps.{label}.txt"
        outputs.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
        result = score(hyps, refs, ev.sacrebleu_tokenize)
        print(f"{run.variant} seed {run.seed} {label}: BLEU {result['bleu']} chrF {result['chrf']}")
        return result


def generate_args(
    checkpoint: Path, data: Path, split: str, ev: TranslationEval, bpe: bool
) -> list[str]:
    """The fairseq-generate options that decode ``split`` with the eval section's search."""
    from memtr.run.fairseq import PLUGIN_DIR, device_args

    return [
        str(data), "--user-dir", str(PLUGIN_DIR), "--path", str(checkpoint),
        "--task", "translation",
        "--gen-subset", split, "--beam", str(ev.beam), "--lenpen", str(ev.lenpen),
        "--max-len-a", str(ev.max_len_a), "--max-len-b", str(ev.max_len_b),
        "--batch-size", str(ev.batch_size),
        # fairseq 0.12.x silently drops a last batch whose size is not a multiple of this
        # (8 by default), which would leave sentences unscored.
        "--required-batch-size-multiple", "1",
        *(["--post-process", "sentencepiece"] if bpe else []),
        *device_args(),
    ]  # fmt: skip


def hypotheses(printed: str) -> list[str]:
    """The detokenized hypotheses (D- lines) of fairseq-generate's output, in corpus order."""
    hyps = {int(i): text for i, text in HYPOTHESIS.findall(printed)}
    return [hyps[i] for i in sorted(hyps)]


def generate(
    checkpoint: Path, data: Path, split: str, ev: TranslationEval, bpe: bool, threads: int
) -> list[str]:
    """Decode ``split`` with beam search (fairseq-generate, in this process); return the
    hypotheses in corpus order."""
    from memtr.run.fairseq import generate_in_process

    try:
        printed = generate_in_process(generate_args(checkpoint, data, split, ev, bpe), threads)
    except Exception as exc:  # fairseq's own errors: one line naming the split
        raise RuntimeError(f"fairseq-generate failed on {data}/{split}: {exc}") from exc
    return hypotheses(printed)

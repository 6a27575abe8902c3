"""Translation: fairseq's ``translation`` task, beam search, sacrebleu BLEU and chrF.

Hypotheses are decoded from subwords back to plain text (``--post-process
sentencepiece``) and scored against the raw, untokenized references that the data stage
keeps, so the scores are comparable with published sacrebleu numbers. The paired test is
sacrebleu's own paired bootstrap of BLEU.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memspec import TRANSLATION_ARCH
from memtr.common.errors import ConfigError
from memtr.tasks.base import EvalRun, Sources, Task, seed_outputs

if TYPE_CHECKING:
    from memtr.config.params import Params

NUMBER = (int, float)
HYPOTHESIS = re.compile(r"^D-(\d+)\t\S+\t(.*)$", re.M)


class Translation(Task):
    name = "translation"
    noun = "translation"
    title = "Machine translation"
    dataset_kinds = ("mt", "synthetic")
    sizes = ("base", "tiny", "iwslt_de_en", "wmt_en_de", "vaswani_wmt_en_de_big")
    arch_prefix = {"none": "transformer", **TRANSLATION_ARCH}
    metric, metric_label, paper_section = "bleu", "BLEU", "mt"
    eval_keys = {"beam": int, "lenpen": NUMBER, "max_len_a": NUMBER, "max_len_b": int,
                 "sacrebleu_tokenize": str}  # fmt: skip
    uses_segments = False
    label_smoothing = True
    hidden_columns = ("bleu_signature",)

    def splits_error(self, splits: list) -> str:
        return f"eval.splits must list valid and/or test, got {splits!r}"

    def check_eval(self, ev: dict) -> None:
        from sacrebleu.metrics.bleu import _TOKENIZERS

        if ev["beam"] <= 0:
            raise ConfigError(f"eval.beam must be > 0, got {ev['beam']}")
        for key in ("max_len_a", "max_len_b"):
            if ev[key] < 0:
                raise ConfigError(f"eval.{key} must be >= 0, got {ev[key]}")

        if ev["sacrebleu_tokenize"] not in _TOKENIZERS:
            raise ConfigError(
                f"eval.sacrebleu_tokenize must be one of {', '.join(_TOKENIZERS)}, "
                f"got {ev['sacrebleu_tokenize']!r}"
            )

    def fairseq_args(self, params: Params, data: Path) -> list[str]:
        t = params.train
        return [
            "--task", "translation", "--max-tokens", str(t["max_tokens"]),
            "--criterion", "label_smoothed_cross_entropy",
            "--label-smoothing", str(t["label_smoothing"]),
        ]  # fmt: skip

    def evaluate(self, params: Params, run: EvalRun, label: str) -> dict:
        from memtr.common.textio import read_lines
        from memtr.datasets.extra_sets import eval_location, reference_file

        ev = params.eval
        data, split = eval_location(label, run.data, run.extra)
        tgt = params.data.selected().tgt
        refs = list(read_lines(reference_file(label, run.prep, run.extra, tgt)))
        hyps = generate(run.model, data, split, ev, bpe=True, threads=params.train["threads"])
        outputs = run.metrics / "outputs" / f"hyps.{label}.txt"
        outputs.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
        result = score(hyps, refs, ev["sacrebleu_tokenize"])
        print(f"{run.variant} seed {run.seed} {label}: BLEU {result['bleu']} chrF {result['chrf']}")
        return result

    def paired_p(self, params: Params, src: Sources, variant: str, against: str,
                 label: str) -> float:  # fmt: skip
        from memtr.common.textio import read_lines
        from memtr.datasets.extra_sets import reference_file

        ev, seeds = params.eval, params.experiment["seeds"]
        tgt = params.data.selected().tgt
        refs = list(read_lines(reference_file(label, src.prep, src.extra, tgt))) * len(seeds)
        name = f"hyps.{label}.txt"
        system, other = (seed_outputs(params, src.metrics, v, name) for v in (variant, against))
        return paired_bootstrap(
            system, other, refs, ev["sacrebleu_tokenize"], ev["bootstrap_resamples"]
        )

    def result_columns(self, variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {"chrf_mean": round(sum(ev[label]["chrf"] for _, ev in runs) / len(runs), 2)}

    def run_details(self, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {"bleu_signature": runs[0][1][label]["bleu_signature"]}

    def legend(self, params: Params, table: Any) -> list[str]:
        resamples, reference = params.eval["bootstrap_resamples"], params.experiment["reference"]
        return [
            "BLEU/chrF: sacrebleu on detokenized output, signature "
            f"`{table['bleu_signature'].iloc[0]}`.",
            f"p_vs_reference: sacrebleu's paired bootstrap ({resamples} resamples) against "
            f"`{reference}`, seeds paired and pooled.",
        ]


def generate_args(checkpoint: Path, data: Path, split: str, ev: dict, bpe: bool) -> list[str]:
    """The fairseq-generate options that decode ``split`` with the eval section's search."""
    from memtr.run.fairseq import PLUGIN_DIR, device_args

    return [
        str(data), "--user-dir", str(PLUGIN_DIR), "--path", str(checkpoint),
        "--task", "translation",
        "--gen-subset", split, "--beam", str(ev["beam"]), "--lenpen", str(ev["lenpen"]),
        "--max-len-a", str(ev["max_len_a"]), "--max-len-b", str(ev["max_len_b"]),
        "--batch-size", str(ev["batch_size"]),
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
    checkpoint: Path, data: Path, split: str, ev: dict, bpe: bool, threads: int
) -> list[str]:
    """Decode ``split`` with beam search (fairseq-generate, in this process); return the
    hypotheses in corpus order."""
    from memtr.run.fairseq import generate_in_process

    try:
        printed = generate_in_process(generate_args(checkpoint, data, split, ev, bpe), threads)
    except Exception as exc:  # fairseq's own errors: one line naming the split
        raise RuntimeError(f"fairseq-generate failed on {data}/{split}: {exc}") from exc
    return hypotheses(printed)


def score(hyps: list[str], refs: list[str], tokenize: str) -> dict:
    """Corpus BLEU and chrF with their sacrebleu signatures."""
    import sacrebleu

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


def paired_bootstrap(
    system: list[str], baseline: list[str], refs: list[str], tokenize: str, resamples: int
) -> float:
    """p-value of sacrebleu's paired bootstrap test (BLEU) of ``system`` against ``baseline``."""
    import sacrebleu
    from sacrebleu.significance import PairedTest

    bleu = sacrebleu.metrics.BLEU(tokenize=tokenize)
    systems = [("baseline", baseline), ("system", system)]
    test = PairedTest(
        systems, {"BLEU": bleu}, references=[refs], test_type="bs", n_samples=resamples
    )
    _, scores = test()
    return float(scores[next(k for k in scores if k != "System")][1].p_value)

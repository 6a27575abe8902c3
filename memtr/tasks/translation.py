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

from memtr.specs.translation import TranslationSpec
from memtr.tasks.base import EvalRun, Sources, Task, outputs_per_seed

if TYPE_CHECKING:
    from memtr.config.params import Params

HYPOTHESIS = re.compile(r"^D-(\d+)\t\S+\t(.*)$", re.M)


class Translation(Task):
    spec_class = TranslationSpec

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

    def paired_bootstrap(self, params: Params, src: Sources, variant: str, against: str,
                         label: str) -> dict:  # fmt: skip
        from memtr.common.textio import read_lines
        from memtr.datasets.extra_sets import reference_file

        ev = params.eval
        tgt = params.data.selected().tgt
        refs = list(read_lines(reference_file(label, src.prep, src.extra, tgt)))
        name = f"hyps.{label}.txt"
        system, other = (outputs_per_seed(params, src.metrics, v, name) for v in (variant, against))
        return paired_bootstrap_bleu(
            system, other, refs, ev["sacrebleu_tokenize"], ev["bootstrap_resamples"]
        )

    def floor(self, params: Params, src: Sources, label: str) -> float:
        return BLEU_FLOOR

    def result_columns(self, variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {"chrf_mean": round(sum(ev[label]["chrf"] for _, ev in runs) / len(runs), 2)}

    def run_details(self, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {"bleu_signature": runs[0][1][label]["bleu_signature"]}

    def legend(self, params: Params, table: Any) -> list[str]:
        return [
            "BLEU/chrF: sacrebleu on detokenized output, signature "
            f"`{table['bleu_signature'].iloc[0]}`.",
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


# Below this corpus BLEU a test set cannot rank models: the 4-gram precision is near 0, most
# hypotheses share no 4-gram with their reference, and differences of tenths are the metric's
# noise (a Multi30k model on newstest2014 scores under 1).
BLEU_FLOOR = 5.0


def sentence_statistics(hyps: list[str], refs: list[str], tokenize: str):
    """sacrebleu's BLEU statistics of each sentence, (sentences, 10): matches and totals of
    1- to 4-grams, hypothesis and reference length; their sums give the corpus BLEU."""
    import numpy as np
    import sacrebleu

    bleu = sacrebleu.metrics.BLEU(tokenize=tokenize)
    return np.array(bleu._extract_corpus_statistics(hyps, [refs]), dtype=float)


def bleu_of(statistics, tokenize: str = "13a"):
    """Corpus BLEU of (..., sentences, 10) statistics, over the sentences axis (sacrebleu's
    computation of summed statistics, one call per corpus)."""
    import numpy as np
    import sacrebleu

    bleu = sacrebleu.metrics.BLEU(tokenize=tokenize)
    sums = np.asarray(statistics).sum(axis=-2)  # (..., 10)
    flat = sums.reshape(-1, sums.shape[-1]).astype(int).tolist()
    scores = [bleu._compute_score_from_stats(s).score for s in flat]
    return np.array(scores).reshape(sums.shape[:-1])


def paired_bootstrap_bleu(system: list[list[str]], baseline: list[list[str]], refs: list[str],
                          tokenize: str, resamples: int) -> dict:  # fmt: skip
    """:func:`memtr.stats.paired_bootstrap` of corpus BLEU: hypotheses per seed of each
    variant, resampling sentences (the same for every seed and both variants)."""
    from memtr.stats import paired_bootstrap

    a, b = ([sentence_statistics(h, refs, tokenize) for h in hyps] for hyps in (system, baseline))
    return paired_bootstrap(lambda x: bleu_of(x, tokenize), a, b, resamples)

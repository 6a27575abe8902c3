"""Translation's comparisons: sacrebleu's corpus BLEU, its paired bootstrap over sentences,
BLEU's floor; corpus BLEU and chrF of a system's hypotheses (the evaluate stage's scores)."""

from __future__ import annotations

from typing import Any

from memtr.scoring.base import Scorer, Sources, Study, outputs_per_seed
from memtr.specs.translation import TranslationSpec


class TranslationScorer(Scorer):
    spec_class = TranslationSpec

    def paired_bootstrap(self, study: Study, src: Sources, variant: str, against: str,
                         label: str) -> dict:  # fmt: skip
        from memtr.common.textio import read_lines
        from memtr.datasets.extra_sets import reference_file

        ev = study.eval
        refs = list(read_lines(reference_file(label, src.prep, src.extra, study.target)))
        name = f"hyps.{label}.txt"
        system, other = (outputs_per_seed(study, src.metrics, v, name) for v in (variant, against))
        return paired_bootstrap_bleu(
            system, other, refs, ev.sacrebleu_tokenize, ev.bootstrap_resamples
        )

    def floor(self, study: Study, src: Sources, label: str) -> float:
        return BLEU_FLOOR

    def result_columns(self, variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {"chrf_mean": round(sum(ev[label]["chrf"] for _, ev in runs) / len(runs), 2)}

    def run_details(self, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {"bleu_signature": runs[0][1][label]["bleu_signature"]}

    def legend(self, study: Study, table: Any) -> list[str]:
        return [
            "BLEU/chrF: sacrebleu on detokenized output, signature "
            f"`{table['bleu_signature'].iloc[0]}`.",
        ]


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

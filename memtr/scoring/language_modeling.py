"""Language modelling's comparisons: perplexity over segments, its paired bootstrap
(segments scored by both models, in the same order)."""

from __future__ import annotations

from typing import Any

from memtr.scoring.base import Scorer, Sources, Study, outputs_per_seed
from memtr.specs.language_modeling import LanguageModelingSpec

Segment = tuple[int, float, int]  # (batch row, negative log-likelihood in nats, tokens)


class LanguageModelingScorer(Scorer):
    spec_class = LanguageModelingSpec

    def paired_bootstrap(self, study: Study, src: Sources, variant: str, against: str,
                         label: str) -> dict:  # fmt: skip
        name = f"segment_nll.{label}.tsv"
        segments = [
            [[(int(row), float(nll), int(n)) for row, nll, n in (x.split("\t") for x in lines)]
             for lines in outputs_per_seed(study, src.metrics, v, name)]
            for v in (variant, against)
        ]  # fmt: skip
        return paired_bootstrap_perplexity(*segments, study.eval.bootstrap_resamples)

    def result_columns(self, variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {"recurrent": variant.recurrent}

    def legend(self, study: Study, table: Any) -> list[str]:
        return [
            "perplexity: `fairseq-eval-lm` over the whole split in segments of "
            f"{study.train.tokens_per_sample} tokens (lower is better); every variant is "
            "scored on the same tokens.",
        ]


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

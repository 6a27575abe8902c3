"""Verdicts of a family of comparisons: seeds as blocks, adjusted, with power and equivalence.

A *family* is one experiment, one test set and one budget: a reference and the variants
compared with it. Seed s of every variant of an experiment trains on the same data order and
starts the parameters the variants share from the same values (fairseq's ``--seed``), and
the seed effects are strongly correlated across variants, so the seed is a *block*: the
score is modelled as ``score ~ variant + seed`` (additive, no interaction), and each
variant's effect against the reference is the difference of their means with the residual
variance pooled over the whole family, (V-1)(S-1) degrees of freedom for V variants
(reference included) and S seeds. With one comparison in the family this is exactly the
paired t-test on the per-seed differences (S-1 degrees of freedom). Blocking would not be
valid for a variant trained with another data order than its reference (another seed
mapping, another corpus order): its seed s would share nothing with the reference's.

Every p that decides a verdict is adjusted over the family by Holm's step-down method
(``statsmodels.stats.multitest.multipletests``): valid under any dependence between the
comparisons (they share the reference and the residual variance), more powerful than
Bonferroni, and it needs no joint distribution; Dunnett's many-to-one procedure would be
sharper but scipy's implementation assumes independent groups, not blocks.

The power of each comparison is that of the two-sided t-test on its effect with the family's
pooled residual standard deviation, computed from the noncentral t distribution
(``scipy.stats.nct``); the equivalence test (TOST) and the test that the paper's effect is
ruled out are one-sided t-tests on the same effect and standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests

ALPHA = 0.05  # every test of a verdict, after Holm's adjustment over its family
POWER = 0.8  # the power at which the minimum detectable effect is stated
MAX_SEEDS = 200  # seeds searched for the paper's effect; more: "> 200"


@dataclass(frozen=True)
class BlockEffect:
    """One variant against the reference in the block model of its family."""

    delta: float  # mean over seeds of variant - reference
    se: float  # standard error of delta: residual std * sqrt(2 / seeds)
    df: int  # residual degrees of freedom of the family, (V-1)(S-1)
    residual_std: float  # pooled over the family
    seed_deltas: tuple[float, ...]  # variant - reference, seed by seed

    @property
    def p(self) -> float:
        """Two-sided p of the t-test of no effect."""
        return t_p(self.delta / self.se if self.se else _signed_inf(self.delta), self.df)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The two-sided ``level`` t-interval of the effect."""
        half = stats.t.ppf(0.5 + level / 2, self.df) * self.se
        return self.delta - half, self.delta + half


def _signed_inf(x: float) -> float:
    return 0.0 if x == 0 else math.copysign(math.inf, x)


def t_p(t: float, df: int) -> float:
    """Two-sided p of a t statistic (t = 0 with no variance: p = 1)."""
    return float(2 * stats.t.sf(abs(t), df))


def block_effects(scores: dict[str, list[float]], reference: str) -> dict[str, BlockEffect]:
    """Each variant's effect against ``reference`` in the randomized block model.

    ``scores``: variant -> its per-seed scores, seed s at position s for every variant (the
    reference included). Raises ValueError for fewer than 2 seeds or unequal seed counts.
    """
    names = [reference, *(v for v in scores if v != reference)]
    y = np.array([scores[v] for v in names], dtype=float)  # (variants, seeds)
    variants, seeds = y.shape
    if seeds < 2 or variants < 2:
        raise ValueError(f"a block model needs 2 seeds and 2 variants, got {y.shape}")
    residual = block_residuals(y)
    df = (variants - 1) * (seeds - 1)
    std = math.sqrt(float((residual**2).sum()) / df)
    se = std * math.sqrt(2 / seeds)
    return {
        v: BlockEffect(float(y[i].mean() - y[0].mean()), se, df, std,
                       tuple(float(d) for d in y[i] - y[0]))
        for i, v in enumerate(names) if i
    }  # fmt: skip


def residuals_by_variant(scores: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """The block model's residuals of each variant's seeds (score - variant mean - seed mean
    + grand mean)."""
    residual = block_residuals(np.array(list(scores.values()), dtype=float))
    return dict(zip(scores, residual, strict=True))


def block_residuals(y: np.ndarray) -> np.ndarray:
    """Residuals of the additive block model of (variants, seeds) scores: score - variant
    mean - seed mean + grand mean."""
    return y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()


def pooling_p(scores: dict[str, list[float]]) -> float:
    """p of the Brown-Forsythe test (``scipy.stats.levene``, median-centred) that the
    variants' residual spreads are equal: small p flags a variant whose seed spread is far
    from the others', which pooling the residual variance assumes away. NaN when undefined
    (2 seeds, or no spread at all)."""
    groups = list(residuals_by_variant(scores).values())
    if len(groups[0]) < 3 or not any(np.any(g != 0) for g in groups):
        return math.nan
    with np.errstate(all="ignore"):
        p = stats.levene(*groups, center="median").pvalue
    return float(p)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's adjusted p-values of a family (statsmodels' ``multipletests``); NaN stays NaN."""
    values = np.array(pvalues, dtype=float)
    adjusted = np.full_like(values, math.nan)
    finite = ~np.isnan(values)
    if finite.any():
        adjusted[finite] = multipletests(values[finite], alpha=ALPHA, method="holm")[1]
    return adjusted.tolist()


def power(effect: float, se: float, df: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided level-``alpha`` t-test to detect a true ``effect`` whose
    estimate has standard error ``se`` and ``df`` degrees of freedom (noncentral t)."""
    if se == 0:
        return 1.0 if effect else 0.0
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = abs(effect) / se
    found = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    return 1.0 if math.isnan(found) else float(min(found, 1.0))  # NaN: far in the tail


def detectable_effect(se: float, df: int, alpha: float = ALPHA, level: float = POWER) -> float:
    """The smallest effect the two-sided t-test detects with power ``level``."""
    if se == 0:
        return 0.0
    high = se
    while power(high, se, df, alpha) < level:  # bracket the root: power grows with the effect
        high *= 2
    return float(optimize.brentq(lambda d: power(d, se, df, alpha) - level, 0, high))


def seeds_needed(effect: float, residual_std: float, variants: int,
                 alpha: float = ALPHA, level: float = POWER) -> int | None:  # fmt: skip
    """The fewest seeds with which the family's block design detects ``effect`` with power
    ``level`` (None: more than MAX_SEEDS, or no effect to detect)."""
    if not effect or math.isnan(effect):
        return None
    for seeds in range(2, MAX_SEEDS + 1):
        se = residual_std * math.sqrt(2 / seeds)
        if power(effect, se, (variants - 1) * (seeds - 1), alpha) >= level:
            return seeds
    return None


def tost_p(effect: BlockEffect, margin: float) -> float:
    """p of the two one-sided t-tests (TOST) that the true effect lies within ±``margin``:
    the larger of the two one-sided p-values."""
    if effect.se == 0:
        return 0.0 if abs(effect.delta) < margin else 1.0
    lower = stats.t.sf((effect.delta + margin) / effect.se, effect.df)
    upper = stats.t.cdf((effect.delta - margin) / effect.se, effect.df)
    return float(max(lower, upper))


def below_paper_p(effect: BlockEffect, paper: float, higher_is_better: bool) -> float:
    """One-sided p of the t-test that the true effect is at least the paper's gain: small p
    rules the paper's effect out. NaN where the paper claims no gain."""
    gain = paper if higher_is_better else -paper
    if math.isnan(paper) or gain <= 0:
        return math.nan
    ours = effect.delta if higher_is_better else -effect.delta
    if effect.se == 0:
        return 0.0 if ours < gain else 1.0
    return float(stats.t.cdf((ours - gain) / effect.se, effect.df))

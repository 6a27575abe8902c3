"""The claims table's rows: each family of comparisons read by :mod:`memtr.reports.inference`.

A verdict says what the runs support, in this vocabulary (docs/replication.md defines each):

- ``better`` / ``worse``: the block model's test (seeds as blocks) and the example-level
  paired bootstrap both reject no difference, each after Holm's adjustment over the family;
- ``equivalent within ±δ``: otherwise, the TOST test puts the effect inside ±δ (δ:
  ``eval.equivalence_margin``, or the task's default), adjusted over the family;
- ``paper's effect ruled out``: otherwise, where the paper claims a gain, the one-sided test
  puts the effect below the paper's, adjusted over the family;
- ``inconclusive (detectable: x)``: none of these; x is the smallest effect the family's
  design detects with 80% power at its adjusted level;
- ``uninformative (floor)``: the reference sits at the metric's floor (its 95% interval over
  seeds reaches the score of a model that learned nothing of the inputs), so no comparison
  with it can rank the variants: shown, never counted in a tally;
- ``undecided (1 seed)``: a single seed, no test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from memtr.reports.inference import (
    ALPHA,
    BlockEffect,
    below_paper_p,
    block_effects,
    detectable_effect,
    holm,
    pooling_p,
    seeds_needed,
    tost_p,
)
from memtr.specs.base import TaskSpec
from memtr.stats import mean_std_ci

BETTER, WORSE = "better", "worse"
DECIDED = (BETTER, WORSE)
EQUIVALENT = "equivalent within"  # prefix: "equivalent within ±1.00"
RULED_OUT = "paper's effect ruled out"
INCONCLUSIVE = "inconclusive"  # prefix: "inconclusive (detectable: 2.31)"
UNINFORMATIVE = "uninformative (floor)"
ONE_SEED = "undecided (1 seed)"


def verdict_kind(verdict: str) -> str:
    """A verdict without its number: ``equivalent within ±1.00`` -> ``equivalent within``."""
    for kind in (EQUIVALENT, INCONCLUSIVE):
        if verdict.startswith(kind):
            return kind
    return verdict


@dataclass(frozen=True)
class Family:
    """One family: the reference, the variants compared with it, per-seed scores of all."""

    reference: str
    variants: tuple[str, ...]
    scores: dict[str, list[float]]  # variant (and reference) -> per-seed scores
    higher_is_better: bool
    floor: float  # NaN: none
    margin: float
    paper: dict[str, float]  # variant -> the paper's Δ (NaN: none)


def at_floor(scores: list[float], floor: float, higher_is_better: bool) -> bool:
    """Whether the reference's 95% interval over seeds (its mean with one seed) reaches the
    floor; a metric where lower is better has none."""
    if math.isnan(floor) or not higher_is_better:
        return False
    mean, _, low, _ = mean_std_ci(scores)
    return (mean if math.isnan(low) else low) <= floor


def family_rows(family: Family, bootstrap: dict[str, dict]) -> dict[str, dict]:
    """variant -> its claims row's statistics and verdict; ``bootstrap``: variant -> the
    task's example-level paired bootstrap ``{"delta", "p"}`` against the reference."""
    seeds = len(family.scores[family.reference])
    if seeds < 2:  # no test over seeds; the bootstrap over examples still reads
        adjusted = holm([bootstrap[v]["p"] for v in family.variants])
        shared = {"floor": family.floor, "reference_mean": family.scores[family.reference][0]}
        return {v: {"verdict": ONE_SEED, "p_boot": bootstrap[v]["p"], "p_boot_adj": p_adj,
                    **shared}
                for v, p_adj in zip(family.variants, adjusted, strict=True)}  # fmt: skip
    scores = {v: family.scores[v] for v in (family.reference, *family.variants)}
    effects = block_effects(scores, family.reference)
    names = list(family.variants)
    adjusted = {
        "p_adj": holm([effects[v].p for v in names]),
        "p_boot_adj": holm([bootstrap[v]["p"] for v in names]),
        "p_equivalent_adj": holm([tost_p(effects[v], family.margin) for v in names]),
        "p_paper_adj": holm([below_paper_p(effects[v], family.paper.get(v, math.nan),
                                           family.higher_is_better) for v in names]),
    }  # fmt: skip
    floored = at_floor(family.scores[family.reference], family.floor, family.higher_is_better)
    alpha = ALPHA / len(names)  # the first step of Holm's procedure: the detectable effect
    spread = pooling_p(scores)
    rows = {}
    for i, v in enumerate(names):
        e = effects[v]
        row = {key: values[i] for key, values in adjusted.items()}
        low, high = e.interval()
        row.update({
            "delta_ci95_low": low, "delta_ci95_high": high, "p": e.p,
            "p_boot": bootstrap[v]["p"], "residual_std": e.residual_std, "df": e.df,
            "seed_deltas": " ".join(f"{d:+.2f}" for d in e.seed_deltas),
            "detectable": detectable_effect(e.se, e.df, alpha),
            "seeds_for_paper": seeds_needed(abs(family.paper.get(v, math.nan)),
                                            e.residual_std, len(names) + 1, alpha),
            "margin": family.margin, "floor": family.floor,
            "reference_mean": sum(family.scores[family.reference]) / seeds,
            "pooling_p": spread,
        })  # fmt: skip
        row["verdict"] = verdict(e, row, floored, family.higher_is_better)
        rows[v] = row
    return rows


def verdict(effect: BlockEffect, row: dict, floored: bool, higher_is_better: bool) -> str:
    """The verdict of one comparison from its adjusted tests (the module's vocabulary)."""
    if floored:
        return UNINFORMATIVE
    if row["p_adj"] < ALPHA and row["p_boot_adj"] < ALPHA:
        return BETTER if (effect.delta > 0) == higher_is_better else WORSE
    if row["p_equivalent_adj"] < ALPHA:
        return f"{EQUIVALENT} ±{row['margin']:.2f}"
    if row["p_paper_adj"] < ALPHA:
        return RULED_OUT
    return f"{INCONCLUSIVE} (detectable: {row['detectable']:.2f})"


def claims_notes(task: TaskSpec, seeds: int) -> list[str]:
    """The notes under the claims table (of ``seeds`` seeds): what each column holds and how
    a verdict is read."""
    metric, label = task.metric, task.metric_label
    better = "higher" if task.higher_is_better else "lower"
    return [
        f"delta_{metric}: mean {label} of `variant` minus that of `against` over {seeds} "
        f"seed(s) ({better} is better); seed_deltas: that difference seed by seed.",
        "family: one test set and one budget, a reference (`against`) and every variant "
        "compared with it. The seeds are blocks (seed s of every variant shares the data order "
        "and the initial values of the shared parameters): score ~ variant + seed over the "
        "family, residual variance pooled (residual_std, df = (V-1)(S-1)); delta_ci95: the "
        "95% t-interval of the effect from that model, p its two-sided test; pooling_p: "
        "Brown-Forsythe test of equal residual spread across the family's variants (small: "
        "a variant's seeds spread unlike the others', pooling is doubtful).",
        "p_boot: the example-level paired bootstrap (the notes of results.md say how).",
        "p_adj, p_boot_adj, p_equivalent_adj, p_paper_adj: Holm-adjusted over the family; "
        f"every verdict reads them at {ALPHA}.",
        "detectable: the smallest effect the family detects with 80% power at its first Holm "
        "level; seeds_for_paper: seeds that would detect the paper's effect so (empty: no "
        "paper effect, or more than 200).",
        f"margin: the equivalence margin ±δ (eval.equivalence_margin, or the task's default "
        f"for {label}); p_equivalent_adj: its TOST test; p_paper_adj: the one-sided test that "
        "the effect is below the paper's gain (where the paper claims one).",
        f"floor: {label} of a model that learned nothing of the inputs (translation: a "
        "documented BLEU level; classification: the majority class); reference_mean: the "
        "reference's mean, whose 95% interval over seeds reaching the floor makes the row "
        "`uninformative (floor)`.",
        f"verdict: `better`/`worse` when p_adj and p_boot_adj are both below {ALPHA}; else "
        "`equivalent within ±δ` (TOST), else `paper's effect ruled out`, else "
        "`inconclusive (detectable: x)`; `uninformative (floor)` rows count in no tally "
        "(docs/replication.md).",
    ]

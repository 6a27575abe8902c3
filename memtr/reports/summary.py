"""The summary the report page opens with, generated from the experiment's claims table.

* the tally: how many comparisons of each verdict kind (by the verdict's prefix, so that
  ``equivalent within ±1.00`` and ``equivalent within ±0.50`` count together); the
  ``uninformative (floor)`` ones are named apart and not counted;
* the same per test set and budget (one family of comparisons each);
* the strongest finding in one sentence: the decided comparison (``better``/``worse``) with
  the largest |Δ| and its interval; when none is decided, it says so and gives the
  comparison with the narrowest interval (among the informative ones).
"""

from __future__ import annotations

import html

import pandas as pd

from memtr.reports.claims_reading import Tally, delta_column, verdict_kind


def family_tallies(claims: pd.DataFrame) -> list[str]:
    """One tally per test set and budget, in the table's order."""
    groups = claims.groupby(["split", "budget"], sort=False)["verdict"]
    return [
        f"{split}, {budget}: {Tally.of(verdicts).sentence()}"
        for (split, budget), verdicts in groups
    ]


def signed(value: float) -> str:
    return f"{value:+.2f}"


def described(row: pd.Series, delta: str, metric_label: str) -> str:
    """``mem20 against baseline (test, equal steps): Δ BLEU -1.13, 95% interval [-4.53, +2.26]``."""
    name = f"{row['variant']} against {row['against']} ({row['split']}, {row['budget']})"
    interval = ""
    if pd.notna(row["delta_ci95_low"]) and pd.notna(row["delta_ci95_high"]):
        low, high = signed(row["delta_ci95_low"]), signed(row["delta_ci95_high"])
        interval = f", 95% interval [{low}, {high}]"
    return f"{name}: Δ {metric_label} {signed(row[delta])}{interval}"


def strongest_finding(claims: pd.DataFrame, metric_label: str) -> str:
    """The strongest finding of the claims table, in one sentence."""
    if claims.empty:
        return "No comparison in this experiment."
    delta = delta_column(claims)
    kinds = claims["verdict"].map(verdict_kind)
    decided = claims[[kind.decided for kind in kinds]]
    if len(decided):
        row = decided.loc[decided[delta].abs().idxmax()]
        return (
            f"Strongest finding: {described(row, delta, metric_label)}, verdict {row['verdict']}."
        )
    informative = claims[[kind.key != "uninformative" for kind in kinds]]
    candidates = informative if len(informative) else claims
    width = candidates["delta_ci95_high"] - candidates["delta_ci95_low"]
    if width.isna().all():
        return "No comparison is decided better or worse, and none has an interval."
    row = candidates.loc[width.idxmin()]
    return (
        "No comparison is decided better or worse; the narrowest interval: "
        f"{described(row, delta, metric_label)} (verdict {row['verdict']})."
    )


def summary_html(claims: pd.DataFrame, metric_label: str) -> str:
    """The page's summary section (``<section id="summary">``)."""
    families = "".join(f"<li>{html.escape(line)}</li>" for line in family_tallies(claims))
    return (
        '<section id="summary" class="summary"><h2>Summary</h2>'
        f"<p>{html.escape(Tally.of(claims['verdict']).sentence())}.</p>"
        f"<ul>{families}</ul>"
        f"<p>{html.escape(strongest_finding(claims, metric_label))}</p></section>"
    )

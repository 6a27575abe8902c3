"""The tables stage's DVC metrics file, ``results/<e>/verdicts.json``: what an experiment found,
in the shape ``dvc metrics show/diff`` and ``dvc exp show`` read.

Keys are flat and stable, so that a diff names the comparison whose verdict changed::

    {"bleu_mean": {"test/baseline": 31.53, "test/mem10": 30.77, ...},
     "test/mem10_vs_baseline": {"delta": -0.76, "ci95_low": -1.55, "ci95_high": 0.03,
                                "p": 0.0573, "p_adj": 0.1719, "p_boot": 0.001,
                                "p_boot_adj": 0.006, "verdict": "paper's effect ruled out"},
     ...,
     "tally": {"test/equal_steps": {"better": 0, "worse": 1, ..., "text": "1 worse, ... (of 6)"},
               ...}}

Every number is the claims or results table's own (already rounded there), a missing one (a
single seed has no interval) is ``null``; the file adds nothing the tables do not hold.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from memtr.config.study import Study
from memtr.reports.claims_reading import KINDS, Tally, verdict_kind

# claims column -> key of a comparison in verdicts.json (the effect's column is delta_<metric>)
COMPARISON_KEYS = {
    "delta_ci95_low": "ci95_low", "delta_ci95_high": "ci95_high", "p": "p", "p_adj": "p_adj",
    "p_boot": "p_boot", "p_boot_adj": "p_boot_adj", "verdict": "verdict",
}  # fmt: skip
# the kinds of verdict a tally lists even at 0 (a count going 0 -> 1 shows in a diff): those the
# tables stage writes; the older vocabulary's and unknown ones only where they occur
LISTED = tuple(kind.key for kind in KINDS if kind.key != "no_difference")


def plain(value: object) -> object:
    """A table cell as JSON: numpy scalars as Python numbers, NaN as None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def comparison_key(row: pd.Series) -> str:
    """``<split>/<variant>_vs_<against>``: one comparison of the claims table."""
    return f"{row['split']}/{row['variant']}_vs_{row['against']}"


def verdict_metrics(table: pd.DataFrame, claims: pd.DataFrame, study: Study) -> dict:
    """verdicts.json of one experiment from its results and claims tables."""
    metric = study.spec.metric
    doc: dict = {
        f"{metric}_mean": {
            f"{row['split']}/{row['variant']}": plain(row[f"{metric}_mean"])
            for _, row in table.iterrows()
        }
    }
    for _, row in claims.iterrows():
        entry = {"delta": plain(row[f"delta_{metric}"])}
        entry.update({key: plain(row.get(column)) for column, key in COMPARISON_KEYS.items()})
        doc[comparison_key(row)] = entry
    doc["tally"] = {  # as the reports count them: per test set and budget
        f"{split}/{budget.replace(' ', '_')}": family_tally(list(rows["verdict"]))
        for (split, budget), rows in claims.groupby(["split", "budget"], sort=False)
    }
    return doc


def family_tally(verdicts: list[str]) -> dict:
    """How many comparisons got each kind of verdict, and the reports' tally in words."""
    kinds = [verdict_kind(v).key for v in verdicts]
    counts: dict = {key: kinds.count(key) for key in LISTED}
    counts.update({key: kinds.count(key) for key in dict.fromkeys(kinds) if key not in LISTED})
    counts["text"] = Tally.of(verdicts).words()
    return counts


def write_verdict_metrics(table: pd.DataFrame, claims: pd.DataFrame, study: Study, path: Path):
    """Write verdicts.json (two-space indented, a newline at the end)."""
    text = json.dumps(verdict_metrics(table, claims, study), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")

"""The paper's numbers beside ours: typed in from ``workflow/paper_reference.yaml`` (the one
exception to "no number typed in"), each labelled with its source there."""

from __future__ import annotations

import yaml

from memtr.common.paths import PAPER_REFERENCE
from memtr.specs.base import TaskSpec


def paper_numbers(task: TaskSpec, dataset: str) -> dict[str, float]:
    """The paper's number per variant name for ``dataset`` (empty if none)."""
    if not PAPER_REFERENCE.is_file():
        return {}
    metric = task.metric
    doc = yaml.safe_load(PAPER_REFERENCE.read_text()) or {}
    return {
        row["variant"]: row[metric]
        for row in doc.get(task.paper_section) or []
        if row.get("dataset") == dataset and metric in row
    }


def paper_deltas(task: TaskSpec, reference: str) -> dict[str, tuple[float, str]]:
    """The paper's difference of each variant from its baseline, with the paper's dataset."""
    metric = task.metric
    doc = yaml.safe_load(PAPER_REFERENCE.read_text()) if PAPER_REFERENCE.is_file() else {}
    rows = [r for r in (doc or {}).get(task.paper_section) or [] if metric in r]
    base = {r["dataset"]: r[metric] for r in rows if r["variant"] == reference}
    return {
        r["variant"]: (round(r[metric] - base[r["dataset"]], 2), _provenance(r))
        for r in rows
        if r["dataset"] in base and r["variant"] != reference
    }


def _provenance(row: dict) -> str:
    """The paper row's dataset, flagged when it is not checked against the paper itself."""
    return row["dataset"] + ("" if row.get("checked", True) else " (secondary source, unchecked)")

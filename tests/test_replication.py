"""results/REPLICATION.md is generated from the committed tables, never edited by hand."""

from __future__ import annotations

from pipeline_helpers import REPO

from memtr.replication import CLAIMS, Claim, report


def test_committed_replication_report_is_the_generated_one():
    committed = (REPO / "results" / "REPLICATION.md").read_text(encoding="utf-8")
    assert committed == report(REPO / "results"), (
        "results/REPLICATION.md differs from its tables: run workflow/scripts/replication_report.py"
    )


def test_an_experiment_without_tables_is_reported_as_not_run(tmp_path):
    text = report(tmp_path, (Claim(7, "nowhere", "memory helps"),))
    assert "## Claim 7: memory helps" in text
    assert "Not run yet: `results/nowhere/claims.csv` does not exist" in text


def test_the_claims_name_the_replication_presets():
    presets = {p.stem for p in (REPO / "workflow" / "presets").glob("*.yaml")}
    assert {claim.experiment for claim in CLAIMS} <= presets

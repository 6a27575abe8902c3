"""results/REPLICATION.md is generated from the committed tables, never edited by hand."""

from __future__ import annotations

import pytest
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


def test_welch_interval_is_scipys():
    from scipy import stats

    from memtr.tables import seed_difference

    a, b = [31.2, 32.0, 31.5], [30.1, 31.4, 30.2, 30.8]
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    found = seed_difference(a, b)
    assert (round(found["low"], 9), round(found["high"], 9)) == (
        round(expected.low, 9),
        round(expected.high, 9),
    )
    assert found["delta"] == sum(a) / 3 - sum(b) / 4
    assert found["noise"] == pytest.approx(max(stats.tstd(a), stats.tstd(b)))


def test_a_verdict_needs_both_the_paired_test_and_the_seed_interval():
    from memtr.tables import verdict

    clear = {"delta": 1.0, "low": 0.4, "high": 1.6, "p": 0.001}
    assert verdict(clear, 3, higher_is_better=True) == "better"
    assert verdict(clear, 3, higher_is_better=False) == "worse"  # e.g. perplexity up by 1
    seed_noise = {**clear, "low": -0.2}  # significant over sentences, not over seeds
    assert verdict(seed_noise, 3, higher_is_better=True) == "no difference shown"
    weak = {**clear, "p": 0.2}
    assert verdict(weak, 3, higher_is_better=True) == "no difference shown"
    assert verdict(clear, 1, higher_is_better=True) == "undecided (1 seed)"

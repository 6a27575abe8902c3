"""The report page's summary and its claims table on a small constructed claims table: the
verdicts counted by their prefix, the strongest finding named, uninformative rows greyed."""

from __future__ import annotations

import re

import pandas as pd

from memtr.reports.claims_reading import Tally, count_kinds, verdict_kind
from memtr.reports.page import page
from memtr.reports.summary import family_tallies, strongest_finding

VERDICTS = ["worse", "equivalent within ±1.00", "equivalent within ±0.50",
            "inconclusive (detectable: 2.31)", "uninformative (floor)", "worse"]  # fmt: skip


def claims_table(verdicts=VERDICTS) -> pd.DataFrame:
    n = len(verdicts)
    return pd.DataFrame({
        "split": ["test"] * 4 + ["newstest2014"] * (n - 4),
        "variant": [f"v{i}" for i in range(n)], "against": ["baseline"] * n,
        "budget": ["equal steps"] * n,
        "delta_bleu": [-1.5, 0.1, -0.2, 0.9, -0.05, -3.2][:n],
        "delta_ci95_low": [-2.5, -0.4, -0.3, -1.0, -0.1, -4.0][:n],
        "delta_ci95_high": [-0.5, 0.6, -0.1, 2.8, 0.0, -2.4][:n],
        "verdict": verdicts, "paper_delta_bleu": [0.4] * n, "paper_dataset": ["wmt14"] * n,
    })  # fmt: skip


def test_verdicts_are_counted_by_their_prefix():
    counts = {kind.key: n for kind, n in count_kinds(VERDICTS)}
    assert counts == {"worse": 2, "equivalent": 2, "inconclusive": 1, "uninformative": 1}
    assert verdict_kind("paper\u2019s effect ruled out").key == "ruled_out"
    text = Tally.of(pd.Series(VERDICTS)).sentence()
    assert text == (
        "5 comparisons: 2 worse, 2 equivalent, 1 inconclusive; "
        "1 more uninformative (floor), greyed below and not counted"
    )
    assert Tally.of(pd.Series(VERDICTS[4:5])).sentence() == (
        "1 uninformative (floor), greyed below and not counted"
    )
    assert family_tallies(claims_table()) == [
        "test, equal steps: 4 comparisons: 1 worse, 2 equivalent, 1 inconclusive",
        "newstest2014, equal steps: 1 comparison: 1 worse; "
        "1 more uninformative (floor), greyed below and not counted",
    ]


def test_the_readme_and_replication_words_count_as_the_page_does():
    """One count, two wordings: the README's and REPLICATION.md's lists the kinds in
    alphabetical order; an unknown verdict counts as ``other`` in both."""
    assert Tally.of(VERDICTS).words() == (
        "2 equivalent, 1 inconclusive, 2 worse (of 5); 1 uninformative, not counted"
    )
    assert (
        Tally.of(["uninformative (floor)"]).words() == "none counted; 1 uninformative, not counted"
    )
    assert Tally.of(["worse", "no such verdict"]).words() == "1 other, 1 worse (of 2)"
    assert Tally.of(["worse", "no such verdict"]).sentence() == "2 comparisons: 1 worse, 1 other"


def test_the_strongest_finding_is_the_largest_decided_difference():
    sentence = strongest_finding(claims_table(), "BLEU")
    assert sentence == (
        "Strongest finding: v5 against baseline (newstest2014, equal steps): Δ BLEU -3.20, "
        "95% interval [-4.00, -2.40], verdict worse."
    )


def test_without_a_decided_comparison_the_narrowest_interval_is_named():
    claims = claims_table(["uninformative (floor)", *VERDICTS[1:4]])
    claims["delta_ci95_low"] = [-0.01, -0.4, -0.3, -1.0]  # the floor's interval is narrowest
    claims["delta_ci95_high"] = [0.01, 0.6, -0.1, 2.8]
    sentence = strongest_finding(claims, "BLEU")
    assert sentence == (
        "No comparison is decided better or worse; the narrowest interval: v2 against baseline "
        "(test, equal steps): Δ BLEU -0.20, 95% interval [-0.30, -0.10] "
        "(verdict equivalent within ±0.50)."
    )


def test_the_page_opens_with_the_summary_and_greys_uninformative_rows(tmp_path):
    claims_table().to_csv(tmp_path / "claims.csv", index=False)
    (tmp_path / "params.yaml").write_text("experiment: {name: x}\n", encoding="utf-8")
    text = page("x", "translation", "multi30k", tmp_path, tmp_path / "figures", "BLEU")
    assert text.index('id="summary"') < text.index('id="claims"')
    assert '<a href="#summary">Summary</a>' in text
    assert "Strongest finding: v5 against baseline" in text
    claims = text[text.index('id="table-claims"') :]
    rows = re.findall(r"<tr[^>]*>", claims[claims.index("<tbody>") : claims.index("</tbody>")])
    assert rows == ["<tr>"] * 4 + ['<tr class="uninformative">', "<tr>"]
    assert "tr.uninformative td" in text

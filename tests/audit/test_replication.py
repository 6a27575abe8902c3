"""results/REPLICATION.md is generated from the committed tables, never edited by hand."""

from __future__ import annotations

import pytest
from pipeline_helpers import REPO

from memtr.reports.replication import CLAIMS, Claim, report


def test_committed_replication_report_is_the_generated_one():
    committed = (REPO / "results" / "REPLICATION.md").read_text(encoding="utf-8")
    assert committed == report(REPO / "results"), (
        "results/REPLICATION.md differs from its tables: run workflow/scripts/replication_report.py"
    )


def test_an_experiment_without_tables_is_reported_as_not_run(tmp_path):
    text = report(tmp_path, (Claim(7, "nowhere", "memory helps"),))
    assert "## Claim 7: memory helps" in text
    assert "Not run yet: `results/nowhere/claims.csv` does not exist" in text


def test_a_campaign_in_progress_is_reported_with_its_finished_runs(tmp_path):
    for variant, seed in (("baseline", 1), ("baseline", 2), ("mem10", 1)):
        run = tmp_path / "metrics" / "cpu_replication_lm" / variant / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "eval.json").write_text("{}")
    (tmp_path / "metrics" / "cpu_replication_lm" / "mem20" / "seed1").mkdir(parents=True)
    text = report(tmp_path / "results", (Claim(2, "cpu_replication_lm", "memory helps"),))
    assert (
        "In progress: 3 of 18 runs finished and committed in `metrics/cpu_replication_lm/` "
        "(`baseline` seeds 1, 2; `mem10` seed 1)."
    ) in text
    assert "better" not in text.split("## Claim 2")[1]


def test_the_claims_name_the_replication_presets():
    presets = {p.stem for p in (REPO / "workflow" / "presets").glob("*.yaml")}
    assert {claim.preset_name for claim in CLAIMS} <= presets


def test_welch_interval_is_scipys():
    from scipy import stats

    from memtr.stats import seed_difference

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
    from memtr.reports.tables import verdict

    clear = {"delta": 1.0, "low": 0.4, "high": 1.6, "p": 0.001}
    assert verdict(clear, 3, higher_is_better=True) == "better"
    assert verdict(clear, 3, higher_is_better=False) == "worse"  # e.g. perplexity up by 1
    seed_noise = {**clear, "low": -0.2}  # significant over sentences, not over seeds
    assert verdict(seed_noise, 3, higher_is_better=True) == "no difference shown"
    weak = {**clear, "p": 0.2}
    assert verdict(weak, 3, higher_is_better=True) == "no difference shown"
    assert verdict(clear, 1, higher_is_better=True) == "undecided (1 seed)"


def test_paired_bootstrap_of_perplexity_resamples_segments_scored_by_both_models():
    import numpy as np

    from memtr.tasks.language_modeling import paired_bootstrap_perplexity, perplexity_of

    rng = np.random.default_rng(0)
    tokens = rng.integers(20, 65, size=400)
    nll = tokens * rng.normal(5.0, 0.5, size=400)  # about 5 nats a token: perplexity ~150
    base = [(i % 16, x, n) for i, (x, n) in enumerate(zip(nll, tokens, strict=True))]
    better = [(r, x - 0.2 * n, n) for r, x, n in base]  # 0.2 nats less a token, every segment
    # +-3 nats on alternate segments, 0.01 more in all: a difference far below its noise
    noisy = [(r, x + (3 if r % 2 else -3) + 0.01, n) for r, x, n in base]
    pairs = np.stack([nll, tokens], axis=1)
    assert perplexity_of(pairs) == pytest.approx(np.exp(nll.sum() / tokens.sum()))
    assert paired_bootstrap_perplexity(better, base, 1000) < 0.01
    assert paired_bootstrap_perplexity(base, base, 200) == 1.0
    assert paired_bootstrap_perplexity(noisy, base, 1000) > 0.5
    with pytest.raises(ValueError, match="scored other segments"):
        paired_bootstrap_perplexity(base[1:], base[:-1], 100)


def test_paired_bootstrap_of_accuracy_counts_centred_resamples_as_far_as_observed():
    import numpy as np

    from memtr.tasks.classification import paired_bootstrap_accuracy

    rng = np.random.default_rng(1)
    gold = rng.random(500) < 0.7
    worse = gold.copy()
    worse[np.flatnonzero(gold)[:60]] = False  # 60 right answers lost: 12 points
    p = paired_bootstrap_accuracy(gold.tolist(), worse.tolist(), 500)
    assert p == pytest.approx(1 / 501)  # the floor: no resample is as far from 0
    assert paired_bootstrap_accuracy(gold.tolist(), gold.tolist(), 100) == 1.0


def test_sets_that_are_another_splits_tokens_are_reported_without_a_claim():
    """The committed LM campaign scored WikiText-103's valid/test, which read as exactly
    WikiText-2's valid/test tokens: tabled, named as repeats, never a second verdict."""
    import pandas as pd

    from memtr.config.params import load_params
    from memtr.reports.tables import claims_markdown, repeats_note, to_markdown

    exp = REPO / "results" / "cpu_replication_lm"
    claims = pd.read_csv(exp / "claims.csv")
    assert "test" in set(claims["split"]) and not set(claims["split"]) & {
        "wikitext103_valid", "wikitext103_test"}  # fmt: skip
    table = pd.read_csv(exp / "results.csv")
    assert {"wikitext103_valid", "wikitext103_test"} <= set(table["split"])
    text = report(REPO / "results", (Claim(2, "cpu_replication_lm", "memory helps the LM"),))
    for split in ("wikitext103_valid", "wikitext103_test"):
        assert f"`{split}` reads as exactly the tokens of one of the dataset's own splits" in text
        assert f"- `baseline` on {split}" not in text
    repeats = {"wikitext103_valid": "valid", "wikitext103_test": "test"}
    params = load_params(exp / "params.yaml")
    for page in (to_markdown(table, params, repeats), claims_markdown(claims, params, repeats)):
        assert "`wikitext103_test` = `test`" in page and "`wikitext103_valid` = `valid`" in page
    assert repeats_note({}, claims=True) == []

"""The verdicts' statistics (memtr.reports.inference, memtr.reports.verdicts) against the
well-kept libraries they wrap: statsmodels' OLS of score ~ C(variant) + C(seed) on a committed
family, its Holm adjustment, TOST and t-test power; and the verdicts on committed campaigns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from memtr.common.paths import REPO
from memtr.config.params import load_params
from memtr.reports.inference import (
    below_paper_p,
    block_effects,
    detectable_effect,
    holm,
    pooling_p,
    power,
    seeds_needed,
    tost_p,
)
from memtr.reports.tables import Sources, build_tables, families
from memtr.reports.verdicts import (
    UNINFORMATIVE,
    Family,
    at_floor,
    family_rows,
    verdict_kind,
)

CONVERGED = "cpu_replication_converged"


def family_scores(experiment: str, split: str) -> dict[str, list[float]]:
    """Per-seed scores of the equal-steps family of a committed experiment (runs.csv)."""
    runs = pd.read_csv(REPO / "results" / experiment / "runs.csv")
    params = load_params(REPO / "results" / experiment / "params.yaml")
    reference = params.experiment.reference
    members = [reference, *families(params.study())[reference]]
    metric = params.spec.metric
    return {
        v: runs[runs["variant"] == v].sort_values("seed")[f"{metric}_{split}"].tolist()
        for v in members
    }


def test_the_block_model_is_statsmodels_ols_with_variant_and_seed():
    scores = family_scores(CONVERGED, "test")
    rows = [{"score": s, "variant": v, "seed": i} for v, ss in scores.items()
            for i, s in enumerate(ss)]  # fmt: skip
    fit = smf.ols("score ~ C(variant, Treatment('baseline')) + C(seed)", pd.DataFrame(rows)).fit()
    effects = block_effects(scores, "baseline")
    assert len(effects) == 4
    for variant, effect in effects.items():
        name = f"C(variant, Treatment('baseline'))[T.{variant}]"
        assert effect.delta == pytest.approx(fit.params[name])
        assert effect.se == pytest.approx(fit.bse[name])
        assert effect.p == pytest.approx(fit.pvalues[name])
        assert effect.df == fit.df_resid == 8
        low, high = effect.interval()
        assert (low, high) == pytest.approx(tuple(fit.conf_int().loc[name]))


def test_a_single_comparison_is_the_paired_t_test():
    a, b = [31.2, 29.0, 30.9], [32.0, 31.0, 31.5]
    effect = block_effects({"ref": b, "mem": a}, "ref")["mem"]
    diffs = np.subtract(a, b)
    t = diffs.mean() / (diffs.std(ddof=1) / math.sqrt(3))
    assert effect.df == 2
    assert effect.delta / effect.se == pytest.approx(t)
    assert effect.seed_deltas == pytest.approx(tuple(diffs))


def test_holm_is_statsmodels_multipletests_and_keeps_nan():
    ps = [0.01, 0.04, 0.03, math.nan]
    expected = multipletests([0.01, 0.04, 0.03], method="holm")[1]
    assert holm(ps)[:3] == pytest.approx(list(expected))
    assert math.isnan(holm(ps)[3])


def test_tost_is_statsmodels_ttost_paired_for_one_comparison():
    a, b = np.array([31.2, 30.1, 30.9, 31.4]), np.array([31.0, 30.5, 31.5, 31.2])
    effect = block_effects({"ref": list(b), "mem": list(a)}, "ref")["mem"]
    expected, _, _ = ttost_paired(a, b, -1.0, 1.0)
    assert tost_p(effect, 1.0) == pytest.approx(expected)
    assert tost_p(effect, 0.01) > 0.5  # a margin narrower than the noise: not equivalent


def test_the_detectable_effect_is_statsmodels_ttest_power_for_one_comparison():
    a, b = np.array([31.2, 30.1, 30.9, 31.4, 30.2]), np.array([31.0, 30.5, 31.5, 31.2, 30.0])
    effect = block_effects({"ref": list(b), "mem": list(a)}, "ref")["mem"]
    sd = np.std(a - b, ddof=1)
    d = TTestPower().solve_power(nobs=5, alpha=0.05, power=0.8, alternative="two-sided")
    assert detectable_effect(effect.se, effect.df) == pytest.approx(d * sd, rel=1e-4)
    assert power(d * sd, effect.se, effect.df) == pytest.approx(0.8, abs=1e-6)


def test_seeds_needed_grow_as_the_effect_shrinks():
    big, small = seeds_needed(2.0, 0.5, 5), seeds_needed(0.5, 0.5, 5)
    assert big is not None and small is not None and big < small
    assert seeds_needed(0.001, 0.5, 5) is None  # more than the search allows
    assert seeds_needed(math.nan, 0.5, 5) is None


def test_the_paper_effect_is_ruled_out_only_where_the_paper_claims_a_gain():
    effect = block_effects({"ref": [30.0, 31.0, 30.5], "mem": [29.6, 30.7, 30.0]}, "ref")["mem"]
    assert below_paper_p(effect, 3.0, higher_is_better=True) < 0.01
    assert below_paper_p(effect, -0.5, higher_is_better=True) != below_paper_p(
        effect, 0.5, higher_is_better=True
    )
    assert math.isnan(below_paper_p(effect, -0.5, higher_is_better=True))
    assert math.isnan(below_paper_p(effect, math.nan, higher_is_better=True))


def test_a_variant_spread_unlike_the_others_is_flagged():
    calm = {v: [30.0 + s, 31.0 + s, 30.5 + s] for v, s in (("a", 0), ("b", 0.1), ("c", 0.2))}
    wild = {**calm, "d": [25.0, 36.0, 30.5], "e": [30.1, 31.1, 30.6]}
    assert pooling_p(wild) < pooling_p({**calm, "e": [30.1, 31.2, 30.4]})


def make_family(**change) -> Family:
    base = dict(
        reference="ref", variants=("m1", "m2"),
        scores={"ref": [30.0, 31.0, 30.5], "m1": [26.0, 27.1, 26.4], "m2": [30.1, 31.0, 30.6]},
        higher_is_better=True, floor=5.0, margin=1.0, paper={"m1": 1.0, "m2": 1.0},
    )  # fmt: skip
    return Family(**{**base, **change})


def strong(variants) -> dict:
    return {v: {"delta": 0.0, "p": 0.001} for v in variants}


def test_verdicts_of_a_constructed_family():
    rows = family_rows(make_family(), strong(("m1", "m2")))
    assert rows["m1"]["verdict"] == "worse"
    assert verdict_kind(rows["m2"]["verdict"]) in {"equivalent within", "paper's effect ruled out"}
    weak = {v: {"delta": 0.0, "p": 0.5} for v in ("m1", "m2")}
    assert family_rows(make_family(), weak)["m1"]["verdict"] != "worse"  # the bootstrap too


def test_a_reference_at_its_floor_makes_every_comparison_uninformative():
    floored = make_family(floor=30.2)  # the reference's interval reaches 30.2
    assert at_floor(floored.scores["ref"], 30.2, True)
    rows = family_rows(floored, strong(("m1", "m2")))
    assert {r["verdict"] for r in rows.values()} == {UNINFORMATIVE}
    assert not at_floor([300.0, 310.0], 5.0, higher_is_better=False)  # perplexity: no floor


def test_a_committed_glue_family_at_its_majority_floor_reads_uninformative():
    """MRPC: the baseline's F1 (80.69) is below the majority class's (81.22)."""
    experiment = "cpu_replication_glue_mrpc"
    params = load_params(REPO / "results" / experiment / "params.yaml")
    _, claims, _ = build_tables(
        params.study(), Sources(REPO / "metrics" / experiment, REPO / "nowhere")
    )
    assert set(claims["verdict"]) == {UNINFORMATIVE}
    assert claims["floor"].iloc[0] == pytest.approx(81.22)


def test_the_report_names_a_family_whose_pooling_is_doubtful():
    from memtr.reports.replication import pooling_lines

    claims = pd.DataFrame({"split": ["test", "test", "news"], "budget": ["equal steps"] * 3,
                           "against": ["baseline"] * 3, "pooling_p": [0.01, 0.01, 0.6]})  # fmt: skip
    (line,) = pooling_lines(claims)
    assert "pooling doubtful" in line and "test against `baseline` (p 0.0100)" in line
    assert "news" not in line
    (calm,) = pooling_lines(claims.assign(pooling_p=[0.3, 0.3, 0.6]))
    assert "smallest p 0.30" in calm

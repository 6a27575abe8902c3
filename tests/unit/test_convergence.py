"""Convergence of a run from its learning curve (memtr/reports/convergence.py)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from pipeline_helpers import REPO

from memtr.reports.convergence import (
    CONVERGED,
    IMPROVING,
    UNKNOWN,
    converged_from,
    convergence,
    projected_range,
    projected_updates,
    run_convergence,
)


def curve(points: dict[int, float], train_every: int = 10) -> pd.DataFrame:
    """A train_log.csv frame: train loss every ``train_every`` updates, valid at ``points``."""
    last = max(points)
    updates = sorted(set(range(train_every, last + 1, train_every)) | set(points))
    return pd.DataFrame({
        "update": updates, "train_loss": [5.0] * len(updates),
        "valid_loss": [points.get(u, math.nan) for u in updates],
    })  # fmt: skip


def test_a_falling_loss_is_still_improving_with_its_slope_per_1000_updates():
    found = convergence(curve({u: 6.0 - 0.5 * u / 1000 for u in range(200, 2001, 200)}))
    assert found == {"best_update": 2000, "valid_slope_per_1k": -0.5, "convergence": IMPROVING}


def test_a_flat_or_rising_end_is_converged():
    flat = {u: 5.0 - 0.0001 * u for u in range(100, 1001, 100)}  # -0.1 / 1k ... then flat
    flat.update({u: 4.9 for u in range(1100, 2001, 100)})
    found = convergence(curve(flat))
    assert found["convergence"] == CONVERGED and found["valid_slope_per_1k"] == pytest.approx(0)


def test_no_new_best_in_the_last_fifth_is_converged_even_if_noisy():
    points = {200: 6.0, 400: 5.0, 600: 4.5, 800: 5.2, 1000: 4.9}  # best at 600 < 800
    assert convergence(curve(points))["convergence"] == CONVERGED
    assert convergence(curve(points))["best_update"] == 600


def test_the_window_takes_the_last_three_validations_when_it_holds_fewer():
    points = {100: 7.0, 200: 6.0, 300: 5.0}  # 240-300 holds one validation
    assert convergence(curve(points))["valid_slope_per_1k"] == pytest.approx(-10.0)


def test_one_validation_is_unknown_and_a_run_without_curve_too(tmp_path):
    assert convergence(curve({300: 5.0}))["convergence"] == UNKNOWN
    assert run_convergence(tmp_path)["convergence"] == UNKNOWN


def test_the_committed_translation_baseline_was_still_improving_at_1200_updates():
    # valid loss 4.607 at 1,000, 4.612 at 1,080, 4.490 at 1,200 (the numbers)
    found = run_convergence(REPO / "metrics/cpu_replication/baseline/seed1")
    assert found["convergence"] == IMPROVING and found["best_update"] == 1200
    assert found["valid_slope_per_1k"] == pytest.approx(-0.55, abs=0.1)


def test_the_projection_finds_where_a_power_law_curve_flattens():
    """Validations on L = 3 + 2 (t/1000)^-0.5 up to 1,200 updates: the fit finds the law, whose
    slope is -0.05 bits per 1,000 updates at 1000 (2 x 0.5 / 0.05)^(1/1.5) = 7,368 updates;
    with four validations there is nothing to fit."""
    law = {u: 3 + 2 * (u / 1000) ** -0.5 for u in range(200, 1201, 200)}
    assert projected_updates(curve(law)) == pytest.approx(1000 * 20 ** (1 / 1.5), rel=1e-3)
    assert math.isnan(projected_updates(curve(dict(list(law.items())[:4]))))


def test_the_projection_range_fits_all_validations_and_those_after_warm_up():
    """A steep warm-up point (update 100) that the law does not follow moves the fit to all
    validations; the fit after warm-up still finds the law: both ends are reported."""
    law = {u: 3 + 2 * (u / 1000) ** -0.5 for u in range(200, 1401, 200)}
    low, high = projected_range(curve({100: 12.0, **law}), warmup=150)
    assert low != pytest.approx(high, rel=0.05)
    assert pytest.approx(low, rel=1e-3) == 1000 * 20 ** (1 / 1.5) or (
        pytest.approx(high, rel=1e-3) == 1000 * 20 ** (1 / 1.5)
    )


def test_converged_from_is_where_every_later_reading_is_converged():
    """Falling to 1,600, a dip back to falling at 2,000 (a new best in the last fifth), flat
    from there: converged from the first validation after which it never read improving."""
    points = {u: 6.0 - u / 1000 for u in range(200, 1601, 200)}  # down to 4.4
    points.update({1800: 4.4, 2000: 4.3, 2200: 4.3, 2400: 4.31, 2600: 4.3, 2800: 4.3})
    found = converged_from(curve(points))
    readings = {u: convergence(curve({k: v for k, v in points.items() if k <= u}))
                for u in points}  # fmt: skip
    assert readings[2000]["convergence"] == IMPROVING
    assert all(readings[u]["convergence"] == CONVERGED for u in points if u >= found)
    assert found > 2000
    assert math.isnan(converged_from(curve({u: 6.0 - u / 1000 for u in range(200, 2001, 200)})))


def test_a_campaign_tells_runs_stopped_on_their_patience_from_those_at_the_cap():
    from memtr.reports.convergence_report import patience_stops, stop_counts

    runs = pd.DataFrame({"stopped_by": ["patience", "max_update", "max_update"]})
    assert stop_counts(runs) == "1 of 3 runs stopped on their patience, 2 at the cap"
    assert patience_stops(runs.iloc[:1]) == 1 and patience_stops(runs.iloc[1:]) == 0

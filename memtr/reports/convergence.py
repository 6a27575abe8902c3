"""Had a run stopped improving when its budget ended? Read from its learning curve
(``metrics/<e>/<v>/seed<k>/train_log.csv``: the validation loss fairseq logged, in bits).

* ``valid_slope_per_1k``: least-squares slope of the validation loss over the last
  :data:`WINDOW` of the run's updates, per 1,000 updates (the last :data:`MIN_POINTS`
  validations when that window holds fewer);
* ``best_update``: the update of the lowest validation loss;
* ``convergence``: ``converged`` when the slope is above ``-CONVERGED_SLOPE`` (flat, or
  rising), or when the best validation came before the window (no improvement in the last
  20%: what a patience would stop on); ``still improving`` otherwise; ``unknown`` with fewer
  than two validations.

The threshold is a choice: 0.05 bits per 1,000 updates, about 1% of the loss of the
committed translation runs per 1,000 updates (theirs fell 0.55 at the end of their budget).

For a run still improving, :func:`projected_updates` says when it would converge: a power law
``L(t) = a + b (t / 1000)^-k`` fitted to its validation losses (least squares, ``a`` between 0
and the lowest loss seen), whose slope reaches ``-CONVERGED_SLOPE`` at
``t* = 1000 (b k / CONVERGED_SLOPE)^(1 / (k + 1))`` updates. A model of the curve, not a
measurement: it knows nothing of overfitting, which stops a run sooner.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

WINDOW = 0.2  # the last fifth of the updates
MIN_POINTS = 3  # validations the slope needs when the window holds fewer
CONVERGED_SLOPE = 0.05  # bits per 1,000 updates
CONVERGED, IMPROVING, UNKNOWN = "converged", "still improving", "unknown"


def validations(curve: pd.DataFrame) -> pd.DataFrame:
    """The (update, valid_loss) rows of a learning curve, one per update, in order."""
    valid = curve.dropna(subset=["valid_loss"])[["update", "valid_loss"]]
    return valid.drop_duplicates("update", keep="last").sort_values("update")


def slope_per_1k(points: pd.DataFrame) -> float:
    """Least-squares slope of valid_loss against update, per 1,000 updates."""
    x, y = points["update"].to_numpy(float), points["valid_loss"].to_numpy(float)
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan
    return float(np.polyfit(x, y, 1)[0] * 1000)


def convergence(curve: pd.DataFrame) -> dict:
    """``valid_slope_per_1k``, ``best_update`` and ``convergence`` of one learning curve."""
    valid = validations(curve)
    if len(valid) < 2:
        return {"best_update": math.nan, "valid_slope_per_1k": math.nan, "convergence": UNKNOWN}
    last = float(valid["update"].iloc[-1])
    window = valid[valid["update"] >= (1 - WINDOW) * last]
    if len(window) < MIN_POINTS:
        window = valid.tail(MIN_POINTS)
    slope = slope_per_1k(window)
    best = int(valid.loc[valid["valid_loss"].idxmin(), "update"])
    stalled = best < (1 - WINDOW) * last
    flat = slope >= -CONVERGED_SLOPE
    return {
        "best_update": best,
        "valid_slope_per_1k": round(slope, 3),
        "convergence": CONVERGED if flat or stalled else IMPROVING,
    }


def run_convergence(run_metrics: Path) -> dict:
    """:func:`convergence` of the run whose metrics folder is ``run_metrics`` (``unknown``
    for a run without a learning curve: one imported from elsewhere)."""
    return convergence(read_curve(run_metrics))


def read_curve(run_metrics: Path) -> pd.DataFrame:
    """The learning curve of the run whose metrics folder is ``run_metrics`` (empty without)."""
    curve = run_metrics / "train_log.csv"
    return pd.read_csv(curve) if curve.is_file() else pd.DataFrame({"update": [], "valid_loss": []})


def converged_share(statuses: list[str]) -> str:
    """``k/n``: how many of a variant's runs converged."""
    return f"{sum(s == CONVERGED for s in statuses)}/{len(statuses)}"


MIN_FIT_POINTS = 5  # validations a power law of three parameters is fitted to


def projected_updates(curve: pd.DataFrame, after: int = 0) -> float:
    """The update at which the power law fitted to the run's validation losses after update
    ``after`` falls no faster than the threshold (NaN with fewer than :data:`MIN_FIT_POINTS`
    such validations or when the fit fails)."""
    from scipy.optimize import curve_fit

    valid = validations(curve)
    valid = valid[valid["update"] > after]
    if len(valid) < MIN_FIT_POINTS:
        return math.nan
    t, y = valid["update"].to_numpy(float) / 1000, valid["valid_loss"].to_numpy(float)

    def law(t, a, b, k):  # t: thousands of updates
        return a + b * t**-k

    try:
        (_, b, k), _ = curve_fit(law, t, y, p0=(y.min() / 2, 1.0, 0.5), maxfev=20000,
                                 bounds=([0, 0, 0.01], [y.min(), 100, 5]))  # fmt: skip
    except (RuntimeError, ValueError):
        return math.nan
    return float(1000 * (b * k / CONVERGED_SLOPE) ** (1 / (k + 1)))


def projected_range(curve: pd.DataFrame, warmup: int) -> tuple[float, float]:
    """The lowest and highest of two projections, fitted to every validation and to those
    after the warm-up: the fit is sensitive to the steep first points (on the committed
    translation baseline, 3,100 against 7,400 updates), so both are reported."""
    found = [projected_updates(curve), projected_updates(curve, after=warmup)]
    found = [f for f in found if not math.isnan(f)]
    return (min(found), max(found)) if found else (math.nan, math.nan)


def converged_from(curve: pd.DataFrame) -> float:
    """The first validation from which the run reads ``converged`` at every later one: where a
    budget ending there would have found it converged (NaN when its end is not)."""
    updates = list(validations(curve)["update"])
    since = math.nan
    for update in updates:
        if convergence(curve[curve["update"] <= update])["convergence"] == CONVERGED:
            since = update if math.isnan(since) else since
        else:
            since = math.nan
    return since

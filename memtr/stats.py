"""Statistics of a study: intervals over seeds and the paired bootstrap over examples.

Task-free: the tasks (``memtr/tasks/``) say what an example's statistic is (BLEU of
sentences, accuracy of examples, perplexity of segments); this module resamples them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_std_ci(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, sample std and the two ends of the 95% t-interval (NaN std/CI for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def seed_difference(a: list[float], b: list[float]) -> dict:
    """Difference of the means over seeds, mean(a) - mean(b), its 95% Welch-Satterthwaite
    interval (NaN below 2 seeds) and the larger of the two seed standard deviations."""
    (mean_a, std_a, _, _), (mean_b, std_b, _, _) = mean_std_ci(a), mean_std_ci(b)
    delta = mean_a - mean_b
    found = {"delta": delta, "low": math.nan, "high": math.nan, "noise": max(std_a, std_b)}
    if len(a) < 2 or len(b) < 2:
        return found
    var_a, var_b = std_a**2 / len(a), std_b**2 / len(b)
    se = math.sqrt(var_a + var_b)
    half = 0.0
    if se > 0:
        dof = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
        half = stats.t.ppf(0.975, dof) * se
    return {**found, "low": delta - half, "high": delta + half}


def paired_bootstrap_p(statistic, system, baseline, resamples: int, seed: int = 12345) -> float:
    """Two-sided p-value of a paired bootstrap of ``statistic(system) - statistic(baseline)``.

    As sacrebleu's test does for BLEU: resample the examples (rows of the arrays) with
    replacement, centre the resampled differences, and count how often they are at least as
    far from 0 as the observed difference. ``statistic`` maps (resamples, examples, ...)
    arrays to one value per resample.
    """
    a, b = np.asarray(system, dtype=float), np.asarray(baseline, dtype=float)
    observed = statistic(a[None])[0] - statistic(b[None])[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(resamples, len(a)))  # (resamples, examples)
    deltas = statistic(a[idx]) - statistic(b[idx])  # (resamples,)
    centred = deltas - deltas.mean()
    return float((np.abs(centred) >= abs(observed)).sum() + 1) / (resamples + 1)

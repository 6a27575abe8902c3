"""Statistics of a study: intervals over seeds and the paired bootstrap over examples.

Task-free: the tasks (``memtr/tasks/``) say what an example's statistic is (BLEU of
sentences, accuracy of examples, perplexity of segments); this module resamples them. It
also holds the metrics of predictions against gold that GLUE reports (MCC, F1, Pearson and
Spearman correlation), vectorised over bootstrap resamples.
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


def _centred_p(observed: float, deltas: np.ndarray) -> float:
    """Share of centred resampled differences at least as far from 0 as ``observed``."""
    centred = deltas - deltas.mean()
    return float((np.abs(centred) >= abs(observed)).sum() + 1) / (len(deltas) + 1)


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
    return _centred_p(observed, statistic(a[idx]) - statistic(b[idx]))


# Drawn examples per block of resamples: bounds the memory of a large dev set (QQP: 40k).
BLOCK = 1 << 22


def paired_bootstrap_metric_p(metric, system, baseline, gold, resamples: int,
                              seed: int = 12345) -> float:  # fmt: skip
    """Two-sided p-value of a paired bootstrap of a metric of (predictions, gold).

    For metrics that are no mean over examples (MCC, F1, Pearson r). ``system`` and
    ``baseline`` are (seeds, examples) predictions, seed s of one paired with seed s of the
    other; ``gold`` is (examples,). Each resample draws examples with replacement, the same
    ones for both variants and every seed; its difference is the metric of each seed on
    them, averaged over the seeds, so the observed difference is that of the means over
    seeds. Centred and counted as :func:`paired_bootstrap_p`; ``metric`` maps
    (..., examples) arrays to (...).
    """
    a, b, g = (np.asarray(x) for x in (system, baseline, gold))
    if a.shape != b.shape or a.shape[-1:] != g.shape:
        raise ValueError(f"paired predictions {a.shape}, {b.shape} and gold {g.shape} differ")
    observed = float(np.mean(metric(a, g[None]) - metric(b, g[None])))
    rng = np.random.default_rng(seed)
    n, deltas = len(g), []
    block = max(1, BLOCK // n)  # resamples drawn at once
    for start in range(0, resamples, block):
        idx = rng.integers(0, n, size=(min(block, resamples - start), n))  # (block, examples)
        drawn = g[idx]
        deltas.append(np.mean([metric(x[idx], drawn) - metric(y[idx], drawn)
                               for x, y in zip(a, b, strict=True)], axis=0))  # fmt: skip
    return _centred_p(observed, np.concatenate(deltas))


# -- metrics of predictions against gold, over the last axis -----------------------------------
# Each maps (..., examples) arrays of predictions and gold to (...) values (fractions, not
# percent), so one call scores every bootstrap resample. Class labels are integer codes.


def accuracy(pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Share of examples predicted right."""
    return (np.asarray(pred) == np.asarray(gold)).mean(axis=-1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (sklearn's and our convention for undefined scores)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def mcc(pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Matthews correlation of class codes 0..K-1, K classes as sklearn's matthews_corrcoef
    computes it; 0 when the predictions or the gold hold a single class."""
    pred, gold = np.asarray(pred), np.asarray(gold)
    classes = int(max(pred.max(), gold.max())) + 1
    n = pred.shape[-1]
    correct = (pred == gold).sum(axis=-1)
    t = np.stack([(gold == k).sum(axis=-1) for k in range(classes)], axis=-1)  # (..., K)
    p = np.stack([(pred == k).sum(axis=-1) for k in range(classes)], axis=-1)
    cov_tp = correct * n - (t * p).sum(axis=-1)
    cov_pp, cov_tt = n * n - (p * p).sum(axis=-1), n * n - (t * t).sum(axis=-1)
    return _ratio(cov_tp, np.sqrt(cov_pp.astype(float) * cov_tt))


def f1(pred: np.ndarray, gold: np.ndarray, positive: int = 1) -> np.ndarray:
    """F1 of the ``positive`` class (sklearn's f1_score); 0 with neither a positive
    prediction nor a positive gold label."""
    pred, gold = np.asarray(pred) == positive, np.asarray(gold) == positive
    tp = (pred & gold).sum(axis=-1)
    return _ratio(2 * tp, pred.sum(axis=-1) + gold.sum(axis=-1))


def pearson(pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Pearson r (scipy's pearsonr); 0 where either side is constant (scipy: NaN)."""
    x, y = np.asarray(pred, dtype=float), np.asarray(gold, dtype=float)
    x, y = np.broadcast_arrays(x, y)
    constant = (x.max(axis=-1) == x.min(axis=-1)) | (y.max(axis=-1) == y.min(axis=-1))
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))
    return np.where(constant, 0.0, _ratio((x * y).sum(axis=-1), den))


def spearman(pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Spearman rho (scipy's spearmanr): Pearson r of the ranks, ties at their mean rank."""
    pred, gold = np.broadcast_arrays(np.asarray(pred, dtype=float), np.asarray(gold, dtype=float))
    return pearson(stats.rankdata(pred, axis=-1), stats.rankdata(gold, axis=-1))


METRICS = {"accuracy": accuracy, "mcc": mcc, "f1": f1, "pearson": pearson, "spearman": spearman}

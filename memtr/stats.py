"""Statistics of a study: intervals over seeds and the paired bootstrap over examples.

Task-free: the tasks (``memtr/tasks/``) say what an example contributes to the metric (a
sentence's BLEU statistics, a segment's log-likelihood, an example's prediction); this module
resamples them. The verdicts over seeds (blocks, adjustment, power, equivalence) are in
``memtr/reports/inference.py``. It
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


def centred_p(observed: float, deltas: np.ndarray) -> float:
    """Two-sided p of a bootstrap: the share of resampled differences, centred on their own
    mean (the null of no difference), at least as far from 0 as ``observed``; +1 on both
    sides so that p is never 0."""
    centred = deltas - deltas.mean()
    return float((np.abs(centred) >= abs(observed)).sum() + 1) / (len(deltas) + 1)


# Drawn values per block of resamples: bounds the memory of a large test set (QQP: 40k).
BLOCK = 1 << 22


def paired_bootstrap(score, system, baseline, resamples: int, seed: int = 12345) -> dict:
    """The example-level paired bootstrap of one task's metric, the same for every task.

    ``system`` and ``baseline`` are (seeds, examples, ...) arrays of what each example
    contributes to the metric (a sentence's BLEU statistics, a segment's log-likelihood and
    tokens, an example's prediction and gold label), seed s of one paired with seed s of the
    other; ``score`` maps (..., examples, ...) to the metric (...). The observed difference
    is the mean over seeds of score(system) - score(baseline), the Δ the tables report. Each
    resample draws the examples with replacement, the same indices for every seed and both
    variants, and takes that mean difference again; p is two-sided (:func:`centred_p`).

    It differs from sacrebleu's paired bootstrap (``sacrebleu.significance``) in two ways:
    sacrebleu tests one hypothesis file against one, so several seeds would have to be pooled
    as if they were more sentences; and it centres the *absolute* resampled differences and
    counts those strictly above the absolute observed one, which behaves as a one-sided test.

    Returns ``{"delta": observed difference, "p": two-sided p}``.
    """
    a, b = np.asarray(system, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"paired bootstrap: shapes {a.shape} and {b.shape} do not pair")
    observed = float(np.mean(score(a) - score(b)))
    rng = np.random.default_rng(seed)
    n = a.shape[1]
    block = max(1, BLOCK // (n * int(np.prod(a.shape[2:], dtype=int))))  # resamples at once
    deltas = []
    for start in range(0, resamples, block):
        idx = rng.integers(0, n, size=(min(block, resamples - start), n))  # (block, examples)
        deltas.append(np.mean([score(x[idx]) - score(y[idx])
                               for x, y in zip(a, b, strict=True)], axis=0))  # fmt: skip
    return {"delta": observed, "p": centred_p(observed, np.concatenate(deltas))}


def with_gold(predictions, gold) -> np.ndarray:
    """(seeds, examples) predictions and (examples,) gold labels as one (seeds, examples, 2)
    array, the per-example input of :func:`paired_bootstrap` for a metric of both."""
    pred, g = np.asarray(predictions, dtype=float), np.asarray(gold, dtype=float)
    if pred.shape[-1:] != g.shape:
        raise ValueError(f"predictions {pred.shape} and gold {g.shape} differ in examples")
    return np.stack([pred, np.broadcast_to(g, pred.shape)], axis=-1)


def of_gold(metric):
    """A metric of (predictions, gold) as the ``score`` of :func:`paired_bootstrap` over a
    :func:`with_gold` array."""

    def score(x: np.ndarray) -> np.ndarray:
        return metric(x[..., 0], x[..., 1])

    return score


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

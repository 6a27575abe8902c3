"""Where an experiment's files live: ``metrics/<e>`` (one folder per run) beside
``results/<e>`` (its tables, figures and params), under the same root."""

from __future__ import annotations

from pathlib import Path

__all__ = ["metrics_of", "results_of", "run_folder"]


def metrics_of(results: Path) -> Path:
    """The metrics folder of an experiment's results folder: ``results/<e>`` -> ``metrics/<e>``
    (the pipeline writes both under the same root)."""
    return results.parent.parent / "metrics" / results.name


def results_of(metrics: Path) -> Path:
    """The inverse of :func:`metrics_of`: ``metrics/<e>`` -> ``results/<e>``."""
    return metrics.parent.parent / "results" / metrics.name


def run_folder(metrics: Path, variant: str, seed: int) -> Path:
    """One run's folder under an experiment's metrics: ``metrics/<e>/<variant>/seed<k>``."""
    return metrics / variant / f"seed{seed}"

"""How a task's results are compared: the paired test over examples, the metric's floor, the
tables' columns and notes. The tables side of a task, apart from how it trains and scores
(``memtr/tasks/``): it reads per-run outputs only, never a model, so the tables stage loads
neither fairseq nor the run layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from memtr.config.study import Study
from memtr.settings import Variant
from memtr.specs.base import TaskSpec


@dataclass(frozen=True)
class Sources:
    """Where the tables stage reads: per-run metrics, prepared data, extra test sets."""

    metrics: Path
    prep: Path
    extra: Path | None = None


def outputs_per_seed(study: Study, metrics: Path, variant: str, name: str) -> list[list[str]]:
    """Per-example output lines of ``variant``, one list per seed in seed order."""
    from memtr.common.textio import read_lines

    return [
        list(read_lines(metrics / variant / f"seed{seed}" / "outputs" / name))
        for seed in study.experiment.seeds
    ]


class Scorer:
    """The tables side of one task over its spec. Subclasses set :attr:`spec_class` and the
    methods."""

    spec_class: ClassVar[type[TaskSpec]]

    def __init__(self, spec: TaskSpec | None = None) -> None:
        self.spec = spec if spec is not None else self.spec_class()

    def paired_bootstrap(self, study: Study, src: Sources, variant: str, against: str,
                         label: str) -> dict:  # fmt: skip
        """:func:`memtr.stats.paired_bootstrap` of ``variant`` against ``against`` on
        ``label``: each example's contribution to the metric, per seed (seed s paired with
        seed s); ``{"delta", "p"}``."""
        raise NotImplementedError

    def floor(self, study: Study, src: Sources, label: str) -> float:
        """The metric's floor on ``label``: the score a model that learned nothing of the
        inputs reaches (NaN: none defined). A reference at its floor cannot rank variants."""
        return float("nan")

    def result_columns(self, variant: Variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        """Columns of a results row after the metric's mean/std/CI."""
        return {}

    def run_details(self, runs: list[tuple[dict, dict]], label: str) -> dict:
        """Columns at the end of a results row (e.g. the metric's signature)."""
        return {}

    def legend(self, study: Study, table: Any) -> list[str]:
        """The first notes under the results table: how the metric was measured."""
        raise NotImplementedError

    def bootstrap_note(self, study: Study) -> str:
        """How ``p_vs_reference`` was measured (memtr.stats.paired_bootstrap)."""
        examples, label = self.spec.examples, self.spec.metric_label
        return (
            f"p_vs_reference: two-sided paired bootstrap over {examples} "
            f"({study.eval.bootstrap_resamples} resamples): each resample draws the "
            f"{examples} with replacement, the same for every seed and both variants, and "
            f"takes the mean over seeds of the difference of {label} from "
            f"`{study.experiment.reference}` (seed s paired with seed s); p: the share of "
            "those differences, centred, at least as far from 0 as the observed one."
        )

"""The interface of a task: everything the pipeline does differently per task.

A task (translation, language modelling, classification, ...) is one module of
``memtr/tasks/`` with one :class:`Task` subclass, listed in ``memtr/tasks/__init__.py``.
The stages never branch on the task's name; they ask it:

- params: which model sizes and layouts it offers, which ``train``/``eval`` keys apply, and
  what it becomes for the selected dataset (:meth:`Task.for_dataset`: e.g. its metric);
- train stage: the fairseq task, criterion and batching options (:meth:`Task.fairseq_args`);
- evaluate stage: how one split is scored (:meth:`Task.evaluate`);
- tables stage: the metric, the paired bootstrap over examples
  (:meth:`Task.paired_bootstrap`), the metric's floor (:meth:`Task.floor`) and default
  equivalence margin, the extra columns and the notes under the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from memtr.specs.base import TaskSpec

if TYPE_CHECKING:  # transitional
    from memtr.config.params import Params
    from memtr.settings import Variant


@dataclass(frozen=True)
class EvalRun:
    """What the evaluate stage scores: one trained run and where its data lies."""

    variant: str
    seed: int
    model: Path  # the run's model.pt
    data: Path  # binarized dataset (data/bin/<dataset>)
    prep: Path  # prepared dataset, raw references (data/prep/<dataset>)
    extra: Path | None  # extra test sets (data/extra/<dataset>), if any
    metrics: Path  # the run's metrics folder: eval.json, outputs/


@dataclass(frozen=True)
class Sources:
    """Where the tables stage reads: per-run metrics, prepared data, extra test sets."""

    metrics: Path
    prep: Path
    extra: Path | None = None


def outputs_per_seed(params: Params, metrics: Path, variant: str, name: str) -> list[list[str]]:
    """Per-example output lines of ``variant``, one list per seed in seed order."""
    from memtr.common.textio import read_lines

    return [
        list(read_lines(metrics / variant / f"seed{seed}" / "outputs" / name))
        for seed in params.experiment["seeds"]
    ]


class Task:
    """One task's behaviour over its declaration (:class:`~memtr.specs.base.TaskSpec`).
    Subclasses set :attr:`spec_class` and the methods."""

    spec_class: ClassVar[type[TaskSpec]]

    def __init__(self, spec: TaskSpec | None = None) -> None:
        self.spec = spec if spec is not None else self.spec_class()

    def __getattr__(self, name: str) -> Any:  # transitional: the declarations, read through
        if name == "spec":
            raise AttributeError(name)
        return getattr(self.spec, name)

    # -- train stage ----------------------------------------------------------------------
    def model_options(self, args: dict) -> dict:
        """``model.args`` as fairseq options; a task may complete them."""
        return dict(args)

    def fairseq_args(self, params: Params, data: Path) -> list[str]:
        """fairseq task, criterion and batching options of a training run."""
        raise NotImplementedError

    # -- evaluate stage -------------------------------------------------------------------
    def evaluate(self, params: Params, run: EvalRun, label: str) -> dict:
        """Score ``run`` on the split or extra test set ``label``; write its per-example
        outputs under ``run.metrics / "outputs"``; return the scores for eval.json."""
        raise NotImplementedError

    # -- tables stage ---------------------------------------------------------------------
    def paired_bootstrap(self, params: Params, src: Sources, variant: str, against: str,
                         label: str) -> dict:  # fmt: skip
        """:func:`memtr.stats.paired_bootstrap` of ``variant`` against ``against`` on
        ``label``: each example's contribution to the metric, per seed (seed s paired with
        seed s); ``{"delta", "p"}``."""
        raise NotImplementedError

    def floor(self, params: Params, src: Sources, label: str) -> float:
        """The metric's floor on ``label``: the score a model that learned nothing of the
        inputs reaches (NaN: none defined). A reference at its floor cannot rank variants."""
        return float("nan")

    def result_columns(self, variant: Variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        """Columns of a results row after the metric's mean/std/CI."""
        return {}

    def run_details(self, runs: list[tuple[dict, dict]], label: str) -> dict:
        """Columns at the end of a results row (e.g. the metric's signature)."""
        return {}

    def legend(self, params: Params, table: Any) -> list[str]:
        """The first notes under the results table: how the metric was measured."""
        raise NotImplementedError

    def bootstrap_note(self, params: Params) -> str:
        """How ``p_vs_reference`` was measured (memtr.stats.paired_bootstrap)."""
        return (
            f"p_vs_reference: two-sided paired bootstrap over {self.examples} "
            f"({params.eval['bootstrap_resamples']} resamples): each resample draws the "
            f"{self.examples} with replacement, the same for every seed and both variants, and "
            f"takes the mean over seeds of the difference of {self.metric_label} from "
            f"`{params.experiment['reference']}` (seed s paired with seed s); p: the share of "
            "those differences, centred, at least as far from 0 as the observed one."
        )

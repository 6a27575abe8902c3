"""What the tables side reads of ``params.yaml``, as one value: the experiment and its
variants, their budgets, how the runs are scored. Built by :meth:`Params.study`; the scorers,
tables, figures and reports take it instead of the whole params."""

from __future__ import annotations

from dataclasses import dataclass

from memtr.settings import EvalSettings, ExperimentSettings, TrainSettings, Variant, eval_labels
from memtr.specs.base import TaskSpec


@dataclass(frozen=True)
class Study:
    """What the tables and figures read of ``params.yaml``: the experiment and its variants,
    their training budgets (and stopping rule), how the runs are scored and compared."""

    experiment: ExperimentSettings
    variants: dict[str, Variant]
    train: TrainSettings
    eval: EvalSettings
    spec: TaskSpec  # the task, as it scores the dataset
    dataset: str  # data.dataset
    target: str | None = None  # the dataset's target language (translation's references)

    def run_variants(self) -> list[Variant]:
        """The variants the experiment trains, in its order."""
        return [self.variants[name] for name in self.experiment.variants]

    def eval_labels(self) -> list[str]:
        """What the evaluate stage scored: ``eval.splits``, then the extra test sets."""
        return eval_labels(self.eval)

    def budget(self, variant: Variant) -> int:
        """Training updates of ``variant``."""
        return self.train.budget(variant)

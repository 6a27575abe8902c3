"""What a task does: the fairseq options of its training and how a trained model is scored.

A task is one module of ``memtr/tasks/`` with one :class:`Task` subclass over its declaration
(:mod:`memtr.specs`), listed in ``memtr/tasks/__init__.py``. The stages never branch on the
task's name; they ask it:

- train stage: the fairseq task, criterion and batching options (:meth:`Task.fairseq_args`)
  and its completion of ``model.args`` (:meth:`Task.model_options`);
- evaluate stage: how one split is scored (:meth:`Task.evaluate`).

How runs are compared (the paired test, the floor, the tables' notes) is the task's scorer
(:mod:`memtr.scoring`), which reads outputs only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from memtr.run.training import model_args
from memtr.settings import EvalSettings, ModelSettings, TrainSettings, Variant
from memtr.specs.base import TaskSpec


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
    threads: int = 1  # OpenMP threads of the scoring process (train.threads)
    target: str | None = None  # the dataset's target language (translation's references)
    segment: int | None = None  # language models: tokens per segment (train.tokens_per_sample)


class Task:
    """One task's behaviour over its declaration (:class:`~memtr.specs.base.TaskSpec`).
    Subclasses set :attr:`spec_class` and the methods."""

    spec_class: ClassVar[type[TaskSpec]]

    def __init__(self, spec: TaskSpec | None = None) -> None:
        self.spec = spec if spec is not None else self.spec_class()

    # -- train stage ----------------------------------------------------------------------
    def train_options(self, train: TrainSettings, model: ModelSettings, variant: Variant,
                      data: Path, restore: str | None) -> list[str]:  # fmt: skip
        """The task's and the architecture's fairseq-train options of one run of ``variant``."""
        arch = self.spec.arch(variant.layout, model.size)
        return [
            *self.fairseq_args(train, data, restore),
            *model_args(arch, variant, self.model_options(model.args)),
        ]

    def check_options(self, train: TrainSettings, model: ModelSettings,
                      variants: Sequence[Variant]) -> None:  # fmt: skip
        """``model.args`` and ``train.extra_args`` through fairseq's own parsers, for the
        architecture of each of ``variants`` (memtr.run.option_checks): one line naming the
        field, before any stage works (the check stage; it loads fairseq)."""
        from memtr.run.option_checks import check_model_args, check_train_options

        for arch in dict.fromkeys(self.spec.arch(v.layout, model.size) for v in variants):
            check_model_args(arch, self.model_options(model.args))
            check_train_options(train.extra_args, task=self.spec.name, arch=arch)

    def model_options(self, args: dict) -> dict:
        """``model.args`` as fairseq options; a task may complete them."""
        return dict(args)

    def fairseq_args(self, train: TrainSettings, data: Path, restore: str | None) -> list[str]:
        """fairseq task, criterion and batching options of a training run on ``data``
        (``restore``: the checkpoint fine-tuning starts from)."""
        raise NotImplementedError

    # -- evaluate stage -------------------------------------------------------------------
    def evaluate(self, ev: EvalSettings, run: EvalRun, label: str) -> dict:
        """Score ``run`` on the split or extra test set ``label``; write its per-example
        outputs under ``run.metrics / "outputs"``; return the scores for eval.json."""
        raise NotImplementedError

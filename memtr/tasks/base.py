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

from memtr.common.errors import ConfigError

if TYPE_CHECKING:  # types only: the config layer sits above the tasks
    from memtr.config.params import Params, Variant
    from memtr.datasets.registry import Dataset


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
    """One task of the pipeline. Subclasses set the class attributes and the methods."""

    name: ClassVar[str]  # as params and eval.json name it, e.g. "translation"
    noun: ClassVar[str]  # in messages, e.g. "language models"
    title: ClassVar[str]  # heading of its tables, e.g. "Machine translation"
    dataset_kinds: ClassVar[tuple[str, ...]]  # the registry's Dataset.kind values it trains on
    sizes: ClassVar[tuple[str, ...]]  # model.size values
    arch_prefix: ClassVar[dict[str, str]]  # layout -> fairseq architecture prefix
    metric: str  # key in eval.json, e.g. "bleu" (a task may set it per dataset: for_dataset)
    metric_label: str  # its name in tables, e.g. "BLEU"
    paper_section: ClassVar[str]  # section of workflow/paper_reference.yaml
    higher_is_better: ClassVar[bool] = True
    eval_splits: ClassVar[tuple[str, ...]] = ("valid", "test")
    eval_keys: ClassVar[dict[str, Any]] = {}  # required eval keys beyond the common ones
    uses_segments: ClassVar[bool] = True  # trains on train.tokens_per_sample segments
    label_smoothing: ClassVar[bool] = False  # train.label_smoothing may be > 0
    restores_encoder: ClassVar[bool] = False  # train.restore_file (a pre-trained model)
    recurrent_memory: ClassVar[bool] = False  # variants.*.recurrent
    hidden_columns: ClassVar[tuple[str, ...]] = ()  # results.csv columns left out of the .md

    # -- params ---------------------------------------------------------------------------
    def arch(self, variant: Variant, size: str) -> str:
        """fairseq architecture of ``variant`` at ``size``, e.g. ``mem_ctrl_iwslt_de_en``."""
        if size == "tiny" and variant.layout == "none":
            raise ConfigError("model.size tiny has no fairseq baseline; use base with model.args")
        return self.arch_prefix[variant.layout] + self.size_suffix(size)

    def size_suffix(self, size: str) -> str:
        """The architecture-name suffix of ``model.size`` (``base`` is fairseq's plain name)."""
        return "" if size == "base" else f"_{size}"

    def for_dataset(self, dataset: Dataset) -> Task:
        """The task as it trains on and scores ``dataset`` (e.g. GLUE's metric of that task):
        what ``Params.task`` is for the selected dataset."""
        return self

    def check_dataset(self, dataset: Dataset, name: str) -> None:
        """Refuse a dataset of this task's kinds that the task cannot measure."""

    def check_eval(self, ev: dict) -> None:
        """Task-specific checks of the ``eval`` section (after the common ones)."""

    def splits_error(self, splits: list) -> str:
        """The message for ``eval.splits`` outside :attr:`eval_splits`."""
        return (
            f"eval.splits must list {' and/or '.join(self.eval_splits)} for {self.name} "
            f"(GLUE test labels are not public), got {splits!r}"
        )

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

    def equivalence_margin(self, params: Params) -> float:
        """The margin ±δ of the equivalence test: ``eval.equivalence_margin`` if set, else
        the task's documented default for its metric."""
        return float(params.eval.get("equivalence_margin") or self.default_margin)

    default_margin: ClassVar[float] = 1.0  # in the metric's units (BLEU, accuracy points)

    def result_columns(self, variant: Variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        """Columns of a results row after the metric's mean/std/CI."""
        return {}

    def run_details(self, runs: list[tuple[dict, dict]], label: str) -> dict:
        """Columns at the end of a results row (e.g. the metric's signature)."""
        return {}

    def legend(self, params: Params, table: Any) -> list[str]:
        """The first notes under the results table: how the metric was measured."""
        raise NotImplementedError

    examples: ClassVar[str] = "test examples"  # what the paired bootstrap resamples

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

"""The declaration of a task: what params may set for it and how its metric reads.

Pure data and checks of ``params.yaml`` values; no fairseq, no evaluation. The behaviour of a
task (``memtr/tasks/``, ``memtr/scoring/``) takes its spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from memtr.common.errors import ConfigError
from memtr.settings import EvalSettings

if TYPE_CHECKING:
    from memtr.datasets.registry import Dataset


class TaskSpec:
    """One task's declaration. Subclasses set the class attributes."""

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
    eval_settings: ClassVar[type[EvalSettings]] = EvalSettings  # its eval section's keys
    uses_segments: ClassVar[bool] = True  # trains on train.tokens_per_sample segments
    label_smoothing: ClassVar[bool] = False  # train.label_smoothing may be > 0
    restores_encoder: ClassVar[bool] = False  # train.restore_file (a pre-trained model)
    recurrent_memory: ClassVar[bool] = False  # variants.*.recurrent
    hidden_columns: ClassVar[tuple[str, ...]] = ()  # results.csv columns left out of the .md
    examples: ClassVar[str] = "test examples"  # what the paired bootstrap resamples
    default_margin: ClassVar[float] = 1.0  # equivalence margin, in the metric's units

    def arch(self, layout: str, size: str) -> str:
        """fairseq architecture of a ``layout`` at ``size``, e.g. ``mem_ctrl_iwslt_de_en``."""
        if size == "tiny" and layout == "none":
            raise ConfigError("model.size tiny has no fairseq baseline; use base with model.args")
        return self.arch_prefix[layout] + self.size_suffix(size)

    def size_suffix(self, size: str) -> str:
        """The architecture-name suffix of ``model.size`` (``base`` is fairseq's plain name)."""
        return "" if size == "base" else f"_{size}"

    def for_dataset(self, dataset: Dataset) -> TaskSpec:
        """The task as it trains on and scores ``dataset`` (e.g. GLUE's metric of that task)."""
        return self

    def check_dataset(self, dataset: Dataset, name: str) -> None:
        """Refuse a dataset of this task's kinds that the task cannot measure."""

    def check_eval(self, ev: EvalSettings) -> None:
        """Task-specific checks of the ``eval`` section (after the common ones)."""

    def splits_error(self, splits: list) -> str:
        """The message for ``eval.splits`` outside :attr:`eval_splits`."""
        return (
            f"eval.splits must list {' and/or '.join(self.eval_splits)} for {self.name} "
            f"(GLUE test labels are not public), got {splits!r}"
        )

    def equivalence_margin(self, margin: float | None) -> float:
        """The margin ±δ of the equivalence test: ``eval.equivalence_margin`` if set, else
        the task's documented default for its metric."""
        return float(margin or self.default_margin)

"""What each task declares, apart from what it does: the registry of task specs.

A spec (:class:`~memtr.specs.base.TaskSpec`) says which datasets a task trains on, its model
sizes, layouts and their fairseq architectures, which ``train``/``eval`` keys apply, its metric
and that metric's direction. The config layer reads specs to validate ``params.yaml`` without
loading any behaviour; the behaviour (fairseq arguments, evaluation, paired tests) lives in
``memtr/tasks/`` and ``memtr/scoring/`` and takes a spec.
"""

from __future__ import annotations

from memtr.datasets.registry import Dataset
from memtr.specs.base import TaskSpec
from memtr.specs.classification import ClassificationSpec
from memtr.specs.language_modeling import LanguageModelingSpec
from memtr.specs.translation import TranslationSpec

SPECS: dict[str, TaskSpec] = {
    s.name: s for s in (TranslationSpec(), LanguageModelingSpec(), ClassificationSpec())
}


def spec_for_kind(kind: str) -> TaskSpec:
    """The task that trains on datasets of the registry's ``kind`` (``mt``, ``lm``, ...)."""
    for spec in SPECS.values():
        if kind in spec.dataset_kinds:
            return spec
    raise KeyError(f"no task trains on datasets of kind {kind!r}")


def spec_for_dataset(dataset: Dataset) -> TaskSpec:
    """The task of ``dataset`` as it trains on and scores it (e.g. GLUE's metric of a task)."""
    return spec_for_kind(dataset.kind).for_dataset(dataset)


def offered_by(layout: str) -> str:
    """The tasks whose models offer ``layout``, for messages (``translation``)."""
    return " and ".join(s.name for s in SPECS.values() if layout in s.arch_prefix)


def allowed_for(flag: str) -> str:
    """The tasks for which the class attribute ``flag`` is true, for messages."""
    return " and ".join(s.noun for s in SPECS.values() if getattr(s, flag))

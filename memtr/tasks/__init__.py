"""The tasks of the pipeline, one module each, and the registry that names them.

Adding a task: write ``memtr/tasks/<task>.py`` with a :class:`~memtr.tasks.base.Task`
subclass (what the train stage passes to fairseq, how the evaluate stage scores, the paired
test, the table columns and notes) and add an instance to :data:`TASKS`. The dataset
registry's ``Dataset.kind`` values it lists in ``dataset_kinds`` select it.
"""

from __future__ import annotations

from memtr.tasks.base import Task
from memtr.tasks.classification import Classification
from memtr.tasks.language_modeling import LanguageModeling
from memtr.tasks.translation import Translation

TASKS: dict[str, Task] = {t.name: t for t in (Translation(), LanguageModeling(), Classification())}


def task_for_kind(kind: str) -> Task:
    """The task that trains on datasets of the registry's ``kind`` (``mt``, ``lm``, ...)."""
    for task in TASKS.values():
        if kind in task.dataset_kinds:
            return task
    raise KeyError(f"no task trains on datasets of kind {kind!r}")


def offered_by(layout: str) -> str:
    """The tasks whose models offer ``layout``, for messages (``translation``)."""
    return " and ".join(t.name for t in TASKS.values() if layout in t.arch_prefix)


def allowed_for(flag: str) -> str:
    """The tasks for which the class attribute ``flag`` is true, for messages."""
    return " and ".join(t.noun for t in TASKS.values() if getattr(t, flag))

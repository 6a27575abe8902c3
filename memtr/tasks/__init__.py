"""The behaviour of the tasks, one module each: what the train stage passes to fairseq, how
the evaluate stage scores, the paired test and the tables' notes. Each takes the task's
declaration (:mod:`memtr.specs`).

Adding a task: declare it in ``memtr/specs/<task>.py`` (listed in :data:`memtr.specs.SPECS`),
write ``memtr/tasks/<task>.py`` with a :class:`~memtr.tasks.base.Task` subclass and add it to
:data:`TASKS`.
"""

from __future__ import annotations

from memtr.specs.base import TaskSpec
from memtr.tasks.base import Task
from memtr.tasks.classification import Classification
from memtr.tasks.language_modeling import LanguageModeling
from memtr.tasks.translation import Translation

TASKS: dict[str, type[Task]] = {
    cls.spec_class.name: cls for cls in (Translation, LanguageModeling, Classification)
}


def task_of(spec: TaskSpec) -> Task:
    """The behaviour of the task ``spec`` declares."""
    return TASKS[spec.name](spec)

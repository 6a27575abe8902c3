"""The behaviour of the tasks, one module each: what the train stage passes to fairseq, how
the evaluate stage scores, the paired test and the tables' notes. Each takes the task's
declaration (:mod:`memtr.specs`).

Adding a task: declare it in ``memtr/specs/<task>.py`` (listed in :data:`memtr.specs.SPECS`),
write ``memtr/tasks/<task>.py`` with a :class:`~memtr.tasks.base.Task` subclass and add it to
:data:`TASKS`.
"""

from __future__ import annotations

from pathlib import Path

from memtr.common.errors import ConfigError
from memtr.config.params import Params
from memtr.datasets.extra_sets import check_local_test_files
from memtr.run.option_checks import check_train_options
from memtr.settings import FROM_PRETRAIN, pretrain_dir
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


def check_before_run(params: Params) -> None:
    """What the check stage checks beyond the loader, before any stage runs (the Snakefile
    runs it when it parses, so that a bad option is one line there too): refuse, in one line
    naming the field, a restore file or a declared local file that does not exist, and
    ``model.args`` and the ``extra_args`` that fairseq's own parsers refuse (loads fairseq)."""
    restore = params.train.restore_file
    if restore not in (None, FROM_PRETRAIN) and not Path(restore).is_file():
        raise ConfigError(f"train.restore_file {restore!r} does not exist")
    params.data.check_local_files(params.pretrain.corpus or "")
    check_local_test_files(params.data.selected(), params.eval.extra_test or [])
    variants = [params.variants[name] for name in params.experiment.variants]
    task_of(params.spec).check_options(params.train, params.model, variants)
    if pretrain_dir(params.pretrain) is not None:  # the masked LM's own options
        check_train_options(params.pretrain.extra_args or [], "pretrain.extra_args", "masked_lm")

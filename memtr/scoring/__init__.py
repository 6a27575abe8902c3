"""How each task's runs are compared, one module each: the paired test over examples, the
metric's floor, the tables' columns and notes. Reads per-run outputs, never a model.

Adding a task: its scorer is ``memtr/scoring/<task>.py`` with a
:class:`~memtr.scoring.base.Scorer` subclass, added to :data:`SCORERS`.
"""

from __future__ import annotations

from memtr.scoring.base import Scorer
from memtr.scoring.classification import ClassificationScorer
from memtr.scoring.language_modeling import LanguageModelingScorer
from memtr.scoring.translation import TranslationScorer
from memtr.specs.base import TaskSpec

SCORERS: dict[str, type[Scorer]] = {
    cls.spec_class.name: cls
    for cls in (TranslationScorer, LanguageModelingScorer, ClassificationScorer)
}


def scorer_of(spec: TaskSpec) -> Scorer:
    """The scorer of the task ``spec`` declares."""
    return SCORERS[spec.name](spec)

"""Sentence classification's declaration (GLUE): RoBERTa sizes, GLUE's metric of each task.

Each GLUE task is scored by the metrics GLUE reports, the first one the tables' metric: CoLA
MCC (and accuracy), MRPC and QQP F1 (and accuracy), STS-B Pearson and Spearman correlation,
the others (and declared datasets) accuracy. GLUE's test labels are not public: the dev set
(``valid``) is what is scored.
"""

from __future__ import annotations

from dataclasses import dataclass

from memspec import ROBERTA_MODEL
from memtr.datasets.registry import GLUE_TASKS, Dataset
from memtr.specs.base import TaskSpec

# eval.json key -> its name in tables and notes
METRIC_LABELS = {"accuracy": "accuracy", "mcc": "MCC", "f1": "F1", "pearson": "Pearson r",
                 "spearman": "Spearman rho"}  # fmt: skip


@dataclass(frozen=True)
class Scoring:
    """How a GLUE task is scored: eval.json's metrics (the first the tables' metric)."""

    metrics: tuple[str, ...] = ("accuracy",)
    regression: bool = False  # a regression head (STS-B), predictions are floats


ACCURACY = Scoring()
GLUE_SCORING = {  # registry GLUE_TASKS key -> Scoring; the others: accuracy
    "cola": Scoring(("mcc", "accuracy")),
    "mrpc": Scoring(("f1", "accuracy")),
    "qqp": Scoring(("f1", "accuracy")),
    "stsb": Scoring(("pearson", "spearman"), regression=True),
}


def scoring_of(dataset: Dataset) -> Scoring:
    """GLUE's scoring of a registry GLUE task; accuracy for any other (declared) dataset."""
    for key, glue in GLUE_TASKS.items():
        if dataset.glue == glue and dataset.name == f"glue_{key}":
            return GLUE_SCORING.get(key, ACCURACY)
    return ACCURACY


class ClassificationSpec(TaskSpec):
    name = "classification"
    noun = "classification"
    title = "Sentence classification"
    dataset_kinds = ("glue",)
    sizes = ("base", "tiny", "large")
    arch_prefix = {"none": "roberta", "prepend": ROBERTA_MODEL}
    paper_section = "glue"
    eval_splits = ("valid",)
    examples = "dev examples"
    # ±1 point (accuracy, F1; MCC and correlations x 100): the resolution at which GLUE
    # results are reported and compared; a smaller difference is no claim of the paper.
    default_margin = 1.0
    restores_encoder = True

    def __init__(self, scoring: Scoring = ACCURACY) -> None:
        self.scoring = scoring
        self.metric = scoring.metrics[0]
        self.metric_label = METRIC_LABELS[self.metric]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassificationSpec) and other.scoring == self.scoring

    def __hash__(self) -> int:
        return hash((self.name, self.scoring))

    def for_dataset(self, dataset: Dataset) -> ClassificationSpec:
        scoring = scoring_of(dataset)
        return self if scoring == self.scoring else ClassificationSpec(scoring)

    def size_suffix(self, size: str) -> str:
        return f"_{size}"  # fairseq names RoBERTa's base size: roberta_base

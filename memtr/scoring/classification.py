"""Classification's comparisons (GLUE): each GLUE task's metrics of (predicted, gold) pairs,
their paired bootstrap over dev examples, the majority-class floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memtr.scoring.base import Scorer, Sources, Study, outputs_per_seed
from memtr.settings import Variant
from memtr.specs.classification import ClassificationSpec

METRIC_NOTES = {  # what a column holds, after its name
    "accuracy": "accuracy (%)",
    "mcc": "Matthews correlation (MCC) x 100",
    "f1": "F1 (%) of the positive class (label 1)",
    "pearson": "Pearson r x 100 of the predicted and the gold similarity",
    "spearman": "Spearman rho x 100 of the predicted and the gold similarity",
}
STSB_SCALE = 5.0  # STS-B scores are 0..5; the recipe trains on score / 5, we report 0..5


class ClassificationScorer(Scorer):
    spec_class = ClassificationSpec

    def scores(self, pairs: list[tuple[str, str]]) -> dict[str, float]:
        """Every metric of the task on (predicted, gold) pairs, in percent (2 decimals)."""
        from memtr.stats import METRICS

        pred, gold = self.arrays([[p for p, _ in pairs]], [g for _, g in pairs])
        return {
            m: round(100.0 * float(METRICS[m](pred[0], gold)), 2) for m in self.spec.scoring.metrics
        }

    def arrays(self, predictions: list[list[str]], gold: list[str]) -> tuple[Any, Any]:
        """Rows of predicted labels and the gold ones as arrays: floats for a regression
        task, else class codes (a label's integer where all are integers, as GLUE's 0/1)."""
        import numpy as np

        if self.spec.scoring.regression:
            return np.array(predictions, dtype=float), np.array(gold, dtype=float)
        labels = sorted({*gold, *(p for row in predictions for p in row)})
        numeric = all(x.isdigit() for x in labels)
        code = {x: int(x) if numeric else i for i, x in enumerate(labels)}
        return (np.array([[code[p] for p in row] for row in predictions], dtype=int),
                np.array([code[g] for g in gold], dtype=int))  # fmt: skip

    def paired_bootstrap(self, study: Study, src: Sources, variant: str, against: str,
                         label: str) -> dict:  # fmt: skip
        """Resampling dev examples: each seed's metric (in percent, as eval.json) of its
        predictions against the gold labels."""
        from memtr.stats import METRICS, of_gold, paired_bootstrap, with_gold

        name = f"predictions.{label}.tsv"
        (system, baseline), gold = paired_predictions(study, src.metrics, (variant, against), name)
        codes, gold = self.arrays(system + baseline, gold)
        seeds, metric = len(system), of_gold(METRICS[self.spec.metric])
        return paired_bootstrap(
            lambda x: 100.0 * metric(x),
            with_gold(codes[:seeds], gold), with_gold(codes[seeds:], gold),
            study.eval.bootstrap_resamples,
        )  # fmt: skip

    def floor(self, study: Study, src: Sources, label: str) -> float:
        """The majority-class score: the metric of predicting the commonest gold label for
        every example (a regression task: a constant prediction, Pearson/Spearman 0)."""
        import numpy as np

        from memtr.stats import METRICS

        name = f"predictions.{label}.tsv"
        _, gold = paired_predictions(study, src.metrics, (study.experiment.reference,), name)
        _, codes = self.arrays([gold], gold)
        if self.spec.scoring.regression:
            return 0.0
        majority = np.full_like(codes, np.bincount(codes).argmax())
        return round(100.0 * float(METRICS[self.spec.metric](majority, codes)), 2)

    def result_columns(self, variant: Variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {
            f"{m}_mean": round(sum(ev[label][m] for _, ev in runs) / len(runs), 2)
            for m in self.spec.scoring.metrics[1:]
        }

    def legend(self, study: Study, table: Any) -> list[str]:
        primary, *also = self.spec.scoring.metrics
        named = "" if primary == "accuracy" else f"{primary}: "
        notes = [
            f"{named}{METRIC_NOTES[primary]} on the task's dev set (GLUE test labels are not "
            "public)" + "".join(f"; {m}_mean: {METRIC_NOTES[m]}, mean over seeds" for m in also)
            + "."
        ]  # fmt: skip
        if self.spec.scoring.regression:
            notes.append(
                "predictions: the regression head's output, trained on the gold scores / 5 "
                "as fairseq's recipe does, written on STS-B's 0-5 scale."
            )
        return notes


def paired_predictions(study: Study, metrics: Path, variants: tuple[str, ...],
                       name: str) -> tuple[list[list[list[str]]], list[str]]:  # fmt: skip
    """Predictions of each variant per seed (``predictions.<label>.tsv``) and the gold
    labels, which every run must list alike."""
    predicted, gold = [], None
    for variant in variants:
        runs = [[x.split("\t") for x in lines]
                for lines in outputs_per_seed(study, metrics, variant, name)]  # fmt: skip
        for seed, pairs in zip(study.experiment.seeds, runs, strict=True):
            labels = [g for _, g in pairs]
            gold = labels if gold is None else gold
            if labels != gold:
                raise ValueError(f"{variant} seed {seed}: {name} lists other gold labels")
        predicted.append([[p for p, _ in pairs] for pairs in runs])
    return predicted, gold or []


def score(scaled: float) -> str:
    """An STS-B score the recipe scaled to [0, 1], back on the 0-5 scale, as text."""
    return f"{scaled * STSB_SCALE:.6g}"

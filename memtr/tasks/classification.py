"""Sentence classification (GLUE): fairseq's ``sentence_prediction`` task, GLUE's metrics.

A RoBERTa encoder (with memory: the plugin's ``mem_roberta``) with a classification head
(STS-B: a regression head, trained on the scores / 5 as fairseq's recipe does); every
example is predicted in the split's order. Each GLUE task is scored by the metrics GLUE
reports, the first one the tables' metric: CoLA MCC (and accuracy), MRPC and QQP F1 (and
accuracy), STS-B Pearson and Spearman correlation, the others (and datasets declared in
params.yaml) accuracy. GLUE's test labels are not public: the dev set (``valid``) is what
is scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from memtr.specs.classification import METRIC_LABELS, ClassificationSpec
from memtr.tasks.base import EvalRun, Sources, Task, outputs_per_seed

if TYPE_CHECKING:
    from memtr.config.params import Params, Variant

METRIC_NOTES = {  # what a column holds, after its name
    "accuracy": "accuracy (%)",
    "mcc": "Matthews correlation (MCC) x 100",
    "f1": "F1 (%) of the positive class (label 1)",
    "pearson": "Pearson r x 100 of the predicted and the gold similarity",
    "spearman": "Spearman rho x 100 of the predicted and the gold similarity",
}
STSB_SCALE = 5.0  # STS-B scores are 0..5; the recipe trains on score / 5, we report 0..5


class Classification(Task):
    spec_class = ClassificationSpec

    def fairseq_args(self, params: Params, data: Path) -> list[str]:
        t = params.train
        restore = params.restore_file()
        head = (  # the recipe's STS-B: one regression output, the best checkpoint by loss
            ["--regression-target", "--num-classes", "1", "--best-checkpoint-metric", "loss"]
            if self.scoring.regression
            else ["--num-classes", str(num_classes(data)), "--best-checkpoint-metric",
                  "accuracy", "--maximize-best-checkpoint-metric"]
        )  # fmt: skip
        return [
            "--task", "sentence_prediction", *head,
            "--init-token", "0", "--separator-token", "2", "--shorten-method", "truncate",
            "--max-positions", str(t["tokens_per_sample"]), "--max-tokens", str(t["max_tokens"]),
            "--criterion", "sentence_prediction",
            *(["--restore-file", str(restore), "--reset-optimizer", "--reset-dataloader",
               "--reset-meters"] if restore else []),
        ]  # fmt: skip

    def evaluate(self, params: Params, run: EvalRun, label: str) -> dict:
        pairs = predict(run.model, run.data, label, params.eval["batch_size"])
        outputs = run.metrics / "outputs" / f"predictions.{label}.tsv"
        outputs.write_text("".join(f"{p}\t{g}\n" for p, g in pairs), encoding="utf-8")
        result = {**self.scores(pairs), "examples": len(pairs)}
        shown = " ".join(f"{METRIC_LABELS[m]} {result[m]}" for m in self.scoring.metrics)
        print(f"{run.variant} seed {run.seed} {label}: {shown}")
        return result

    def scores(self, pairs: list[tuple[str, str]]) -> dict[str, float]:
        """Every metric of the task on (predicted, gold) pairs, in percent (2 decimals)."""
        from memtr.stats import METRICS

        pred, gold = self.arrays([[p for p, _ in pairs]], [g for _, g in pairs])
        return {m: round(100.0 * float(METRICS[m](pred[0], gold)), 2) for m in self.scoring.metrics}

    def arrays(self, predictions: list[list[str]], gold: list[str]) -> tuple[Any, Any]:
        """Rows of predicted labels and the gold ones as arrays: floats for a regression
        task, else class codes (a label's integer where all are integers, as GLUE's 0/1)."""
        import numpy as np

        if self.scoring.regression:
            return np.array(predictions, dtype=float), np.array(gold, dtype=float)
        labels = sorted({*gold, *(p for row in predictions for p in row)})
        numeric = all(x.isdigit() for x in labels)
        code = {x: int(x) if numeric else i for i, x in enumerate(labels)}
        return (np.array([[code[p] for p in row] for row in predictions], dtype=int),
                np.array([code[g] for g in gold], dtype=int))  # fmt: skip

    def paired_bootstrap(self, params: Params, src: Sources, variant: str, against: str,
                         label: str) -> dict:  # fmt: skip
        """Resampling dev examples: each seed's metric (in percent, as eval.json) of its
        predictions against the gold labels."""
        from memtr.stats import METRICS, of_gold, paired_bootstrap, with_gold

        name = f"predictions.{label}.tsv"
        (system, baseline), gold = paired_predictions(params, src.metrics, (variant, against), name)
        codes, gold = self.arrays(system + baseline, gold)
        seeds, metric = len(system), of_gold(METRICS[self.metric])
        return paired_bootstrap(
            lambda x: 100.0 * metric(x),
            with_gold(codes[:seeds], gold), with_gold(codes[seeds:], gold),
            params.eval["bootstrap_resamples"],
        )  # fmt: skip

    def floor(self, params: Params, src: Sources, label: str) -> float:
        """The majority-class score: the metric of predicting the commonest gold label for
        every example (a regression task: a constant prediction, Pearson/Spearman 0)."""
        import numpy as np

        from memtr.stats import METRICS

        name = f"predictions.{label}.tsv"
        _, gold = paired_predictions(params, src.metrics, (params.experiment["reference"],), name)
        _, codes = self.arrays([gold], gold)
        if self.scoring.regression:
            return 0.0
        majority = np.full_like(codes, np.bincount(codes).argmax())
        return round(100.0 * float(METRICS[self.metric](majority, codes)), 2)

    def result_columns(self, variant: Variant, runs: list[tuple[dict, dict]], label: str) -> dict:
        return {
            f"{m}_mean": round(sum(ev[label][m] for _, ev in runs) / len(runs), 2)
            for m in self.scoring.metrics[1:]
        }

    def legend(self, params: Params, table: Any) -> list[str]:
        primary, *also = self.scoring.metrics
        named = "" if primary == "accuracy" else f"{primary}: "
        notes = [
            f"{named}{METRIC_NOTES[primary]} on the task's dev set (GLUE test labels are not "
            "public)" + "".join(f"; {m}_mean: {METRIC_NOTES[m]}, mean over seeds" for m in also)
            + "."
        ]  # fmt: skip
        if self.scoring.regression:
            notes.append(
                "predictions: the regression head's output, trained on the gold scores / 5 "
                "as fairseq's recipe does, written on STS-B's 0-5 scale."
            )
        return notes


def paired_predictions(params: Params, metrics: Path, variants: tuple[str, ...],
                       name: str) -> tuple[list[list[list[str]]], list[str]]:  # fmt: skip
    """Predictions of each variant per seed (``predictions.<label>.tsv``) and the gold
    labels, which every run must list alike."""
    predicted, gold = [], None
    for variant in variants:
        runs = [[x.split("\t") for x in lines]
                for lines in outputs_per_seed(params, metrics, variant, name)]  # fmt: skip
        for seed, pairs in zip(params.experiment["seeds"], runs, strict=True):
            labels = [g for _, g in pairs]
            gold = labels if gold is None else gold
            if labels != gold:
                raise ValueError(f"{variant} seed {seed}: {name} lists other gold labels")
        predicted.append([[p for p, _ in pairs] for pairs in runs])
    return predicted, gold or []


def num_classes(data: Path) -> int:
    """Number of labels of a binarized GLUE task (lines of ``label/dict.txt``)."""
    labels = data / "label" / "dict.txt"
    if not labels.is_file():
        raise FileNotFoundError(f"no label dictionary {labels}: is {data} a GLUE task?")
    return sum(1 for line in labels.read_text().splitlines() if line.strip())


def predict(checkpoint: Path, data: Path, split: str, batch_size: int) -> list[tuple[str, str]]:
    """(predicted, gold) of every example of ``split``, in the split's order: labels, or for
    a regression model (STS-B) scores on the 0-5 scale, gold read from ``label/<split>.label``
    as fairseq reads it."""
    import torch
    from fairseq import checkpoint_utils

    import fairseq_plugins  # noqa: F401  (registers the models; safe globals)

    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={"data": str(data)}
    )
    model = models[0].eval()
    task.load_dataset(split)
    batches = task.get_batch_iterator(
        task.dataset(split), max_sentences=batch_size, required_batch_size_multiple=1
    ).next_epoch_itr(shuffle=False)
    regression = task.cfg.regression_target
    gold = read_scores(data, split) if regression else None
    labels = task.label_dictionary
    pairs: dict[int, tuple[str, str]] = {}
    with torch.no_grad():
        for sample in batches:
            logits, _ = model(
                **sample["net_input"],
                features_only=True,
                classification_head_name="sentence_classification_head",
            )  # fmt: skip  (B, classes), a regression head: (B, 1)
            ids = sample["id"].tolist()
            if gold is not None:
                scores = logits.view(-1).tolist()
                pairs.update((i, (score(s), gold[i])) for i, s in zip(ids, scores, strict=True))
                continue
            predicted = (logits.argmax(-1) + labels.nspecial).tolist()
            targets = (sample["target"].view(-1) + labels.nspecial).tolist()
            pairs.update((i, (labels[p], labels[g])) for i, p, g in zip(ids, predicted, targets,
                                                                        strict=True))  # fmt: skip
    return [pairs[i] for i in sorted(pairs)]


def score(scaled: float) -> str:
    """An STS-B score the recipe scaled to [0, 1], back on the 0-5 scale, as text."""
    return f"{scaled * STSB_SCALE:.6g}"


def read_scores(data: Path, split: str) -> list[str]:
    """The gold scores of ``split`` (line i: example i), as fairseq's ``sentence_prediction``
    reads them for a regression target, on the 0-5 scale."""
    from memtr.common.textio import read_lines

    return [score(float(line)) for line in read_lines(data / "label" / f"{split}.label")]

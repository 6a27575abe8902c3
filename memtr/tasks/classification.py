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

from memtr.scoring.classification import ClassificationScorer, score
from memtr.settings import EvalSettings, TrainSettings
from memtr.specs.classification import METRIC_LABELS, ClassificationSpec
from memtr.tasks.base import EvalRun, Task


class Classification(Task):
    spec_class = ClassificationSpec

    def fairseq_args(self, train: TrainSettings, data: Path, restore: str | None) -> list[str]:
        head = (  # the recipe's STS-B: one regression output, the best checkpoint by loss
            ["--regression-target", "--num-classes", "1", "--best-checkpoint-metric", "loss"]
            if self.spec.scoring.regression
            else ["--num-classes", str(num_classes(data)), "--best-checkpoint-metric",
                  "accuracy", "--maximize-best-checkpoint-metric"]
        )  # fmt: skip
        return [
            "--task", "sentence_prediction", *head,
            "--init-token", "0", "--separator-token", "2", "--shorten-method", "truncate",
            "--max-positions", str(train.tokens_per_sample), "--max-tokens", str(train.max_tokens),
            "--criterion", "sentence_prediction",
            *(["--restore-file", str(restore), "--reset-optimizer", "--reset-dataloader",
               "--reset-meters"] if restore else []),
        ]  # fmt: skip

    def evaluate(self, ev: EvalSettings, run: EvalRun, label: str) -> dict:
        pairs = predict(run.model, run.data, label, ev.batch_size)
        outputs = run.metrics / "outputs" / f"predictions.{label}.tsv"
        outputs.write_text("".join(f"{p}\t{g}\n" for p, g in pairs), encoding="utf-8")
        result = {**ClassificationScorer(self.spec).scores(pairs), "examples": len(pairs)}
        shown = " ".join(f"{METRIC_LABELS[m]} {result[m]}" for m in self.spec.scoring.metrics)
        print(f"{run.variant} seed {run.seed} {label}: {shown}")
        return result


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


def read_scores(data: Path, split: str) -> list[str]:
    """The gold scores of ``split`` (line i: example i), as fairseq's ``sentence_prediction``
    reads them for a regression target, on the 0-5 scale."""
    from memtr.common.textio import read_lines

    return [score(float(line)) for line in read_lines(data / "label" / f"{split}.label")]

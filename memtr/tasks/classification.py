"""Sentence classification (GLUE): fairseq's ``sentence_prediction`` task, accuracy.

A RoBERTa encoder (with memory: the plugin's ``mem_roberta``) with a classification head;
the label of every example is predicted in the split's order, and the paired test
resamples per-example correctness. GLUE's test labels are not public: the dev set
(``valid``) is what is scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from memspec import ROBERTA_MODEL
from memtr.common.errors import ConfigError
from memtr.tasks.base import EvalRun, Sources, Task, seed_outputs

if TYPE_CHECKING:
    from memtr.config.params import Params
    from memtr.datasets.registry import Dataset


class Classification(Task):
    name = "classification"
    noun = "classification"
    title = "Sentence classification"
    dataset_kinds = ("glue",)
    sizes = ("base", "tiny", "large")
    arch_prefix = {"none": "roberta", "prepend": ROBERTA_MODEL}
    metric, metric_label, paper_section = "accuracy", "accuracy", "glue"
    eval_splits = ("valid",)
    restores_encoder = True

    def size_suffix(self, size: str) -> str:
        return f"_{size}"  # fairseq names RoBERTa's base size: roberta_base

    def check_dataset(self, dataset: Dataset, name: str) -> None:
        if dataset.glue is not None and dataset.glue.regression:
            raise ConfigError(
                f"data.dataset {name!r} is a regression task; the pipeline's classification "
                "path measures accuracy only"
            )

    def fairseq_args(self, params: Params, data: Path) -> list[str]:
        t = params.train
        restore = t.get("restore_file")
        return [
            "--task", "sentence_prediction", "--num-classes", str(num_classes(data)),
            "--init-token", "0", "--separator-token", "2", "--shorten-method", "truncate",
            "--max-positions", str(t["tokens_per_sample"]), "--max-tokens", str(t["max_tokens"]),
            "--criterion", "sentence_prediction",
            "--best-checkpoint-metric", "accuracy", "--maximize-best-checkpoint-metric",
            *(["--restore-file", str(restore), "--reset-optimizer", "--reset-dataloader",
               "--reset-meters"] if restore else []),
        ]  # fmt: skip

    def evaluate(self, params: Params, run: EvalRun, label: str) -> dict:
        pairs = classify(run.model, run.data, label, params.eval["batch_size"])
        outputs = run.metrics / "outputs" / f"predictions.{label}.tsv"
        outputs.write_text("".join(f"{p}\t{g}\n" for p, g in pairs), encoding="utf-8")
        result = {"accuracy": accuracy(pairs), "examples": len(pairs)}
        print(f"{run.variant} seed {run.seed} {label}: accuracy {result['accuracy']}")
        return result

    def paired_p(self, params: Params, src: Sources, variant: str, against: str,
                 label: str) -> float:  # fmt: skip
        name = f"predictions.{label}.tsv"
        correct = [
            [p == g for p, g in (x.split("\t") for x in seed_outputs(params, src.metrics, v, name))]
            for v in (variant, against)
        ]
        return paired_bootstrap_accuracy(*correct, params.eval["bootstrap_resamples"])

    def legend(self, params: Params, table: Any) -> list[str]:
        resamples, reference = params.eval["bootstrap_resamples"], params.experiment["reference"]
        return [
            "accuracy (%) on the task's dev set (GLUE test labels are not public).",
            f"p_vs_reference: paired bootstrap ({resamples} resamples) of per-example "
            f"correctness against `{reference}`, seeds paired and pooled.",
        ]


def num_classes(data: Path) -> int:
    """Number of labels of a binarized GLUE task (lines of ``label/dict.txt``)."""
    labels = data / "label" / "dict.txt"
    if not labels.is_file():
        raise FileNotFoundError(f"no label dictionary {labels}: is {data} a GLUE task?")
    return sum(1 for line in labels.read_text().splitlines() if line.strip())


def classify(checkpoint: Path, data: Path, split: str, batch_size: int) -> list[tuple[str, str]]:
    """(predicted, gold) label of every example of ``split``, in the split's order."""
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
    labels = task.label_dictionary
    offset = labels.nspecial
    pairs: dict[int, tuple[str, str]] = {}
    with torch.no_grad():
        for sample in batches:
            logits, _ = model(
                **sample["net_input"],
                features_only=True,
                classification_head_name="sentence_classification_head",
            )  # fmt: skip  (B, classes)
            predicted = logits.argmax(-1).tolist()
            gold = sample["target"].view(-1).tolist()
            for i, p, g in zip(sample["id"].tolist(), predicted, gold, strict=True):
                pairs[i] = (labels[p + offset], labels[g + offset])
    return [pairs[i] for i in sorted(pairs)]


def accuracy(pairs: list[tuple[str, str]]) -> float:
    """Share of examples whose predicted label is the gold one, in percent."""
    return round(100.0 * sum(p == g for p, g in pairs) / len(pairs), 2)


def paired_bootstrap_accuracy(system: list[bool], baseline: list[bool], resamples: int) -> float:
    """Paired bootstrap p-value of the difference of accuracy, per-example correctness."""
    from memtr.stats import paired_bootstrap_p

    return paired_bootstrap_p(lambda x: x.mean(axis=1), system, baseline, resamples)

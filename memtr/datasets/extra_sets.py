"""Which extra test sets (``eval.extra_test``) an experiment can read, and where the
extra_test stage (:mod:`memtr.data.extra_test`) puts them: ``data/extra/<dataset>/<label>/``.

Light to import: the params check and the evaluate and tables stages need these names and
paths, not the code that builds the sets.
"""

from __future__ import annotations

import re
from pathlib import Path

from memtr.common.errors import ConfigError
from memtr.datasets.registry import DATASETS, Dataset, get_dataset

SACREBLEU = (
    "sacrebleu:"  # eval.extra_test names of sacrebleu's test sets, e.g. sacrebleu:wmt14/full
)


def sacrebleu_set(name: str) -> str | None:
    """The sacrebleu test set an ``eval.extra_test`` name refers to (``wmt14/full``), if any."""
    return name.removeprefix(SACREBLEU) if name.startswith(SACREBLEU) else None


def sacrebleu_label(test_set: str) -> str:
    """The label (file and column names) of a sacrebleu test set: ``wmt14/full`` ->
    ``wmt14_full``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", test_set).strip("_")


def langpair(train: Dataset) -> str:
    """sacrebleu's name of the experiment's direction, e.g. ``de-en``."""
    return f"{train.src}-{train.tgt}"


def check_sacrebleu_set(train: Dataset, test_set: str) -> None:
    """Refuse a sacrebleu test set sacrebleu does not know, or without the direction."""
    from sacrebleu.dataset import DATASETS as SACREBLEU_SETS

    if train.kind not in ("mt", "synthetic"):
        raise ConfigError(f"eval.extra_test: sacrebleu:{test_set} is a translation test set")
    if test_set not in SACREBLEU_SETS:
        raise ConfigError(
            f"eval.extra_test: sacrebleu has no test set {test_set!r} (see `sacrebleu --list`)"
        )
    pairs = SACREBLEU_SETS[test_set].langpairs
    if langpair(train) not in pairs:
        raise ConfigError(
            f"eval.extra_test: sacrebleu:{test_set} has no {langpair(train)} "
            f"(it has {', '.join(sorted(p for p in pairs if '-' in p))})"
        )


def check_extra_sets(train: Dataset, names: list[str]) -> None:
    """Refuse extra test sets that the experiment's models cannot read (one-line error)."""
    if len(set(names)) != len(names):
        raise ConfigError("eval.extra_test lists a test set twice")
    for name in names:
        if (test_set := sacrebleu_set(name)) is not None:
            check_sacrebleu_set(train, test_set)
            continue
        try:
            extra = get_dataset(name)
        except KeyError as exc:
            raise ConfigError(f"eval.extra_test: {exc.args[0]}") from None
        if not extra.eval_only:
            raise ConfigError(
                f"eval.extra_test: {name!r} is a training dataset; name an evaluation-only "
                f"entry ({', '.join(evaluation_only_names())})"
            )
        if extra.kind != train.kind or (extra.src, extra.tgt) != (train.src, train.tgt):
            raise ConfigError(
                f"eval.extra_test: {name!r} ({extra.kind} {extra.src}-{extra.tgt}) does not match "
                f"data.dataset {train.name!r} ({train.kind} {train.src}-{train.tgt})"
            )


def evaluation_only_names() -> list[str]:
    """Registry names usable in ``eval.extra_test``."""
    return sorted(name for name, ds in DATASETS.items() if ds.eval_only)


def extra_labels(names: list[str]) -> list[str]:
    """Labels of the test sets of ``names``, in order (e.g. ``newstest2014``)."""
    labels = []
    for name in names:
        test_set = sacrebleu_set(name)
        labels += [sacrebleu_label(test_set)] if test_set else list(get_dataset(name).eval_sets)
    return labels


def extra_set_folder(label: str, extra: Path | None) -> Path:
    """The folder the extra_test stage wrote for test set ``label``."""
    if extra is None:
        raise ConfigError(f"test set {label!r} needs the extra test sets folder (--extra)")
    folder = extra / label
    if not folder.is_dir():
        raise FileNotFoundError(f"missing {folder}: run the extra_test stage first")
    return folder


def eval_location(label: str, data: Path, extra: Path | None) -> tuple[Path, str]:
    """(binarized folder, fairseq split) of an eval label.

    ``valid``/``test`` are the dataset's own splits; any other label is an extra test set.
    """
    if label in ("valid", "test"):
        return data, label
    return extra_set_folder(label, extra), "test"


def reference_file(label: str, prep: Path, extra: Path | None, lang: str) -> Path:
    """The raw (detokenized) references in ``lang`` of an eval label."""
    if label in ("valid", "test"):
        return prep / f"{label}.ref.{lang}"
    return extra_set_folder(label, extra) / f"test.ref.{lang}"

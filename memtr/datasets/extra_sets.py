"""Which extra test sets (``eval.extra_test``) an experiment can read, and where the
extra_test stage (:mod:`memtr.data.extra_test`) puts them: ``data/extra/<dataset>/<label>/``.

An entry is a registry name (an evaluation-only entry), ``sacrebleu:<name>``, or a
declaration of a translation test set of one's own, its files as in ``data.datasets``::

    - name: ted_tst2015                   # its label in file names and table columns
      format: tsv                         # text (default), tsv or csv
      columns: {source: 1, reference: 0}  # tsv/csv; a header name with header: true
      file: {url: https://example.org/ted.zip, member: ted/tst2015.tsv, sha256: ...}
    - name: inhouse
      source: corpus/inhouse.de           # text: one file per side
      reference: corpus/inhouse.en

Light to import: the params check and the evaluate and tables stages need these names and
paths, not the code that builds the sets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from memtr.common.errors import ConfigError
from memtr.datasets.inline import (
    FORMATS,
    InlineSpec,
    check_column,
    check_distinct_columns,
    check_distinct_files,
    declared_dataset,
    parse_file,
)
from memtr.datasets.registry import DATASETS, Dataset, get_dataset

LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
TEST_SET_KEYS = ("name", "format", "header", "columns", "file", "source", "reference")

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


def declared_test_set(entry: Any, train: Dataset, where: str = "eval.extra_test") -> Dataset:
    """The :class:`Dataset` of a declared translation test set (one split, ``test``), in the
    experiment's direction: its source in ``train.src``, its reference in ``train.tgt``."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} entries are names or declarations, got {entry!r}")
    label = entry.get("name")
    if not isinstance(label, str) or not LABEL.match(label) or label in ("valid", "test"):
        raise ConfigError(
            f"{where}: a declared test set needs a name (letters, digits, '_'; not valid or "
            f"test), got {label!r}"
        )
    at = f"{where}.{label}"
    unknown = sorted(set(entry) - set(TEST_SET_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {at}.{unknown[0]}; allowed: {', '.join(TEST_SET_KEYS)}")
    if train.kind not in ("mt", "synthetic"):
        raise ConfigError(f"{at}: a declared test set is a translation test set")
    fmt, header = entry.get("format", "text"), entry.get("header", False)
    if fmt not in FORMATS:
        raise ConfigError(f"{at}.format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not isinstance(header, bool) or header and fmt == "text":
        raise ConfigError(f"{at}.header must be true or false (tsv and csv only), got {header!r}")
    sides = (train.src, train.tgt)
    if fmt == "text":
        _refuse_keys(entry, ("file", "columns"), at, "tsv and csv")
        files = {f"test.{lang}": _side_file(entry, key, at) for lang, key in
                 zip(sides, ("source", "reference"), strict=True)}  # fmt: skip
        check_distinct_files(list(files.values()), ("source", "reference"), at)
        columns: dict = {}
    else:
        _refuse_keys(entry, ("source", "reference"), at, "text")
        files = {f"test.{fmt}": _side_file(entry, "file", at)}
        columns = _test_columns(entry.get("columns"), header, at)
    spec = InlineSpec("translation", fmt, ("source", "target"), columns, header, ("test",), {}, 0,
                      False)  # fmt: skip
    return declared_dataset(label, spec, files, sides)


def _refuse_keys(entry: dict, keys: tuple[str, ...], at: str, formats: str) -> None:
    for key in keys:
        if key in entry:
            raise ConfigError(f"{at}.{key} applies to {formats} files")


def _side_file(entry: dict, key: str, at: str):
    if entry.get(key) is None:
        raise ConfigError(f"{at} needs {key}: a URL, a path or a mapping with url")
    return parse_file(entry[key], f"{at}.{key}")


def _test_columns(section: Any, header: bool, at: str) -> dict:
    """``{source: i, target: j}`` from a test set's ``columns: {source, reference}``."""
    if not isinstance(section, dict) or set(section) != {"source", "reference"}:
        raise ConfigError(f"{at}.columns must map source and reference to columns, got {section!r}")
    for role, col in section.items():
        check_column(col, f"{at}.columns.{role}")
    if any(isinstance(col, str) for col in section.values()) and not header:
        raise ConfigError(f"{at}.columns names a column by header: set {at}.header: true")
    check_distinct_columns(section, f"{at}.columns", ConfigError)
    return {"source": section["source"], "target": section["reference"]}


def check_local_test_files(train: Dataset, entries: list) -> None:
    """Refuse the local files that do not exist of the declared test sets (the check_params
    stage: the tables of a finished experiment are read without its data)."""
    for entry in entries:
        if isinstance(entry, str):
            continue
        for raw in declared_test_set(entry, train).files:
            if "://" not in raw.url and not Path(raw.url).expanduser().is_file():
                name = entry["name"]
                raise ConfigError(f"eval.extra_test.{name}: no such file {raw.url}")


def check_extra_sets(train: Dataset, names: list) -> None:
    """Refuse extra test sets that the experiment's models cannot read (one-line error)."""
    if len(set(names_of(names))) != len(names):
        raise ConfigError("eval.extra_test lists a test set twice")
    for name in names:
        if not isinstance(name, str):
            declared_test_set(name, train)
            continue
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
    labels = extra_labels(names)
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ConfigError(f"eval.extra_test: two test sets have the label {twice[0]!r}")


def evaluation_only_names() -> list[str]:
    """Registry names usable in ``eval.extra_test``."""
    return sorted(name for name, ds in DATASETS.items() if ds.eval_only)


def extra_labels(names: list) -> list[str]:
    """Labels of the test sets of ``names``, in order (e.g. ``newstest2014``); a declared
    set's label is its name."""
    labels = []
    for name in names:
        if not isinstance(name, str):
            labels.append(str(name.get("name")))
        elif (test_set := sacrebleu_set(name)) is not None:
            labels.append(sacrebleu_label(test_set))
        else:
            labels += list(get_dataset(name).eval_sets)
    return labels


def names_of(entries: list) -> list[str]:
    """``eval.extra_test`` as words, for messages and notes: a declared set as its name."""
    return [e if isinstance(e, str) else f"{e.get('name')} (declared)" for e in entries]


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

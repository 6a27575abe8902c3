"""A declared dataset's raw files -> the registry's raw layout, which the preparers read.

:func:`normalize` reads each given split in its format (text, TSV, CSV), keeps the declared
columns, carves the missing splits from ``train``, counts (and optionally removes) training
examples whose input is also a held-out one, and writes

* translation: ``{split}.{src}`` / ``{split}.{tgt}`` (line-aligned);
* language modelling: ``{split}.tokens``;
* classification: ``train.tsv`` / ``dev.tsv`` / ``test.tsv`` with a header line and the
  columns ``input0 [input1] label`` (fairseq's GLUE layout).

Carving is deterministic: translation and classification shuffle the row indices with
``random.Random(seed)`` (held-out rows keep their file order), language modelling takes
contiguous blocks from the end of the text (test last, valid before it), so that segments
stay running text. Every error is a :class:`DataError` naming the file and the problem.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from memtr.common.errors import DataError
from memtr.common.textio import read_lines, write_lines
from memtr.datasets.inline import InlineSpec
from memtr.datasets.registry import Dataset

Row = tuple[str, ...]


def normalize(ds: Dataset, raw: Path, out: Path) -> dict:
    """Write ``ds``'s splits in the registry layout into ``out``; return the stats."""
    try:
        return _normalize(ds, ds.options["inline"], raw, out)
    except DataError as exc:
        raise DataError(f"{ds.name}: {exc}") from None


def _normalize(ds: Dataset, spec: InlineSpec, raw: Path, out: Path) -> dict:
    rows = {split: read_split(ds, spec, raw, split) for split in spec.given}
    rows.update(carve(spec, rows["train"], raw_name(ds, "train")))
    for split, found in rows.items():
        if not found:
            source = raw_name(ds, split) if split in spec.given else f"carved from {raw_name(ds, 'train')}"
            raise DataError(f"split {split} is empty ({source})")
    stats = held_out_overlap(spec, rows)
    if spec.dedup_test_from_train:
        test_keys = {example_key(spec, row) for row in rows["test"]}
        kept = [row for row in rows["train"] if example_key(spec, row) not in test_keys]
        stats["removed_from_train"] = len(rows["train"]) - len(kept)
        rows["train"] = kept
    WRITERS[spec.task](ds, rows, out)
    return stats


def raw_name(ds: Dataset, split: str) -> str:
    """The raw file(s) of ``split``, for messages."""
    return " and ".join(raw.name for raw in ds.files if raw.name.startswith(f"{split}."))


# --------------------------------------------------------------------------------------------
# Reading


def read_split(ds: Dataset, spec: InlineSpec, raw: Path, split: str) -> list[Row]:
    """The rows of one given split, each holding the fields of ``spec.roles``."""
    if spec.format == "text":
        return text_rows(ds, raw, split)
    path = raw / f"{split}.{spec.format}"
    table = table_rows(path, spec.format)
    columns = spec.columns
    if spec.header:
        if not table:
            raise DataError(f"{path.name}: empty file, expected a header line")
        header, table = table[0], table[1:]
        columns = {role: _header_index(path, header, col) for role, col in columns.items()}
    return [_cut(path, number, fields, columns, spec)
            for number, fields in enumerate(table, 2 if spec.header else 1)]  # fmt: skip


def text_rows(ds: Dataset, raw: Path, split: str) -> list[Row]:
    """Lines of the split's text file(s); the two sides of a translation split aligned."""
    paths = [raw / f"{split}.{lang}" for lang in (ds.src, ds.tgt)] if ds.src else [raw / f"{split}.txt"]
    sides = [list(read_lines(p)) for p in paths]
    if len({len(side) for side in sides}) > 1:
        counts = ", ".join(f"{p.name} has {len(s)}" for p, s in zip(paths, sides, strict=True))
        raise DataError(f"source and target line counts differ: {counts} lines")
    return list(zip(*sides, strict=True))


def table_rows(path: Path, fmt: str) -> list[list[str]]:
    """Fields of every line: TSV splits on tabs (no quoting, as GLUE's files), CSV is RFC 4180."""
    if fmt == "tsv":
        return [line.split("\t") for line in read_lines(path)]
    with open(path, encoding="utf-8", errors="replace", newline="") as fin:
        return [[field.replace("\t", " ").replace("\n", " ") for field in row] for row in csv.reader(fin)]


def _header_index(path: Path, header: list[str], col: int | str) -> int:
    if isinstance(col, int):
        return col
    if col not in header:
        raise DataError(f"{path.name}: no column {col!r} in its header ({', '.join(header)})")
    return header.index(col)


def _cut(path: Path, number: int, fields: list[str], columns: dict, spec: InlineSpec) -> Row:
    for role, col in columns.items():
        if col >= len(fields):
            raise DataError(
                f"{path.name} line {number}: column {col} ({role}) is past the row's "
                f"{len(fields)} field(s)"
            )
    return tuple(fields[columns[role]].strip() for role in spec.roles)


# --------------------------------------------------------------------------------------------
# Carving and overlap


def carve(spec: InlineSpec, train: list[Row], source: str) -> dict[str, list[Row]]:
    """Split ``spec.carve``'s held-out sets off ``train``; return them and the new train."""
    if not spec.carve:
        return {}
    sizes = {split: _size(size, len(train)) for split, size in spec.carve.items()}
    if sum(sizes.values()) >= len(train):
        asked = " + ".join(f"{split} {n}" for split, n in sizes.items())
        raise DataError(f"{source}: the split sizes ({asked}) leave no training rows of its {len(train)}")
    order = list(range(len(train)))
    if spec.task == "language_modeling":  # running text: blocks from the end, test last
        order.reverse()
    else:
        random.Random(spec.seed).shuffle(order)
    n_test = sizes.get("test", 0)
    picks = {"test": order[:n_test], "valid": order[n_test : n_test + sizes.get("valid", 0)]}
    held = {split: sorted(picks[split]) for split in sizes}
    taken = {i for indices in held.values() for i in indices}
    result = {split: [train[i] for i in indices] for split, indices in held.items()}
    result["train"] = [row for i, row in enumerate(train) if i not in taken]
    return result


def _size(size: int | float, total: int) -> int:
    return size if isinstance(size, int) else round(size * total)


def example_key(spec: InlineSpec, row: Row) -> Row:
    """What makes two examples the same: the source side, or the classifier's inputs."""
    return row[:-1] if spec.task == "classification" else row[:1]


def held_out_overlap(spec: InlineSpec, rows: dict[str, list[Row]]) -> dict:
    """How many valid and test examples also occur (by input) in train."""
    if spec.task == "language_modeling":
        return {}
    train = {example_key(spec, row) for row in rows["train"]}
    return {
        f"{split}_in_train": sum(example_key(spec, row) in train for row in rows[split])
        for split in ("valid", "test")
    }


# --------------------------------------------------------------------------------------------
# Writing the registry layout


def _write_translation(ds: Dataset, rows: dict[str, list[Row]], out: Path) -> None:
    for split, found in rows.items():
        write_lines(out / f"{split}.{ds.src}", (row[0] for row in found))
        write_lines(out / f"{split}.{ds.tgt}", (row[1] for row in found))


def _write_lm(ds: Dataset, rows: dict[str, list[Row]], out: Path) -> None:
    for split, found in rows.items():
        write_lines(out / f"{split}.tokens", (row[0] for row in found))


def _write_classification(ds: Dataset, rows: dict[str, list[Row]], out: Path) -> None:
    assert ds.glue is not None
    header = "\t".join([*(f"input{i}" for i in ds.glue.inputs), "label"])
    for split, found in rows.items():
        lines = ("\t".join(row) for row in found)
        write_lines(out / f"{ds.glue.splits[split]}.tsv", [header, *lines])


WRITERS = {
    "translation": _write_translation,
    "language_modeling": _write_lm,
    "classification": _write_classification,
}

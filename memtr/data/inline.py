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
from memtr.datasets.inline import InlineSpec, check_distinct_columns, described
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
            source = (
                raw_name(ds, split)
                if split in spec.given
                else f"carved from {raw_name(ds, 'train')}"
            )
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
    """The declared file(s) of ``split``, for messages."""
    names = [raw.name for raw in ds.files if raw.name.startswith(f"{split}.")]
    return " and ".join(dict.fromkeys(described(ds, name) for name in names))


# --------------------------------------------------------------------------------------------
# Reading


def read_split(ds: Dataset, spec: InlineSpec, raw: Path, split: str) -> list[Row]:
    """The rows of one given split, each holding the fields of ``spec.roles``.

    A table's rows must all have the field count of its header (or of its first row): a row
    with more or fewer is an error naming its line, in CSV most likely a quoting mistake.
    """
    if spec.format == "text":
        return text_rows(ds, raw, split)
    name = f"{split}.{spec.format}"
    what = described(ds, name)
    table = table_rows(raw / name, spec.format, what)
    if not table:
        raise DataError(f"{what} is empty")
    columns = spec.columns
    if spec.header:
        (_, header), table = table[0], table[1:]
        if not table:
            raise DataError(f"{what} is empty (a header line only)")
        columns = {role: _header_index(what, header, col) for role, col in columns.items()}
        check_distinct_columns(columns, f"{what}: columns", DataError)
    width = len(header) if spec.header else len(table[0][1])
    for number, fields in table:
        if len(fields) != width:
            raise DataError(_width_error(what, spec, number, len(fields), width))
    return [_cut(what, number, fields, columns, spec) for number, fields in table]


def _width_error(what: str, spec: InlineSpec, number: int, found: int, width: int) -> str:
    first = "the header has" if spec.header else "the first row has"
    message = f"{what} line {number}: {found} field(s) where {first} {width}"
    if spec.format == "csv":
        message += (
            " (CSV quoting: a field holding a comma, a quote or a line break must be in "
            'double quotes, its own quotes doubled as "")'
        )
    return message


def text_rows(ds: Dataset, raw: Path, split: str) -> list[Row]:
    """Lines of the split's text file(s); the two sides of a translation split aligned."""
    names = [f"{split}.{lang}" for lang in (ds.src, ds.tgt)] if ds.src else [f"{split}.txt"]
    sides = [list(read_lines(raw / name)) for name in names]
    if len({len(side) for side in sides}) > 1:
        counts = ", ".join(
            f"{described(ds, n)} has {len(s)}" for n, s in zip(names, sides, strict=True)
        )
        raise DataError(f"source and target line counts differ: {counts} lines")
    if not sides[0]:
        raise DataError(f"{raw_name(ds, split)}: empty")
    return list(zip(*sides, strict=True))


def table_rows(path: Path, fmt: str, what: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every row: TSV splits on tabs (no quoting, as GLUE's files),
    CSV is RFC 4180 (a row's number is the line it starts on; a quote left open or not
    doubled is an error naming the line)."""
    if fmt == "tsv":
        return [(n, line.split("\t")) for n, line in enumerate(read_lines(path), 1)]
    rows = []
    with open(path, encoding="utf-8", errors="replace", newline="") as fin:
        reader = csv.reader(fin, strict=True)
        start = 1
        try:
            for row in reader:
                rows.append((start, [f.replace("\t", " ").replace("\n", " ") for f in row]))
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DataError(
                f"{what} line {start}: CSV quoting: {exc} (a field holding a comma, a quote or a "
                'line break must be in double quotes, its own quotes doubled as "")'
            ) from None
    return rows


def _header_index(what: str, header: list[str], col: int | str) -> int:
    if isinstance(col, int):
        return col
    if col not in header:
        raise DataError(f"{what}: no column {col!r} in its header ({', '.join(header)})")
    return header.index(col)


def _cut(what: str, number: int, fields: list[str], columns: dict, spec: InlineSpec) -> Row:
    for role, col in columns.items():
        if col >= len(fields):
            raise DataError(
                f"{what} line {number}: column {col} ({role}) is past the row's "
                f"{len(fields)} field(s)"
            )
    return tuple(fields[columns[role]].strip() for role in spec.roles)


def write_test_sides(ds: Dataset, raw: Path, out: Path) -> tuple[Path, Path]:
    """The source and reference files of a declared test set (``eval.extra_test``) in ``out``."""
    rows = read_split(ds, ds.options["inline"], raw, "test")
    out.mkdir(parents=True, exist_ok=True)
    sides = (out / f"test.{ds.src}", out / f"test.{ds.tgt}")
    for i, path in enumerate(sides):
        write_lines(path, (row[i] for row in rows))
    return sides


# --------------------------------------------------------------------------------------------
# Carving and overlap


def carve(spec: InlineSpec, train: list[Row], source: str) -> dict[str, list[Row]]:
    """Split ``spec.carve``'s held-out sets off ``train``; return them and the new train."""
    if not spec.carve:
        return {}
    sizes = {split: _size(size, len(train)) for split, size in spec.carve.items()}
    if sum(sizes.values()) >= len(train):
        asked = " + ".join(f"{split} {n}" for split, n in sizes.items())
        raise DataError(
            f"{source}: the split sizes ({asked}) leave no training rows of its {len(train)}"
        )
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

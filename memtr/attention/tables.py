"""The memory-mass tables as files: one model's ``memory_mass.{csv,json}`` and the merged
comparison ``memory_mass.{csv,md}`` of several models.

pandas and numpy only, no torch: the tables stage merges the per-model tables without loading
a model. A model's table has the columns ``memtr.attention.schema.COLUMNS`` (their meaning:
``memtr.attention.measures``); the comparison adds ``UNIFORM_COLUMNS``, the shares uniform
attention would give, computed from the sample sentences in the ``attention.npz`` beside each
model's table (NaN where there is none).
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from memtr.attention.archive import load_npz
from memtr.attention.measures import uniform_shares
from memtr.attention.schema import COLUMNS, UNIFORM_COLUMNS, ModelInfo
from memtr.common.errors import DataError
from memtr.common.markdown import compact_table

NO_MEMORY = "no memory to plot: {name} has 0 memory tokens"
NOT_SUPPORTED = (
    "no attention plots for {name}: the stage covers translation models and language "
    "models; classification models (mem_roberta) are not supported yet"
)
LM_NOTES = {
    "decoder_to_memory": "not applicable: a decoder-only LM has no cross-attention",
    "memory_rows": "the write block (lm_recurrent), else the read block (sees only itself)",
}


# --------------------------------------------------------------------------------------------
# One model


def table_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``table`` as JSON-ready dicts (NaN -> None)."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in table.astype(object).to_dict(orient="records")
    ]


def write_json(path: Path, info: ModelInfo, status: str, layers: list, **extra: Any) -> None:
    """``memory_mass.json``: the model, a status (``ok`` or why there is nothing), the
    ``extra`` keys and one record per layer."""
    doc = {
        "model": info.name,
        "layout": info.layout,
        "num_memory": info.num_memory,
        "status": status,
        **extra,
        "layers": layers,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def write_numbers(out: Path, table: pd.DataFrame, info: ModelInfo, num_sentences: int) -> None:
    """``memory_mass.csv`` and ``memory_mass.json`` in ``out`` (an LM's JSON says which
    column does not apply and which rows are its memory rows)."""
    table.to_csv(out / "memory_mass.csv", index=False, float_format="%.6f")
    extra: dict[str, Any] = {"num_sentences": num_sentences}
    if info.is_lm:
        extra["notes"] = LM_NOTES
    write_json(out / "memory_mass.json", info, "ok", table_records(table), **extra)


def write_no_memory(out: Path, info: ModelInfo, status: str = "no_memory") -> str:
    """Outputs of a model with nothing to plot: a JSON saying why and a header-only CSV
    (so the comparison table can still list every model's file); return the message."""
    message = (NO_MEMORY if status == "no_memory" else NOT_SUPPORTED).format(name=info.name)
    pd.DataFrame(columns=list(COLUMNS)).to_csv(out / "memory_mass.csv", index=False)
    write_json(out / "memory_mass.json", info, status, [], message=message)
    return message


# --------------------------------------------------------------------------------------------
# Several models


MERGED_COLUMNS = (*COLUMNS, *UNIFORM_COLUMNS)


def with_uniform_shares(table: pd.DataFrame, npz: Path) -> pd.DataFrame:
    """One model's table with its uniform references (the same on every layer), from the
    sentences of its ``attention.npz`` (NaN when the archive is missing; a DataError naming
    it when it cannot be read)."""
    shares = dict.fromkeys(UNIFORM_COLUMNS, math.nan)
    if npz.is_file():
        try:
            info, samples = load_npz(npz)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"cannot read {npz}: {type(exc).__name__}: {exc}") from None
        shares = uniform_shares(samples, info)
    return table.assign(**shares)


def read_table(path: Path) -> pd.DataFrame:
    """One model's ``memory_mass.csv``; a file that is not one is a DataError naming it."""
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    if missing := [c for c in COLUMNS if c not in table.columns]:
        raise DataError(f"cannot read {path}: not a memory-mass table (no column {missing[0]!r})")
    return table


def merge_tables(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate several ``memory_mass.csv`` (header-only ones add no rows), each with the
    uniform references of the ``attention.npz`` beside it."""
    frames = [(read_table(p), p.parent / "attention.npz") for p in paths]
    frames = [with_uniform_shares(f, npz) for f, npz in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(MERGED_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(MERGED_COLUMNS)]


def write_comparison(paths: Sequence[Path], out_csv: Path) -> pd.DataFrame:
    """Merge per-model tables into ``out_csv`` and a Markdown twin ``out_csv.with_suffix('.md')``."""
    table = merge_tables(paths)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6f")
    out_csv.with_suffix(".md").write_text(compact_table(table), encoding="utf-8")
    return table

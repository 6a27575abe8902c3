"""The attention stage of one checkpoint: load, record, measure, write, plot (``run``), and
the short table it prints (``format_table``); ``workflow/scripts/attention.py`` is its CLI.

A model with ``m = 0`` (translation or LM) has no memory: nothing is extracted, only a
``memory_mass.json`` saying so and a header-only ``memory_mass.csv`` are written. Imports
torch (through ``loading`` and ``recording``) and matplotlib (through ``plots``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from memtr.attention import plots
from memtr.attention.archive import save_npz
from memtr.attention.loading import is_classifier, load_model, model_info
from memtr.attention.measures import memory_mass_table
from memtr.attention.recording import extract
from memtr.attention.schema import LM_LAYOUTS
from memtr.attention.sentences import read_sentences, sentence_source
from memtr.attention.tables import write_no_memory, write_numbers

DEFAULT_NUM_SENTENCES = 8


def run(
    checkpoint: Path,
    data: Path,
    sentences: Path,
    name: str,
    out: Path,
    spm_model: Path | None = None,
    num_sentences: int = DEFAULT_NUM_SENTENCES,
) -> tuple[str, pd.DataFrame | None]:
    """Extract, plot and write everything into ``out/<name>/``; return (message, table).

    ``sentences`` may be a prepared-data folder, and ``spm_model`` encodes raw source text for
    a translation model; an LM reads tokenized lines (see ``sentence_source``).
    A model without memory gets only ``memory_mass.json`` (``"status": "no_memory"``) and a
    header-only ``memory_mass.csv``; the message then says there is no memory to plot.
    """
    model, task = load_model(checkpoint, data)
    info = model_info(model, name)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if is_classifier(model):
        return write_no_memory(folder, info, status="not_supported"), None
    if info.num_memory == 0:
        return write_no_memory(folder, info), None
    sentences, spm_model = sentence_source(sentences, info, spm_model)
    lines = read_sentences(sentences, num_sentences, spm_model)
    if not lines:
        raise ValueError(f"no sentences in {sentences}")
    samples = extract(model, task, lines)
    table = memory_mass_table(samples, info)
    save_npz(folder / "attention.npz", samples, info)
    write_numbers(folder, table, info, len(samples))
    plots.plot_model(folder, samples, table, info)
    return f"{name}: attention of {len(samples)} sentences written to {folder}", table


def format_table(table: pd.DataFrame) -> str:
    """A short fixed-width table of the main numbers, for the terminal."""
    cols = ["layer", "seq_to_memory", "memory_to_memory", "memory_entropy", "decoder_to_memory"]
    if table["layout"].isin(LM_LAYOUTS).all():  # no cross-attention, write rows on tokens
        cols = ["layer", "seq_to_memory", "memory_to_memory", "memory_to_seq", "memory_entropy"]
    return table[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep="-")

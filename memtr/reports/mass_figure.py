"""The memory-mass figure: the share of attention on the memory per variant and layer, each
bar beside the share uniform attention would give, and the reading of the difference.

Drawn from the tables stage's ``memory_mass.csv`` (one row per attention model and layer):
``seq_to_memory`` (sequence rows on the memory keys) and, for translation,
``decoder_to_memory`` (cross-attention on the memory keys), with their uniform references
``uniform_seq_to_memory`` and ``uniform_decoder_to_memory`` (memory keys / keys a row may
see, from the sample sentences' lengths: ``memtr.attention.measures``). Each share reads:

* above uniform (by more than ``TOLERANCE``): the memory draws attention (sink-like);
* at or below uniform: no preference for the memory;
* uniform 1: the rows see only the memory (MemBottleneck), a share of 1 by construction;
* uniform 0: the memory is hidden from the rows (``--mem-hide-from-decoder``).

A table without the uniform columns (written before they existed) is drawn without the
reference, its reading ``no uniform reference``. The numbers are the mean over the sample
sentences of the attention seeds: a description of those sentences, not a test.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TOLERANCE = 0.02  # a share within this of its uniform reference reads "at uniform"
PANELS = (  # (share column, its uniform reference, reading column, panel title)
    ("seq_to_memory", "uniform_seq_to_memory", "seq_reading", "sequence → memory"),
    ("decoder_to_memory", "uniform_decoder_to_memory", "decoder_reading",
     "decoder → memory (cross-attention)"),
)  # fmt: skip
ORDER = ("variant", "layer",
         "seq_to_memory", "uniform_seq_to_memory", "seq_ratio", "seq_reading",
         "decoder_to_memory", "uniform_decoder_to_memory", "decoder_ratio", "decoder_reading",
         "sentences", "seeds")  # fmt: skip
ABOVE = "above uniform: the memory draws attention (sink-like)"
AT_OR_BELOW = "at or below uniform: no preference for the memory"
BY_CONSTRUCTION = "memory only, by construction"
NO_REFERENCE = "no uniform reference"
HIDDEN = "memory hidden from these rows"
CAPTION = (
    "Share of attention on the memory: mean over {sentences} sample sentences of {seeds}.\n"
    "Hatched: uniform attention (memory keys / keys a row sees); ×: share / uniform.\n"
    "Above uniform: the memory draws attention (sink-like); at or below: no preference."
)


def reading(share: float, uniform: float) -> str:
    """What a share says against its uniform reference (empty where there is no share)."""
    if pd.isna(share):
        return ""
    if pd.isna(uniform):
        return NO_REFERENCE
    if uniform >= 1.0 - 1e-9:
        return BY_CONSTRUCTION
    if uniform <= 0.0:
        return HIDDEN
    return ABOVE if share > uniform + TOLERANCE else AT_OR_BELOW


def memory_mass_data(mass: pd.DataFrame) -> pd.DataFrame:
    """Per variant and layer: each share and its uniform reference (means over the attention
    seeds), their ratio, the reading, the sample sentences per seed and the seeds."""
    seed = mass["model"].str.extract(r"_seed(\d+)$", expand=False)
    frame = mass.assign(variant=mass["model"].str.replace(r"_seed\d+$", "", regex=True), seed=seed)
    numbers = [c for share, uniform, _, _ in PANELS for c in (share, uniform)]
    frame = frame.reindex(columns=[*frame.columns, *(c for c in numbers if c not in frame)])
    grouped = frame.groupby(["variant", "layer"], sort=False)
    table = grouped[numbers].mean().round(6)
    table["sentences"] = grouped["num_sentences"].max() if "num_sentences" in frame else np.nan
    table["seeds"] = grouped["seed"].agg(lambda s: " ".join(sorted(set(s.dropna()), key=int)))
    table = table.reset_index()
    for share, uniform, read, _ in PANELS:
        ratio = table[share] / table[uniform].where(table[uniform] > 0)
        table[read.replace("reading", "ratio")] = ratio.round(4)
        table[read] = [reading(a, b) for a, b in zip(table[share], table[uniform], strict=True)]
    return table[list(ORDER)]


def draw_panel(ax, data: pd.DataFrame, share: str, uniform: str, title: str) -> None:
    """Grouped bars: per variant one bar per layer, its uniform reference hatched beside it,
    the ratio share / uniform above it."""
    variants = list(dict.fromkeys(data["variant"]))
    layers = sorted(data["layer"].unique())
    slot = 0.8 / len(layers)
    for j, layer in enumerate(layers):
        rows = data[data["layer"] == layer].set_index("variant").reindex(variants)
        x = np.arange(len(variants)) - 0.4 + slot * (j + 0.5)
        shown = rows[share].notna().to_numpy()
        heights = rows[share].to_numpy()[shown]
        ax.bar(x[shown] - 0.17 * slot, heights, width=0.5 * slot, color=f"C{j % 10}",
               label=f"layer {layer}")  # fmt: skip
        refs = rows[uniform].to_numpy()[shown]
        known = ~np.isnan(refs) & (refs > 0)
        ax.bar(x[shown][known] + 0.25 * slot, refs[known], width=0.3 * slot, facecolor="white",
               edgecolor="0.35", hatch="////", linewidth=0.6,
               label="uniform attention" if j == len(layers) - 1 else None)  # fmt: skip
        for xi, h, ref in zip(x[shown][known], heights[known], refs[known], strict=True):
            ax.text(xi - 0.17 * slot, h + 0.015, f"×{h / ref:.2f}", ha="center", va="bottom",
                    fontsize=6)  # fmt: skip
    ax.set_xticks(range(len(variants)), variants, fontsize=8, rotation=15)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("share of attention on the memory", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", ncol=len(layers) + 1, frameon=False)


def caption(data: pd.DataFrame) -> str:
    """The figure's caption: what is averaged, how to read the reference."""
    sentences = data.groupby("variant")["sentences"].first()
    count = int(sentences.max()) if sentences.notna().any() else "the"
    seeds = sorted(set(" ".join(data["seeds"]).split()), key=int)
    named = f"seed {seeds[0]}" if len(seeds) == 1 else f"each of seeds {', '.join(seeds)}"
    return CAPTION.format(sentences=count, seeds=named if seeds else "the attention seeds")


def mass_figure(mass: pd.DataFrame):
    """The figure and the numbers it draws: (figure, data); one panel per share measured."""
    data = memory_mass_data(mass)
    panels = [p for p in PANELS if data[p[0]].notna().any()]
    width = max(7.0, 1.3 * data["variant"].nunique() + 1.5)
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 1.1 + 3.3 * len(panels)),
                             squeeze=False)  # fmt: skip
    for ax, (share, uniform, _, title) in zip(axes[:, 0], panels, strict=True):
        draw_panel(ax, data.dropna(subset=[share]), share, uniform, title)
    fig.suptitle(caption(data), fontsize=8)
    fig.tight_layout()
    return fig, data

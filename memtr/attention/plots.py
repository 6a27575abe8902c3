"""Figures of attention over memory (matplotlib, Agg backend, PNG).

Per model folder (see ``plot_model``):

* ``encoder_layer{L}.png``: a grid with one heatmap per head of encoder layer ``L`` for
  the sample sentence; rows = queries, columns = keys, both ``[M0 .. M{m-1} ; subwords]``,
  white lines between memory and sequence. For MemBottleneck the sequence->sequence
  block is grey and labelled empty (its tokens attend to the memory only).
* ``cross_layer{L}.png``: the decoder's cross-attention per head of decoder layer ``L``;
  rows = output subwords, columns = the decoder's keys (memory first when it sees them).
* ``summary.png``: per-layer shares on memory and memory-row entropy over the sample
  sentences, and the head-averaged last-layer maps of the sample sentence.

A language model (``mem_transformer_lm``) gets ``decoder_layer{L}.png``: its decoder
self-attention per head over the segment ``[r0 .. r{m-1} ; tokens ; w0 .. w{m-1}]`` (read
memory, tokens, and the write memory of a recurrent model), white lines between the blocks;
no cross-attention maps. Its ``summary.png`` shows the mean maps of the first and the last
layer instead of the decoder's cross-attention.

Figure sizes are fixed by the token counts (no tight bounding box), so a PNG's pixel size
is ``figure_pixels(...)`` of its figure size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from memtr.attention.schema import ModelInfo, SampleAttention  # noqa: E402

DPI = 100
CMAP = "viridis"
EMPTY_COLOUR = "0.85"
MAX_PLOT_TOKENS = 40  # the sample sentence plotted is the first with at most this many
MAX_LABEL_CHARS = 12
HEAD_COLUMNS = 4
SUMMARY_SIZE = (14.0, 11.0)  # inches
BOTTLENECK_NOTE = "MemBottleneck: seq→seq is empty by construction (grey)"


def memory_labels(m: int, prefix: str = "M") -> list[str]:
    """Axis labels of ``m`` memory slots: ``M0 .. M{m-1}`` (LM: ``r..`` read, ``w..`` write)."""
    return [f"{prefix}{i}" for i in range(m)]


def self_attn_labels(sample: SampleAttention, info: ModelInfo) -> list[str]:
    """Labels of the self-attention axes: MT ``[M.. ; source]``, LM ``[r.. ; tokens ; w..]``."""
    if info.is_lm:
        m, w = info.num_memory, info.num_write
        return memory_labels(m, "r") + list(sample.src_tokens) + memory_labels(w, "w")
    return memory_labels(info.num_memory) + list(sample.src_tokens)


def side_of(info: ModelInfo) -> str:
    """Whose self-attention is plotted: the LM's decoder or the translation encoder."""
    return "decoder" if info.is_lm else "encoder"


def self_attn_split(sample: SampleAttention, info: ModelInfo) -> tuple[int, ...]:
    """Where a block of the self-attention axes ends: after the memory (and, for an LM with a
    write block, after the tokens)."""
    m = info.num_memory
    return (m, m + len(sample.src_tokens)) if info.num_write else (m,)


def short(label: str) -> str:
    """A tick label cut to MAX_LABEL_CHARS, so long subwords do not crowd the axes."""
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def tick_fontsize(count: int) -> float:
    """Tick-label font size for an axis with ``count`` labels."""
    return 8 if count <= 20 else 6.5 if count <= 40 else 5


def grid_shape(heads: int) -> tuple[int, int]:
    """(rows, columns) of a grid with one panel per head."""
    cols = min(heads, HEAD_COLUMNS)
    return math.ceil(heads / cols), cols


def panel_inches(rows: int, cols: int) -> tuple[float, float]:
    """(width, height) of one heatmap panel with ``rows`` x ``cols`` cells and its labels."""
    cell = 0.17
    return max(2.6, cell * cols + 1.1), max(2.6, cell * rows + 1.2)


def grid_figsize(rows: int, cols: int, heads: int) -> tuple[float, float]:
    """Figure size (inches) of a per-head grid of ``rows`` x ``cols`` heatmaps."""
    grid_rows, grid_cols = grid_shape(heads)
    width, height = panel_inches(rows, cols)
    return grid_cols * width + 1.2, grid_rows * height + 1.0  # colour bar, titles


def figure_pixels(figsize: tuple[float, float]) -> tuple[int, int]:
    """(width, height) in pixels of a PNG saved from a figure of ``figsize`` inches."""
    return round(figsize[0] * DPI), round(figsize[1] * DPI)


def pick_sample(samples: Sequence[SampleAttention]) -> int:
    """Index of the sentence to plot: the first short enough, else the shortest."""
    for i, s in enumerate(samples):
        if len(s.src_tokens) <= MAX_PLOT_TOKENS:
            return i
    return min(range(len(samples)), key=lambda i: len(samples[i].src_tokens))


def cross_key_labels(sample: SampleAttention) -> tuple[list[str], int]:
    """Labels of the decoder's keys (memory slots first) and how many are memory."""
    m_keys = int(sample.key_is_memory.sum())
    src = list(sample.src_tokens) if m_keys < len(sample.key_is_memory) else []
    return memory_labels(m_keys) + src, m_keys


def title_of(info: ModelInfo) -> str:
    """The figure title's model part: name, layout and memory size."""
    return f"{info.name} ({info.layout}, m={info.num_memory})"


# --------------------------------------------------------------------------------------------
# Heatmaps


def draw_heatmap(
    ax: Axes,
    probs: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    split: tuple[Sequence[int], Sequence[int]],
    vmax: float,
    empty_block: bool = False,
) -> matplotlib.image.AxesImage:
    """One attention map (R, K) with labelled axes.

    ``split`` = (row boundaries, column boundaries): lines are drawn after that many rows and
    columns (the first of each is where the memory ends). With ``empty_block`` the block below
    and right of the first boundaries is greyed and labelled empty.
    """
    rows, cols = split[0][0], split[1][0]
    data = np.ma.masked_array(probs, mask=np.zeros_like(probs, dtype=bool))
    cmap = plt.get_cmap(CMAP).with_extremes(bad=EMPTY_COLOUR)
    if empty_block:
        data.mask[rows:, cols:] = True
    image = ax.imshow(data, cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto", interpolation="none")
    if empty_block and rows < probs.shape[0] and cols < probs.shape[1]:
        centre = ((cols + probs.shape[1] - 1) / 2, (rows + probs.shape[0] - 1) / 2)
        ax.text(*centre, "seq→seq:\nnone", ha="center", va="center", fontsize=8, color="0.3")
    for row in split[0]:
        if 0 < row < probs.shape[0]:
            ax.axhline(row - 0.5, color="white", linewidth=1.2)
    for col in split[1]:
        if 0 < col < probs.shape[1]:
            ax.axvline(col - 0.5, color="white", linewidth=1.2)
    label_axes(ax, row_labels, col_labels)
    return image


def label_axes(ax: Axes, row_labels: Sequence[str], col_labels: Sequence[str]) -> None:
    """One tick label per row and column, shortened, sized by how many there are."""
    ax.set_xticks(range(len(col_labels)))
    ax.set_xticklabels([short(x) for x in col_labels], fontsize=tick_fontsize(len(col_labels)))
    ax.tick_params(axis="x", labelrotation=90)
    ax.set_yticks(range(len(row_labels)))
    ax.set_yticklabels([short(x) for x in row_labels], fontsize=tick_fontsize(len(row_labels)))
    ax.tick_params(length=2, pad=1)


def plot_head_grid(
    path: Path,
    probs: np.ndarray,
    labels: tuple[Sequence[str], Sequence[str]],
    split: tuple[Sequence[int], Sequence[int]],
    title: str,
    empty_block: bool = False,
    row_name: str = "query",
) -> tuple[float, float]:
    """One heatmap per head of ``probs`` (H, R, K) with one colour bar; return the figsize."""
    heads, rows, cols = probs.shape
    figsize = grid_figsize(rows, cols, heads)
    fig = plt.figure(figsize=figsize, dpi=DPI, layout="constrained")
    grid_rows, grid_cols = grid_shape(heads)
    axes = np.atleast_1d(fig.subplots(grid_rows, grid_cols, squeeze=False)).ravel()
    vmax = max(float(probs.max()), 1e-6)
    image = None
    for h, ax in enumerate(axes):
        if h >= heads:
            ax.axis("off")
            continue
        image = draw_heatmap(ax, probs[h], *labels, split, vmax, empty_block)
        ax.set_title(f"head {h + 1}", fontsize=9)
        ax.set_xlabel("key", fontsize=8)
        ax.set_ylabel(row_name, fontsize=8)
    fig.colorbar(image, ax=list(axes), label="attention probability", shrink=0.8)
    fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return figsize


def self_attn_note(info: ModelInfo) -> str:
    """A second title line explaining the axes, or ''."""
    if info.layout == "bottleneck":
        return f"\n{BOTTLENECK_NOTE}"
    if info.num_write:
        return "\nr = read memory, w = write memory (the next segment's read memory)"
    if info.is_lm:
        return "\nr = read memory (learned, no write block)"
    return ""


def plot_self_layer(
    path: Path, probs: np.ndarray, sample: SampleAttention, info: ModelInfo, layer: int
) -> tuple[float, float]:
    """Self-attention of one layer, (H, T, T): the encoder's [memory ; source] (MT) or the
    decoder's [read ; tokens ; write] (LM); return the figsize."""
    labels = self_attn_labels(sample, info)
    split = self_attn_split(sample, info)
    side = side_of(info)
    title = f"{title_of(info)}: {side} self-attention, layer {layer}, heads 1-{probs.shape[0]}"
    title += self_attn_note(info)
    bottleneck = info.layout == "bottleneck"
    return plot_head_grid(
        path, probs, (labels, labels), (split, split), title, empty_block=bottleneck
    )


def plot_cross_layer(
    path: Path, probs: np.ndarray, sample: SampleAttention, info: ModelInfo, layer: int
) -> tuple[float, float]:
    """Decoder cross-attention of one layer, (H, t, k); return the figsize."""
    keys, m_keys = cross_key_labels(sample)
    title = (
        f"{title_of(info)}: decoder cross-attention, layer {layer}, heads 1-{probs.shape[0]}"
        f"\nkeys: {m_keys} memory slots, {len(keys) - m_keys} source subwords"
    )
    labels = (sample.tgt_tokens, keys)
    split = ((0,), (m_keys,))
    return plot_head_grid(path, probs, labels, split, title, row_name="output token")


# --------------------------------------------------------------------------------------------
# Summary


def share_series(info: ModelInfo) -> dict[str, str]:
    """Legend label -> column of the shares plotted per layer."""
    if info.is_lm:  # no cross-attention
        rows = "write" if info.num_write else "read"
        return {
            "tokens → read memory": "seq_to_memory",
            f"{rows} memory → read memory": "memory_to_memory",
            f"{rows} memory → tokens": "memory_to_seq",
        }
    return {
        "sequence → memory (encoder)": "seq_to_memory",
        "memory → memory (encoder)": "memory_to_memory",
        "decoder cross-attn → memory": "decoder_to_memory",
    }


def plot_shares(ax: Axes, table: pd.DataFrame, info: ModelInfo) -> None:
    """Attention mass on memory per layer: self-attention rows and (MT) the decoder's
    cross-attention."""
    series = share_series(info)
    styles = (("o", "-"), ("s", "--"), ("^", ":"))  # lines on top of each other stay visible
    for (label, column), (marker, line) in zip(series.items(), styles, strict=True):
        values = table[["layer", column]].dropna()
        ax.plot(values["layer"], values[column], marker=marker, linestyle=line, label=label)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xticks(table["layer"])
    ax.set_xlabel("layer")
    ax.set_ylabel("share of attention mass" + ("" if info.is_lm else " on memory"))
    what = "per block" if info.is_lm else "on memory"
    ax.set_title(f"Attention mass {what} (mean over sentences, heads, rows)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def plot_entropy(ax: Axes, table: pd.DataFrame, info: ModelInfo) -> None:
    """Entropy of the memory rows per layer, normalised by the log of the keys they see."""
    values = table[["layer", "memory_entropy_norm"]].dropna()
    ax.bar(values["layer"], values["memory_entropy_norm"], color="tab:purple", width=0.6)
    ax.axhline(1.0, color="0.4", linestyle="--", linewidth=1)
    left = values["layer"].min() if len(values) else table["layer"].min()
    ax.text(left - 0.3, 1.01, "uniform", fontsize=8, color="0.3", va="bottom")
    ax.set_ylim(0, 1.12)
    ax.set_xticks(table["layer"])
    if info.is_lm:
        rows = "write" if info.num_write else "read"
        ax.set_xlabel("decoder layer")
        ax.set_ylabel("entropy / ln K (K = keys a row may see)")
        title = f"Entropy of {rows}-memory rows (0 = one key, 1 = uniform)"
    else:
        ax.set_xlabel("encoder layer")
        ax.set_ylabel("entropy / ln T")
        title = "Entropy of memory rows (0 = one key, 1 = uniform)"
    ax.set_title(title, fontsize=10)


def plot_mean_map(
    ax: Axes,
    fig: plt.Figure,
    probs: np.ndarray,
    labels: tuple[Sequence[str], Sequence[str]],
    split: tuple[Sequence[int], Sequence[int]],
    title: str,
    empty_block: bool = False,
    row_name: str = "query",
) -> None:
    """Head-averaged map (H, R, K) -> (R, K) with its own colour bar."""
    mean = probs.mean(axis=0)  # (R, K)
    image = draw_heatmap(ax, mean, *labels, split, max(float(mean.max()), 1e-6), empty_block)
    fig.colorbar(image, ax=ax, label="attention probability", shrink=0.8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("key", fontsize=9)
    ax.set_ylabel(row_name, fontsize=9)


def plot_summary(
    path: Path, samples: Sequence[SampleAttention], table: pd.DataFrame, info: ModelInfo
) -> tuple[float, float]:
    """One figure per model: shares and entropy per layer, and head-averaged maps of the
    sample sentence: (MT) the last encoder layer and the decoder's last cross-attention layer,
    (LM) the first and the last decoder layer."""
    sample = samples[pick_sample(samples)]
    bottleneck = info.layout == "bottleneck"
    fig = plt.figure(figsize=SUMMARY_SIZE, dpi=DPI, layout="constrained")
    (ax_share, ax_ent), (ax_left, ax_right) = fig.subplots(2, 2)
    plot_shares(ax_share, table, info)
    plot_entropy(ax_ent, table, info)
    labels = self_attn_labels(sample, info)
    split = self_attn_split(sample, info)
    side = side_of(info)
    last = sample.self_attn.shape[0]
    # MT: the last layer, then the cross-attention; LM (no cross-attention): first and last
    maps = [(ax_left, 1), (ax_right, last)] if info.is_lm else [(ax_left, last)]
    for ax, layer in maps:
        plot_mean_map(
            ax, fig, sample.self_attn[layer - 1], (labels, labels), (split, split),
            f"Sample sentence: {side} layer {layer}, mean of heads", empty_block=bottleneck,
        )  # fmt: skip
    if not info.is_lm:
        keys, m_keys = cross_key_labels(sample)
        plot_mean_map(
            ax_right, fig, sample.cross[-1], (sample.tgt_tokens, keys), ((0,), (m_keys,)),
            f"Sample sentence: decoder layer {sample.cross.shape[0]} cross-attention, "
            "mean of heads",
            row_name="output token",
        )  # fmt: skip
    count = int(table["num_sentences"].iloc[0])
    title = f"{title_of(info)}: attention over memory ({count} sentences)"
    title += self_attn_note(info)
    fig.suptitle(title, fontsize=12)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return SUMMARY_SIZE


def plot_model(
    folder: Path, samples: Sequence[SampleAttention], table: pd.DataFrame, info: ModelInfo
) -> dict[str, tuple[float, float]]:
    """Every figure of one model into ``folder``; return {file name: figsize in inches}."""
    sample = samples[pick_sample(samples)]
    side = side_of(info)
    sizes = {}
    for layer, probs in enumerate(sample.self_attn, start=1):
        name = f"{side}_layer{layer}.png"
        sizes[name] = plot_self_layer(folder / name, probs, sample, info, layer)
    for layer, probs in enumerate(sample.cross, start=1):  # none for an LM
        name = f"cross_layer{layer}.png"
        sizes[name] = plot_cross_layer(folder / name, probs, sample, info, layer)
    sizes["summary.png"] = plot_summary(folder / "summary.png", samples, table, info)
    return sizes

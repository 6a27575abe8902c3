"""The claims' forest plot: every comparison's difference against its reference with its 95%
interval, the verdict as the marker, the paper's difference where it has one.

The x-axis spans the comparisons' intervals (and 0) with a margin, never the paper's values:
a paper value outside that range is drawn as a labelled arrow at the edge (``← paper:
-14.24``), in a shaded band added for the labels, so that a far-off number does not squash
the intervals that carry the evidence. Markers by the verdict's kind (its prefix, see
``memtr.reports.claims_reading``): filled for ``better``/``worse``, diamonds for
``equivalent`` (filled) and ``paper's effect ruled out`` (half filled), hollow for
``inconclusive``, small and light grey for ``uninformative (floor)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from memtr.reports.claims_reading import delta_column, verdict_kind  # noqa: E402

MARGIN = 0.08  # of the intervals' span, on each side of the x-axis
ARROW_BAND = 0.2  # of the span, added on a side with an off-scale paper value, for its label
PAPER_LABEL = "paper (secondary source)"
PAPER_COLOUR = "black"
GREY = "0.72"
LEGEND_HEIGHT = 0.6  # inches under the axes for the legend


@dataclass(frozen=True)
class MarkerStyle:
    """How one kind of verdict is drawn."""

    marker: str
    colour: str
    fill: str  # matplotlib's fillstyle: "full", "none", "left"
    size: float
    label: str


STYLES = {
    "better": MarkerStyle("o", "tab:blue", "full", 7, "better"),
    "worse": MarkerStyle("o", "tab:orange", "full", 7, "worse"),
    "equivalent": MarkerStyle("D", "tab:green", "full", 6, "equivalent within ±δ"),
    "ruled_out": MarkerStyle("D", "tab:green", "left", 6, "paper's effect ruled out"),
    "inconclusive": MarkerStyle("o", "0.25", "none", 7, "inconclusive"),
    "no_difference": MarkerStyle("o", "0.25", "none", 7, "no difference shown"),
    "uninformative": MarkerStyle("o", GREY, "full", 5, "uninformative (floor)"),
    "undecided": MarkerStyle("s", "0.25", "none", 6, "undecided (1 seed)"),
    "other": MarkerStyle("s", "0.25", "none", 6, "other verdict"),
}


def forest_data(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per claim, in the table's order, with the numbers the forest plot draws
    (``paper_shown`` is filled in by ``place_paper_values``)."""
    delta = delta_column(claims)
    paper = claims.get(f"paper_{delta}", pd.Series([math.nan] * len(claims)))
    return pd.DataFrame({
        "label": [f"{r.variant} vs {r.against} ({r.budget}, {r.split})" for r in claims.itertuples()],
        "split": claims["split"].values, "budget": claims["budget"].values,
        "delta": claims[delta].values, "ci95_low": claims["delta_ci95_low"].values,
        "ci95_high": claims["delta_ci95_high"].values, "verdict": claims["verdict"].values,
        "verdict_kind": [verdict_kind(v).key for v in claims["verdict"]],
        "paper_delta": paper.values,
    })  # fmt: skip


def interval_range(data: pd.DataFrame) -> tuple[float, float]:
    """The x-range of the evidence: every interval, every difference and 0, with a margin."""
    values = pd.concat([data["ci95_low"], data["ci95_high"], data["delta"]]).dropna()
    low = min(float(values.min()), 0.0) if len(values) else -1.0
    high = max(float(values.max()), 0.0) if len(values) else 1.0
    pad = MARGIN * ((high - low) or 1.0)
    return low - pad, high + pad


def arrow_label(value: float, side: str) -> str:
    """The label of a paper value off the scale, its arrow pointing where the value lies."""
    return f"← paper: {value:+.2f}" if side == "left" else f"paper: {value:+.2f} →"


def place_paper_values(data: pd.DataFrame, low: float, high: float) -> list[str]:
    """Per row: ``""`` (no paper value), ``"marker"`` (inside ``[low, high]``) or the arrow
    label of a value off the scale."""
    placed = []
    for value in data["paper_delta"]:
        if value is None or pd.isna(value):
            placed.append("")
        elif value < low:
            placed.append(arrow_label(value, "left"))
        elif value > high:
            placed.append(arrow_label(value, "right"))
        else:
            placed.append("marker")
    return placed


def x_limits(data: pd.DataFrame) -> tuple[float, float]:
    """The axis: the evidence's range, plus a band for the arrow labels on a side that has
    one (``data`` with its ``paper_shown`` column)."""
    low, high = interval_range(data)
    band = ARROW_BAND * (high - low)
    shown = data["paper_shown"]
    left = low - band if shown.str.startswith("←").any() else low
    right = high + band if shown.str.endswith("→").any() else high
    return left, right


def scale_ticks(low: float, high: float) -> list[float]:
    """The x ticks inside the evidence's range ``[low, high]``."""
    return [t for t in MaxNLocator(nbins=8).tick_values(low, high) if low <= t <= high]


def draw_row(ax, y: int, row, style: MarkerStyle) -> None:
    """One comparison: its interval, its marker."""
    below = max(row.delta - row.ci95_low, 0.0) if pd.notna(row.ci95_low) else 0.0
    above = max(row.ci95_high - row.delta, 0.0) if pd.notna(row.ci95_high) else 0.0
    faded = row.verdict_kind == "uninformative"
    ax.errorbar([row.delta], [y], xerr=[[below], [above]], fmt="none", capsize=3,
                ecolor=style.colour, alpha=0.6 if faded else 1.0, zorder=2)  # fmt: skip
    ax.plot([row.delta], [y], linestyle="none", marker=style.marker, markersize=style.size,
            color=style.colour, fillstyle=style.fill, markerfacecoloralt="white",
            markeredgecolor=style.colour, zorder=3)  # fmt: skip


def draw_paper(ax, rows: list[int], data: pd.DataFrame, limits: tuple[float, float]) -> bool:
    """The paper's differences: a cross inside the range, an arrow label at the edge off it,
    over a light band that marks the labels' room. True when any was drawn."""
    low, high = interval_range(data)
    for start, end in ((limits[0], low), (high, limits[1])):
        if end > start:
            ax.axvspan(start, end, color="0.93", zorder=0, linewidth=0)
    pad = 0.02 * (limits[1] - limits[0])
    for y, row in zip(rows, data.itertuples(), strict=True):
        if row.paper_shown == "marker":
            ax.plot([row.paper_delta], [y], linestyle="none", marker="x", color=PAPER_COLOUR,
                    markersize=6, zorder=4)  # fmt: skip
        elif row.paper_shown:
            left = row.paper_shown.startswith("←")
            ax.text(limits[0] + pad if left else limits[1] - pad, y, row.paper_shown,
                    ha="left" if left else "right", va="center", fontsize=7,
                    color=PAPER_COLOUR, zorder=4)  # fmt: skip
    return bool(data["paper_shown"].ne("").any())


def group_separators(ax, data: pd.DataFrame, rows: list[int]) -> None:
    """A faint line between consecutive rows of another split or budget."""
    keys = list(zip(data["split"], data["budget"], strict=True))
    for i in range(1, len(keys)):
        if keys[i] != keys[i - 1]:
            ax.axhline((rows[i] + rows[i - 1]) / 2, color="0.85", linewidth=0.8, zorder=1)


def marker_handle(style: MarkerStyle) -> Line2D:
    """A legend entry drawn as the markers of one verdict kind."""
    return Line2D([], [], linestyle="none", marker=style.marker, markersize=style.size,
                  color=style.colour, fillstyle=style.fill, markerfacecoloralt="white",
                  label=style.label)  # fmt: skip


def legend_handles(data: pd.DataFrame, paper: bool) -> list[Line2D]:
    """One entry per verdict kind present (in the order of ``STYLES``), then the paper's."""
    present = set(data["verdict_kind"])
    handles = [marker_handle(style) for key, style in STYLES.items() if key in present]
    if paper:
        handles.append(Line2D([], [], linestyle="none", marker="x", color=PAPER_COLOUR,
                              label=f"{PAPER_LABEL}; off the scale: arrow at the edge"))  # fmt: skip
    return handles


def forest_figure(claims: pd.DataFrame, metric_label: str):
    """The forest plot of the claims table and the numbers it draws: (figure, data), or
    None when the table has no claim."""
    if claims.empty:
        return None
    data = forest_data(claims)
    data["paper_shown"] = place_paper_values(data, *interval_range(data))
    rows = list(range(len(data)))[::-1]  # first claim on top
    fig, ax = plt.subplots(figsize=(10.0, LEGEND_HEIGHT + 1.2 + 0.36 * len(data)))
    limits = x_limits(data)
    ax.axvline(0.0, color="0.4", linewidth=1, zorder=1)
    group_separators(ax, data, rows)
    for y, row in zip(rows, data.itertuples(), strict=True):
        draw_row(ax, y, row, STYLES[row.verdict_kind])
    paper = draw_paper(ax, rows, data, limits)
    ax.set_xlim(*limits)
    ax.set_xticks(scale_ticks(*interval_range(data)))  # no numbers under the arrow bands
    ax.set_ylim(-0.7, len(data) - 0.3)
    ax.set_yticks(rows, data["label"], fontsize=9)
    faded = set(data["label"][data["verdict_kind"] == "uninformative"])
    for tick in ax.get_yticklabels():
        tick.set_color("0.55" if tick.get_text() in faded else "black")
    ax.set_xlabel(f"{metric_label}: variant − baseline (mean, 95% interval over seeds)")
    fig.legend(handles=legend_handles(data, paper), loc="lower center", ncol=3, fontsize=8,
               frameon=False)  # fmt: skip
    fig.tight_layout(rect=(0.0, LEGEND_HEIGHT / fig.get_figheight(), 1.0, 1.0))
    return fig, data

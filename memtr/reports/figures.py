"""Figures of an experiment (matplotlib, Agg, PNG), each with the CSV of what it plots.

Drawn from the tables stage's outputs and the per-run logs, never from a model:

* ``claims_forest``: one row per claim (variant against its baseline, equal steps or equal
  compute, per test set): the mean difference with its 95% interval over seeds, the zero
  line, the verdict as the marker's fill, and the paper's difference as a separate marker
  where it has one (a secondary source);
* ``learning_curves``: train and valid loss against updates, and valid loss against the
  training wall time, one colour per variant, the seeds as a min-max band around their mean;
* ``memory_size``: the metric against ``mem_tokens`` per layout (mean, seed std as error
  bars), where a layout has several memory sizes;
* ``memory_mass``: the share of attention on the memory per layer and variant (mean over
  the attention seeds).

A figure whose data the experiment lacks (one memory size, no memory model) is not drawn.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from memtr.reports.folders import run_folder  # noqa: E402

DPI = 110
DECIDED = ("better", "worse")  # verdicts drawn as filled markers
PAPER_LABEL = "paper (secondary source)"
PNG_METADATA = {"Software": None}  # no matplotlib version in the file: same bytes every run


def save(fig, data: pd.DataFrame, out: Path, name: str) -> Path:
    """Write ``<name>.png`` and the ``<name>.csv`` of its plotted numbers; close ``fig``."""
    out.mkdir(parents=True, exist_ok=True)
    data.to_csv(out / f"{name}.csv", index=False)
    fig.savefig(out / f"{name}.png", dpi=DPI, metadata=PNG_METADATA)
    plt.close(fig)
    return out / f"{name}.png"


def delta_column(claims: pd.DataFrame) -> str:
    """The claims table's difference column: ``delta_bleu``, ``delta_ppl``, ..."""
    return next(c for c in claims.columns if re.fullmatch(r"delta_(?!ci95)\w+", c))


# --------------------------------------------------------------------------------------------
# Claims


def forest_data(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per claim, in the table's order, with the numbers the forest plot draws."""
    delta = delta_column(claims)
    metric = delta.removeprefix("delta_")
    paper = claims.get(f"paper_delta_{metric}", pd.Series([math.nan] * len(claims)))
    return pd.DataFrame({
        "label": [f"{r.variant} vs {r.against} ({r.budget}, {r.split})" for r in claims.itertuples()],
        "delta": claims[delta], "ci95_low": claims["delta_ci95_low"],
        "ci95_high": claims["delta_ci95_high"], "verdict": claims["verdict"],
        "paper_delta": paper.values,
    })  # fmt: skip


def claims_forest(claims: pd.DataFrame, metric_label: str, out: Path) -> Path | None:
    """The forest plot of the claims table (None when it has no claim)."""
    if claims.empty:
        return None
    data = forest_data(claims)
    rows = list(range(len(data)))[::-1]  # first claim on top
    fig, ax = plt.subplots(figsize=(9.0, 1.2 + 0.38 * len(data)))
    ax.axvline(0.0, color="0.4", linewidth=1)
    low = (data["delta"] - data["ci95_low"]).fillna(0).clip(lower=0)
    high = (data["ci95_high"] - data["delta"]).fillna(0).clip(lower=0)
    ax.errorbar(data["delta"], rows, xerr=[low, high], fmt="none", ecolor="tab:blue", capsize=3)
    decided = data["verdict"].isin(DECIDED)
    for mask, face, name in ((decided, "tab:blue", "decided (p < 0.05, interval excludes 0)"),
                             (~decided, "white", "not decided")):  # fmt: skip
        ax.scatter(data["delta"][mask], [r for r, m in zip(rows, mask, strict=True) if m],
                   facecolor=face, edgecolor="tab:blue", zorder=3, label=name)  # fmt: skip
    paper = data["paper_delta"].notna()
    if paper.any():
        ax.scatter(data["paper_delta"][paper], [r for r, m in zip(rows, paper, strict=True) if m],
                   marker="x", color="tab:red", zorder=4, label=PAPER_LABEL)  # fmt: skip
    ax.set_yticks(rows, data["label"])
    ax.set_xlabel(f"{metric_label}: variant − baseline (mean, 95% interval over seeds)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return save(fig, data, out, "claims_forest")


# --------------------------------------------------------------------------------------------
# Learning curves


def run_curves(metrics: Path, variants: list[str], seeds: list[int]) -> pd.DataFrame:
    """Every run's ``train_log.csv`` with its variant, seed and estimated wall time."""
    frames = []
    for variant in variants:
        for seed in seeds:
            folder = run_folder(metrics, variant, seed)
            if not (folder / "train_log.csv").is_file():
                continue
            log = pd.read_csv(folder / "train_log.csv")
            summary = json.loads((folder / "train.json").read_text())
            seconds_per_update = summary["train_wall_s"] / max(summary["updates"], 1)
            frames.append(log.assign(variant=variant, seed=seed,
                                     wall_s=log["update"] * seconds_per_update))  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def curve_bands(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant and update: mean, min and max over seeds of the train and valid loss."""
    grouped = runs.groupby(["variant", "update"], sort=False)
    table = grouped.agg(
        wall_s=("wall_s", "mean"),
        train_mean=("train_loss", "mean"), train_min=("train_loss", "min"), train_max=("train_loss", "max"),
        valid_mean=("valid_loss", "mean"), valid_min=("valid_loss", "min"), valid_max=("valid_loss", "max"),
        seeds=("seed", "nunique"),
    )  # fmt: skip
    return table.reset_index().round(4)


def learning_curves(metrics: Path, variants: list[str], seeds: list[int], out: Path) -> Path | None:
    """Train and valid loss against updates, and valid loss against wall time."""
    runs = run_curves(metrics, variants, seeds)
    if runs.empty:
        return None
    bands = curve_bands(runs)
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.2))
    panels = (("update", "train", "train loss"), ("update", "valid", "valid loss"),
              ("wall_s", "valid", "valid loss"))  # fmt: skip
    for i, variant in enumerate(dict.fromkeys(bands["variant"])):
        colour = f"C{i % 10}"
        rows = bands[bands["variant"] == variant]
        for ax, (x, kind, _) in zip(axes, panels, strict=True):
            shown = rows.dropna(subset=[f"{kind}_mean"])
            ax.plot(shown[x], shown[f"{kind}_mean"], color=colour, label=variant, linewidth=1.2)
            ax.fill_between(shown[x], shown[f"{kind}_min"], shown[f"{kind}_max"], color=colour,
                            alpha=0.2, linewidth=0)  # fmt: skip
    for ax, (x, _, ylabel) in zip(axes, panels, strict=True):
        ax.set_xlabel("updates" if x == "update" else "training wall time (s)")
        ax.set_ylabel(f"{ylabel} (base 2)")
    axes[0].legend(fontsize=8)
    fig.suptitle("mean over seeds, band: min-max")
    fig.tight_layout()
    return save(fig, bands, out, "learning_curves")


# --------------------------------------------------------------------------------------------
# Memory size and memory mass


def memory_size_data(results: pd.DataFrame, metric: str, split: str) -> pd.DataFrame:
    """The metric per layout and memory size on ``split`` (layouts with several sizes)."""
    rows = results[(results["split"] == split) & (results["layout"] != "none")]
    if "updates" in rows and len(set(rows["updates"])) > 1:  # equal steps only
        rows = rows[rows["updates"] == rows["updates"].min()]
    keep = rows.groupby("layout")["mem_tokens"].transform("nunique") > 1
    columns = {"layout": "layout", "mem_tokens": "mem_tokens", "variant": "variant",
               f"{metric}_mean": "mean", f"{metric}_std": "std"}  # fmt: skip
    return rows[keep][list(columns)].rename(columns=columns).sort_values(["layout", "mem_tokens"])


def memory_size(results: pd.DataFrame, metric: str, metric_label: str, split: str,
                out: Path) -> Path | None:  # fmt: skip
    """The metric against the number of memory tokens, per layout."""
    data = memory_size_data(results, metric, split)
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    for layout, rows in data.groupby("layout", sort=False):
        ax.errorbar(rows["mem_tokens"], rows["mean"], yerr=rows["std"].fillna(0), marker="o",
                    capsize=3, label=layout)  # fmt: skip
    base = results[(results["split"] == split) & (results["layout"] == "none")]
    if len(base):
        ax.axhline(base[f"{metric}_mean"].iloc[0], color="0.4", linestyle="--",
                   label=f"{base['variant'].iloc[0]} (no memory)")  # fmt: skip
    ax.set_xlabel("memory tokens")
    ax.set_ylabel(f"{metric_label} on {split} (mean, error bars: seed std)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, data, out, "memory_size")


def memory_mass_data(mass: pd.DataFrame) -> pd.DataFrame:
    """Share of attention on the memory per variant and layer, mean over attention seeds."""
    variant = mass["model"].str.replace(r"_seed\d+$", "", regex=True)
    columns = [c for c in ("seq_to_memory", "decoder_to_memory") if c in mass]
    table = mass.assign(variant=variant).groupby(["variant", "layer"], sort=False)[columns].mean()
    return table.reset_index().round(6)


def memory_mass(mass_csv: Path, out: Path) -> Path | None:
    """The share of attention on the memory, per layer and variant."""
    if not mass_csv.is_file() or mass_csv.stat().st_size == 0:
        return None
    mass = pd.read_csv(mass_csv)
    if mass.empty or "seq_to_memory" not in mass:
        return None
    data = memory_mass_data(mass)
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    for i, (variant, rows) in enumerate(data.groupby("variant", sort=False)):
        ax.plot(rows["layer"], rows["seq_to_memory"], marker="o", color=f"C{i % 10}",
                label=f"{variant}: sequence → memory")  # fmt: skip
        if "decoder_to_memory" in rows and rows["decoder_to_memory"].notna().any():
            ax.plot(rows["layer"], rows["decoder_to_memory"], marker="s", linestyle="--",
                    color=f"C{i % 10}", label=f"{variant}: decoder → memory")  # fmt: skip
    ax.set_xticks(sorted(data["layer"].unique()))
    ax.set_xlabel("layer")
    ax.set_ylabel("share of attention on the memory")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, data, out, "memory_mass")


FIGURES_README = """# Figures of `{name}`

Generated by the `figures` stage (`workflow/scripts/figures.py`) from the tables beside this
folder and the per-run logs in `metrics/{name}/`; each `<figure>.png` has the numbers it
plots in `<figure>.csv`.

| figure | what it shows |
|---|---|
| `claims_forest` | every claim: the mean difference against the baseline with its 95% interval over seeds, the verdict (filled: decided), the paper's difference where it has one |
| `learning_curves` | train and valid loss against updates, valid loss against training wall time; mean over seeds, band min-max |
| `memory_size` | the metric against the number of memory tokens per layout (where a layout has several) |
| `memory_mass` | the share of attention on the memory per layer and variant |
"""


def draw_all(params, results: Path, metrics: Path, out: Path) -> list[Path]:
    """Every figure the experiment has data for, into ``out``; return the PNGs."""
    task = params.task
    table = pd.read_csv(results / "results.csv")
    claims = pd.read_csv(results / "claims.csv")
    split = claims["split"].iloc[0] if len(claims) else params.eval["splits"][-1]
    exp = params.experiment
    drawn = [
        claims_forest(claims, task.metric_label, out),
        learning_curves(metrics, exp["variants"], exp["seeds"], out),
        memory_size(table, task.metric, task.metric_label, split, out),
        memory_mass(results / "memory_mass.csv", out),
    ]
    (out / "README.md").write_text(FIGURES_README.format(name=exp["name"]), encoding="utf-8")
    return [path for path in drawn if path is not None]

"""Figures of an experiment (matplotlib, Agg, PNG), each with the CSV of what it plots.

Drawn from the tables stage's outputs and the per-run logs, never from a model:

* ``claims_forest`` (``memtr.reports.forest``): one row per claim (variant against its
  baseline, per budget and test set): the mean difference with its 95% interval over seeds,
  the verdict's kind as the marker, and the paper's difference (a secondary source) as a
  cross, or as a labelled arrow at the edge where it lies off the intervals' scale;
* ``learning_curves``: train and valid loss against updates, and valid loss against the
  training wall time, one colour per variant, the seeds as a min-max band around their mean;
* ``memory_size``: the metric against ``mem_tokens``, one line per variant family (the
  layout, and whether the memory is recurrent), mean with the seed std as error bars, where
  a family has several memory sizes;
* ``memory_mass`` (``memtr.reports.mass_figure``): the share of attention on the memory per
  layer and variant, beside the share uniform attention would give, with its reading.

A figure whose data the experiment lacks (one memory size, no memory model) is not drawn.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from memtr.reports.folders import run_folder  # noqa: E402
from memtr.reports.forest import forest_figure  # noqa: E402
from memtr.reports.mass_figure import mass_figure  # noqa: E402
from memtr.settings import ExperimentSettings  # noqa: E402
from memtr.specs.base import TaskSpec  # noqa: E402

DPI = 110
PNG_METADATA = {"Software": None}  # no matplotlib version in the file: same bytes every run


def save(fig, data: pd.DataFrame, out: Path, name: str) -> Path:
    """Write ``<name>.png`` and the ``<name>.csv`` of its plotted numbers; close ``fig``."""
    out.mkdir(parents=True, exist_ok=True)
    data.to_csv(out / f"{name}.csv", index=False)
    fig.savefig(out / f"{name}.png", dpi=DPI, metadata=PNG_METADATA)
    plt.close(fig)
    return out / f"{name}.png"


# --------------------------------------------------------------------------------------------
# Claims


def claims_forest(claims: pd.DataFrame, metric_label: str, out: Path) -> Path | None:
    """The forest plot of the claims table (``memtr.reports.forest``); None without claims."""
    drawn = forest_figure(claims, metric_label)
    return None if drawn is None else save(*drawn, out, "claims_forest")


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
# Memory size


def variant_families(rows: pd.DataFrame) -> pd.Series:
    """Each memory variant's family: its layout, with ``, recurrent`` for a recurrent memory
    (the ``recurrent`` column of an LM's results; translation has none)."""
    if "recurrent" not in rows:
        return rows["layout"].astype(str)
    recurrent = rows["recurrent"].astype(str).str.lower().eq("true")
    return rows["layout"].astype(str) + recurrent.map({True: ", recurrent", False: ""})


def equal_steps(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows at the smallest budget (the equal-steps comparison) where budgets differ."""
    if "updates" in rows and len(set(rows["updates"])) > 1:
        return rows[rows["updates"] == rows["updates"].min()]
    return rows


def memory_size_data(results: pd.DataFrame, metric: str, split: str) -> pd.DataFrame:
    """The metric per variant family and memory size on ``split`` (families with several
    sizes), one line of the figure per family."""
    rows = equal_steps(results[(results["split"] == split) & (results["layout"] != "none")])
    rows = rows.assign(family=variant_families(rows))
    keep = rows.groupby("family")["mem_tokens"].transform("nunique") > 1
    columns = {"family": "family", "layout": "layout", "mem_tokens": "mem_tokens",
               "variant": "variant", f"{metric}_mean": "mean", f"{metric}_std": "std"}  # fmt: skip
    table = rows[keep][list(columns)].rename(columns=columns)
    return table.sort_values(["family", "mem_tokens"], kind="stable")


def no_memory_reference(results: pd.DataFrame, split: str, sizes: pd.DataFrame) -> pd.Series | None:
    """The model without memory trained as long as the memory variants drawn (None if none)."""
    base = results[(results["split"] == split) & (results["layout"] == "none")]
    if "updates" in base and len(base):
        drawn = results[results["variant"].isin(sizes["variant"])]["updates"]
        base = base[base["updates"].isin(set(drawn))] if len(drawn) else base
    return base.iloc[0] if len(base) else None


def memory_size(results: pd.DataFrame, metric: str, metric_label: str, split: str,
                out: Path) -> Path | None:  # fmt: skip
    """The metric against the number of memory tokens, one line per variant family."""
    data = memory_size_data(results, metric, split)
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    for i, (family, rows) in enumerate(data.groupby("family", sort=False)):
        ax.errorbar(rows["mem_tokens"], rows["mean"], yerr=rows["std"].fillna(0), capsize=3,
                    marker="os^vD"[i % 5], color=f"C{i % 10}", label=family)  # fmt: skip
    base = no_memory_reference(results, split, data)
    if base is not None:
        ax.axhline(base[f"{metric}_mean"], color="0.4", linestyle="--",
                   label=f"{base['variant']} (no memory)")  # fmt: skip
    ax.set_xticks(sorted(data["mem_tokens"].unique()))
    ax.set_xlabel("memory tokens")
    ax.set_ylabel(f"{metric_label} on {split} (mean, error bars: seed std)")
    ax.legend(fontsize=8, title="variant family", title_fontsize=8)
    fig.tight_layout()
    return save(fig, data, out, "memory_size")


# --------------------------------------------------------------------------------------------
# Memory mass


def memory_mass(mass_csv: Path, out: Path) -> Path | None:
    """The share of attention on the memory per variant and layer beside its uniform
    reference (``memtr.reports.mass_figure``); None without attention numbers."""
    if not mass_csv.is_file() or mass_csv.stat().st_size == 0:
        return None
    mass = pd.read_csv(mass_csv)
    if mass.empty or "seq_to_memory" not in mass:
        return None
    return save(*mass_figure(mass), out, "memory_mass")


FIGURES_README = """# Figures of `{name}`

Generated by the `figures` stage (`workflow/scripts/figures.py`) from the tables beside this
folder and the per-run logs in `metrics/{name}/`; each `<figure>.png` has the numbers it
plots in `<figure>.csv`.

| figure | what it shows |
|---|---|
| `claims_forest` | every claim: the mean difference against the baseline with its 95% interval over seeds; the marker is the verdict's kind (filled: `better`/`worse`; diamond: `equivalent`, half filled: `paper's effect ruled out`; hollow: `inconclusive`; small grey: `uninformative (floor)`); a cross: the paper's difference, or an arrow at the edge labelled with it where it lies outside the intervals' range |
| `learning_curves` | train and valid loss against updates, valid loss against training wall time; mean over seeds, band min-max |
| `memory_size` | the metric against the number of memory tokens, one line per variant family (layout, and `recurrent` for a recurrent memory) where a family has several sizes |
| `memory_mass` | the share of attention on the memory per layer and variant (bars), beside the share uniform attention would give (hatched: memory keys / keys a row sees), with the ratio; above uniform: the memory draws attention (sink-like), at or below: no preference (the CSV's `*_reading` columns). The mean over the few sample sentences of the attention seeds: a description, not a test |
"""


def draw_all(exp: ExperimentSettings, task: TaskSpec, splits: Sequence[str], results: Path,
             metrics: Path, out: Path) -> list[Path]:  # fmt: skip
    """Every figure the experiment has data for, into ``out``; return the PNGs. ``splits``:
    eval.splits (the memory-size figure's split when the claims table has none)."""
    table = pd.read_csv(results / "results.csv")
    claims = pd.read_csv(results / "claims.csv")
    split = claims["split"].iloc[0] if len(claims) else splits[-1]
    drawn = [
        claims_forest(claims, task.metric_label, out),
        learning_curves(metrics, list(exp.variants), list(exp.seeds), out),
        memory_size(table, task.metric, task.metric_label, split, out),
        memory_mass(results / "memory_mass.csv", out),
    ]
    (out / "README.md").write_text(FIGURES_README.format(name=exp.name), encoding="utf-8")
    return [path for path in drawn if path is not None]

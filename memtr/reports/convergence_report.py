"""The parts of ``results/REPLICATION.md`` about convergence: whether a claim's runs had
stopped improving (:mod:`memtr.reports.convergence`), how long runs trained that stop on a
patience, a campaign's finished runs while it is in progress, and a claim tested at convergence
beside the same comparisons at an early, fixed budget, with each variant's cost in both."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from memtr.common.markdown import rows_table
from memtr.config.params import load_params
from memtr.config.study import Study
from memtr.reports.convergence import (
    CONVERGED,
    CONVERGED_SLOPE,
    IMPROVING,
    WINDOW,
    converged_from,
    converged_share,
    convergence,
    projected_range,
    read_curve,
)
from memtr.reports.folders import metrics_of, results_of, run_folder
from memtr.reports.tables import EQUAL_STEPS, reference_budget, stopping_rule


def number_text(value: float, digits: int = 2, sign: str = "+") -> str:
    """A number (signed unless ``sign`` is empty), or n/a for a missing one (NaN, one seed)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:{sign}.{digits}f}"


STILL_IMPROVING = " (runs still improving)"


def budget_text(study: Study, folder: Path) -> str:
    """How long the runs trained: the fixed budget, or the patience and where runs stopped."""
    if reference_budget(study) == EQUAL_STEPS:
        return f"{study.train.max_update} updates (equal-steps budget)"
    runs = pd.read_csv(folder / "runs.csv")
    return (
        f"every run trained {stopping_rule(study)} ({stop_counts(runs)}, after "
        f"{range_text(runs['updates'].min(), runs['updates'].max())} updates)"
    )


def patience_stops(runs: pd.DataFrame) -> int:
    """How many of these runs (rows of ``runs.csv``) stopped on their patience."""
    return int((runs["stopped_by"] == "patience").sum())


def stop_counts(runs: pd.DataFrame) -> str:
    """How many runs stopped on their patience and how many at the cap (``runs.csv``)."""
    by_patience = patience_stops(runs)
    at_cap = len(runs) - by_patience
    return f"{by_patience} of {len(runs)} runs stopped on their patience, {at_cap} at the cap"


def improving_variants(folder: Path) -> set[str]:
    """Variants with a run whose validation loss was still falling at the end of its budget
    (``runs.csv``'s convergence; none for tables written before it existed)."""
    runs = pd.read_csv(folder / "runs.csv")
    if "convergence" not in runs:
        return set()
    return set(runs.loc[runs["convergence"] == IMPROVING, "variant"])


def convergence_lines(folder: Path) -> list[str]:
    """How many of the experiment's runs had converged when their budget ended, and what the
    verdicts then compare."""
    runs = pd.read_csv(folder / "runs.csv")
    if "convergence" not in runs:
        return []
    improving = runs[runs["convergence"] == IMPROVING]
    per_variant = ", ".join(
        f"`{v}` {converged_share(list(part['convergence']))}"
        for v, part in runs.groupby("variant", sort=False)
    )
    rule = (
        f"validation-loss slope over the last {WINDOW:.0%} of updates: mean "
        f"{number_text(runs['valid_slope_per_1k'].mean())} bits per 1,000 updates; converged: above "
        f"-{CONVERGED_SLOPE}, or no new best in that stretch; runs converged per variant: "
        f"{per_variant}"
    )
    cost = (
        f"Training cost: {(runs['train_wall_s'] / runs['updates']).mean():.2f} s an update on "
        "2 CPU cores, mean over the runs."
    )
    if improving.empty:
        done = int((runs["convergence"] == CONVERGED).sum())
        unknown = "" if done == len(runs) else "; the others had too few validations to tell"
        return [
            f"Convergence: {done} of {len(runs)} runs had converged at the end ({rule}"
            f"{unknown}). {cost}\n\n"
        ]
    return [
        f"Convergence: {len(improving)} of {len(runs)} runs were still improving when their "
        f"budget ended ({rule}). The verdicts compare the variants at this budget, not at "
        f"convergence; a verdict marked *runs still improving* rests on such runs. {cost}"
        f"{projection_text(folder, improving)}\n\n"
    ]


def projection_text(folder: Path, improving: pd.DataFrame) -> str:
    """When the runs still improving would converge and what training them that far would
    cost, from power laws fitted to each one's validation losses (none when no fit)."""
    metrics = metrics_of(folder)
    found = [projection_of(metrics, r.variant, r.seed) for r in improving.itertuples()]
    projected = pd.DataFrame(found, columns=["low", "high"], index=improving.index).dropna()
    if projected.empty:
        return ""
    per_update = (improving["train_wall_s"] / improving["updates"]).loc[projected.index]
    low, high = (projected[side] * per_update / 3600 for side in ("low", "high"))
    return (
        " Projected (power laws fitted to each run's validation losses, once to all of them "
        "and once to those after warm-up, memtr/reports/convergence.py; a model of the curve, "
        "not a measurement): those runs would reach the threshold slope after "
        f"{range_text(projected['low'].median(), projected['high'].median())} updates (medians "
        f"over runs), {low.median():.1f}-{high.median():.1f} h a run at its measured cost, "
        f"{low.sum():.0f}-{high.sum():.0f} h for all {len(projected)}."
    )


def projection_of(metrics: Path, variant: str, seed: int) -> tuple[float, float]:
    """:func:`projected_range` of one run's learning curve under ``metrics``, with the warm-up
    of its experiment (``results/<e>/params.yaml``); NaNs without a curve."""
    params = results_of(metrics) / "params.yaml"
    warmup = load_params(params).train.warmup_updates if params.is_file() else 0
    return projected_range(read_curve(run_folder(metrics, variant, seed)), warmup)


def updates_text(updates: float) -> str:
    """A number of updates with a thousands separator, or a dash for none (NaN)."""
    return "–" if math.isnan(updates) else f"{updates:,.0f}"


def range_text(low: float, high: float) -> str:
    """``low-high`` updates, one number when they agree, a dash for none."""
    if math.isnan(low) or round(low) == round(high):
        return updates_text(low)
    return f"{updates_text(low)}-{updates_text(high)}"


def finished_run_lines(
    metrics: Path, finished: dict[str, list[int]], early: Path | None = None
) -> list[str]:
    """One row per finished run of a campaign in progress: how long it trained, why it
    stopped, whether it had converged, and its training time (no scores: no verdict yet);
    ``converged from``: the first update from which it read converged at every validation
    (:func:`converged_from`), to set beside where the projection from the same run at the fixed
    budget of ``early`` (its metrics) put it."""
    rows = []
    for variant, seeds in finished.items():
        for seed in seeds:
            folder = run_folder(metrics, variant, seed)
            train = json.loads((folder / "train.json").read_text())
            curve = read_curve(folder)
            conv = convergence(curve)
            rows.append([
                f"`{variant}`", str(seed), str(train["updates"]),
                train.get("stopped_by", "max_update"), str(conv["best_update"]),
                number_text(conv["valid_slope_per_1k"], 3), conv["convergence"],
                updates_text(converged_from(curve)),
                f"{train['train_wall_s'] / 3600:.2f}",
                *([range_text(*projection_of(early, variant, seed))] if early else []),
            ])  # fmt: skip
    head = [
        "variant", "seed", "updates", "stopped by", "best update", "valid slope per 1k",
        "convergence", "converged from", "training h",
        *([f"projected from `{early.name}`"] if early else []),
    ]  # fmt: skip
    return ["\nThe finished runs so far:\n\n", *(line + "\n" for line in rows_table(head, rows))]


def early_budget_lines(folder: Path, early: Path, metric: str, label: str) -> list[str]:
    """The verdicts of the experiment in ``folder`` (trained to convergence) beside those of the
    same comparisons at the fixed budget of the experiment in ``early``, and each variant's
    training cost in both; none before both have tables."""
    if not (early / "claims.csv").is_file():
        return []
    now, before = pd.read_csv(folder / "claims.csv"), pd.read_csv(early / "claims.csv")
    before = before[before["budget"] == EQUAL_STEPS].set_index(["split", "variant", "against"])
    early_updates = load_params(early / "params.yaml").train.max_update
    rows = []
    for _, row in now.iterrows():
        key = (row["split"], row["variant"], row["against"])
        then = verdict_text(before.loc[key], metric) if key in before.index else "not compared"
        rows.append([row["split"], f"`{row['variant']}`", then, verdict_text(row, metric)])
    head = [
        "test set", "variant",
        f"Δ {label} at {early_updates} updates (`{early.name}`)", f"Δ {label} at convergence",
    ]  # fmt: skip
    return [
        f"\n### Beside the early budget ({early_updates} updates, `{early.name}`)\n\n"
        "The same comparisons against the baseline, Δ [95% interval over seeds] and verdict:\n\n",
        *(line + "\n" for line in rows_table(head, rows)),
        "\nTraining cost per variant (mean over seeds; at convergence each run stops where "
        "its patience or the cap stops it, so equal compute no longer holds):\n\n",
        *(line + "\n" for line in cost_table(folder, early, metric, label)),
    ]


def verdict_text(row: pd.Series, metric: str) -> str:
    """``Δ [low, high] verdict`` of one row of a claims table."""
    return (
        f"{number_text(row[f'delta_{metric}'])} [{number_text(row['delta_ci95_low'])}, "
        f"{number_text(row['delta_ci95_high'])}] {row['verdict']}"
    )


def cost_table(folder: Path, early: Path, metric: str, label: str) -> list[str]:
    """Per variant: updates, best update, training hours and score at convergence beside
    its updates, hours and score at the early budget."""
    runs, early_runs = pd.read_csv(folder / "runs.csv"), pd.read_csv(early / "runs.csv")
    split = next(c[len(metric) + 1 :] for c in runs.columns if c.startswith(f"{metric}_"))
    early_metrics, metrics = metrics_of(early), metrics_of(folder)
    rows = []
    for variant, part in runs.groupby("variant", sort=False):
        then = early_runs[early_runs["variant"] == variant]
        projected = pd.DataFrame([projection_of(early_metrics, variant, s) for s in then["seed"]])
        since = [converged_from(read_curve(run_folder(metrics, variant, s))) for s in part["seed"]]
        rows.append([
            f"`{variant}`",
            f"{part['updates'].mean():.0f} ({part['updates'].min()}-{part['updates'].max()})",
            f"{part['best_update'].mean():.0f}", f"{patience_stops(part)}/{len(part)}",
            converged_share(list(part["convergence"])),
            f"{part['train_wall_s'].mean() / 3600:.2f}",
            f"{(part['train_wall_s'] / part['updates']).mean():.2f}",
            f"{part[f'{metric}_{split}'].mean():.2f}",
            f"{then[f'{metric}_{split}'].mean():.2f}" if not then.empty else "–",
            f"{then['train_wall_s'].mean() / 3600:.2f}" if not then.empty else "–",
            updates_text(pd.Series(since).mean()),
            range_text(*projected.median()) if not projected.empty else "–",
        ])  # fmt: skip
    head = [
        "variant", "updates (range)", "best update", "stopped by patience", "converged",
        "training h", "s / update", f"{label} {split}: at convergence",
        f"{label} {split}: early budget", "training h: early budget",
        "converged from (mean)", "projected at early budget (median)",
    ]  # fmt: skip
    return rows_table(head, rows)

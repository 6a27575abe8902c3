"""Campaign bookkeeping: a campaign's own DVC lock (the entries of ``dvc.lock`` that
recorded one experiment), the runs it does not record yet, and the sittings that fit them.

``dvc.lock`` holds the last run of every stage name, whatever preset ran it (the demo and a
campaign both have ``train@baseline-1``). A campaign committed to ``results/<e>/dvc.lock``
keeps only what recorded *its* runs: the data stages of its dataset and every stage whose
outputs lie under ``runs/<e>/``, ``metrics/<e>/`` or ``results/<e>/``. It is written after
each finished run, so a campaign that spans sessions or machines commits its progress and a
fresh clone can go on from it (see docs/pipeline.md, "A campaign across sessions or machines"):
:func:`pending_runs` lists what that file does not record yet, and :func:`fit_sitting` those
of them whose training, at the cost measured so far, fits the hours a sitting has left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import yaml

from memtr.settings import AttentionSettings, ExperimentSettings


class CampaignLockError(RuntimeError):
    """dvc.lock cannot give this experiment's record (another dataset's data, no run)."""


DATA_STAGES = ("check_params", "download", "prepare", "binarize", "extra_test")
SHARED_STAGES = ("check_params", "pretrain")  # not tied to the dataset of the experiment


def _out_paths(stage: dict) -> list[str]:
    return [out["path"] for out in stage.get("outs", [])]


def campaign_stages(lock: dict, experiment: str, dataset: str) -> dict:
    """The lock's stages that recorded ``experiment`` (on ``dataset``), in the lock's order."""
    prefixes = tuple(f"{top}/{experiment}/" for top in ("runs", "metrics", "results"))
    stages = lock.get("stages", {})
    kept = {}
    for name, stage in stages.items():
        paths = _out_paths(stage)
        if name in SHARED_STAGES:  # one run for every experiment of the workspace
            kept[name] = stage
        elif name in DATA_STAGES:
            if not any(p.endswith(f"/{dataset}") for p in paths):
                raise CampaignLockError(
                    f"dvc.lock: stage {name} last ran on {paths}, not on dataset {dataset!r}; "
                    f"run `dvc repro extra_test` with this experiment's params first"
                )
            kept[name] = stage
        elif any(p.startswith(prefixes) for p in paths):
            kept[name] = stage
    if all(name in DATA_STAGES + SHARED_STAGES for name in kept):
        raise CampaignLockError(f"dvc.lock records no run of experiment {experiment!r}")
    return kept


def write_campaign_lock(lock_path: Path, experiment: str, dataset: str, out: Path) -> list[str]:
    """Add the campaign's entries of ``lock_path`` to ``out``; returns the stage names it holds.

    Stages that ``out`` records and ``lock_path`` does not (runs of an earlier session whose
    workspace lock this one did not start from) are kept, never dropped; a stage in both
    takes the workspace's entry, its latest run."""
    lock = yaml.safe_load(lock_path.read_text())
    stages = {**own_stages(out), **campaign_stages(lock, experiment, dataset)}
    out.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({**lock, "stages": stages}, sort_keys=False, width=120)
    out.write_text(text, encoding="utf-8")
    return list(stages)


def own_stages(campaign_lock: Path) -> dict:
    """The stages a campaign's own lock records (none when it has no lock yet)."""
    if not campaign_lock.is_file():
        return {}
    return yaml.safe_load(campaign_lock.read_text()).get("stages", {})


def recorded_stages(campaign_lock: Path) -> set[str]:
    """The stage names a campaign's own lock records."""
    return set(own_stages(campaign_lock))


def pending_runs(
    experiment: ExperimentSettings, attention: AttentionSettings, recorded: set[str]
) -> list[list[str]]:
    """The stages each unfinished run still needs, seed by seed (every variant of the first
    seed, then the next seed): a campaign stopped half-way then holds whole seeds. A run of
    an attention seed needs its attention stage too, while its model exists."""
    runs = []
    for seed in experiment.seeds:
        for variant in experiment.variants:
            run = f"{variant}-{seed}"
            stages = [f"evaluate@{run}"]
            if seed in attention.seeds:
                stages.append(f"attention@{run}")
            if any(name not in recorded for name in stages):
                runs.append(stages)
    return runs


# --------------------------------------------------------------------------------------------
# Planning a sitting: which pending runs fit the hours it has left


EVALUATION_MINUTES = 3.0  # evaluate (and attention) of one run: 1-2 min measured on Multi30k


@dataclass(frozen=True)
class RunCost:
    """One pending run (``<variant>-<seed>`` and its stages) and its estimated minutes at the
    update cap; ``minutes`` is None when no run gave its variant's cost. ``basis``: whence."""

    run: str
    stages: list[str]
    minutes: float | None
    basis: str


def seconds_per_update(metrics: Path) -> dict[str, list[float]]:
    """``train_wall_s / updates`` of every trained run under ``metrics``, per variant; a resumed
    run is left out (its wall time counts only its last attempt)."""
    rates: dict[str, list[float]] = {}
    for summary in sorted(metrics.glob("*/seed*/train.json")):
        train = json.loads(summary.read_text())
        if not train.get("resumed") and train["updates"] > 0:
            variant = summary.parent.parent.name  # <variant>/seed<k>/train.json
            rates.setdefault(variant, []).append(train["train_wall_s"] / train["updates"])
    return rates


def runs_text(count: int) -> str:
    """``1 run``, ``2 runs``."""
    return f"{count} run" if count == 1 else f"{count} runs"


def variant_rates(metrics: Path, early: Path | None = None) -> dict[str, tuple[float, str]]:
    """Seconds an update per variant, with how it was found: the mean over this experiment's
    runs, or, for a variant with none yet, its mean in ``early`` (another experiment's metrics
    on the same machine type) times the mean ratio of the variants measured in both."""
    here, rates = seconds_per_update(metrics), {}
    for variant, values in here.items():
        rates[variant] = (mean(values), f"measured: {runs_text(len(values))}")
    before = seconds_per_update(early) if early else {}
    shared = [v for v in here if v in before]
    if shared:
        ratio = mean(mean(here[v]) / mean(before[v]) for v in shared)
        for variant, values in before.items():
            if variant not in rates:
                basis = f"{early.name}'s x {ratio:.2f}, the ratio over {', '.join(shared)}"
                rates[variant] = (mean(values) * ratio, basis)
    return rates


def run_costs(
    pending: list[list[str]],
    rates: dict[str, tuple[float, str]],
    max_update: int,
    evaluation_minutes: float = EVALUATION_MINUTES,
) -> list[RunCost]:
    """Each pending run's minutes: its variant's seconds an update times the update cap (an
    upper bound: patience may stop it earlier), plus its evaluation."""
    costs = []
    for stages in pending:
        run = stages[0].split("@", 1)[1]
        variant = run.rsplit("-", 1)[0]
        if variant not in rates:
            costs.append(RunCost(run, stages, None, "no run of this variant measured yet"))
            continue
        seconds, basis = rates[variant]
        minutes = seconds * max_update / 60 + evaluation_minutes
        costs.append(RunCost(run, stages, minutes, f"{seconds:.2f} s an update, {basis}"))
    return costs


def fit_sitting(costs: list[RunCost], hours: float) -> tuple[list[RunCost], list[RunCost]]:
    """The runs to start in a sitting of ``hours``, in pending order, skipping any that would
    not end in the time left (a run cut short resumes, but under-reports its wall time), and
    the runs left for later; a run of unknown cost is always left."""
    left_minutes, chosen, later = hours * 60, [], []
    for cost in costs:
        if cost.minutes is not None and cost.minutes <= left_minutes:
            chosen.append(cost)
            left_minutes -= cost.minutes
        else:
            later.append(cost)
    return chosen, later

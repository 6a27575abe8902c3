"""A campaign's own DVC lock: the entries of ``dvc.lock`` that recorded one experiment.

``dvc.lock`` holds the last run of every stage name, whatever preset ran it (the demo and a
campaign both have ``train@baseline-1``). A campaign committed to ``results/<e>/dvc.lock``
keeps only what recorded *its* runs: the data stages of its dataset and every stage whose
outputs lie under ``runs/<e>/``, ``metrics/<e>/`` or ``results/<e>/``. It is written after
each finished run, so a campaign that spans sessions or machines commits its progress and a
fresh clone can go on from it (see docs/pipeline.md, "A campaign across sessions or machines"):
:func:`pending_runs` lists what that file does not record yet.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from memtr.config.params import Params


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


def pending_runs(params: Params, recorded: set[str]) -> list[list[str]]:
    """The stages each unfinished run still needs, seed by seed (every variant of the first
    seed, then the next seed): a campaign stopped half-way then holds whole seeds. A run of
    an attention seed needs its attention stage too, while its model exists."""
    runs = []
    for seed in params.experiment["seeds"]:
        for variant in params.experiment["variants"]:
            run = f"{variant}-{seed}"
            stages = [f"evaluate@{run}"]
            if seed in params.attention["seeds"]:
                stages.append(f"attention@{run}")
            if any(name not in recorded for name in stages):
                runs.append(stages)
    return runs

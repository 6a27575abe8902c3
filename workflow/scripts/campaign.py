"""A campaign that spans sessions or machines: what is left to run, and its own DVC lock.

    python workflow/scripts/campaign.py pending   # one line per run not recorded yet: its stages
    python workflow/scripts/campaign.py lock      # write results/<experiment>/dvc.lock

`lock` keeps the entries of dvc.lock that recorded the experiment of params.yaml (its data
stages and its runs), to commit a campaign's finished runs with their record; `pending` reads
that file. The loop of docs/pipeline.md ("A campaign across sessions or machines") uses both.
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.config.params import load_params
from memtr.reports.campaign import pending_runs, recorded_stages, write_campaign_lock


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    name, dataset = params.experiment["name"], params.data.dataset
    own_lock = args.results / name / "dvc.lock"
    if args.command == "pending":
        for stages in pending_runs(params, recorded_stages(own_lock)):
            print(" ".join(stages))
        return
    stages = write_campaign_lock(args.lock, name, dataset, own_lock)
    runs = sum(s.startswith("evaluate@") for s in stages)
    print(f"wrote {own_lock}: {len(stages)} stages, {runs} evaluated runs")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("pending", "lock"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--lock", type=Path, default=Path("dvc.lock"), help="the workspace's lock")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

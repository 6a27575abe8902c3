"""A campaign that spans sessions or machines: what is left to run, and its own DVC lock.

    python workflow/scripts/campaign.py pending   # one line per run not recorded yet: its stages
    python workflow/scripts/campaign.py pending --hours 2.5 --early cpu_replication
                                                  # only those that fit a sitting of 2.5 h
    python workflow/scripts/campaign.py lock      # write results/<experiment>/dvc.lock

`lock` keeps the entries of dvc.lock that recorded the experiment of params.yaml (its data
stages and its runs), to commit a campaign's finished runs with their record; `pending` reads
that file. With ``--hours``, `pending` keeps, in its order, the runs whose training at the
update cap fits that many hours, at the seconds an update this experiment's finished runs
measured (for a variant not run yet: the ``--early`` experiment's, times the ratio over the
variants both ran), and prints the plan on stderr. The loop of docs/pipeline.md ("A campaign
across sessions or machines") uses both.
"""

import argparse
import re
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.campaigns import (
    fit_sitting,
    pending_runs,
    recorded_stages,
    run_costs,
    runs_text,
    variant_rates,
    write_campaign_lock,
)
from memtr.common.errors import ConfigError
from memtr.config.params import load_params


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    name, dataset = params.experiment.name, params.data.dataset
    own_lock = args.results / name / "dvc.lock"
    if args.early and args.hours is None:
        raise ConfigError("--early is read with --hours only (it prices the runs to fit)")
    if args.hours is not None and args.command != "pending":
        raise ConfigError(f"--hours plans the pending runs; {args.command} does not read it")
    if args.command == "pending":
        pending = pending_runs(params.experiment, params.attention, recorded_stages(own_lock))
        if args.hours is not None:
            cap = params.train.max_update
            pending = [cost.stages for cost in plan_sitting(args, name, cap, pending)]
        for stages in pending:
            print(" ".join(stages))
        return
    stages = write_campaign_lock(args.lock, name, dataset, own_lock)
    runs = sum(s.startswith("evaluate@") for s in stages)
    print(f"wrote {own_lock}: {len(stages)} stages, {runs} evaluated runs")


def plan_sitting(args: argparse.Namespace, name: str, cap: int, pending: list[list[str]]) -> list:
    """The pending runs of experiment ``name`` (``cap`` updates each) that fit ``args.hours``;
    the plan, with each run's estimate, on stderr."""
    early = args.metrics / args.early if args.early else None
    if early and not early.is_dir():
        raise FileNotFoundError(f"--early {args.early}: no folder {early}")
    rates = variant_rates(args.metrics / name, early)
    costs = run_costs(pending, rates, cap)
    chosen, later = fit_sitting(costs, args.hours)
    used = sum(cost.minutes for cost in chosen)
    print(f"fits {args.hours:g} h: {runs_text(len(chosen))}, {used:.0f} min", file=sys.stderr)
    for mark, costs_of in (("start", chosen), ("later", later)):
        for cost in costs_of:
            minutes = "?" if cost.minutes is None else f"{cost.minutes:.0f} min"
            print(f"  {mark} {cost.run}: {minutes} ({cost.basis})", file=sys.stderr)
    return chosen


def positive_hours(text: str) -> float:
    """argparse type: a positive number of hours (``3``, ``2.5``)."""
    hours = float(text) if re.fullmatch(r"\d+(\.\d*)?|\.\d+", text) else 0.0
    if hours <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number of hours: {text!r}")
    return hours


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("pending", "lock"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--lock", type=Path, default=Path("dvc.lock"), help="the workspace's lock")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--metrics", type=Path, default=Path("metrics"))
    p.add_argument(
        "--hours", type=positive_hours,
        help="pending: only the runs that fit a sitting of this many hours, at the measured cost",
    )  # fmt: skip
    p.add_argument(
        "--early", metavar="EXPERIMENT",
        help="pending --hours: an experiment under --metrics whose runs give the relative cost "
        "of the variants not run here yet (e.g. cpu_replication)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

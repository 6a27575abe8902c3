"""Write results/<experiment>/dvc.lock: the entries of dvc.lock that recorded the experiment of
params.yaml (its data stages and its runs), to commit a campaign's finished runs with their record.

    python workflow/scripts/campaign_lock.py [--params params.yaml] [--lock dvc.lock]
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.campaign import write_campaign_lock
from memtr.params import load_params


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    name, dataset = params.experiment["name"], params.data.dataset
    out = args.results / name / "dvc.lock"
    stages = write_campaign_lock(args.lock, name, dataset, out)
    runs = sum(s.startswith("evaluate@") for s in stages)
    print(f"wrote {out}: {len(stages)} stages, {runs} evaluated runs")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--lock", type=Path, default=Path("dvc.lock"))
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

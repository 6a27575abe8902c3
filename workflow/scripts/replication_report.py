"""Write results/REPLICATION.md: the verdicts on the paper's claims, from the generated tables
of the replication experiments (results/cpu_replication/, results/cpu_replication_lm/).

    python workflow/scripts/replication_report.py [--results results] [--out results/REPLICATION.md]
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.replication import report


def main(args: argparse.Namespace) -> None:
    text = report(args.results)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--out", type=Path, default=Path("results/REPLICATION.md"))
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

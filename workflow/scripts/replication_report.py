"""Write results/REPLICATION.md: the verdicts on the paper's claims, from the generated tables
of the replication experiments (results/cpu_replication/, results/cpu_replication_lm/), and
rewrite the documentation's generated blocks from the same tables (the README's verdicts, the
demo table of docs/pipeline.md; see memtr/reports/readme.py).

    python workflow/scripts/replication_report.py [--results results] [--out results/REPLICATION.md]
        [--docs-root REPO | --no-docs]
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.common.paths import REPO
from memtr.reports.readme import write_blocks
from memtr.reports.replication import report


def main(args: argparse.Namespace) -> None:
    """REPLICATION.md, then every stale generated block of the documentation."""
    text = report(args.results)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    if args.no_docs:
        return
    for block in write_blocks(args.docs_root, args.results):
        print(f"updated {block.path} (block {block.name})")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--out", type=Path, default=Path("results/REPLICATION.md"))
    p.add_argument(
        "--docs-root",
        type=Path,
        default=REPO,
        help="the checkout whose README.md and docs/ get the generated blocks",
    )
    p.add_argument("--no-docs", action="store_true", help="write REPLICATION.md only")
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

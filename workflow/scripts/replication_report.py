"""Write results/REPLICATION.md: the verdicts on the paper's claims, from the generated tables
of the replication experiments (results/cpu_replication/, results/cpu_replication_lm/), and
rewrite the documentation's generated blocks from the same tables (the README's verdicts, the
demo table of docs/pipeline.md; see memtr/reports/readme.py).

    python workflow/scripts/replication_report.py [--results results] [--out results/REPLICATION.md]
        [--docs-root REPO | --no-docs] [--snapshot-demo]

--snapshot-demo first copies the main job's demo table (results/demo/results.md, git-ignored)
to results/demo_reference/, labelled with this machine, the date and the commit.
"""

import argparse
import subprocess
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.common.paths import REPO
from memtr.reports.readme import snapshot_demo, write_blocks
from memtr.reports.replication import report


def main(args: argparse.Namespace) -> None:
    """REPLICATION.md, then every stale generated block of the documentation."""
    if args.snapshot_demo:
        head = ["git", "rev-parse", "--short", "HEAD"]
        found = subprocess.run(head, cwd=args.results, capture_output=True, text=True)
        commit = found.stdout.strip()  # the checkout that ran the demo
        print(f"wrote {snapshot_demo(args.results, commit or 'unknown')}")
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
    p.add_argument(
        "--snapshot-demo",
        action="store_true",
        help="copy results/demo/results.md to results/demo_reference/ first, labelled",
    )
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

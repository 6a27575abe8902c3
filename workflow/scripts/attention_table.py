"""Merge several models' memory_mass.csv into one comparison table (CSV and Markdown).

python workflow/scripts/attention_table.py --out results/attention/memory_mass.csv IN.csv...

Writes OUT (one row per model and layer, the columns of memory_mass.csv) and OUT with the
suffix .md; header-only tables (models without memory) add no rows.
"""

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr.attention.tables import write_comparison
from memtr.common.markdown import compact_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="merged CSV (a .md is written beside)")
    p.add_argument("tables", type=Path, nargs="+", help="per-model memory_mass.csv files")
    args = p.parse_args(argv)
    missing = [str(t) for t in args.tables if not t.exists()]
    if missing:
        print(f"error: missing tables: {', '.join(missing)}", file=sys.stderr)
        return 1
    table = write_comparison(args.tables, args.out)
    print(compact_table(table), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Extra test sets stage: the out-of-domain sets of eval.extra_test, read with the
experiment's BPE model and dictionaries, into data/extra/<dataset>/<label>/.

    python workflow/scripts/extra_test.py [--params params.yaml] --prep data/prep/<dataset>
        --bin data/bin/<dataset> --out data/extra/<dataset> [--cache data/downloads] [--quiet]

With no extra test set the folder holds only stats.json. Uses the mirror in
$MEMTR_DATA_MIRROR or data.mirror when set, like the download stage.
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.config.params import load_params
from memtr.data.extra_test import build_extra_sets


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    names = list(params.eval.extra_test or [])
    for folder in (args.prep, args.bin):
        if not folder.is_dir():
            raise FileNotFoundError(f"missing {folder}: run the prepare and binarize stages first")
    stats = build_extra_sets(
        params.data.selected(), names, args.prep, args.bin, args.out, args.cache,
        params.data.resolved_mirror(), not args.quiet,
    )  # fmt: skip
    for label, found in stats["sets"].items():
        print(f"{label}: {found['lines']} lines, {found['tokens']} tokens, "
              f"{found['unk_percent']}% <unk> with the training dictionary")  # fmt: skip
    print(f"extra test sets in {args.out}: {', '.join(stats['sets']) or 'none'}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--prep", type=Path, required=True)
    p.add_argument("--bin", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cache", type=Path, default=Path("data/downloads"), help="download cache")
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

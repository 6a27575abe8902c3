"""Binarization stage: fairseq-preprocess data/prep/<dataset>/ into data/bin/<dataset>/.

python workflow/scripts/binarize.py [--params params.yaml] [--dataset NAME]
    [--prep data/prep/NAME] [--out data/bin/NAME] [--workers N] [--quiet]
"""

from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.data.binarize import binarize, default_workers


def main(args) -> None:
    """Binarize the selected dataset."""
    _, ds = stage.load(args)
    prep = stage.default_path(args.prep, "prep", ds.name)
    out = stage.default_path(args.out, "bin", ds.name)
    binarize(ds, prep, out, args.workers or default_workers())
    print(f"{ds.name}: binarized into {out}")


def parser():
    """Command-line options."""
    p = stage.base_parser(__doc__.splitlines()[0])
    p.add_argument("--prep", type=Path, help="prepared folder (default: data/prep/<dataset>)")
    p.add_argument("--out", type=Path, help="output folder (default: data/bin/<dataset>)")
    p.add_argument("--workers", type=stage.positive_int, help="processes (default: cores, max 8)")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

"""Download stage: fetch, verify and extract a dataset's raw files into data/raw/<dataset>/.

    python workflow/scripts/download.py [--params params.yaml] [--dataset NAME]
        [--out data/raw/NAME] [--cache data/downloads] [--attempts 3] [--quiet]

Uses the mirror in $MEMTR_DATA_MIRROR or data.mirror when set; 'synthetic' is generated.
"""

from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.data.download import fetch_dataset, generate_synthetic


def main(args) -> None:
    """Fetch (or generate) the selected dataset."""
    params, ds = stage.load(args)
    out = stage.default_path(args.out, "raw", ds.name)
    if ds.kind == "synthetic":
        files = generate_synthetic(out, params.synthetic)
    else:
        files = fetch_dataset(
            ds, out, args.cache, params.resolved_mirror(), not args.quiet, args.attempts
        )
    print(f"{ds.name}: {len(files)} raw files in {out}")


def parser():
    """Command-line options."""
    p = stage.base_parser(__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="raw data folder (default: data/raw/<dataset>)")
    p.add_argument("--cache", type=Path, default=Path("data/downloads"), help="download cache")
    p.add_argument("--attempts", type=stage.positive_int, default=3, help="tries per transfer")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

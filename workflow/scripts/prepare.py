"""Preprocessing stage: clean, BPE-encode (sentencepiece) and split into data/prep/<dataset>/.

python workflow/scripts/prepare.py [--params params.yaml] [--dataset NAME]
    [--raw data/raw/NAME] [--out data/prep/NAME] [--pretrain pretrain/<name>/model]
    [--workers N] [--quiet]
"""

import time
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.data.binarize import default_workers
from memtr.data.prepare import PrepareOptions, prepare
from memtr.datasets.cleaning import summary_lines


def main(args) -> None:
    """Preprocess the selected dataset."""
    params, ds = stage.load(args)
    raw = stage.default_path(args.raw, "raw", ds.name)
    out = stage.default_path(args.out, "prep", ds.name)
    start = time.monotonic()
    options = PrepareOptions(
        params.bpe, params.bpe_vocab_size, params.clean, params.gpt2_from_pretrain
    )
    stats = prepare(ds, raw, out, options, args.workers or default_workers(), args.pretrain)
    seconds = time.monotonic() - start
    print(f"{ds.name}: prepared in {out} ({seconds:.1f} s): {stats['lines']}")
    if "cleaning" in stats:  # translation: what each filter of data.clean dropped
        print("\n".join(summary_lines(ds.name, stats["cleaning"], params.clean)))


def parser():
    """Command-line options."""
    p = stage.base_parser(__doc__.splitlines()[0])
    p.add_argument("--raw", type=Path, help="raw data folder (default: data/raw/<dataset>)")
    p.add_argument("--out", type=Path, help="output folder (default: data/prep/<dataset>)")
    p.add_argument(
        "--pretrain", type=Path, help="the pretrain stage's folder (data.gpt2_bpe: pretrain)"
    )
    p.add_argument("--workers", type=stage.positive_int, help="threads (default: cores, max 8)")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

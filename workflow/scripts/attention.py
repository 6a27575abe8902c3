"""Attention over memory of one trained checkpoint: raw probabilities, plots and numbers.

python workflow/scripts/attention.py --checkpoint CKPT --data BIN_DIR --sentences FILE
    [--spm SPM_MODEL] [--num-sentences N] --name MODEL_NAME [--out results/attention]

Writes ``OUT/NAME/``: ``attention.npz``, ``encoder_layer{L}.png``, ``cross_layer{L}.png``,
``summary.png``, ``memory_mass.csv`` and ``memory_mass.json`` (see memtr/attention.py).
``--sentences`` is raw text with ``--spm`` (e.g. data/prep/<ds>/test.raw.de with
data/prep/<ds>/spm.model), else already tokenized text (e.g. data/prep/<ds>/test.de).
A prepared-data folder as ``--sentences`` means its raw test sources, ``test.raw.<src>``.
A model with 0 memory tokens prints "no memory to plot: NAME has 0 memory tokens", writes
only memory_mass.json ("status": "no_memory") and a header-only memory_mass.csv, exits 0.
"""

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from memtr import attention  # noqa: E402
from memtr.stage import positive_int  # noqa: E402


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True, help="fairseq checkpoint (.pt)")
    p.add_argument("--data", type=Path, required=True, help="binarized data folder (dicts)")
    p.add_argument("--sentences", type=Path, required=True, help="source sentences, one a line")
    p.add_argument("--spm", type=Path, help="sentencepiece model: --sentences is raw text")
    p.add_argument(
        "--num-sentences", type=positive_int, default=attention.DEFAULT_NUM_SENTENCES,
        help="first N non-empty lines are used (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--name", required=True, help="model name: output subfolder and table key")
    p.add_argument("--out", type=Path, default=Path("results/attention"), help="output root")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for path in (args.checkpoint, args.sentences, args.data, args.spm):
        if path is not None and not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 1
    if args.sentences.is_dir():
        found = sorted(args.sentences.glob("test.raw.*"))
        if len(found) != 1:
            print(f"error: expected one test.raw.<src> file in {args.sentences}", file=sys.stderr)
            return 1
        args.sentences = found[0]
    try:
        message, table = attention.run(
            args.checkpoint, args.data, args.sentences, args.name, args.out,
            spm_model=args.spm, num_sentences=args.num_sentences,
        )  # fmt: skip
    except ValueError as exc:  # e.g. an empty sentence file
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(message)
    if table is not None:
        print(attention.format_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

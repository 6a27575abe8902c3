"""Attention over memory of one trained checkpoint: raw probabilities, plots and numbers.

python workflow/scripts/attention.py --checkpoint CKPT --data BIN_DIR --sentences FILE
    [--spm SPM_MODEL] [--num-sentences N] --name MODEL_NAME [--out results/attention]

Translation models (mem_transformer and its variants): writes ``OUT/NAME/``:
``attention.npz``, ``encoder_layer{L}.png``, ``cross_layer{L}.png``, ``summary.png``,
``memory_mass.csv`` and ``memory_mass.json`` (see memtr/attention/measures.py). ``--sentences`` is raw
text with ``--spm`` (e.g. data/prep/<ds>/test.raw.de with data/prep/<ds>/spm.model), else
already tokenized text (e.g. data/prep/<ds>/test.de). A prepared-data folder as
``--sentences`` means its raw test sources, ``test.raw.<src>``, encoded with ``--spm`` or,
without it, with the folder's ``spm.model``.

Language models (mem_transformer_lm, told apart by the checkpoint's model class): ``--data``
is the binarized LM folder (dict.txt), ``--sentences`` a tokenized file, one sample a line
(e.g. data/prep/wikitext2/test.tokens; a prepared-data folder means its ``test.tokens``),
``--spm`` is not used. Each line is one segment, ``</s>`` then its first tokens (at most the
model's --mem-segment-len, its positions and 64). Writes the same files, with
``decoder_layer{L}.png`` (decoder self-attention over [read memory r.. ; tokens ; write memory
w..]) instead of the encoder and cross-attention maps; in the tables, sequence rows are the
tokens, memory rows the write block (the read block without --mem-recurrent), and
decoder_to_memory is empty: an LM has no cross-attention.

A model with 0 memory tokens (also transformer, transformer_lm) prints "no memory to plot:
NAME has 0 memory tokens", writes only memory_mass.json ("status": "no_memory") and a
header-only memory_mass.csv, exits 0.
"""

import argparse
import logging
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr.run.fairseq import wait_passively_here  # noqa: E402

wait_passively_here()  # before torch loads (memtr.attention imports it): OpenMP reads it once

from memtr.attention import stage as attention  # noqa: E402
from memtr.stage import positive_int  # noqa: E402


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True, help="fairseq checkpoint (.pt)")
    p.add_argument("--data", type=Path, required=True, help="binarized data folder (dicts)")
    p.add_argument(
        "--sentences", type=Path, required=True,
        help="sample sentences, one a line (MT sources, LM tokenized text), or a prep folder",
    )  # fmt: skip
    p.add_argument("--spm", type=Path, help="sentencepiece model: --sentences is raw text (MT)")
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
    for path in (args.checkpoint, args.sentences, args.data):  # --spm: checked if used
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 1
    try:
        message, table = attention.run(
            args.checkpoint, args.data, args.sentences, args.name, args.out,
            spm_model=args.spm, num_sentences=args.num_sentences,
        )  # fmt: skip
    except ValueError as exc:  # e.g. an empty sentence file, no test file in a folder
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(message)
    if table is not None:
        print(attention.format_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

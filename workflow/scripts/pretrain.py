"""Pretrain stage: a masked LM on pretrain.corpus, for classification to fine-tune (or, with
pretrain.name: none, an empty marker folder).

    python workflow/scripts/pretrain.py [--params params.yaml] --out pretrain/<name>/model
        --metrics metrics/pretrain/<name> [--cache data/downloads] [--workers N]

Writes <out>/{encoder.json, vocab.bpe, dict.txt, model.pt} (the layout of a released fairseq
RoBERTa) and <metrics>/{pretrain.json, train_log.csv}; see memtr/run/pretrain.py.
"""

import argparse
import json
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.common.errors import ConfigError
from memtr.config.params import load_params
from memtr.data.binarize import default_workers
from memtr.run.pretrain import Corpus, pretrain
from memtr.settings import pretrain_dir


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    expected = pretrain_dir(params.pretrain)
    if expected is not None and args.out != expected:
        raise ConfigError(f"--out {args.out} is not pretrain.name's folder {expected}")
    corpus = Corpus(
        params.pretrain.corpus or "", params.data.datasets, params.data.resolved_mirror()
    )
    summary = pretrain(
        params.pretrain, params.model, corpus, params.train.threads, args.out, args.metrics,
        args.cache, args.workers or default_workers(),
    )  # fmt: skip
    print(json.dumps(summary))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--out", type=Path, required=True, help="pretrain/<name>/model")
    p.add_argument("--metrics", type=Path, required=True, help="metrics/pretrain/<name>")
    p.add_argument("--cache", type=Path, default=Path("data/downloads"), help="download cache")
    p.add_argument("--workers", type=stage.positive_int, help="threads (default: cores, max 8)")
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

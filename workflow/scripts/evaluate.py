"""Evaluation stage: beam search and sacrebleu BLEU/chrF of one trained run.

    python workflow/scripts/evaluate.py --variant mem10 --seed 1 [--params params.yaml]
        --model runs/mem10/seed1/model.pt --data data/bin/<dataset> --prep data/prep/<dataset>
        --metrics metrics/mem10/seed1

Writes <metrics>/eval.json and the detokenized hypotheses <metrics>/hyps.<split>.txt
(the tables stage runs the paired bootstrap on them).
"""

import argparse
import json
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.evaluation import generate, read_lines, score
from memtr.params import load_params, variant_and_seed
from memtr.registry import get_dataset


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    variant_and_seed(params, args.variant, args.seed)
    ds = get_dataset(params.data.dataset)
    ev = params.eval
    results = {"variant": args.variant, "seed": args.seed}
    args.metrics.mkdir(parents=True, exist_ok=True)
    for split in ev["splits"]:
        refs = read_lines(args.prep / f"{split}.ref.{ds.tgt}")
        hyps = generate(args.model, args.data, split, ev, bpe=True, threads=params.train["threads"])
        results[split] = score(hyps, refs, ev["sacrebleu_tokenize"])
        (args.metrics / f"hyps.{split}.txt").write_text(
            "".join(h + "\n" for h in hyps), encoding="utf-8"
        )
        print(
            f"{args.variant} seed {args.seed} {split}: BLEU {results[split]['bleu']} chrF {results[split]['chrf']}"
        )
    (args.metrics / "eval.json").write_text(json.dumps(results, indent=2) + "\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--variant", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--prep", type=Path, required=True, help="prepared data (raw references)")
    p.add_argument("--metrics", type=Path, required=True)
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

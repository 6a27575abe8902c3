"""Evaluation stage: score one trained run on the eval splits, by the experiment's task.

    python workflow/scripts/evaluate.py --variant mem10 --seed 1 [--params params.yaml]
        --model runs/<exp>/mem10/seed1/model.pt --data data/bin/<dataset>
        --prep data/prep/<dataset> [--extra data/extra/<dataset>] --metrics metrics/<exp>/mem10/seed1

Scores eval.splits, then every extra test set of eval.extra_test (label e.g. newstest2014).
Writes <metrics>/eval.json and per-example outputs in <metrics>/outputs/:
- translation: beam search, sacrebleu BLEU/chrF with signatures; ``hyps.<split>.txt``
  (detokenized hypotheses, for the tables stage's paired bootstrap);
- language modelling: ``fairseq-eval-lm`` perplexity; ``eval_lm.<split>.log`` and
  ``segment_nll.<split>.tsv`` (each segment's nll and tokens, for the paired bootstrap);
- classification (GLUE): accuracy; ``predictions.<split>.tsv`` (predicted, gold label).
"""

import argparse
import json
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.evaluation import accuracy, classify, eval_lm, generate, read_lines, score
from memtr.extra_test import eval_location, reference_file
from memtr.params import Params, load_params, variant_and_seed
from memtr.registry import get_dataset


def evaluate_translation(params: Params, args: argparse.Namespace, label: str) -> dict:
    ev = params.eval
    data, split = eval_location(label, args.data, args.extra)
    tgt = get_dataset(params.data.dataset).tgt
    refs = read_lines(reference_file(label, args.prep, args.extra, tgt))
    hyps = generate(args.model, data, split, ev, bpe=True, threads=params.train["threads"])
    outputs = args.metrics / "outputs" / f"hyps.{label}.txt"
    outputs.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    result = score(hyps, refs, ev["sacrebleu_tokenize"])
    print(f"{args.variant} seed {args.seed} {label}: BLEU {result['bleu']} chrF {result['chrf']}")
    return result


def evaluate_lm(params: Params, args: argparse.Namespace, label: str) -> dict:
    data, split = eval_location(label, args.data, args.extra)
    result = eval_lm(args.model, data, split, params, args.metrics / "outputs", label)
    print(f"{args.variant} seed {args.seed} {label}: perplexity {result['ppl']}")
    return result


def evaluate_classification(params: Params, args: argparse.Namespace, label: str) -> dict:
    pairs = classify(args.model, args.data, label, params.eval["batch_size"])
    outputs = args.metrics / "outputs" / f"predictions.{label}.tsv"
    outputs.write_text("".join(f"{p}\t{g}\n" for p, g in pairs), encoding="utf-8")
    result = {"accuracy": accuracy(pairs), "examples": len(pairs)}
    print(f"{args.variant} seed {args.seed} {label}: accuracy {result['accuracy']}")
    return result


EVALUATORS = {
    "translation": evaluate_translation,
    "language_modeling": evaluate_lm,
    "classification": evaluate_classification,
}


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    variant_and_seed(params, args.variant, args.seed)
    if not args.model.is_file():
        raise FileNotFoundError(f"model not found: {args.model} (run the train stage first)")
    (args.metrics / "outputs").mkdir(parents=True, exist_ok=True)
    results = {"variant": args.variant, "seed": args.seed, "task": params.task}
    for label in params.eval_labels():
        results[label] = EVALUATORS[params.task](params, args, label)
    (args.metrics / "eval.json").write_text(json.dumps(results, indent=2) + "\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--variant", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--prep", type=Path, required=True, help="prepared data (raw references)")
    p.add_argument("--extra", type=Path, help="extra test sets (data/extra/<dataset>)")
    p.add_argument("--metrics", type=Path, required=True)
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

"""Evaluation stage: score one trained run on the eval splits, as the experiment's task does.

    python workflow/scripts/evaluate.py --variant mem10 --seed 1 [--params params.yaml]
        --model runs/<exp>/mem10/seed1/model.pt --data data/bin/<dataset>
        --prep data/prep/<dataset> [--extra data/extra/<dataset>] --metrics metrics/<exp>/mem10/seed1

Scores eval.splits, then every extra test set of eval.extra_test (label e.g. newstest2014).
Writes <metrics>/eval.json and per-example outputs in <metrics>/outputs/:
- translation: beam search, sacrebleu BLEU/chrF with signatures; ``hyps.<split>.txt``
  (detokenized hypotheses, for the tables stage's paired bootstrap);
- language modelling: ``fairseq-eval-lm`` perplexity; ``eval_lm.<split>.log`` and
  ``segment_nll.<split>.tsv`` (each segment's nll and tokens, for the paired bootstrap);
- classification (GLUE): the task's GLUE metrics (CoLA MCC, MRPC/QQP F1 and accuracy, STS-B
  Pearson/Spearman, the others accuracy; docs/glue.md); ``predictions.<split>.tsv``
  (predicted, gold label; STS-B: scores on the 0-5 scale).
"""

import argparse
import json
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.config.params import load_params
from memtr.run.fairseq import wait_passively_here
from memtr.settings import eval_labels
from memtr.tasks import task_of
from memtr.tasks.base import EvalRun


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)  # loads no torch
    wait_passively_here(params.train.threads)  # before torch: fairseq-generate runs here
    params.variant(args.variant)  # one line for an unknown variant
    if not args.model.is_file():
        raise FileNotFoundError(f"model not found: {args.model} (run the train stage first)")
    (args.metrics / "outputs").mkdir(parents=True, exist_ok=True)
    run = EvalRun(
        args.variant, args.seed, args.model, args.data, args.prep, args.extra, args.metrics,
        threads=params.train.threads, target=params.data.selected().tgt,
        segment=params.train.tokens_per_sample,
    )  # fmt: skip
    task = task_of(params.spec)
    results = {"variant": args.variant, "seed": args.seed, "task": params.spec.name}
    for label in eval_labels(params.eval):
        results[label] = task.evaluate(params.eval, run, label)
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

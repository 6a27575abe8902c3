"""Training stage: train one variant with one seed (resumes a killed run of the same settings).

    python workflow/scripts/train.py --variant mem10 --seed 1 [--params params.yaml]
        --data data/bin/<dataset> --out runs/mem10/seed1 --metrics metrics/mem10/seed1

Writes <out>/model.pt, <metrics>/train.json (parameter counts, wall time, losses) and
<metrics>/train_log.csv (the learning curve); checkpoints stay in <out>/checkpoints/.
"""

import argparse
import json
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.config.params import load_params
from memtr.run.training import has_input_dictionary, train, write_learning_curve
from memtr.tasks import task_of


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    variant = params.variant(args.variant)
    if not has_input_dictionary(args.data):
        raise FileNotFoundError(f"binarized data not found (no dictionary): {args.data}")
    args.out.mkdir(parents=True, exist_ok=True)
    args.metrics.mkdir(parents=True, exist_ok=True)
    task = task_of(params.spec)
    options = task.train_options(
        params.train, params.model, variant, args.data, params.restore_file()
    )
    summary, records = train(params.train, variant, options, args.seed, args.data, args.out)
    summary.update(
        variant=variant.name, layout=variant.layout, mem_tokens=variant.mem_tokens, seed=args.seed
    )
    write_learning_curve(records, args.metrics / "train_log.csv")
    (args.metrics / "train.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--variant", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--data", type=Path, required=True, help="fairseq-preprocess output folder")
    p.add_argument("--out", type=Path, required=True, help="run folder (model.pt, checkpoints/)")
    p.add_argument(
        "--metrics", type=Path, required=True, help="folder for train.json, train_log.csv"
    )
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

"""Predicted training cost of a preset or params file: FLOPs per update, updates, GPU-hours.

    python workflow/scripts/cost.py paper_wmt14_base [--card H100] [--mfu 0.4]
    python workflow/scripts/cost.py params.yaml

Prints a Markdown table, one row per run (variant x seed), and the total; see
benchmarks/cost.py for the model. Snakemake prints the same before it submits to Slurm.
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401

from benchmarks.cost import report
from memtr import stage
from memtr.common.errors import ConfigError
from memtr.common.paths import PRESETS
from memtr.config.params import load_params


def params_path(name: str) -> Path:
    """A preset's file (``paper_wmt14_base``) or a params file path."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        return path
    preset = PRESETS / f"{name}.yaml"
    if not preset.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS.glob("*.yaml")))
        raise ConfigError(f"unknown preset {name!r}; presets: {known} (or a params .yaml file)")
    return preset


def main(args: argparse.Namespace) -> None:
    if args.mfu is not None and not 0 < args.mfu <= 1:
        raise ConfigError(f"--mfu must be in (0, 1], got {args.mfu}")
    params = load_params(params_path(args.preset))
    try:
        print(report(params.spec, params.data, params.model, params.variants, params.experiment,
                     params.pretrain, params.train, args.card, args.mfu), end="")  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset", help="a preset of workflow/presets/ or a params .yaml file")
    p.add_argument("--card", default="H100", help="GPU name, e.g. H100, A100, L4 (default H100)")
    p.add_argument("--mfu", type=float, help="model FLOP utilisation (default: measured, else 0.4)")
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

"""Switch params.yaml to a preset of workflow/presets/ (the old file is kept as a backup).

    python workflow/scripts/use_preset.py NAME        # e.g. demo, cpu_replication, paper_wmt14_base

The preset is validated first; params.yaml is replaced only when it is valid, and the
previous params.yaml is saved as params.yaml.bak-<time> unless it equals a preset.
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.common.paths import PRESETS
from memtr.config.params import load_params


def main(args: argparse.Namespace) -> None:
    preset = PRESETS / f"{args.name}.yaml"
    if not preset.is_file():
        names = ", ".join(sorted(p.stem for p in PRESETS.glob("*.yaml")))
        print(f"error: no preset {args.name!r}; available: {names}", file=sys.stderr)
        sys.exit(2)
    load_params(preset)
    target = args.params
    if target.is_file():
        old = target.read_text()
        if not any(old == p.read_text() for p in PRESETS.glob("*.yaml")):
            backup = target.with_name(f"{target.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.copyfile(target, backup)
            print(f"kept the previous {target} as {backup}")
    shutil.copyfile(preset, target)
    print(
        f"{target} is now the preset {args.name!r}; run `dvc repro` or `snakemake --profile local`"
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

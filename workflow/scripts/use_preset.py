"""Switch params.yaml to a preset of workflow/presets/ (the old file is kept as a backup).

    python workflow/scripts/use_preset.py NAME        # e.g. demo, cpu_replication, paper_wmt14_base
    python workflow/scripts/use_preset.py NAME --dataset glue_cola --experiment my_cola_study
    dvc exp run $(python workflow/scripts/use_preset.py NAME --as-set)   # as a DVC experiment

``--as-set`` changes nothing: it prints the ``-S`` arguments of ``dvc exp run`` that turn
params.yaml into the preset (memtr/config/overrides.py), so that the preset runs as an
experiment (add ``--queue`` to queue it) and the working params.yaml stays as it is.

``--dataset`` and ``--experiment`` replace the preset's data.dataset and experiment.name (the
one-experiment-per-task studies, e.g. cpu_replication_glue); the comments stay.

The preset is validated first; params.yaml is replaced only when it is valid, and the
previous params.yaml is saved as params.yaml.bak-<time> unless it equals a preset. Then it
says what to run: for a preset whose runs are committed (results/<e>/dvc.lock), not a plain
`dvc repro`, which would train them all again, but the routes of docs/pipeline.md.
"""

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

import _bootstrap  # noqa: F401
import yaml

from memtr import stage
from memtr.campaigns import pending_runs, recorded_stages
from memtr.common.errors import ConfigError
from memtr.common.paths import PRESETS
from memtr.config.overrides import set_param_overrides
from memtr.config.params import Params, parse_params


def main(args: argparse.Namespace) -> None:
    preset = PRESETS / f"{args.name}.yaml"
    if not preset.is_file():
        names = ", ".join(sorted(p.stem for p in PRESETS.glob("*.yaml")))
        print(f"error: no preset {args.name!r}; available: {names}", file=sys.stderr)
        sys.exit(2)
    text = with_overrides(preset.read_text(), args.dataset, args.experiment)
    params = parse_params(yaml.safe_load(text), str(preset))
    target = args.params
    if args.as_set:
        current = yaml.safe_load(target.read_text()) if target.is_file() else {}
        for override in set_param_overrides(current, yaml.safe_load(text)):
            print("-S", override)
        return
    if target.is_file():
        old = target.read_text()
        if not any(old == p.read_text() for p in PRESETS.glob("*.yaml")):
            backup = target.with_name(f"{target.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.copyfile(target, backup)
            print(f"kept the previous {target} as {backup}")
    target.write_text(text)
    print(hint(target, args.name, params))


def hint(target: Path, name: str, params: Params) -> str:
    """What to run next. A preset whose runs are committed (``results/<e>/dvc.lock``, a
    campaign) must not be run with a plain `dvc repro`: DVC finds no lock of its runs in the
    workspace (or one that records the code of its time) and would train every one of them
    again; the hint gives the routes of docs/pipeline.md instead."""
    done = f"{target} is now the preset {name!r}"
    exp = params.experiment
    lock = target.parent / "results" / exp.name / "dvc.lock"
    if not lock.is_file():
        return f"{done}; run `dvc repro` or `snakemake --profile local`"
    lock_name = f"results/{exp.name}/dvc.lock"
    total = len(exp.variants) * len(exp.seeds)
    pending = len(pending_runs(exp, params.attention, recorded_stages(lock)))
    lines = [
        f"{done}. Its runs are committed ({lock_name} records {total - pending} of {total}): "
        "a plain `dvc repro` would train them all again. Instead:",
        f"  the tables from the committed runs: cp {lock_name} dvc.lock && dvc repro extra_test "
        "&& dvc repro --single-item --force tables figures",
    ]
    if params.spec.name == "classification":  # its data stages need the pretrain stage's model
        lines[-1] = (
            "  the tables from the committed runs: the GLUE route of docs/pipeline.md "
            '("Regenerating the tables of a committed campaign")'
        )
    if pending:
        lines.append(
            f"  its {pending} unrecorded runs, one at a time: cp {lock_name} dvc.lock, then "
            "the loop over `python workflow/scripts/campaign.py pending` of docs/pipeline.md "
            '("A campaign across sessions or machines")'
        )
    return "\n".join(lines)


def with_overrides(text: str, dataset: str | None, name: str | None) -> str:
    """The preset's text with its ``data.dataset`` and ``experiment.name`` values replaced."""
    for section, key, value in (("data", "dataset", dataset), ("experiment", "name", name)):
        if value is None:
            continue
        pattern = re.compile(rf"(^{section}:\n(?:(?:  .*|#.*|)\n)*?  {key}: *)(\S+)", re.MULTILINE)
        text, count = pattern.subn(lambda m, v=value: m.group(1) + v, text, count=1)
        if not count:
            raise ConfigError(f"the preset has no {section}.{key} line to replace")
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name")
    p.add_argument("--dataset", help="replaces the preset's data.dataset")
    p.add_argument("--experiment", help="replaces the preset's experiment.name")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument(
        "--as-set", action="store_true",
        help="print the preset as `dvc exp run -S` arguments instead of writing params.yaml",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

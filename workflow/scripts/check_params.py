"""Validate params.yaml (every section) before any stage starts; write a stamp file.

    python workflow/scripts/check_params.py [--params params.yaml] --out build/params.ok

The stamp's content depends only on validity, so downstream stages do not rerun when
it is rewritten after an unrelated params change.
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.common.yamlfile import read_yaml_file
from memtr.config.params import check_pipeline_keys, parse_params
from memtr.run.training import check_tensorboard
from memtr.tasks import check_before_run


def main(args: argparse.Namespace) -> None:
    doc = read_yaml_file(args.params)  # as DVC and Snakemake read it alike, or refused
    params = parse_params(doc, str(args.params))
    check_pipeline_keys(doc, str(args.params))
    check_tensorboard(params.train)  # before fairseq loads
    check_before_run(params)  # files, and fairseq's own parsers (as the Snakefile)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("params.yaml is valid\n")
    print(f"{args.params}: valid")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--out", type=Path, default=Path("build/params.ok"))
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())

"""Validate params.yaml (every section) before any stage starts; write a stamp file.

    python workflow/scripts/check_params.py [--params params.yaml] --out build/params.ok

The stamp's content depends only on validity, so downstream stages do not rerun when
it is rewritten after an unrelated params change.
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.common.errors import ConfigError
from memtr.common.yamlfile import read_yaml_file
from memtr.config.params import check_pipeline_keys, parse_params
from memtr.datasets.extra_sets import check_local_test_files
from memtr.run.option_checks import check_train_options
from memtr.run.training import check_tensorboard
from memtr.settings import FROM_PRETRAIN, pretrain_dir
from memtr.tasks import task_of


def main(args: argparse.Namespace) -> None:
    doc = read_yaml_file(args.params)  # as DVC and Snakemake read it alike, or refused
    params = parse_params(doc, str(args.params))
    check_pipeline_keys(doc, str(args.params))
    restore = params.train.restore_file
    if restore not in (None, FROM_PRETRAIN) and not Path(restore).is_file():
        raise ConfigError(f"train.restore_file {restore!r} does not exist")
    params.data.check_local_files(params.pretrain.corpus or "")
    check_local_test_files(params.data.selected(), params.eval.extra_test or [])
    variants = [params.variants[name] for name in params.experiment.variants]
    check_tensorboard(params.train)
    task_of(params.spec).check_options(params.train, params.model, variants)
    if pretrain_dir(params.pretrain) is not None:  # the masked LM's own options
        check_train_options(params.pretrain.extra_args or [], "pretrain.extra_args", "masked_lm")
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

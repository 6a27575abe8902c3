"""A task is one module and one registry entry: the stages never branch on the task's name.

A throw-away fourth task, defined here and registered for a dataset kind of its own, goes
through params validation, the train stage's fairseq command, the evaluate stage's script
and the tables stage, with no other code changed.
"""

import argparse
import importlib
import json
import sys
from pathlib import Path

import pytest
import yaml
from scipy import stats

from memtr.common.errors import ConfigError
from memtr.common.paths import REPO
from memtr.config.params import parse_params
from memtr.datasets import registry
from memtr.reports.tables import Sources, build_tables, to_markdown
from memtr.run.training import train_command
from memtr.scoring import SCORERS
from memtr.scoring.base import Scorer, outputs_per_seed
from memtr.specs import SPECS, spec_for_kind
from memtr.specs.base import TaskSpec
from memtr.stats import paired_bootstrap
from memtr.tasks import TASKS, task_of
from memtr.tasks.base import EvalRun, Task


class CopyingSpec(TaskSpec):
    """Copy the source: scored by exact match of each line (a toy task)."""

    name = "copying"
    noun = "copying"
    title = "Copying"
    dataset_kinds = ("toy_copy",)
    sizes = ("base",)
    arch_prefix = {"none": "transformer", "prepend": "mem_transformer"}
    metric, metric_label, paper_section = "exact", "exact match", "copy"
    uses_segments = False


class Copying(Task):
    spec_class = CopyingSpec

    def fairseq_args(self, train, data, restore):
        return ["--task", "translation", "--max-tokens", str(train.max_tokens)]

    def evaluate(self, ev, run: EvalRun, label):
        gold = [f"line {i}" for i in range(20)]
        hits = ["mem" in run.variant or i >= 5 * run.seed for i in range(len(gold))]
        (run.metrics / "outputs" / f"hits.{label}.txt").write_text(
            "".join(f"{int(h)}\n" for h in hits), encoding="utf-8"
        )
        return {"exact": round(100 * sum(hits) / len(hits), 2), "lines": len(hits)}


class CopyingScorer(Scorer):
    spec_class = CopyingSpec

    def paired_bootstrap(self, study, src: Sources, variant, against, label):
        name = f"hits.{label}.txt"
        a, b = (
            [[[float(x)] for x in seed] for seed in outputs_per_seed(study, src.metrics, v, name)]
            for v in (variant, against)
        )
        return paired_bootstrap(
            lambda x: 100 * x[..., 0].mean(axis=-1), a, b, study.eval.bootstrap_resamples
        )

    def legend(self, study, table):
        return ["exact: share of lines copied exactly (%)."]


@pytest.fixture
def copying(monkeypatch):
    """The throw-away task and a dataset of its kind, registered for one test."""
    monkeypatch.setitem(SPECS, "copying", CopyingSpec())
    monkeypatch.setitem(TASKS, "copying", Copying)
    monkeypatch.setitem(SCORERS, "copying", CopyingScorer)
    toy = registry.Dataset(name="toy_copy_en", kind="toy_copy", description="toy copies")
    monkeypatch.setitem(registry.DATASETS, toy.name, toy)
    return SPECS["copying"]


def copying_doc() -> dict:
    doc = yaml.safe_load((REPO / "params.yaml").read_text())
    doc["data"]["dataset"] = "toy_copy_en"
    doc["train"]["label_smoothing"] = 0
    doc["eval"] = {"splits": ["test"], "batch_size": 8, "bootstrap_resamples": 200}
    doc["experiment"].update(variants=["baseline", "mem10"], seeds=[1, 2])
    return doc


def test_the_registered_tasks_cover_every_dataset_kind_once():
    kinds = [k for spec in SPECS.values() for k in spec.dataset_kinds]
    assert len(kinds) == len(set(kinds))
    for dataset in registry.DATASETS.values():
        assert spec_for_kind(dataset.kind).name in TASKS
    names = {"translation", "language_modeling", "classification"}
    assert set(TASKS) == set(SPECS) == set(SCORERS) == names


def test_a_fourth_task_runs_through_params_and_the_train_command(copying):
    params = parse_params(copying_doc())
    assert params.spec is copying and isinstance(task_of(params.spec), Copying)
    mem10 = params.variants["mem10"]
    options = task_of(params.spec).train_options(
        params.train, params.model, mem10, Path("bin"), None
    )
    command = train_command(params.train, mem10, options, 1, Path("bin"), Path("save"))
    assert command[command.index("--task") + 1] == "translation"
    assert "--label-smoothing" not in command  # no translation-only option leaks in
    assert command[command.index("--arch") + 1] == "mem_transformer"
    with pytest.raises(ConfigError, match="eval.beam"):
        parse_params({**copying_doc(), "eval": {**copying_doc()["eval"], "beam": 5}})


def test_a_fourth_task_is_evaluated_and_tabled_by_the_stages(copying, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "workflow" / "scripts"))
    evaluate = importlib.import_module("evaluate")
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(copying_doc()))
    metrics = tmp_path / "metrics"
    for variant in ("baseline", "mem10"):
        for seed in (1, 2):
            run = metrics / variant / f"seed{seed}"
            model = tmp_path / "runs" / variant / f"seed{seed}" / "model.pt"
            model.parent.mkdir(parents=True)
            model.write_bytes(b"not read by this task")
            args = argparse.Namespace(
                params=params_file, variant=variant, seed=seed, model=model, data=tmp_path,
                prep=tmp_path, extra=None, metrics=run, quiet=True,
            )  # fmt: skip
            evaluate.main(args)
            train = {"params": {"total": 10}, "updates": 5, "train_wall_s": 1.0 + seed}
            (run / "train.json").write_text(json.dumps(train))
    scores = json.loads((metrics / "mem10" / "seed1" / "eval.json").read_text())
    assert scores["task"] == "copying" and scores["test"]["exact"] == 100.0
    params = parse_params(copying_doc())
    table, claims, runs = build_tables(params.study(), Sources(metrics, tmp_path))
    assert list(table["exact_mean"]) == [62.5, 100.0]  # the baseline misses 5 lines per seed
    assert claims["delta_exact"].tolist() == [37.5] and claims["p_boot"].iloc[0] < 0.05
    paired = stats.ttest_rel([100.0, 100.0], [75.0, 50.0]).pvalue  # one comparison: paired t
    assert claims["p"].iloc[0] == pytest.approx(paired, abs=1e-4)
    page = to_markdown(table, params.study())
    assert page.startswith("# Copying: toy_copy_en") and "exact: share of lines" in page
    assert "exact_test" in runs.columns
    sys.modules.pop("evaluate", None)


@pytest.mark.parametrize("package", ["memtr.specs", "memtr.tasks", "memtr.scoring"])
def test_each_part_of_a_task_has_one_module_per_task(package):
    folder = Path(importlib.import_module(package).__file__).parent
    modules = sorted(p.stem for p in folder.glob("*.py"))
    assert modules == ["__init__", "base", "classification", "language_modeling", "translation"]

"""What reruns after an edit of params.yaml: Snakemake plans what DVC reruns.

One workspace runs the whole tiny pipeline on the generated reversal task with Snakemake (so
that Snakemake records each job's params), then `dvc commit` records the same outputs in
dvc.lock: both tools then find nothing to do. Each edit below is compared: the stages DVC
finds changed, and those downstream of them, against the jobs `snakemake -n` plans. Once,
Snakemake planned every job for any edit (every rule hung below the check stage, which reruns
on any edit); now each rule's params hold the values of its DVC stage's params
(memtr.common.paths.stage_params) and the check stage is a leaf of its DAG.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pipeline_helpers import (
    check,
    dvc_plan,
    make_workspace,
    run_tool,
    snakemake_plan,
    synthetic_params,
)

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

RUNS = {"train@baseline-1", "train@mem4-1"}
EVALS = {"evaluate@baseline-1", "evaluate@mem4-1"}
ATTENTION = {"attention@baseline-1", "attention@mem4-1"}
RESULTS = {"check_params", "tables", "figures"}
# edit -> what both tools rerun (the check stage: any edit)
EDITS = {
    "train.lr": (lambda d: d["train"].update(lr=0.002), RUNS | EVALS | ATTENTION | RESULTS),
    "train.threads": (lambda d: d["train"].update(threads=2), RUNS | EVALS | ATTENTION | RESULTS),
    "eval.beam": (lambda d: d["eval"].update(beam=2), {"extra_test"} | EVALS | RESULTS),
    "attention.num_sentences": (lambda d: d["attention"].update(num_sentences=3),
                                ATTENTION | RESULTS),
    "experiment.seeds": (lambda d: d["experiment"].update(seeds=[1, 2]),
                         {"train@baseline-2", "train@mem4-2", "evaluate@baseline-2",
                          "evaluate@mem4-2"} | RESULTS),
    "data.clean.max_len": (lambda d: d["data"]["clean"].update(max_len=200),
                           {"prepare", "binarize", "extra_test"} | RUNS | EVALS | ATTENTION
                           | RESULTS),
}  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole tiny pipeline run by Snakemake, its outputs committed to DVC's lock."""
    ws = make_workspace(tmp_path_factory.mktemp("reruns"), synthetic_params())
    check(run_tool(["snakemake", "--cores", "2"], ws))
    check(run_tool(["dvc", "commit", "--force"], ws))
    assert dvc_plan(ws) == set() == snakemake_plan(ws)
    return ws


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_snakemake_plans_what_dvc_reruns(finished, edit):
    ws = finished
    change, expected = EDITS[edit]
    good = (ws / "params.yaml").read_text()
    doc = yaml.safe_load(good)
    change(doc)
    (ws / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        dvc, snakemake = dvc_plan(ws), snakemake_plan(ws)
    finally:
        (ws / "params.yaml").write_text(good)
    assert dvc == expected, sorted(dvc ^ expected)
    assert snakemake == dvc, (
        f"only DVC: {sorted(dvc - snakemake)}; only Snakemake: {sorted(snakemake - dvc)}"
    )

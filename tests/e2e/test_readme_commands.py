"""The README's two commands in the order it gives them, on a tiny configuration: the main
job's own entry script (scripts/run_pipeline.sh) in a fresh checkout leaves `git status`
clean and keeps its DVC lock for the next run, then the audit tier passes in that same
checkout (it reads the committed evidence, never what the main job wrote)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import REPO, check, make_workspace, run_tool, synthetic_params

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


def git_status(ws: Path) -> str:
    """`git status --porcelain` with every untracked file listed."""
    args = ["git", "status", "--porcelain", "--untracked-files=all"]
    return subprocess.run(args, cwd=ws, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def after_main_job(tmp_path_factory) -> Path:
    """A fresh checkout whose committed params.yaml is a tiny demo (the main job's own
    experiment name), after `bash scripts/run_pipeline.sh` ran there once."""
    params = synthetic_params()
    params["experiment"]["name"] = "demo"  # where the main job writes: results/demo/, ...
    ws = make_workspace(tmp_path_factory.mktemp("readme") / "ws", params)
    (ws / ".venv").symlink_to(REPO / ".venv")  # the installed environment, as on a user's clone
    check(run_tool(["bash", "scripts/run_pipeline.sh"], ws))
    return ws


def test_the_main_job_leaves_the_checkout_clean(after_main_job: Path):
    ws = after_main_job
    assert (ws / "results/demo/results.md").is_file()
    assert (ws / "metrics/demo/mem4/seed1/eval.json").is_file()
    assert git_status(ws) == ""
    assert not (ws / "dvc.lock").exists() and (ws / "runs/main-job.dvc.lock").is_file()


def test_the_main_job_again_runs_nothing_it_ran_before(after_main_job: Path):
    again = check(run_tool(["bash", "scripts/run_pipeline.sh"], after_main_job))
    assert "Running stage" not in again.stdout, again.stdout[-2000:]
    assert git_status(after_main_job) == ""


def test_the_audit_tier_passes_after_the_main_job(after_main_job: Path):
    args = [
        sys.executable,
        "-m",
        "pytest",
        "tests/audit",
        "-q",
        "-n",
        "0",
        "-p",
        "no:cacheprovider",
    ]
    audit = run_tool(args, after_main_job)
    assert audit.returncode == 0, audit.stdout[-4000:] + audit.stderr[-2000:]
    assert " passed" in audit.stdout and " failed" not in audit.stdout

"""The Snakemake pipeline on a real one-node Slurm cluster (`snakemake --profile slurm`)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from pipeline_helpers import make_workspace, run_tool, synthetic_params

pytestmark = [pytest.mark.slow, pytest.mark.pipeline, pytest.mark.slurm]

# The whole DAG, every rule a Slurm job, on the generated reversal task: what is tested is the
# executor (submission, resources, tracking), so the jobs are as cheap as the DAG allows (no
# corpus to download, 2,000 short training pairs, 10 updates, 100 test sentences). The real
# corpus goes through Snakemake in tests/e2e/test_pipeline.py (locally), the same rules.
SLURM_PARAMS = synthetic_params()
# Slurm's answers, not the jobs, set the pace of tiny jobs: the executor first asks about a
# job after this many seconds and then 10 s later each time nothing finished (the profile's 8
# suits real jobs; here it would add up to 15 s per job).
FIRST_STATUS_CHECK_S = "1"


def test_snakemake_profile_slurm_runs_every_job_through_slurm(slurm_cluster, tmp_path):
    ws = make_workspace(tmp_path, SLURM_PARAMS)
    args = [*slurm_cluster.snakemake_args(), "--slurm-init-seconds-before-status-checks",
            FIRST_STATUS_CHECK_S]  # fmt: skip
    proc = run_tool(
        ["snakemake", *args], ws, timeout=1500,
        SLURM_CONF=slurm_cluster.env["SLURM_CONF"], MEMTR_SLURM_GPUS="0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = pd.read_csv(ws / "results/tiny/results.csv")
    assert list(table["variant"]) == ["baseline", "mem4"]

    # every job of the DAG was a Slurm job: ids from Snakemake's log, states from Slurm
    log = proc.stdout + proc.stderr
    # before the first submission, the predicted GPU cost of the experiment's runs
    cost = log.index("Predicted training cost of `tiny` on one H100")
    assert cost < log.index("has been submitted with SLURM jobid")
    assert "| mem4 | 1 | prepend | 4 |" in log[cost:]
    job_ids = sorted(set(re.findall(r"has been submitted with SLURM jobid (\d+)", log)))
    rules = set(re.findall(r"^(?:local)?rule (\w+):", log, flags=re.M)) - {"all"}
    assert rules == {"check_params", "pretrain", "download", "prepare", "binarize", "extra_test",
                     "train", "evaluate", "attention", "tables", "figures"}, rules  # fmt: skip
    # params, pretrain (name none: its marker), data (download, prepare, binarize,
    # extra_test), 2 x (train, eval, attention), tables, figures
    assert len(job_ids) == 1 + 1 + 4 + 3 * 2 + 2, log[-3000:]
    for job_id in job_ids:
        assert (
            slurm_cluster.job_known(job_id) == "COMPLETED"
            or slurm_cluster.status_command == "squeue"
        )

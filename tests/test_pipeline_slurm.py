"""The Snakemake pipeline on a real one-node Slurm cluster (`snakemake --profile slurm`)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from pipeline_helpers import make_workspace, run_tool
from slurm_fixture import slurm_cluster  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.slow, pytest.mark.pipeline, pytest.mark.slurm]


def test_snakemake_profile_slurm_runs_every_job_through_slurm(slurm_cluster, tmp_path):  # noqa: F811
    ws = make_workspace(tmp_path)
    proc = run_tool(
        ["snakemake", *slurm_cluster.snakemake_args()], ws, timeout=1500,
        SLURM_CONF=slurm_cluster.env["SLURM_CONF"], MEMTR_SLURM_GPUS="0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = pd.read_csv(ws / "results/tiny/results.csv")
    assert list(table["variant"]) == ["baseline", "mem4"]

    # every job of the DAG was a Slurm job: ids from Snakemake's log, states from Slurm
    log = proc.stdout + proc.stderr
    job_ids = sorted(set(re.findall(r"has been submitted with SLURM jobid (\d+)", log)))
    rules = set(re.findall(r"^(?:local)?rule (\w+):", log, flags=re.M)) - {"all"}
    assert rules == {"check_params", "download", "prepare", "binarize", "extra_test", "train",
                     "evaluate", "attention", "tables"}, rules  # fmt: skip
    # params, data (download, prepare, binarize, extra_test), 2 x (train, eval, attention), tables
    assert len(job_ids) == 1 + 4 + 3 * 2 + 1, log[-3000:]
    for job_id in job_ids:
        assert (
            slurm_cluster.job_known(job_id) == "COMPLETED"
            or slurm_cluster.status_command == "squeue"
        )

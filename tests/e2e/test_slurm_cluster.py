"""scripts/slurm_cluster.sh: a real one-node Slurm cluster runs a batch job and stops cleanly.

The tests run in file order: the last one stops the run's cluster (tests/slurm_fixture.py)
and starts it again; a later test that asks for the cluster gets it started once more.
"""

from __future__ import annotations

import re
import time

import pytest
from slurm_fixture import SCRIPT, SlurmCluster, pid_alive, start_cluster

pytestmark = pytest.mark.slurm


def submit_and_wait(cluster: SlurmCluster, workdir) -> tuple[str, str, float]:
    """``sbatch --wait`` a job that writes its $SLURM_JOB_ID; returns (submitted id, written id, s)."""
    out = workdir / "jobid.txt"
    t0 = time.monotonic()
    proc = cluster.run(
        "sbatch",
        "--wait",
        "--parsable",
        "-J",
        "memtr-test",
        "-o",
        str(workdir / "slurm-%j.out"),
        f"--chdir={workdir}",
        "--wrap",
        f'echo "$SLURM_JOB_ID" > {out}',
    )
    seconds = time.monotonic() - t0
    submitted = proc.stdout.strip().split(";")[0]
    assert out.is_file(), f"the job did not write {out}"
    return submitted, out.read_text().strip(), seconds


def test_cluster_is_up(slurm_cluster: SlurmCluster):
    assert slurm_cluster.status_command in ("sacct", "squeue")
    status = slurm_cluster.run("bash", str(SCRIPT), "status", str(slurm_cluster.state_dir))
    assert re.search(r"\bidle\b", status.stdout), status.stdout
    assert set(slurm_cluster.pids()) >= {"munged", "slurmctld", "slurmd"}


def test_sbatch_job_runs_and_is_known(slurm_cluster: SlurmCluster, tmp_path):
    submitted, written, seconds = submit_and_wait(slurm_cluster, tmp_path)
    assert re.fullmatch(r"\d+", written), f"job wrote {written!r}, not a job id"
    assert written == submitted
    assert slurm_cluster.job_known(written) == "COMPLETED"
    print(f"sbatch --wait round trip: {seconds:.2f} s ({slurm_cluster.status_command})")


def test_stop_ends_daemons_and_restart_works(slurm_cluster: SlurmCluster, tmp_path):
    pids = slurm_cluster.pids()
    assert pids, "no pid files recorded"
    slurm_cluster.stop()
    alive = {name: pid for name, pid in pids.items() if pid_alive(pid)}
    assert not alive, f"daemons still running after stop: {alive}"
    assert not list((slurm_cluster.state_dir / "pids").glob("*.pid"))

    # The same state folder starts again, runs a job, and stops again.
    again = start_cluster(slurm_cluster.state_dir)
    try:
        submitted, written, _ = submit_and_wait(again, tmp_path)
        assert written == submitted
        assert again.job_known(written) == "COMPLETED"
    finally:
        new_pids = again.pids()
        again.stop()
    assert not [pid for pid in new_pids.values() if pid_alive(pid)]

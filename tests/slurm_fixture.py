"""A real one-node Slurm cluster for tests, started by ``scripts/slurm_cluster.sh``.

Mark the tests ``@pytest.mark.slurm`` and ask for ``slurm_cluster``: tests/conftest.py
registers the fixtures below, so one cluster (about 2-5 s to start) serves the whole pytest
run, whichever modules use it (``slurm_session``, session-scoped, stopped at the end of the
run). ``slurm_cluster`` hands it to a test, started again first if an earlier test stopped
it (as tests/e2e/test_slurm_cluster.py does on purpose). It needs root and the Debian packages
(installed on first use); without root, or where apt cannot install them, it skips; under
CI (``CI`` set) an install failure is an error.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm_cluster.sh"
SLURM_PROFILE = REPO / "slurm"
DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")


@dataclass
class SlurmCluster:
    """A running cluster: its state folder, the environment to reach it, how to query it."""

    state_dir: Path
    env: dict[str, str]  # os.environ plus SLURM_CONF and MEMTR_SLURM_GPUS=0
    status_command: str  # "sacct" (accounting on) or "squeue" (accounting off)
    start_seconds: float
    stopped: bool = field(default=False)

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, **kw
    ) -> subprocess.CompletedProcess:
        """Run a command (sbatch, sacct, snakemake, ...) against this cluster."""
        proc = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout, **kw
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def snakemake_args(self) -> list[str]:
        """Arguments that point snakemake at this cluster through the repository's profile."""
        return ["--profile", str(SLURM_PROFILE), "--slurm-status-command", self.status_command]

    def pids(self) -> dict[str, int]:
        """The pids recorded in pids/ (only the daemons that this cluster started)."""
        out = {}
        for name in DAEMONS:
            f = self.state_dir / "pids" / f"{name}.pid"
            if f.is_file() and f.read_text().strip().isdigit():
                out[name] = int(f.read_text().strip())
        return out

    def job_known(self, job_id: str, timeout: float = 30) -> str:
        """The state that Slurm reports for a job (polls: accounting records lag a little).

        Asks ``sacct`` with accounting on, ``scontrol show job`` without. Raises if the job
        is unknown after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.status_command == "sacct":
                proc = self.run(
                    "sacct", "-j", job_id, "-X", "-n", "-P", "-o", "JobID,State", check=False
                )
                rows = [line.split("|", 1) for line in proc.stdout.splitlines() if "|" in line]
                state = next((s for jid, s in rows if jid == job_id), None)
            else:
                proc = self.run("scontrol", "show", "job", job_id, check=False)
                m = re.search(r"JobState=(\S+)", proc.stdout)
                state = m.group(1) if m else None
            if state is not None:
                return state
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"job {job_id} unknown to {self.status_command}: {proc.stdout}{proc.stderr}"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the daemons (idempotent)."""
        if not self.stopped:
            self.run("bash", str(SCRIPT), "stop", str(self.state_dir), timeout=300)
            self.stopped = True

    def restart(self) -> None:
        """Start the stopped cluster again in its state folder (a no-op while it runs)."""
        if self.stopped:
            fresh = start_cluster(self.state_dir)
            self.env, self.status_command = fresh.env, fresh.status_command
            self.start_seconds, self.stopped = fresh.start_seconds, False


def pid_alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def ensure_slurm_installed() -> None:
    """Install the packages (a no-op when present); skip the test where that is impossible."""
    if os.geteuid() != 0:
        pytest.skip("the Slurm cluster needs root (daemons and apt-get run as root)")
    proc = subprocess.run(
        ["bash", str(SCRIPT), "install"], capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        reason = f"cannot install the Slurm packages: {proc.stderr.strip().splitlines()[-1:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def start_cluster(state_dir: Path) -> SlurmCluster:
    """Start a cluster whose state lives in ``state_dir``."""
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(SCRIPT), "start", str(state_dir)], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise AssertionError(f"slurm_cluster.sh start failed:\n{proc.stderr}")
    m = re.fullmatch(r"export SLURM_CONF=(\S+)", proc.stdout.strip())
    assert m, f"unexpected output of start: {proc.stdout!r}"
    # The node has no GPU: the profile's GPU rules must request none here.
    env = {**os.environ, "SLURM_CONF": m.group(1), "MEMTR_SLURM_GPUS": "0"}
    status_command = (state_dir / "status_command").read_text().strip()
    return SlurmCluster(state_dir, env, status_command, time.monotonic() - t0)


@pytest.fixture(scope="session")
def slurm_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """The run's one-node cluster: started on first use, stopped at the end of the run."""
    ensure_slurm_installed()
    cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster
    finally:
        cluster.stop()  # idempotent: a no-op when a test already stopped it


@pytest.fixture
def slurm_cluster(slurm_session: SlurmCluster) -> SlurmCluster:
    """The running cluster (started again if an earlier test stopped it)."""
    slurm_session.restart()
    return slurm_session

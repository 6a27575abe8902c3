"""Shared fixtures: a tiny binarized parallel corpus built with the real fairseq-preprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# For every fairseq-train in the tests: fairseq's prefetch thread (a daemon BufferedIterator),
# still collating when a short run ends mid-epoch, can abort the exit ("terminate called without
# an active exception", status -6), as it did once in CI. No prefetch thread, no race.
NO_PREFETCH = ("--data-buffer-size", "0")
sys.path.insert(0, str(REPO))


def run_cli(
    module: str, *args: str, cwd: Path | None = None, check: bool = True, threads: int = 2
) -> subprocess.CompletedProcess:
    """Run a fairseq command-line entry point (``fairseq_cli.<module>``) in a subprocess.

    ``threads=1`` suits the tiniest models: their steps are too short for two OpenMP threads,
    which spin-wait for each other when another job holds a core.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.run(
        [sys.executable, "-m", f"fairseq_cli.{module}", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"fairseq_cli.{module} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def reverse_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binarized reversal task (joined dictionary), src -> tgt, with raw text beside it."""
    from memtr.datasets.synthetic import write_parallel_corpus

    root = tmp_path_factory.mktemp("reverse")
    raw = write_parallel_corpus(
        root / "raw",
        "reverse",
        {"train": 4000, "valid": 200, "test": 100},
        vocab_size=12,
        min_len=3,
        max_len=8,
        seed=1,
    )
    run_cli(
        "preprocess",
        "--source-lang",
        "src",
        "--target-lang",
        "tgt",
        "--trainpref",
        str(raw / "train"),
        "--validpref",
        str(raw / "valid"),
        "--testpref",
        str(raw / "test"),
        "--destdir",
        str(root / "bin"),
        "--joined-dictionary",
        "--workers",
        "1",
    )
    return root

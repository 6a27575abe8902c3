"""fairseq's own distributed training over 2 CPU processes (gloo) with a memory model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import NO_PREFETCH, REPO

import fairseq_plugins  # noqa: F401  (safe globals to load the checkpoints)
from memtr.common.paths import PLUGIN_DIR

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_end_with_identical_parameters(reverse_corpus: Path, tmp_path: Path):
    port = free_port()
    common = [
        str(reverse_corpus / "bin"), "--user-dir", str(PLUGIN_DIR), "--task", "translation",
        "--arch", "mem_ctrl_tiny", "--mem-tokens", "4", "--share-all-embeddings",
        "--optimizer", "adam", "--lr", "1e-3", "--max-tokens", "500", "--max-update", "8",
        "--dropout", "0.1", "--seed", "3", "--cpu", "--no-epoch-checkpoints",
        "--save-interval-updates", "4", "--keep-interval-updates", "5",
        "--disable-validation", "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp",
        "--distributed-no-spawn", "--distributed-init-method", f"tcp://127.0.0.1:{port}",
        "--distributed-world-size", "2",
        *NO_PREFETCH,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for rank in (0, 1):  # fairseq creates the save dir on rank 0 only
        (tmp_path / f"rank{rank}").mkdir()
    ranks = [
        subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "dist_worker.py"),
                *common,
                "--distributed-rank",
                str(rank),
                "--save-dir",
                str(tmp_path / f"rank{rank}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    logs = [proc.communicate(timeout=600)[0] for proc in ranks]
    for proc, log in zip(ranks, logs, strict=True):
        assert proc.returncode == 0, log[-3000:]
    assert "training on 2 devices" in logs[0]
    memory = {}
    for update in (4, 8):
        zero, one = (
            torch.load(
                next((tmp_path / f"rank{r}").glob(f"checkpoint_*_{update}.pt")), map_location="cpu"
            )
            for r in (0, 1)
        )
        assert zero["optimizer_history"][-1]["num_updates"] == update
        assert zero["model"].keys() == one["model"].keys()
        for key in zero["model"]:
            assert torch.equal(zero["model"][key], one["model"][key]), (update, key)
        assert "encoder.memory_layers.0.fc1.weight" in zero["model"]
        memory[update] = zero["model"]["encoder.memory.vectors"]
    assert not torch.equal(memory[4], memory[8]), "the shared memory vectors were trained"

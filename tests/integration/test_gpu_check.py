"""scripts/gpu_check.sh's checks on CPU (``--device cpu``): every layout and the memory LM
through the real fairseq-train, incremental decoding against the full pass; the GPU-only
checks reported as skipped. On a GPU the same script runs them all (benchmarks/gpu_check.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pipeline_helpers import REPO, tool_env

pytestmark = pytest.mark.slow

TRAINED = ["train none", "train prepend", "train ctrl", "train ctrl_shared", "train bottleneck",
           "train memory LM"]  # fmt: skip


def test_the_gpu_check_runs_what_a_cpu_can_and_skips_the_rest(tmp_path):
    out = tmp_path / "gpu_check"
    cmd = [
        sys.executable,
        "benchmarks/gpu_check.py",
        "--device",
        "cpu",
        "--updates",
        "24",
        "--out",
        str(out),
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "gpu_check.json").read_text())
    assert doc["device"] == "cpu" and {"torch", "fairseq", "python"} <= set(doc["versions"])
    checks = {c["name"]: c for c in doc["checks"]}
    assert [name for name in checks if name.startswith("train ")] == TRAINED
    for name in TRAINED:
        check = checks[name]
        assert check["status"] == "pass", check
        assert check["data"]["losses"][-1] < check["data"]["losses"][0]
        assert check["data"]["memory_moved"] is (None if name == "train none" else True)
    assert checks["incremental decoding"]["status"] == "pass"
    assert checks["incremental decoding"]["data"]["max_diff"] <= 1e-4
    for name in ("decode half vs fp32", "benchmark (paper base, bf16)", "pipeline on the GPU"):
        assert checks[name]["status"] == "skipped" and "GPU only" in checks[name]["detail"]
    assert doc["training"]["mfu"] is None  # nothing measured: the cost predictor says so
    table = (out / "gpu_check.md").read_text()
    assert all(f"| {name} | pass |" in table for name in TRAINED)

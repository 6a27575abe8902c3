"""What the numbers were measured on: the machine, the software versions, the GPU's peak.

The report prints all of it, because a timing means nothing without the machine, the
library versions, the plugin's commit and how busy the cores were.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path

from benchmarks.specs import Config
from memtr.common.paths import REPO
from memtr.common.versions import fairseq_version, package_version

# Dense bf16 tensor-core peaks (FLOP/s) by device-name substring, first match wins.
GPU_PEAK_BF16 = [
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("A10G", 70e12),
    ("L4", 121e12),
]


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return cpu


def machine_info(cfg: Config) -> dict[str, str]:
    """The report's "Machine and versions" list, in its order (torch must be set up)."""
    import torch

    info = {
        "cpu": f"{cpu_name()} ({os.cpu_count()} logical cores)",
        "device": cfg.device,
        "torch threads": (
            f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op"
        ),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "unset"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "fairseq": fairseq_version(),
        "x-transformers": package_version("x-transformers"),
        "numpy": package_version("numpy"),
        "platform": platform.platform(),
    }
    info["memtr plugin"] = plugin_revision()
    if cfg.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
        peak = peak_flops(cfg)
        info["MFU peak"] = f"{peak / 1e12:.0f} TFLOP/s bf16 dense" if peak else "unknown GPU"
    return info


def plugin_revision() -> str:
    """The commit the plugin was measured at, and whether its files differ from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "fairseq_plugins"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (" with uncommitted changes to fairseq_plugins/" if dirty else "")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how quiet the machine was while timing."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def peak_flops(cfg: Config) -> float | None:
    """The device's dense bf16 peak (FLOP/s) from GPU_PEAK_BF16, None on CPU or unknown."""
    if cfg.device != "cuda":
        return None
    import torch

    name = torch.cuda.get_device_name()
    return next((peak for key, peak in GPU_PEAK_BF16 if key in name), None)

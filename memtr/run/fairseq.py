"""How the pipeline starts fairseq's command-line tools: plugin, device, threads."""

from __future__ import annotations

import os

from memtr.common.paths import PLUGIN_DIR

__all__ = ["PLUGIN_DIR", "device_args", "thread_env"]


def device_args() -> list[str]:
    """``--cpu`` without a GPU; on GPUs fairseq's own (distributed) training takes over."""
    import torch

    return [] if torch.cuda.is_available() else ["--cpu"]


def thread_env(threads: int) -> dict[str, str]:
    """The environment of a fairseq subprocess limited to ``threads`` CPU threads."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}

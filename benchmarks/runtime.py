"""How torch runs during the benchmark: threads, logging, bf16 autocast, device sync.

torch is imported inside the functions: the command line sets ``OMP_WAIT_POLICY`` before
OpenMP starts, and ``--help`` should not wait for torch.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from benchmarks.specs import Config


def quiet_logging() -> None:
    """Warnings only: fairseq's per-model INFO lines would bury the progress lines."""
    logging.basicConfig(level=logging.WARNING)
    for name in ("fairseq", "fairseq_plugins", "fairseq_cli"):
        logging.getLogger(name).setLevel(logging.WARNING)


def setup_torch(cfg: Config) -> Any:
    """Import torch with ``cfg.threads`` intra-op threads and one inter-op; return it."""
    import warnings

    import torch

    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(cfg.threads)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel op
        torch.set_num_interop_threads(1)
    torch.set_flush_denormal(True)  # denormals can slow CPU kernels as weights drift
    return torch


def sync(device: str) -> None:
    """Wait for queued GPU kernels, so that a timer measures them (no-op on CPU)."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def autocast(cfg: Config) -> Any:
    """bf16 autocast on a GPU, nothing on CPU (fp32): the context every model step runs in."""
    import torch

    if cfg.device == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

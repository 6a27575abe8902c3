"""How the pipeline starts fairseq's command-line tools: plugin, device, threads."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from memtr.common.paths import PLUGIN_DIR

__all__ = ["PLUGIN_DIR", "device_args", "generate_in_process", "thread_env"]
# fairseq's loggers: INFO lines (its whole config, per call) would flood a stage's log
FAIRSEQ_LOGGERS = ("fairseq", "fairseq_cli", "fairseq_plugins", "hydra")


def device_args() -> list[str]:
    """``--cpu`` without a GPU; on GPUs fairseq's own (distributed) training takes over."""
    import torch

    return [] if torch.cuda.is_available() else ["--cpu"]


def thread_env(threads: int) -> dict[str, str]:
    """The environment of a fairseq subprocess limited to ``threads`` CPU threads."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


@contextlib.contextmanager
def fairseq_quiet(threads: int) -> Iterator[None]:
    """fairseq called in this process: ``threads`` torch threads, its INFO logs and its
    configuration warnings (hydra's deprecations) held back; all restored afterwards."""
    import torch

    loggers = [logging.getLogger(name) for name in FAIRSEQ_LOGGERS]
    levels, old_threads = [lg.level for lg in loggers], torch.get_num_threads()
    torch.set_num_threads(threads)
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.set_num_threads(old_threads)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def generate_in_process(args: list[str], threads: int) -> str:
    """What ``fairseq-generate <args>`` prints (its S-/H-/D- lines), run in this process.

    fairseq's import (6-8 s of CPU) is paid once a stage instead of once a split; the
    options are parsed exactly as ``fairseq_cli.generate.cli_main`` parses them.
    """
    from fairseq import options
    from fairseq_cli import generate

    with tempfile.TemporaryDirectory(prefix="memtr-generate-") as out, fairseq_quiet(threads):
        parser = options.get_generation_parser()
        parser.add_argument("--arch", "-a", metavar="ARCH", default="wav2vec2")  # as cli_main
        parsed = options.parse_args_and_arch(parser, [*args, "--results-path", out])
        generate.main(parsed)
        (written,) = Path(out).glob("generate-*.txt")
        return written.read_text(encoding="utf-8")

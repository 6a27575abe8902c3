"""How the pipeline starts fairseq's command-line tools: plugin, device, precision, threads.

Every fairseq the pipeline runs (fairseq-train, -generate, -eval-lm, pre-training, attention
recording) gets its threads from here: ``train.threads`` OpenMP/MKL threads that *sleep* while
they wait (``OMP_WAIT_POLICY=PASSIVE``) instead of spinning about 3 ms (libgomp's default,
torch's OpenMP on Linux). A spinning thread holds the core that the thread it waits for needs,
so on a busy machine (a shared workstation or cluster node) a barrier can cost a scheduler
slice. Threads that sleep at once cost an idle machine about a tenth of its speed, so the
spin is chosen when fairseq starts, from what the cores this process may use are doing then
(:func:`machine_busy`, a quarter second of ``/proc/stat``): on idle cores a short spin
(``GOMP_SPINCOUNT=10000``, about 0.1 ms), on busy ones none. A load that starts later meets
the short spin (measured: still 3-4 times faster than spinning). ``benchmarks/busy_cpu.py``
measures the settings side by side (``results/busy_cpu.md``). A policy the user set is kept.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from memtr.common.errors import ConfigError
from memtr.common.paths import PLUGIN_DIR

__all__ = [
    "PLUGIN_DIR", "device_args", "generate_in_process", "precision_args", "thread_env",
    "wait_passively_here",
]  # fmt: skip
# fairseq's loggers: INFO lines (its whole config, per call) would flood a stage's log
FAIRSEQ_LOGGERS = ("fairseq", "fairseq_cli", "fairseq_plugins", "hydra")
WAIT_POLICY = "OMP_WAIT_POLICY"
PASSIVE = "PASSIVE"  # OpenMP threads sleep while they wait (every OpenMP runtime)
SPIN_COUNT = "GOMP_SPINCOUNT"  # libgomp only: spins before a waiting thread sleeps
SHORT_SPIN = "10000"  # about 0.1 ms (libgomp's estimate: 100,000 spins a millisecond)
NO_SPIN = "0"  # sleep at once: the cores are busy with other work
LOAD_SAMPLE_S = 0.25  # how long machine_busy watches the cores


def device_args() -> list[str]:
    """``--cpu`` without a GPU; on GPUs fairseq's own (distributed) training takes over."""
    import torch

    return [] if torch.cuda.is_available() else ["--cpu"]


def precision_args(precision: str, where: str = "train.precision") -> list[str]:
    """fairseq-train's options for ``precision`` (``fp32``: none, ``fp16``: ``--fp16`` with
    fairseq's dynamic loss scaling, ``bf16``: ``--bf16``); a ConfigError in one line when this
    machine cannot run it. Called before any long work: mixed precision needs CUDA (and bf16
    a card that supports it), and fairseq would otherwise fail (or crawl in half precision
    on a CPU) only after the data is loaded. bf16 relies on the plugin's fix of fairseq's
    TPU switch (``fairseq_plugins/bf16.py``)."""
    if precision == "fp32":
        return []
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"{where} is {precision}, which needs a CUDA GPU; torch sees none on this "
            "machine: set it to fp32"
        )
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"{where} is bf16, which {torch.cuda.get_device_name()} does not support: "
            "use fp16 or fp32"
        )
    return [f"--{precision}"]


def wait_policy(environ: Mapping[str, str], busy: bool = False) -> dict[str, str]:
    """The OpenMP wait settings to add to ``environ``: passive, after a short spin on idle
    cores and none on ``busy`` ones; nothing when ``environ`` sets a wait policy (the user's
    choice wins, ``ACTIVE`` included), and no spin count when it sets its own."""
    if WAIT_POLICY in environ:
        return {}
    spin = NO_SPIN if busy else SHORT_SPIN
    return {WAIT_POLICY: PASSIVE, **({} if SPIN_COUNT in environ else {SPIN_COUNT: spin})}


def busy_ticks(cores: set[int]) -> int:
    """Clock ticks the CPUs ``cores`` have spent busy since boot (``/proc/stat``'s cpuN
    lines: all but idle and iowait)."""
    total = 0
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
                total += user + nice + system + irq + softirq + steal
    return total


def other_load(seconds: float = LOAD_SAMPLE_S) -> float:
    """How many of this process's cores other work kept busy over the next ``seconds`` (this
    process sleeps meanwhile); 0.0 where ``/proc/stat`` cannot be read."""
    import time

    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    try:
        before, start = busy_ticks(cores), time.monotonic()
        time.sleep(seconds)
        after, wall = busy_ticks(cores), time.monotonic() - start
    except OSError:
        return 0.0
    return (after - before) / os.sysconf("SC_CLK_TCK") / wall


def machine_busy(threads: int) -> bool:
    """True when other work leaves fewer idle cores than ``threads`` need (by more than half
    a core): fairseq's threads then sleep as soon as they wait."""
    return other_load() > usable_cores() - threads + 0.5


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, which is what a Slurm allocation,
    ``taskset`` or a cgroup cpuset limits (``os.cpu_count()`` where there is no affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_warning(threads: int, cores: int) -> str | None:
    """The one-line warning when ``threads`` exceeds ``cores``, else None."""
    if threads <= cores:
        return None
    return (
        f"warning: train.threads is {threads} but this process may use {cores} "
        f"core{'s' if cores > 1 else ''} (its CPU affinity): threads beyond the cores wait "
        f"for each other; set train.threads to {cores} or less"
    )


@functools.cache
def warn_if_oversubscribed(threads: int) -> None:
    """Print :func:`threads_warning` for ``threads`` on stderr, once a process."""
    message = threads_warning(threads, usable_cores())
    if message:
        print(message, file=sys.stderr, flush=True)


def thread_env(threads: int) -> dict[str, str]:
    """The environment of a fairseq subprocess: ``threads`` OpenMP and MKL threads that wait
    passively, after a short spin where the cores are idle now (unless the user chose a wait
    policy); warns once when ``threads`` exceeds the usable cores."""
    warn_if_oversubscribed(threads)
    busy = WAIT_POLICY not in os.environ and machine_busy(threads)
    return {
        **os.environ, **wait_policy(os.environ, busy),
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
    }  # fmt: skip


def wait_passively_here(threads: int | None = None) -> bool:
    """Give fairseq run in this process (with ``threads`` threads; None: the usable cores)
    the wait settings of :func:`thread_env`: set them in this process's environment (unless
    the user set a policy). OpenMP reads it once, when torch loads, so a stage script calls
    this before anything imports torch; returns False (and changes nothing) when torch is
    already loaded."""
    if "torch" in sys.modules:
        return False
    busy = WAIT_POLICY not in os.environ and machine_busy(threads or usable_cores())
    os.environ.update(wait_policy(os.environ, busy))
    return True


@contextlib.contextmanager
def fairseq_quiet(threads: int) -> Iterator[None]:
    """fairseq called in this process: ``threads`` torch threads (a warning when they exceed
    the usable cores), its INFO logs and its configuration warnings (hydra's deprecations)
    held back; all restored afterwards."""
    import torch

    warn_if_oversubscribed(threads)
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


def arch_default(arch: str, key: str) -> Any:
    """The value fairseq's architecture ``arch`` gives option ``key`` when params leave it
    out (imports fairseq and the plugin: only for the rare check that needs it)."""
    import argparse

    from fairseq.models import ARCH_CONFIG_REGISTRY

    import fairseq_plugins  # noqa: F401  (registers the memory architectures)

    filled = argparse.Namespace()
    ARCH_CONFIG_REGISTRY[arch](filled)
    return getattr(filled, key, None)

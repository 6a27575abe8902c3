"""Peak training memory: one fresh process per model, so no model sees another's peak.

The parent re-runs the command line (``run.py --probe <json>``) once per model; the child
builds the same batches and model, trains once on each training batch and prints
``PEAK_MIB <value>``, which the parent parses.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.models import Bench
from benchmarks.runtime import quiet_logging, setup_torch
from benchmarks.specs import Config, Spec
from benchmarks.training import train_runner
from memtr.common.paths import REPO

CLI_SCRIPT = Path(__file__).resolve().with_name("run.py")  # its hidden --probe runs a child
PEAK_PREFIX = "PEAK_MIB "  # the child's one line of result


def proc_status_kib(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in KiB.

    Not ``ru_maxrss``: Linux carries it over ``exec`` from the parent, so a probe started
    by a big parent would report the parent's peak. ``VmHWM`` belongs to this process image.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def probe_memory(cfg: Config, spec: Spec, workdir: Path) -> float:
    """Peak training memory of one model in MiB (run in a fresh process, see --probe).

    CPU: growth of the peak resident set (``VmHWM``) over the resident set after the
    model and batches were built, while each training batch is trained on once
    (activations, gradients, Adam's moments, allocator slack). GPU: growth of
    ``torch.cuda.max_memory_allocated`` over the memory allocated before.
    """
    torch = setup_torch(cfg)
    bench = Bench(cfg, workdir)
    model = bench.build(spec)
    run = train_runner(bench, model, bench.samples(spec, bench.train_batches), adam=True)
    if cfg.device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    before = proc_status_kib("VmRSS")
    run()
    return (proc_status_kib("VmHWM") - before) / 1024


def probe_in_subprocess(cfg: Config, spec: Spec) -> float:
    """Peak training memory of ``spec`` in MiB, measured by a child process (NaN if it fails)."""
    cmd = [sys.executable, str(CLI_SCRIPT), "--probe", json.dumps([asdict(cfg), asdict(spec)])]
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith(PEAK_PREFIX):
            return float(line.split()[1])
    print(f"  memory probe of {spec.name} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
    return math.nan


def run_probe(payload: str) -> None:
    """The child's side: decode ``[config, spec]`` from JSON, measure, print the result."""
    cfg_dict, spec_dict = json.loads(payload)
    cfg_dict["fixed_batch"] = tuple(cfg_dict["fixed_batch"])  # JSON has no tuples
    cfg, spec = Config(**cfg_dict), Spec(**spec_dict)
    quiet_logging()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{PEAK_PREFIX}{probe_memory(cfg, spec, Path(tmp)):.1f}", flush=True)


def add_peak_memory(cfg: Config, specs: list[Spec], rows: list[dict[str, Any]]) -> None:
    """Fill ``peak_mem_mib`` of the train rows (the first ``len(specs)`` of ``rows``)."""
    print("peak memory: one fresh process per model ...", flush=True)
    for spec, row in zip(specs, rows, strict=False):
        row["peak_mem_mib"] = probe_in_subprocess(cfg, spec)
        print(f"  {spec.name}: {row['peak_mem_mib']:.1f} MiB", flush=True)

#!/usr/bin/env python
"""Benchmark: what memory tokens cost, against fairseq's transformer, x-transformers and FLOPs.

One command (see benchmarks/README.md)::

    python benchmarks/run.py [--quick] [--threads N] [--repeats R] --out results/

Three sections, each timed round-robin (A B C ... A B C ...) on identical pre-built
batches, medians over the rounds after warm-up; every ratio is the median of the
per-round ratios against the baseline timed in the same round:

* ``train``: forward + backward + Adam step of fairseq's ``transformer`` and of every
  memory variant (m = 5, 10, 20, plus MemTransformer at m = 0) on fairseq batches of
  Multi30k (real data when ``data/bin/multi30k_de_en`` exists, else synthetic batches
  with Multi30k's lengths); FLOP-predicted ratio beside the measured one; peak memory.
  A reference row runs fairseq's own ``transformer`` on the same batches with m extra
  real source tokens: the cost of n + m positions without any memory code.
* ``generate``: beam search (fairseq's SequenceGenerator) with the decode length fixed
  to the batch's longest reference for every model, so untrained models do equal work.
* ``xt``: forward + backward on one 64 x 16 x 16 batch, ours against x-transformers'
  ``XTransformer`` with ``enc_num_memory_tokens`` at equal dims and tied embeddings.

On a GPU (detected) the same runs under bf16 autocast and the report adds the model
FLOPs utilisation. Writes ``benchmarks.md`` and ``benchmarks.csv`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if not __package__:  # `python benchmarks/run.py`: make the repository importable
    import _bootstrap  # noqa: F401

from benchmarks.decoding import generate_section  # noqa: E402
from benchmarks.machine import load_average, machine_info  # noqa: E402
from benchmarks.memory import add_peak_memory, run_probe  # noqa: E402
from benchmarks.models import Bench  # noqa: E402
from benchmarks.report import write_report  # noqa: E402
from benchmarks.runtime import quiet_logging, setup_torch  # noqa: E402
from benchmarks.specs import Config, Spec, fairseq_specs  # noqa: E402
from benchmarks.training import train_section  # noqa: E402
from benchmarks.xtransformers import xt_section  # noqa: E402
from memtr.common.paths import REPO  # noqa: E402

MULTI30K = REPO / "data" / "bin" / "multi30k_de_en"  # the pipeline's binarized Multi30k
PAPER_BASE = {
    "d": 512,
    "ffn": 2048,
    "heads": 8,
    "enc_layers": 6,
    "dec_layers": 6,
}  # Transformer-base


def parse_cli(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see benchmarks/README.md); ``--probe`` is the memory probe's child."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="seconds-long smoke: tiny dims, 1+2 rounds"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch intra-op threads (default 2; quick 1: tiny ops on busy cores only wait)",
    )
    parser.add_argument("--repeats", type=int, help="timed rounds after warm-up (default 7)")
    parser.add_argument("--warmup", type=int, help="untimed warm-up rounds (default 1)")
    parser.add_argument("--out", type=Path, default=REPO / "results", help="output folder")
    parser.add_argument(
        "--data",
        help="binarized Multi30k folder (default data/bin/multi30k_de_en if it exists, "
        "else 'synthetic': random pairs with Multi30k-like lengths)",
    )
    parser.add_argument("--max-tokens", type=int, help="training batch size (default 2048)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument(
        "--paper-base", action="store_true",
        help="the paper's base size (d 512, ffn 2048, 8 heads, 6+6 layers) instead of d 256",
    )  # fmt: skip
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    """The run's Config: the defaults (or --quick's), overridden by the given options."""
    import torch

    overrides: dict[str, Any] = {}
    for key in ("threads", "repeats", "warmup", "max_tokens"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    overrides["device"] = device
    data = args.data
    if data is None:
        data = "synthetic" if args.quick or not MULTI30K.exists() else str(MULTI30K)
    overrides["data"] = "" if data == "synthetic" else data
    if args.no_memory:
        overrides["memory_probe"] = False
    if args.paper_base:
        overrides.update(PAPER_BASE)
    return Config.quick_config(**overrides) if args.quick else Config(**overrides)


def measure(bench: Bench, specs: list[Spec]) -> list[dict[str, Any]]:
    """Every section's rows, train first (the peak-memory probe fills those in order)."""
    print(f"building {len(specs)} fairseq models ...", flush=True)
    models = {spec.name: bench.build(spec) for spec in specs}
    rows = train_section(bench, specs, models)
    rows += generate_section(bench, specs, models)
    rows += xt_section(bench, models)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report; or, with --probe, one memory probe."""
    # Must be set before torch starts OpenMP. Spinning threads on a shared machine wait a
    # scheduler slice at every barrier (measured here, load ~4 on 2 cores, 2 threads: 8.0 s
    # per training step spinning, 0.80 s passive, 0.81 s with 1 thread).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = parse_cli(argv)
    if args.probe:
        run_probe(args.probe)
        return 0
    start, load_start = time.perf_counter(), load_average()
    quiet_logging()
    cfg = config_from(args)
    setup_torch(cfg)
    info = machine_info(cfg)
    print("\n".join(f"{k}: {v}" for k, v in info.items()))
    print(f"load average at start: {load_start}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(cfg, Path(tmp))
        specs = fairseq_specs(cfg)
        rows = measure(bench, specs)  # the models are freed before the memory probes
        if cfg.memory_probe:
            add_peak_memory(cfg, specs, rows)
        wall = time.perf_counter() - start
        write_report(args.out, cfg, bench, rows, info, wall, (load_start, load_average()))
    print((args.out / "benchmarks.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

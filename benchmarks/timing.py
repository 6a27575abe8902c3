"""How a section is timed, and how its times become a row of the report.

Round-robin (A B C ... A B C ...) with the order rotated every round, so that a slow
spell of a shared machine hits every model alike; ratios are taken per round against the
baseline timed in the same round, then summarised by their median and quartiles.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.machine import load_average
from benchmarks.runtime import sync
from benchmarks.specs import Config, Spec


def round_robin(runners: dict[str, Callable], cfg: Config, label: str) -> dict[str, list[float]]:
    """Time every runner once per round, in an order rotated every round.

    Returns each runner's seconds per round, warm-up rounds dropped.
    """
    names = list(runners)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(cfg.warmup + cfg.repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            sync(cfg.device)
            start = time.perf_counter()
            runners[name]()
            sync(cfg.device)
            if r >= cfg.warmup:
                times[name].append(time.perf_counter() - start)
        state = "warm-up" if r < cfg.warmup else f"{r - cfg.warmup + 1}/{cfg.repeats}"
        print(f"  [{label}] round {state} done (load {load_average()})", flush=True)
    return times


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(q1, median, q3) of ``values``; a single value is all three."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def paired_ratio(times: list[float], base: list[float]) -> tuple[float, float, float]:
    """Quartiles (q1, median, q3) of the per-round time ratios ``times / base``."""
    return quartiles([a / b for a, b in zip(times, base, strict=True)])


def new_row(cfg: Config, section: str, spec: Spec, params: int | None) -> dict[str, Any]:
    """The columns every row of a section has, before its timings are filled in."""
    return {
        "section": section,
        "model": spec.name,
        "layout": spec.layout,
        "mem_tokens": spec.mem_tokens,
        "params": params,
        "device": cfg.device,
        "dtype": "bf16-autocast" if cfg.device == "cuda" else "fp32",
        "threads": cfg.threads,
        "rounds": cfg.repeats,
        "status": "ok",
    }


def add_ratios(
    row: dict[str, Any], times: list[float], base: list[float], flops: int | None, base_flops: int
) -> None:
    """Fill in the measured cost ratio and, when ``flops`` is known, the predicted one."""
    q1, ratio, q3 = paired_ratio(times, base)
    row.update(measured_ratio=ratio, ratio_q1=q1, ratio_q3=q3)
    if flops is not None:
        predicted = flops / base_flops
        row.update(
            predicted_ratio=predicted,
            measured_over_predicted=ratio / predicted,
            gflops=flops / 1e9,
        )

"""The ``train`` section: forward + backward + Adam step, timed model against model.

Every fairseq model trains on the same pre-built batches; beside the measured cost ratio
against the baseline stands the FLOP-predicted one (``flops.py``), and on a GPU the
achieved TFLOP/s and the model FLOPs utilisation.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.batches import Sample, real_tokens, shapes_of
from benchmarks.machine import peak_flops
from benchmarks.models import Bench, count_params
from benchmarks.runtime import autocast
from benchmarks.specs import BASELINE_MODEL, Spec
from benchmarks.timing import add_ratios, new_row, round_robin


def train_runner(
    bench: Bench, model: Any, samples: list[Sample], adam: bool, plain_loss: bool = False
) -> Callable:
    """Run one training step per sample: forward, backward and (``adam``) an Adam step.

    The loss is fairseq's label-smoothed cross-entropy, or (``plain_loss``) plain
    cross-entropy.
    """
    cfg = bench.cfg
    criterion = bench.plain_criterion if plain_loss else bench.criterion
    optimizer = bench.torch.optim.Adam(model.parameters(), lr=1e-4) if adam else None

    def run() -> None:
        for sample in samples:
            with autocast(cfg):
                loss, _, _ = criterion(model, sample)  # scalar, summed over the batch
            loss.backward()
            if optimizer is not None:
                optimizer.step()
            for p in model.parameters():
                p.grad = None

    return run


def train_section(bench: Bench, specs: list[Spec], models: dict[str, Any]) -> list[dict]:
    """One row per model of ``specs`` (the baseline first), in their order."""
    cfg = bench.cfg
    runners = {
        s.name: train_runner(bench, models[s.name], bench.samples(s, bench.train_batches), True)
        for s in specs
    }
    times = round_robin(runners, cfg, "train")
    shapes = shapes_of(bench.train_batches)
    tokens = real_tokens(bench.train_batches, bench.vocab.pad())
    base_flops = specs[0].train_flops(bench.dims, shapes)
    peak = peak_flops(cfg)
    rows = []
    for spec in specs:
        flops = spec.train_flops(bench.dims, shapes)
        seconds = statistics.median(times[spec.name])
        row = new_row(cfg, "train", spec, count_params(models[spec.name]))
        row.update(
            batches=len(shapes),
            sentences=sum(b for b, _, _ in shapes),
            tokens=tokens,
            time_s=seconds,
            throughput=tokens / seconds,
            unit="src+tgt tokens/s",
            achieved_tflops=flops / seconds / 1e12,
            mfu=flops / seconds / peak if peak else None,
        )
        add_ratios(row, times[spec.name], times[BASELINE_MODEL], flops, base_flops)
        rows.append(row)
    return rows

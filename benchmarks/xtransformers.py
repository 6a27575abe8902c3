"""The ``xt`` section: ours against x-transformers' ``XTransformer`` with memory tokens.

Forward + backward on one unpadded batch (``Config.fixed_batch``), plain cross-entropy
for both; without x-transformers installed its rows say "not installed".
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.batches import Sample
from benchmarks.models import Bench, count_params
from benchmarks.runtime import autocast
from benchmarks.specs import BASELINE_MODEL, XT_LAYOUT, xt_specs
from benchmarks.timing import add_ratios, new_row, round_robin
from benchmarks.training import train_runner
from memtr.common.versions import NOT_INSTALLED, package_version

NOT_INSTALLED_STATUS = "not installed (pip install -r benchmarks/requirements.txt)"


def xt_runner(bench: Bench, model: Any, samples: list[Sample]) -> Callable:
    """Forward + backward of XTransformer (its forward returns the cross-entropy loss).

    The decoder gets ``prev_output_tokens`` (t positions, as ours computes); its loss
    covers the t - 1 next-token targets inside them.
    """
    cfg, pad = bench.cfg, bench.vocab.pad()

    def run() -> None:
        for sample in samples:
            # src (B, n), tgt (B, t)
            src, tgt = sample["net_input"]["src_tokens"], sample["net_input"]["prev_output_tokens"]
            mask = src.ne(pad)  # (B, n), True at real tokens
            with autocast(cfg):
                loss = model(src, tgt, mask=None if bool(mask.all()) else mask)
            loss.backward()
            for p in model.parameters():
                p.grad = None

    return run


def xt_section(bench: Bench, models: dict[str, Any]) -> list[dict]:
    """One row per model of ``xt_specs``; reuses the train section's models where it can."""
    cfg = bench.cfg
    specs = xt_specs(cfg)
    installed = package_version("x-transformers") != NOT_INSTALLED
    runners, params, rows = {}, {}, []
    for spec in specs:
        if spec.layout == XT_LAYOUT and not installed:
            continue
        model = models[spec.name] if spec.name in models else bench.build(spec)
        if spec.layout == XT_LAYOUT:
            runners[spec.name] = xt_runner(bench, model, bench.fixed)
        else:
            runners[spec.name] = train_runner(bench, model, bench.fixed, False, plain_loss=True)
        params[spec.name] = count_params(model)
    times = round_robin(runners, cfg, "xt")
    sentences, n, t = cfg.fixed_batch
    shapes = [(sentences, n, t)]
    base_flops = specs[0].train_flops(bench.dims, shapes)
    for spec in specs:
        row = new_row(cfg, "xt", spec, params.get(spec.name))
        if spec.name not in runners:
            row["status"] = NOT_INSTALLED_STATUS
            rows.append(row)
            continue
        seconds = statistics.median(times[spec.name])
        row.update(
            batches=1,
            sentences=sentences,
            tokens=sentences * (n + t),
            time_s=seconds,
            throughput=sentences * (n + t) / seconds,
            unit="src+tgt tokens/s (fwd+bwd)",
        )
        flops = None if spec.layout == XT_LAYOUT else spec.train_flops(bench.dims, shapes)
        add_ratios(row, times[spec.name], times[BASELINE_MODEL], flops, base_flops)
        rows.append(row)
    return rows

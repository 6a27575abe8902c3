"""The ``generate`` section: fairseq's beam search, every model decoding equally long.

Untrained models would stop at random lengths; here EOS is banned until the batch's
longest reference and forced there, so that every model does the same number of steps.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.batches import Sample, shapes_of
from benchmarks.flops import generate_flops
from benchmarks.models import Bench, count_params
from benchmarks.runtime import autocast
from benchmarks.specs import BASELINE_MODEL, Spec
from benchmarks.timing import add_ratios, new_row, round_robin


def decode_steps(sample: Sample, pad: int) -> int:
    """The forced output length of a generation batch: its longest reference."""
    return int(sample["target"].ne(pad).sum(1).max())  # target (B, t) -> lengths (B,) -> max


def generate_runner(bench: Bench, model: Any, samples: list[Sample]) -> Callable:
    """Beam search whose decode length is the batch's longest reference, for every model.

    EOS is banned until that length (``min_len``) and forced there (``max_len``), so
    untrained models that would stop at random decode exactly as many steps as each other.
    """
    from fairseq.sequence_generator import SequenceGenerator

    cfg, pad = bench.cfg, bench.vocab.pad()
    generators = []
    for sample in samples:
        steps = decode_steps(sample, pad)
        generators.append(
            SequenceGenerator(
                [model],
                bench.task.target_dictionary,
                beam_size=cfg.beam,
                max_len_a=0,
                max_len_b=steps,
                min_len=steps,
            )
        )

    def run() -> None:
        for generator, sample in zip(generators, samples, strict=True):
            with autocast(cfg):
                generator.generate([model], sample)

    return run


def generation_flops(
    bench: Bench, spec: Spec, shapes: list[tuple[int, int, int]], steps: list[int]
) -> int:
    """Predicted beam-search FLOPs of ``spec`` over batches of ``shapes``, ``steps`` each."""
    return sum(
        generate_flops(
            bench.dims, spec.layout, b, n + spec.extra_src, s, spec.mem_tokens, bench.cfg.beam
        )
        for (b, n, _), s in zip(shapes, steps, strict=True)
    )


def generate_section(bench: Bench, specs: list[Spec], models: dict[str, Any]) -> list[dict]:
    """One row per model of ``specs`` (the baseline first); the models end in training mode."""
    cfg, pad = bench.cfg, bench.vocab.pad()
    for model in models.values():
        model.eval()
    runners = {
        s.name: generate_runner(bench, models[s.name], bench.samples(s, bench.gen_batches))
        for s in specs
    }
    times = round_robin(runners, cfg, "generate")
    shapes = shapes_of(bench.gen_batches)
    steps = [decode_steps(b, pad) + 1 for b in bench.gen_batches]  # + the EOS step
    sentences = sum(b for b, _, _ in shapes)
    base_flops = generation_flops(bench, specs[0], shapes, steps)
    rows = []
    for spec in specs:
        flops = generation_flops(bench, spec, shapes, steps)
        seconds = statistics.median(times[spec.name])
        row = new_row(cfg, "generate", spec, count_params(models[spec.name]))
        row.update(
            batches=len(shapes),
            sentences=sentences,
            tokens=sum(b * s for (b, _, _), s in zip(shapes, steps, strict=True)),
            time_s=seconds,
            throughput=sentences / seconds,
            unit=f"sentences/s (beam {cfg.beam})",
            achieved_tflops=flops / seconds / 1e12,
        )
        add_ratios(row, times[spec.name], times[BASELINE_MODEL], flops, base_flops)
        rows.append(row)
    for model in models.values():
        model.train()
    return rows

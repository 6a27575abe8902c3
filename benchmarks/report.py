"""The benchmark's two outputs: ``benchmarks.csv`` (every row) and ``benchmarks.md``.

The Markdown report states the machine, the issue's three targets (met or missed, with
the numbers that decide them), how the numbers were measured, and one table per section.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from benchmarks.batches import shapes_of
from benchmarks.models import Bench
from benchmarks.specs import BASELINE_MODEL, Config, reference_name
from memspec import BASELINE

Row = dict[str, Any]  # one model in one section: CSV_COLUMNS -> value
SECTIONS = ("train", "generate", "xt")
CSV_COLUMNS = [
    "section",
    "model",
    "layout",
    "mem_tokens",
    "params",
    "device",
    "dtype",
    "threads",
    "rounds",
    "batches",
    "sentences",
    "tokens",
    "time_s",
    "throughput",
    "unit",
    "measured_ratio",
    "ratio_q1",
    "ratio_q3",
    "predicted_ratio",
    "measured_over_predicted",
    "gflops",
    "achieved_tflops",
    "mfu",
    "peak_mem_mib",
    "status",
]
# Markdown table columns: (row key, column title).
RATIO_COLUMNS = [
    ("measured_ratio", "measured cost ratio"),
    ("ratio_q1", "q1"),
    ("ratio_q3", "q3"),
    ("predicted_ratio", "FLOP-predicted ratio"),
    ("measured_over_predicted", "measured / predicted"),
]
GENERATE_COLUMNS = [("model", "model"), ("throughput", "sentences/s"), *RATIO_COLUMNS]
XT_COLUMNS = [
    ("model", "model"),
    ("params", "params"),
    ("throughput", "tokens/s"),
    ("measured_ratio", "cost vs fairseq transformer"),
    ("predicted_ratio", "FLOP-predicted"),
    ("status", "status"),
]


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: blank for missing, thousands separators for big numbers."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int) and abs(value) >= 10000:
        return f"{value:,}"
    return str(value)


def table(rows: list[Row], columns: list[tuple[str, str]]) -> str:
    """A Markdown table of ``rows``, one column per (key, title)."""
    lines = ["| " + " | ".join(title for _, title in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    """A target's outcome, in bold."""
    return "**met**" if ok else "**missed**"


def training_target(rows: list[Row], by: dict[tuple[str, str], Row], cfg: Config) -> list[str]:
    """Target 1: measured / FLOP-predicted training cost <= 1.03 for every memory variant."""
    m = cfg.m_max
    train = [
        r for r in rows if r["section"] == "train" and r["layout"] != BASELINE and r["mem_tokens"]
    ]
    worst = max(train, key=lambda r: r["measured_over_predicted"])
    ok = all(r["measured_over_predicted"] <= 1.03 for r in train)
    out = [
        f"1. Measured / FLOP-predicted cost <= 1.03 for every memory variant (training, "
        f"{cfg.device}): {verdict(ok)}; worst {worst['model']} "
        f"{worst['measured_over_predicted']:.3f}, best "
        f"{min(r['measured_over_predicted'] for r in train):.3f}."
    ]
    ref = by.get(("train", reference_name(m)))
    pre = by.get(("train", f"mem_transformer m={m}"))
    if ref and pre:
        out.append(
            f"   Reference: fairseq's own `transformer` given {m} extra real source tokens "
            f"(the same shapes as [memory ; source], no memory code) scores "
            f"{ref['measured_over_predicted']:.3f}; MemTransformer m={m} costs "
            f"{pre['measured_ratio'] / ref['measured_ratio']:.3f}x that reference."
        )
    return out


def xt_target(by: dict[tuple[str, str], Row], cfg: Config) -> str:
    """Target 2: our memory encoder-decoder >= 1.15x as fast as x-transformers' at m_max."""
    m = cfg.m_max
    ours, theirs = by.get(("xt", f"mem_transformer m={m}")), by.get(("xt", f"x-transformers m={m}"))
    if not (ours and theirs and theirs["status"] == "ok"):
        return f"2. >= 1.15x x-transformers at m={m}: not measured (x-transformers not installed)."
    speed = ours["throughput"] / theirs["throughput"]
    hide = by[("xt", f"mem_transformer m={m} hide-from-decoder")]
    base0, xt0 = by[("xt", BASELINE_MODEL)], by[("xt", "x-transformers m=0")]
    return (
        f"2. Our memory encoder-decoder >= 1.15x as fast as x-transformers' at m={m}: "
        f"{verdict(speed >= 1.15)}; {speed:.2f}x (with `--mem-hide-from-decoder`, which "
        f"like x-transformers keeps the memory from the decoder: "
        f"{hide['throughput'] / theirs['throughput']:.2f}x; at m=0: "
        f"{base0['throughput'] / xt0['throughput']:.2f}x)."
    )


def generation_target(rows: list[Row], by: dict[tuple[str, str], Row], cfg: Config) -> list[str]:
    """Target 3: beam search with m_max memory tokens at >= 0.95x the baseline's speed."""
    m = cfg.m_max
    gen = by.get(("generate", f"mem_transformer m={m}"))
    if not gen:
        return []
    rel = 1 / gen["measured_ratio"]
    gref = by[("generate", reference_name(m))]
    others = ", ".join(
        f"{r['model']} {1 / r['measured_ratio']:.3f}x"
        for r in rows
        if r["section"] == "generate" and r["mem_tokens"] == m and r["model"] != gen["model"]
    )
    return [
        f"3. Beam search with m={m} at >= 0.95x the baseline's sentences/s: "
        f"{verdict(rel >= 0.95)}; MemTransformer {rel:.3f}x (FLOP bound "
        f"{1 / gen['predicted_ratio']:.3f}x; the equal-length reference "
        f"{1 / gref['measured_ratio']:.3f}x); {others}."
    ]


def target_lines(rows: list[Row], cfg: Config) -> list[str]:
    """The issue's three targets, each with the number that decides it."""
    by = {(r["section"], r["model"]): r for r in rows}
    return [
        *training_target(rows, by, cfg),
        xt_target(by, cfg),
        *generation_target(rows, by, cfg),
    ]


def write_csv(path: Path, rows: list[Row]) -> None:
    """Every row, the columns of CSV_COLUMNS, missing values blank."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})


def train_columns(cfg: Config) -> list[tuple[str, str]]:
    """The training table's columns; a GPU run adds TFLOP/s and MFU."""
    columns = [("model", "model"), ("params", "params"), ("throughput", "tokens/s")]
    columns += RATIO_COLUMNS + [("peak_mem_mib", "peak mem MiB")]
    if cfg.device == "cuda":
        columns += [("achieved_tflops", "TFLOP/s"), ("mfu", "MFU")]
    return columns


def command_line(cfg: Config, out: Path) -> str:
    """The command that reproduces this run's settings, for the report's first line."""
    command = "python benchmarks/run.py" + (" --quick" if cfg.quick else "")
    return command + f" --threads {cfg.threads} --repeats {cfg.repeats} --out {out}"


def setup_lines(cfg: Config, bench: Bench) -> list[str]:
    """The "Setup" section: models, data, timing, FLOPs, reference, generation, memory."""
    memory_note = (
        "- Peak memory (CPU): growth of the peak resident set (`VmHWM`) over the resident "
        "set after building model and batches, in a fresh process per model that trains once "
        "on each training batch: activations, gradients, Adam's moments and allocator slack. "
        "(GPU: growth of `torch.cuda.max_memory_allocated`.)"
        if cfg.memory_probe
        else "- Peak memory: not measured in this run (`--no-memory` or `--quick`)."
    )
    return [
        f"- Models: d={cfg.d}, ffn {cfg.ffn}, {cfg.heads} heads, {cfg.enc_layers}+"
        f"{cfg.dec_layers} layers, all embeddings shared (`--share-all-embeddings`), dropout 0, "
        f"vocabulary {len(bench.vocab)}; fairseq's `transformer` is the baseline.",
        f"- Data: {bench.data_note}. Training batches (sentences, padded source, padded "
        f"target): {shapes_of(bench.train_batches)}, fairseq's `--max-tokens {cfg.max_tokens}` "
        f"batching; generation batches: {shapes_of(bench.gen_batches)}.",
        f"- Timing: {cfg.warmup} warm-up round(s), then {cfg.repeats} rounds; in each round "
        "every model runs the same batches, in an order rotated every round. Times are medians "
        "over rounds; a *cost ratio* is the median of the per-round time ratios model / "
        "baseline (q1, q3: their quartiles, the spread of the measurement). Training = "
        "forward + backward + Adam step, fairseq's label-smoothed cross-entropy.",
        "- FLOP-predicted ratio: `benchmarks/flops.py`, matmul FLOPs of projections, attention "
        "and output layer at the padded lengths of these batches (training = 3x forward); "
        "measured / predicted > 1: memory costs more time than its share of FLOPs.",
        "- Reference row: fairseq's `transformer` on the same batches with m random real "
        "tokens in front of each source: the shapes of `[memory ; source]` without memory code.",
        f"- Generation: fairseq's SequenceGenerator, beam {cfg.beam}, output length forced to "
        "each batch's longest reference (EOS banned before it) so that untrained models do "
        "equal work; FLOPs counted for incremental decoding.",
        memory_note,
    ]


def markdown(
    out: Path,
    cfg: Config,
    bench: Bench,
    rows: list[Row],
    info: dict[str, str],
    wall: float,
    loads: tuple[str, str],
) -> str:
    """The whole ``benchmarks.md``: header, machine, targets, setup and the three tables."""
    by = {s: [r for r in rows if r["section"] == s] for s in SECTIONS}
    precision = "bf16 autocast" if cfg.device == "cuda" else "fp32"
    text = [
        "# Benchmarks: the cost of memory tokens",
        "",
        f"Generated by `{command_line(cfg, out)}`"
        + (" (quick smoke: tiny dims, the numbers mean nothing)" if cfg.quick else "")
        + f"; wall time {wall:.0f} s.",
        "",
        "## Machine and versions",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        f"- load average (1, 5, 15 min) at start: {loads[0]}; at end: {loads[1]}",
        "",
        "## Targets",
        "",
        *target_lines(rows, cfg),
        "",
        "## Setup",
        "",
        *setup_lines(cfg, bench),
        "",
        f"## Training ({cfg.device}, {precision})",
        "",
        table(by["train"], train_columns(cfg)),
        "",
        "## Beam-search generation",
        "",
        table(by["generate"], GENERATE_COLUMNS),
        "",
        f"## Against x-transformers (one {'x'.join(map(str, cfg.fixed_batch))} batch, "
        "forward + backward)",
        "",
        "x-transformers' `XTransformer` at the same dims (pre-norm, GELU and learned positions "
        "are its defaults), `tie_token_emb=True` and its output projection tied to the "
        "embedding as ours. Its decoder cross-attends to the n source rows only (it drops the "
        "memory rows); ours to n + m unless `--mem-hide-from-decoder`. Both losses are plain "
        "cross-entropy here (fairseq's `cross_entropy` criterion).",
        "",
        table(by["xt"], XT_COLUMNS),
        "",
    ]
    return "\n".join(text)


def write_report(
    out: Path,
    cfg: Config,
    bench: Bench,
    rows: list[Row],
    info: dict[str, str],
    wall: float,
    loads: tuple[str, str],
) -> None:
    """Write ``benchmarks.csv`` and ``benchmarks.md`` into ``out`` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "benchmarks.csv", rows)
    (out / "benchmarks.md").write_text(markdown(out, cfg, bench, rows, info, wall, loads))

#!/usr/bin/env python
"""Benchmark: a training on a busy CPU, with the OpenMP wait settings of before and now.

    python benchmarks/busy_cpu.py [--updates 12] [--rounds 2] [--threads N] [--load L]
        [--retries 2] [--quick] --out results/

The pipeline's own fairseq-train command (``memtr.run.training.train_command``) of the demo
preset's baseline, a few updates on the generated reversal task, timed nine ways in one run:
idle, beside ``L`` busy-loop processes, and beside another torch training of ``L`` threads
(OpenMP defaults) on the same cores (by default twice as many runnable threads as cores),
each with the wait settings fairseq had before (none: libgomp's threads spin about 3 ms at a
barrier before they sleep), with ``OMP_WAIT_POLICY=PASSIVE`` alone, and with the pipeline's
(``thread_env``: passive, after a 0.1 ms spin where the cores are idle when fairseq starts and
none where they are busy; decided under the load, as the pipeline would). The time is fairseq's own training time ("done
training in X seconds": after its import and data loading); medians over the rounds, the
order rotated every round; a run that other work on the machine disturbed runs again.
Writes ``busy_cpu.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

if not __package__:  # `python benchmarks/busy_cpu.py`: make the repository importable
    import _bootstrap  # noqa: F401

from benchmarks.machine import cpu_name, load_average, plugin_revision  # noqa: E402
from memtr.common.paths import REPO  # noqa: E402
from memtr.common.versions import fairseq_version, package_version  # noqa: E402
from memtr.config.params import Params, parse_params  # noqa: E402
from memtr.datasets.params import DataParams  # noqa: E402
from memtr.run.fairseq import (  # noqa: E402
    PASSIVE,
    SPIN_COUNT,
    WAIT_POLICY,
    machine_busy,
    thread_env,
    usable_cores,
    wait_policy,
)
from memtr.settings import ModelSettings, TrainSettings, Variant  # noqa: E402
from memtr.specs.base import TaskSpec  # noqa: E402

SETTLE_S = 1.0  # a load runs this long before the training starts
POLICIES = {  # name -> what fairseq ran with
    "spinning": "OMP_WAIT_POLICY and GOMP_SPINCOUNT unset: libgomp's threads spin about 3 ms "
    "(300,000 spins) before they sleep (how the pipeline started fairseq before)",
    "passive": "OMP_WAIT_POLICY=PASSIVE alone: they sleep at once",
    "pipeline": "OMP_WAIT_POLICY=PASSIVE and, decided when the training starts (a quarter "
    "second of /proc/stat on its cores), GOMP_SPINCOUNT=10000 on idle cores (they spin about "
    "0.1 ms, then sleep) or 0 on busy ones (thread_env: how the pipeline starts fairseq now)",
}
LOADS = {  # name -> what else runs on the training's cores (L: --load)
    "idle": "nothing",
    "busy": "L busy-loop Python processes (they never wait)",
    "training": "one torch process of L threads, matrix products and element-wise ops in a loop, "
    "with OpenMP's default (spinning) wait: another user's training",
}
TARGET_RATIO = 2.2  # loaded / idle training time at twice oversubscription, the pipeline's
TARGET_IDLE = 0.97  # idle speed with the pipeline's wait settings, as a share of spinning's
QUIET = 0.1  # cores of other work during a run, at most, for the run to count
DONE = re.compile(r"done training in ([0-9.]+) seconds")
BUSY_LOOP = "while True: pass"
TORCH_LOOP = """import torch
x, w = torch.randn(4096, 128), torch.randn(128, 512)
while True:
    (x @ w).relu_().sum()
"""
QUICK_MODEL = {"encoder_layers": 1, "decoder_layers": 1, "encoder_embed_dim": 32,
               "decoder_embed_dim": 32, "encoder_ffn_embed_dim": 64, "decoder_ffn_embed_dim": 64,
               "encoder_attention_heads": 2, "decoder_attention_heads": 2}  # fmt: skip


@dataclass(frozen=True)
class Run:
    """One timed training: its wait policy, idle or loaded, its round, fairseq's time, and
    the cores that other work on the machine used meanwhile (a run counts when quiet)."""

    policy: str
    load: str
    round: int
    seconds: float
    others: float = 0.0

    @property
    def quiet(self) -> bool:
        return self.others <= QUIET


def parse_cli(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--updates", type=int, help="updates per training (default 12; quick 3)")
    p.add_argument("--rounds", type=int, help="rounds of the nine trainings (default 2; quick 1)")
    p.add_argument("--threads", type=int, help="train.threads (default: the usable cores; quick 1)")
    p.add_argument(
        "--load", type=int,
        help="busy-loop processes, or threads of the other training, of a loaded run (default: "
        "2 x cores - threads, i.e. twice as many runnable threads as cores; quick 1)",
    )  # fmt: skip
    p.add_argument(
        "--retries", type=int,
        help="runs again a training that other work disturbed, at most this often (default 2; "
        "quick 0)",
    )  # fmt: skip
    p.add_argument(
        "--quick", action="store_true",
        help="a smoke run: tiny model, 3 updates, 1 thread, 1 round, no retries",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=REPO / "results", help="output folder")
    args = p.parse_args(argv)
    args.argv = " ".join(sys.argv[1:] if argv is None else argv)  # for the report
    cores = usable_cores()
    args.updates = args.updates or (3 if args.quick else 12)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.retries = (0 if args.quick else 2) if args.retries is None else args.retries
    args.threads = args.threads or (1 if args.quick else cores)
    args.load = args.load or (1 if args.quick else max(1, 2 * cores - args.threads))
    if args.updates < 2:
        p.error(f"--updates must be at least 2, got {args.updates}")
    return args


def demo_params(cfg: argparse.Namespace) -> Params:
    """The demo preset on the generated reversal task, ``cfg.updates`` updates, one
    validation at the end, ``cfg.threads`` threads (tiny model with --quick)."""
    doc = yaml.safe_load((REPO / "workflow/presets/demo.yaml").read_text())
    doc["data"].update(dataset="synthetic", bpe_vocab_size=100)
    doc["data"]["synthetic"].update(train=2000 if cfg.quick else 20000, valid=50, test=10)
    doc["train"].update(max_update=cfg.updates, warmup_updates=1, threads=cfg.threads,
                        validate_interval_updates=cfg.updates)  # fmt: skip
    if cfg.quick:
        doc["model"]["args"].update(QUICK_MODEL)
    doc["experiment"].update(name="busy_cpu", variants=["baseline"], reference="baseline")
    return parse_params(doc, "workflow/presets/demo.yaml (busy_cpu)")


def binarized(data: DataParams, work: Path) -> Path:
    """The reversal task through the pipeline's data code: generated, prepared, binarized."""
    from memtr.data.binarize import binarize
    from memtr.data.download import generate_synthetic
    from memtr.data.prepare import PrepareOptions, prepare

    dataset = data.selected()
    generate_synthetic(work / "raw", data.synthetic)
    prepare(dataset, work / "raw", work / "prep", PrepareOptions.of(data), workers=1)
    return binarize(dataset, work / "prep", work / "bin", workers=1)


def demo_command(spec: TaskSpec, model: ModelSettings, train: TrainSettings, variant: Variant,
                 data: Path, save: Path) -> list[str]:  # fmt: skip
    """The fairseq-train command of seed 1 of ``variant``, as the train stage builds it (the
    task's options, then ``train_command``); the demo is a translation: nothing to restore."""
    from memtr.run.training import train_command
    from memtr.tasks import task_of

    options = task_of(spec).train_options(train, model, variant, data, None)
    return train_command(train, variant, options, 1, data, save)


def policy_env(policy: str, threads: int) -> dict[str, str]:
    """thread_env's environment with the wait settings of ``policy`` (the user's dropped)."""
    env = {k: v for k, v in thread_env(threads).items() if k not in (WAIT_POLICY, SPIN_COUNT)}
    if policy == "pipeline":  # what thread_env decides now, on the cores as they are
        return {**env, **wait_policy({}, machine_busy(threads))}
    return {**env, **{"spinning": {}, "passive": {WAIT_POLICY: PASSIVE}}[policy]}


@contextlib.contextmanager
def other_work(kind: str, count: int) -> Iterator[None]:
    """The load ``kind`` of LOADS (``count``: its processes or threads) on the cores this
    process (and so the training) may use, for as long as the block runs."""
    if kind == "busy":
        procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    elif kind == "training":
        env = {**policy_env("spinning", count), "MKL_NUM_THREADS": str(count)}
        procs = [subprocess.Popen([sys.executable, "-c", TORCH_LOOP], env=env)]
    else:
        procs = []
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def training_seconds(log: str) -> float:
    """fairseq's own training time from its log ("done training in X seconds")."""
    found = DONE.search(log)
    if found is None:
        raise RuntimeError(f"fairseq-train did not finish: {log.strip().splitlines()[-1:]}")
    return float(found.group(1))


def cpu_ticks() -> tuple[int, float]:
    """(busy clock ticks of the whole machine so far, /proc/stat; those of this process and
    its finished children)."""
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, stat.readline().split()[1:9]
        )
    ours = sum(r.ru_utime + r.ru_stime for r in
               (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))  # fmt: skip
    return user + nice + system + irq + softirq + steal, ours * os.sysconf("SC_CLK_TCK")


def train_once(command: list[str], env_of: Callable[[], dict[str, str]], load: str,
               count: int) -> tuple[float, float]:  # fmt: skip
    """Run the training command once under the load ``load`` (of ``count``), its environment
    made once the load runs (``env_of``, as the pipeline makes it when it starts fairseq):
    fairseq's time, and the cores that other work (not this benchmark's processes) used."""
    start, (machine, ours) = time.perf_counter(), cpu_ticks()
    with other_work(load, count):
        time.sleep(SETTLE_S)  # the load is running, as another user's work would be
        proc = subprocess.run(command, env=env_of(), capture_output=True, text=True)
    wall, (machine_end, ours_end) = time.perf_counter() - start, cpu_ticks()
    others = (machine_end - machine - (ours_end - ours)) / os.sysconf("SC_CLK_TCK") / wall
    return training_seconds(proc.stdout + proc.stderr), max(0.0, others)


def measure(command: Callable[[Path], list[str]], work: Path,
            cfg: argparse.Namespace) -> list[Run]:  # fmt: skip
    """Every round's trainings (each policy under each load), in an order rotated every
    round; a training that other work disturbed runs again (at most ``cfg.retries`` times),
    every attempt kept. ``command``: the training's command line, given its save folder."""
    order = [(policy, load) for load in LOADS for policy in POLICIES]
    runs = []
    for r in range(cfg.rounds):
        for policy, load in order[r % len(order) :] + order[: r % len(order)]:
            for attempt in range(cfg.retries + 1):
                save = work / "runs" / f"{r}-{policy}-{load}-{attempt}"
                env_of = partial(policy_env, policy, cfg.threads)
                run = Run(policy, load, r + 1,
                          *train_once(command(save), env_of, load, cfg.load))  # fmt: skip
                print(f"round {r + 1}: {policy:8s} {load:8s} {run.seconds:7.1f} s, other work "
                      f"{run.others:.2f} cores", flush=True)  # fmt: skip
                runs.append(run)
                if run.quiet:
                    break
    return runs


def medians(runs: list[Run]) -> dict[tuple[str, str], float]:
    """(policy, load) -> the median training time of its quiet runs (all, if none is)."""
    times = {}
    for p in POLICIES:
        for load in LOADS:
            mine = [r for r in runs if (r.policy, r.load) == (p, load)]
            times[p, load] = statistics.median(
                r.seconds for r in [r for r in mine if r.quiet] or mine
            )
    return times


LOADED = [load for load in LOADS if load != "idle"]


def targets(times: dict[tuple[str, str], float], oversubscription: float) -> list[str]:
    """The two targets, judged on the pipeline's wait settings, with their verdicts."""
    ratio = {(p, load): times[p, load] / times[p, "idle"] for p in POLICIES for load in LOADED}
    idle = {p: times["spinning", "idle"] / times[p, "idle"] for p in POLICIES}
    met = ("**missed**", "**met**")
    worst = max(ratio["pipeline", load] for load in LOADED)
    each = "; ".join(
        f"{load}: {ratio['pipeline', load]:.2f} (spinning {ratio['spinning', load]:.2f}, "
        f"passive alone {ratio['passive', load]:.2f})"
        for load in LOADED
    )
    return [
        f"1. Loaded / idle training time <= {TARGET_RATIO} at {oversubscription:g}x "
        f"oversubscription with the pipeline's wait settings, under each load: "
        f"{met[worst <= TARGET_RATIO]}; {each}.",
        f"2. Idle speed with the pipeline's wait settings >= {TARGET_IDLE} of spinning's: "
        f"{met[idle['pipeline'] >= TARGET_IDLE]}; {idle['pipeline']:.3f} (passive alone: "
        f"{idle['passive']:.3f}).",
    ]


def result_table(times: dict[tuple[str, str], float], updates: int) -> list[str]:
    """One row per wait policy: the time under each load, each loaded one over idle, and the
    idle updates a second."""
    head = "| wait policy | idle s | " + " | ".join(f"{x} s | {x} / idle" for x in LOADED)
    rows = [head + " | idle updates/s |", "|---|---|" + "---|---|" * len(LOADED) + "---|"]
    for p in POLICIES:
        idle = times[p, "idle"]
        loaded = " | ".join(f"{times[p, x]:.1f} | {times[p, x] / idle:.2f}" for x in LOADED)
        rows.append(f"| {p} | {idle:.1f} | {loaded} | {updates / idle:.2f} |")
    return rows


def report(cfg: argparse.Namespace, model: ModelSettings, train: TrainSettings, runs: list[Run],
           wall: float, loads: tuple[str, str]) -> str:  # fmt: skip
    """busy_cpu.md: machine, targets, setup, the table and every run (``model``, ``train``:
    the demo's settings that the setup names)."""
    times, cores = medians(runs), usable_cores()
    over = (cfg.threads + cfg.load) / cores
    m = model.args
    versions = {"python": sys.version.split()[0], "torch": package_version("torch"),
                "fairseq": fairseq_version(), "memtr plugin": plugin_revision()}  # fmt: skip
    spin = "; ".join(f"{x} {times['spinning', x] / times['pipeline', x]:.2f}x" for x in LOADED)
    return "\n".join([
        "# Benchmarks: training on a busy CPU", "",
        f"Generated by `python benchmarks/busy_cpu.py {cfg.argv}`; wall time {wall:.0f} s.", "",
        "## Machine and versions", "",
        f"- cpu: {cpu_name()}; this process may use {cores} cores (its CPU affinity)",
        *(f"- {k}: {v}" for k, v in versions.items()),
        f"- load average (1, 5, 15 min) at start: {loads[0]}; at end: {loads[1]}", "",
        "## Targets", "", *targets(times, over), "",
        "## Setup", "",
        f"- Training: the pipeline's fairseq-train command (`train_command`) of the demo "
        f"preset's baseline (d={m['encoder_embed_dim']}, {m['encoder_layers']}+"
        f"{m['decoder_layers']} layers, max_tokens {train.max_tokens}), "
        f"{cfg.updates} updates on the generated reversal task, train.threads {cfg.threads}. "
        "Time: fairseq's own training time (\"done training in X seconds\"), median over "
        f"{cfg.rounds} round(s); the order of the trainings rotates every round.",
        f"- Loads, started before the training and stopped after it, on the same cores "
        f"(L = {cfg.load}: {cfg.threads} + {cfg.load} runnable threads on {cores} cores, "
        f"{over:g}x oversubscription):",
        *(f"  - {name}: {what.replace('L ', f'{cfg.load} ')}." for name, what in LOADS.items()),
        "- Wait settings:",
        *(f"  - {name}: {what}." for name, what in POLICIES.items()),
        f"- Quiet runs: a training during which other work on the machine (CPU time outside "
        f"this benchmark's processes, from /proc/stat) used more than {QUIET:g} core runs "
        f"again, at most {cfg.retries} times; the medians are over the quiet runs "
        f"({sum(r.quiet for r in runs)} of {len(runs)}).", "",
        "## Results", "", *result_table(times, cfg.updates), "",
        f"Time of spinning threads over the pipeline's: {spin}.", "",
        "Every run (s; other work in cores where it disturbed the run): "
        + "; ".join(f"round {r.round} {r.policy} {r.load} {r.seconds:.1f}"
                    + ("" if r.quiet else f" (other work {r.others:.2f})") for r in runs) + ".",  # fmt: skip
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    cfg = parse_cli(argv)
    start, load_start = time.perf_counter(), load_average()
    params = demo_params(cfg)
    with tempfile.TemporaryDirectory(prefix="busy-cpu-") as tmp:
        data = binarized(params.data, Path(tmp))
        command = partial(demo_command, params.spec, params.model, params.train,
                          params.variants["baseline"], data)  # fmt: skip
        runs = measure(command, Path(tmp), cfg)
    text = report(cfg, params.model, params.train, runs, time.perf_counter() - start,
                  (load_start, load_average()))  # fmt: skip
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "busy_cpu.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The busy-CPU benchmark (benchmarks/busy_cpu.py) without timing anything: the environments it
compares, the training it runs, how it reads fairseq's time and judges the targets. Its
real (smoke) run is in ``tests/integration/test_benchmark_run.py``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmarks.busy_cpu import (
    LOADS,
    POLICIES,
    Run,
    demo_command,
    demo_params,
    medians,
    parse_cli,
    policy_env,
    report,
    targets,
    training_seconds,
)


def test_the_policies_differ_in_the_wait_settings_only(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's own are not what is compared
    monkeypatch.setenv("GOMP_SPINCOUNT", "5")
    monkeypatch.setattr("benchmarks.busy_cpu.machine_busy", lambda threads: False)  # idle cores
    spinning, passive, pipeline = (policy_env(p, 2) for p in ("spinning", "passive", "pipeline"))
    assert not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(spinning)
    assert passive.pop("OMP_WAIT_POLICY") == "PASSIVE" and "GOMP_SPINCOUNT" not in passive
    assert (pipeline.pop("OMP_WAIT_POLICY"), pipeline.pop("GOMP_SPINCOUNT")) == ("PASSIVE", "10000")
    assert spinning == passive == pipeline
    assert spinning["OMP_NUM_THREADS"] == "2"
    monkeypatch.setattr("benchmarks.busy_cpu.machine_busy", lambda threads: True)  # busy cores
    assert policy_env("pipeline", 2)["GOMP_SPINCOUNT"] == "0"


def test_twice_oversubscribed_by_default(monkeypatch):
    monkeypatch.setattr("benchmarks.busy_cpu.usable_cores", lambda: 2)
    cfg = parse_cli(["--out", "x"])
    assert (cfg.threads, cfg.load, cfg.updates, cfg.rounds, cfg.retries) == (2, 2, 12, 2, 2)
    quick = parse_cli(["--quick"])
    assert (quick.threads, quick.load, quick.updates, quick.rounds, quick.retries) == (
        1,
        1,
        3,
        1,
        0,
    )
    assert parse_cli(["--threads", "1"]).load == 3
    with pytest.raises(SystemExit):
        parse_cli(["--updates", "1"])


def test_it_times_the_pipelines_own_training_command():
    cfg = argparse.Namespace(quick=False, updates=20, threads=2)
    params = demo_params(cfg)
    assert params.data.dataset == "synthetic" and params.train.threads == 2
    command = demo_command(params.spec, params.model, params.train, params.variants["baseline"],
                           Path("bin"), Path("save"))  # fmt: skip
    at = command.index
    assert command[at("--max-update") + 1] == "20"
    assert command[at("--validate-interval-updates") + 1] == "20"  # one validation, at the end
    assert command[at("--encoder-embed-dim") + 1] == "128"  # the demo's model


def test_fairseqs_own_training_time_is_read():
    log = "2026-01-01 | INFO | fairseq_cli.train | done training in 12.3 seconds\n"
    assert training_seconds(log) == 12.3
    with pytest.raises(RuntimeError, match="did not finish"):
        training_seconds("Traceback ...\nKeyError: 'x'\n")


def runs(pipeline: tuple[float, ...], passive=(12.0, 24.0, 26.0),
         spinning=(10.0, 45.0, 80.0)) -> list[Run]:  # fmt: skip
    """(idle, busy, training) seconds of each policy, two rounds; the second 10% slower
    (medians are their mean)."""
    times = {"spinning": spinning, "passive": passive, "pipeline": pipeline}
    return [Run(p, load, r, t[i] * (1 + 0.1 * (r - 1))) for p, t in times.items()
            for i, load in enumerate(LOADS) for r in (1, 2)]  # fmt: skip


def test_targets_met():
    lines = targets(medians(runs((10.1, 21.0, 22.0))), 2.0)
    assert lines[0] == (
        "1. Loaded / idle training time <= 2.2 at 2x oversubscription with the pipeline's wait "
        "settings, under each load: **met**; busy: 2.08 (spinning 4.50, passive alone 2.00); "
        "training: 2.18 (spinning 8.00, passive alone 2.17)."
    )
    assert "**met**; 0.990 (passive alone: 0.833)" in lines[1]


def test_targets_missed():
    lines = targets(medians(runs((10.5, 21.0, 25.0))), 2.0)
    assert "**missed**; busy: 2.00" in lines[0] and "training: 2.38" in lines[0]
    assert "**missed**; 0.952" in lines[1]


def test_runs_that_other_work_disturbed_do_not_count_unless_none_is_quiet():
    quiet = runs((10.1, 21.0, 22.0))
    disturbed = [
        Run("passive", "loaded", 1, 90.0, others=0.8),
        Run("spinning", "idle", 1, 60.0, 1.0),
    ]
    assert medians(quiet + disturbed) == medians(quiet)
    only = [Run(p, load, 1, 5.0, others=0.5) for p in POLICIES for load in LOADS]
    assert set(medians(only).values()) == {5.0}


def test_the_report_has_the_targets_the_table_and_every_run(monkeypatch):
    monkeypatch.setattr("benchmarks.busy_cpu.usable_cores", lambda: 2)
    cfg = argparse.Namespace(
        quick=False, updates=20, threads=2, load=2, rounds=2, retries=2, argv="--out x"
    )
    params = demo_params(cfg)
    text = report(cfg, params.model, params.train, runs((10.1, 21.0, 22.0)), 300.0, ("1.0", "2.0"))
    assert text.startswith(
        "# Benchmarks: training on a busy CPU\n\nGenerated by `python "
        "benchmarks/busy_cpu.py --out x`; wall time 300 s."
    )
    for heading in ("## Machine and versions", "## Targets", "## Setup", "## Results"):
        assert heading in text
    assert "| wait policy | idle s | busy s | busy / idle | training s | training / idle |" in text
    assert "| pipeline | 10.6 | 22.1 | 2.08 | 23.1 | 2.18 | 1.89 |" in text
    assert "(L = 2: 2 + 2 runnable threads on 2 cores, 2x oversubscription)" in text
    assert "  - busy: 2 busy-loop Python processes (they never wait)." in text
    assert text.count("round 2 ") == len(LOADS) * len(POLICIES)
    assert "the medians are over the quiet runs (18 of 18)" in text

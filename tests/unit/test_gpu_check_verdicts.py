"""The GPU check's verdicts (benchmarks/gpu_check.py) on given numbers; the checks themselves
run in tests/integration/test_gpu_check.py (CPU) and on a GPU machine."""

from __future__ import annotations

import math

import pytest

from benchmarks.gpu_check import Check, exit_status, guarded, loss_goes_down, losses, parse_cli


def test_a_loss_curve_passes_only_finite_and_going_down():
    assert loss_goes_down([9.0, 8.5, 8.0, 7.0, 6.5, 6.0])
    assert not loss_goes_down([6.0, 6.5, 7.0, 8.0, 8.5, 9.0])  # going up
    assert not loss_goes_down([9.0, 8.0, math.nan, 7.0, 6.0, 5.0])  # fp16 overflow
    assert not loss_goes_down([9.0, 8.0])  # too few points to say


def test_losses_are_read_from_fairseq_json_records():
    log = ('2026-12-01 | INFO | train_inner | {"epoch": 1, "loss": "9.125", "num_updates": "10"}\n'
           '2026-12-01 | INFO | valid | {"valid_loss": "8.0"}\n'
           '2026-12-01 | INFO | train_inner | {"epoch": 1, "loss": "7.5", "num_updates": "20"}\n')  # fmt: skip
    assert losses(log) == [9.125, 7.5]


def test_any_failed_check_fails_the_run_and_skipped_ones_do_not():
    passed, skipped = Check("a", "pass", ""), Check("b", "skipped", "GPU only")
    assert exit_status([passed, skipped]) == 0
    assert exit_status([passed, skipped, Check("c", "fail", "loss nan")]) == 1


def test_an_exception_is_its_checks_failure():
    def broken():
        raise RuntimeError("CUDA error: out of memory\n")

    check = guarded("benchmark", broken)
    assert (check.name, check.status) == ("benchmark", "fail")
    assert "RuntimeError" in check.detail and "out of memory" in check.detail


def test_too_few_updates_is_refused():
    with pytest.raises(SystemExit):
        parse_cli(["--updates", "3"])

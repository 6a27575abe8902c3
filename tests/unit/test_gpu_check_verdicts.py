"""The GPU check's verdicts (benchmarks/gpu_check.py) on given numbers, and the fairseq-train
command it runs (the pipeline's builder) as fairseq parses it; the checks themselves run in
tests/integration/test_gpu_check.py (CPU) and on a GPU machine."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.gpu_check import (
    Check,
    exit_status,
    guarded,
    loss_goes_down,
    losses,
    parse_cli,
    train_command,
)


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


def parsed(command: list[str], monkeypatch: pytest.MonkeyPatch):
    """``command`` as fairseq-train parses it (the plugin loaded from ``--user-dir`` first)."""
    from fairseq import options

    monkeypatch.setattr(sys, "argv", ["fairseq-train", *command[3:]])  # after python -m X
    return options.parse_args_and_arch(options.get_training_parser())


def test_the_training_command_is_the_pipelines_with_the_checks_own_options(monkeypatch):
    model = ["--arch", "mem_transformer", "--mem-tokens", "8"]
    command = train_command(Path("bin"), Path("save"), model, "fp32", 24, False, "cpu")
    assert command[1:3] == ["-m", "fairseq_cli.train"]
    assert command.count("--cpu") == 1 and "--bf16" not in command
    args = parsed(command, monkeypatch)
    assert (args.task, args.arch, args.mem_tokens, args.max_update) == (
        "translation", "mem_transformer", 8, 24,
    )  # fmt: skip
    assert args.disable_validation and args.cpu and not args.bf16
    # both checkpoints kept (memory_moved compares them), a loss every tenth of the run
    kept = (args.save_interval_updates, args.keep_interval_updates, args.log_interval)
    assert kept == (12, -1, 2)
    assert args.log_format == "json" and args.no_epoch_checkpoints


def test_on_a_gpu_the_precision_under_test_is_passed(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    model = ["--arch", "mem_transformer_lm", "--mem-tokens", "8", "--mem-recurrent"]
    command = train_command(Path("bin"), Path("save"), model, "bf16", 300, True, "cuda")
    assert "--bf16" in command and "--cpu" not in command
    at = command.index
    assert command[at("--task") + 1] == "language_modeling"
    assert command[at("--save-interval-updates") + 1] == "150"
    fp16 = train_command(Path("bin"), Path("save"), model, "fp16", 300, True, "cuda")
    assert "--fp16" in fp16 and "--bf16" not in fp16

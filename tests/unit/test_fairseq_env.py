"""How the pipeline starts fairseq (memtr.run.fairseq): the environment of its threads, the
warning when train.threads asks for more cores than the process may use, and the precision
options with their refusal on a machine that cannot run them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from pipeline_helpers import REPO, run_train_command, synthetic_params

from memtr.common.errors import ConfigError
from memtr.config.params import parse_params
from memtr.run import fairseq
from memtr.run.fairseq import (
    precision_args,
    thread_env,
    threads_warning,
    wait_passively_here,
    warn_if_oversubscribed,
)
from memtr.run.training import train


@pytest.fixture
def no_policy(monkeypatch):
    """An environment without OpenMP wait settings (the tests' conftest sets a policy),
    restored after."""
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.setenv(name, "PASSIVE")  # recorded, whether it was set or not
        monkeypatch.delenv(name)


@pytest.fixture
def two_cores(monkeypatch):
    """A process allowed on two idle cores (other work measured as none), with the
    once-a-process warning forgotten."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(fairseq, "other_load", lambda seconds=0.25: 0.0)
    warn_if_oversubscribed.cache_clear()
    yield
    warn_if_oversubscribed.cache_clear()


@pytest.mark.parametrize(("load", "threads", "spin"), [
    (0.0, 2, "10000"), (0.4, 2, "10000"), (0.6, 2, "0"), (1.4, 1, "10000"), (1.6, 1, "0"),
])  # fmt: skip
def test_the_spin_is_short_on_idle_cores_and_none_on_busy_ones(
    no_policy, two_cores, monkeypatch, load, threads, spin
):
    """Other work on this process's cores decides: the threads asked for find idle cores
    (within half a core) or they sleep as soon as they wait."""
    monkeypatch.setattr(fairseq, "other_load", lambda seconds=0.25: load)
    assert thread_env(threads)["GOMP_SPINCOUNT"] == spin


def test_other_load_sees_busy_loops_on_this_processs_cores():
    """The real /proc/stat: two processes that never wait keep the cores busy."""
    loop = "while True: pass"
    procs = [
        subprocess.Popen([sys.executable, "-c", loop]) for _ in range(len(os.sched_getaffinity(0)))
    ]
    try:
        time.sleep(0.3)  # started
        assert fairseq.other_load(0.5) > 0.7 * len(os.sched_getaffinity(0))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_fairseq_subprocesses_wait_passively_with_the_threads_asked_for(no_policy, two_cores):
    env = thread_env(2)
    assert (env["OMP_WAIT_POLICY"], env["GOMP_SPINCOUNT"]) == ("PASSIVE", "10000")
    assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("2", "2")
    assert env["PATH"] == os.environ["PATH"]  # the rest of the environment passes through
    assert "OMP_WAIT_POLICY" not in os.environ  # built for the child, this process unchanged


@pytest.mark.parametrize("policy", ["ACTIVE", "passive"])
def test_a_wait_policy_the_user_set_is_kept(no_policy, monkeypatch, two_cores, policy):
    monkeypatch.setenv("OMP_WAIT_POLICY", policy)
    env = thread_env(2)
    assert env["OMP_WAIT_POLICY"] == policy
    assert "GOMP_SPINCOUNT" not in env  # it would override ACTIVE in libgomp


def test_a_spin_count_the_user_set_is_kept(no_policy, monkeypatch, two_cores):
    monkeypatch.setenv("GOMP_SPINCOUNT", "0")
    env = thread_env(2)
    assert (env["OMP_WAIT_POLICY"], env["GOMP_SPINCOUNT"]) == ("PASSIVE", "0")


def test_openmp_of_a_fairseq_subprocess_reads_the_short_spin(no_policy, two_cores):
    """libgomp prints the settings it read when torch loads it (OMP_DISPLAY_ENV): threads
    spin 10,000 times before they sleep; unset, 300,000 times (about 3 ms)."""
    probe = [sys.executable, "-c", "import torch"]

    def spin_count(env: dict[str, str]) -> str:
        shown = subprocess.run(probe, env={**env, "OMP_DISPLAY_ENV": "verbose"},
                               capture_output=True, text=True, check=True).stderr  # fmt: skip
        return next(line.split("=")[1].strip() for line in shown.splitlines()
                    if "GOMP_SPINCOUNT" in line)  # fmt: skip

    assert spin_count(thread_env(2)) == "'10000'"
    assert spin_count(os.environ.copy()) == "'300000'"  # what fairseq got before


def test_threads_beyond_the_usable_cores_give_one_warning_line(no_policy, two_cores, capsys):
    thread_env(2)
    assert capsys.readouterr().err == ""
    thread_env(4)
    thread_env(4)  # once a process
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        "warning: train.threads is 4 but this process may use 2 cores (its CPU affinity): "
        "threads beyond the cores wait for each other; set train.threads to 2 or less"
    )
    assert threads_warning(1, 1) is None
    assert "may use 1 core (" in threads_warning(2, 1)


def test_fairseq_in_this_process_warns_too(two_cores, capsys):
    with fairseq.fairseq_quiet(3):
        assert torch.get_num_threads() == 3
    assert "train.threads is 3" in capsys.readouterr().err


def test_the_policy_is_set_here_only_before_torch_loads(no_policy, monkeypatch):
    assert "torch" in sys.modules
    assert wait_passively_here() is False
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delitem(sys.modules, "torch")  # as a stage script before its first import
    monkeypatch.setattr(fairseq, "other_load", lambda seconds=0.25: 0.0)
    assert wait_passively_here(2) is True
    assert (os.environ["OMP_WAIT_POLICY"], os.environ["GOMP_SPINCOUNT"]) == ("PASSIVE", "10000")


def test_the_attention_stage_sets_the_policy_before_torch_loads(no_policy):
    """The attention stage records attention in its own process: its script sets the policy
    before it imports the code that loads torch."""
    proc = subprocess.run(
        [sys.executable, "workflow/scripts/attention.py", "--help"], cwd=REPO,
        env={**os.environ, "OMP_DISPLAY_ENV": "verbose"}, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "OMP_WAIT_POLICY = 'PASSIVE'" in proc.stderr
    assert re.search(r"GOMP_SPINCOUNT = '(10000|0)'", proc.stderr)  # idle or busy cores


def test_the_evaluate_stage_loads_torch_only_after_it_set_the_policy():
    """The evaluate stage decodes in its own process: its script's imports load no torch, and
    its main sets the policy first thing."""
    probe = "import sys; sys.path.insert(0, 'workflow/scripts'); import evaluate; "
    probe += "print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert proc.stdout.strip() == "False"
    source = (REPO / "workflow/scripts/evaluate.py").read_text()
    main = source[source.index("def main(") :]
    first, second = (line.strip() for line in main.splitlines()[1:3])
    assert first.startswith("params = load_params(")  # memtr.config loads no torch
    assert second.startswith("wait_passively_here(params.train.threads)")


# ---- precision --------------------------------------------------------------------------


@pytest.fixture
def cuda(monkeypatch):
    """A machine whose torch sees a CUDA card (``bf16``: whether it supports bfloat16)."""

    def card(bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla V100-SXM2-16GB")

    return card


def test_precision_options_on_a_gpu(cuda):
    cuda()
    assert precision_args("fp32") == []
    assert precision_args("fp16") == ["--fp16"]
    assert precision_args("bf16") == ["--bf16"]


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="the CPU refusal needs a machine without CUDA"
)
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_is_refused_in_one_line_without_cuda(precision):
    with pytest.raises(ConfigError) as error:
        precision_args(precision)
    assert str(error.value) == (
        f"train.precision is {precision}, which needs a CUDA GPU; torch sees none on this "
        "machine: set it to fp32"
    )


def test_bf16_is_refused_on_a_card_without_it(cuda):
    cuda(bf16=False)
    with pytest.raises(ConfigError, match="bf16, which Tesla V100-SXM2-16GB does not support"):
        precision_args("bf16")


def test_the_train_command_carries_the_precision_on_a_gpu(cuda):
    cuda()
    params = parse_params(synthetic_params(precision="bf16"))
    command = run_train_command(params, "mem4", 1, Path("bin"), Path("save"))
    assert "--bf16" in command and "--cpu" not in command
    fp32 = parse_params(synthetic_params())
    assert fp32.train.precision == "fp32"  # the default: no option, the fingerprint of before
    command = run_train_command(fp32, "mem4", 1, Path("bin"), Path("save"))
    assert not {"--fp16", "--bf16"} & set(command)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="the CPU refusal needs a machine without CUDA"
)
def test_the_train_stage_refuses_before_any_work(tmp_path):
    params = parse_params(synthetic_params(precision="fp16"))
    with pytest.raises(ConfigError, match="train.precision is fp16"):
        train(params.train, params.variants["mem4"], [], 1, tmp_path / "bin", tmp_path / "run")
    assert not (tmp_path / "run").exists()

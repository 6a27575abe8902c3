"""train.tensorboard: fairseq's --tensorboard-logdir into the run's folder, refused in one line
(by the check stage, before any work) where neither tensorboard nor tensorboardX is installed;
where the run logs never decides whether its checkpoints may be resumed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pipeline_helpers import run_train_command, synthetic_params

from memtr.common.errors import ConfigError
from memtr.config.params import parse_params
from memtr.run import training
from memtr.run.training import TENSORBOARD, check_tensorboard, fingerprint

REPO = Path(__file__).resolve().parents[2]
INSTALLED = any(importlib.util.find_spec(name) for name in training.TENSORBOARD_PACKAGES)


@pytest.fixture
def installed(monkeypatch):
    """A package that is installed stands for the writer fairseq needs (which may not be)."""
    monkeypatch.setattr(training, "TENSORBOARD_PACKAGES", ("yaml",))


def test_the_option_sends_the_logs_to_the_runs_folder(installed):
    params = parse_params(synthetic_params(tensorboard=True))
    save = Path("runs/tiny/mem4/seed1/checkpoints")
    command = run_train_command(params, "mem4", 1, Path("bin"), save)
    at = command.index(TENSORBOARD)
    assert command[at + 1] == "runs/tiny/mem4/seed1/tensorboard"
    off = run_train_command(parse_params(synthetic_params()), "mem4", 1, Path("bin"), save)
    assert TENSORBOARD not in off
    assert parse_params(synthetic_params()).train.tensorboard is False  # the default


def test_a_run_resumes_whether_or_not_it_logs_to_tensorboard(installed, tmp_path):
    save = tmp_path / "checkpoints"
    on = run_train_command(
        parse_params(synthetic_params(tensorboard=True)), "mem4", 1, tmp_path, save
    )
    off = run_train_command(parse_params(synthetic_params()), "mem4", 1, tmp_path, save)
    assert on != off and fingerprint(on, tmp_path) == fingerprint(off, tmp_path)


def test_without_a_writer_it_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(training, "TENSORBOARD_PACKAGES", ("no_such_tensorboard_package",))
    params = parse_params(synthetic_params(tensorboard=True))
    with pytest.raises(ConfigError, match=r"^train.tensorboard is true, but neither") as err:
        check_tensorboard(params.train)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError):  # the train stage too, before fairseq starts
        run_train_command(params, "mem4", 1, Path("bin"), Path("save"))
    check_tensorboard(parse_params(synthetic_params()).train)  # off: nothing to check


@pytest.mark.skipif(INSTALLED, reason="the refusal needs a machine without tensorboard")
def test_the_check_stage_refuses_it_before_any_work(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(synthetic_params(tensorboard=True)))
    out = tmp_path / "params.ok"
    proc = subprocess.run(
        [sys.executable, "workflow/scripts/check_params.py", "--params", str(params), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0 and not out.exists()
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: train.tensorboard is true")

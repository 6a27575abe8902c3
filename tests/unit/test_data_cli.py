"""Stage scripts: parameter validation gives one clear line and exit status 2, quickly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memtr.common.errors import ConfigError
from memtr.common.paths import REPO
from memtr.datasets.params import DataParams, load_data_params

SCRIPTS = ("download.py", "prepare.py", "binarize.py")


def _run(script: str, *args: str, cwd: Path, params: str | None = None):
    if params is not None:
        (cwd / "params.yaml").write_text(params)
    env = {k: v for k, v in os.environ.items() if k != "MEMTR_DATA_MIRROR"}
    return subprocess.run(
        [sys.executable, str(REPO / "workflow" / "scripts" / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


BAD_PARAMS = [
    ("data:\n  dataset: nope\n", "error: data.dataset: unknown dataset 'nope'; known: "),
    ("data:\n  bpe_vocab_size: 0\n", "error: data.bpe_vocab_size must be positive, got 0"),
    ("data:\n  bpe_vocab_size: many\n", "error: data.bpe_vocab_size must be an integer"),
    ("data:\n  clean: {ratio: 0.5}\n", "error: data.clean.ratio must be >= 1, got 0.5"),
    (
        "data:\n  clean: {min_len: 5, max_len: 2}\n",
        "error: data.clean.max_len (2) must be >= data.clean.min_len (5)",
    ),
    (
        "data:\n  clean: {ratio_min_len: 0}\n",
        "error: data.clean.ratio_min_len must be >= 1 (1: the ratio applies to every pair), got 0",
    ),
    ("data:\n  vocab: 3\n", "error: unknown key data.vocab; allowed: dataset, datasets, mirror"),
    ("data:\n  synthetic: {task: shuffle}\n", "error: data.synthetic.task must be one of"),
    ("data: [1, 2\n", "error: cannot parse params.yaml"),
]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize(("params", "message"), BAD_PARAMS[:3])
def test_every_script_rejects_bad_params(tmp_path, script, params, message):
    proc = _run(script, cwd=tmp_path, params=params)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing started


@pytest.mark.parametrize(("params", "message"), BAD_PARAMS[3:])
def test_more_bad_params(tmp_path, params, message):
    proc = _run("download.py", cwd=tmp_path, params=params)
    assert (proc.returncode, proc.stderr.count("\n")) == (2, 1)
    assert proc.stderr.startswith(message)


def test_unknown_dataset_option_and_missing_params_file(tmp_path):
    proc = _run("prepare.py", "--dataset", "wmt15", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith(
        "error: data.dataset: unknown dataset 'wmt15'"
    )
    proc = _run("prepare.py", "--params", "other.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr == "error: params file not found: other.yaml\n"


def test_bad_workers_is_a_usage_error(tmp_path):
    proc = _run("binarize.py", "--workers", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "must be positive, got 0" in proc.stderr


def test_missing_inputs_are_one_line_errors(tmp_path):
    proc = _run("prepare.py", "--dataset", "wikitext2", cwd=tmp_path)
    assert proc.returncode == 1
    missing = "data/raw/wikitext2/wiki.train.tokens"
    assert proc.stderr == f"error: missing raw file {missing}; run the download stage first\n"
    proc = _run("binarize.py", "--dataset", "wikitext2", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.startswith("error: data/prep/wikitext2 is not")


def test_defaults_without_params_file(monkeypatch):
    monkeypatch.chdir(REPO / "tests")  # no params.yaml here
    params = load_data_params("params.yaml")
    assert params == DataParams()
    assert params.dataset == "multi30k_de_en" and params.bpe_vocab_size == 8000


def test_mirror_env_wins_over_param(monkeypatch, tmp_path):
    (tmp_path / "p.yaml").write_text("data:\n  mirror: /from/params\n")
    monkeypatch.delenv("MEMTR_DATA_MIRROR", raising=False)
    assert load_data_params(tmp_path / "p.yaml").resolved_mirror() == "/from/params"
    monkeypatch.setenv("MEMTR_DATA_MIRROR", "http://127.0.0.1:9/m")
    assert load_data_params(tmp_path / "p.yaml").resolved_mirror() == "http://127.0.0.1:9/m"


def test_dataset_override_is_validated():
    with pytest.raises(ConfigError, match="unknown dataset 'x'"):
        load_data_params(None, dataset="x")
    assert load_data_params(None, dataset="synthetic").dataset == "synthetic"

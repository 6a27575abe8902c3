"""The pipeline's fairseq-train commands, built by memtr/run/fairseq_train.py, are the ones its
runs were started with, option for option: the train stage's fingerprint hashes the command,
so an option moved or respelled would set every resumable checkpoint aside as one of other
settings. The lists below are what the train and pretrain stages built before the builder
(at 0d3df34), on a machine without CUDA."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pipeline_helpers import run_train_command

from memtr.common.paths import PLUGIN_DIR, REPO
from memtr.config.params import load_params
from memtr.run.pretrain import pretrain_command

# fmt: off
SIZES = [  # params.yaml's model.args
    "--encoder-layers", "2", "--decoder-layers", "2", "--encoder-embed-dim", "128",
    "--decoder-embed-dim", "128", "--encoder-ffn-embed-dim", "512",
    "--decoder-ffn-embed-dim", "512", "--encoder-attention-heads", "4",
    "--decoder-attention-heads", "4", "--share-all-embeddings",
]
TRANSLATION = [
    "--task", "translation", "--max-tokens", "4096",
    "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
]
TRAIN_SCHEDULE = [
    "--seed", "1", "--save-dir", "save", "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)",
    "--lr", "0.001", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "150",
    "--warmup-init-lr", "1e-07", "--weight-decay", "0.0", "--clip-norm", "0.0",
    "--dropout", "0.1", "--max-update", "400", "--validate-interval-updates", "100",
    "--save-interval-updates", "100", "--keep-interval-updates", "1", "--no-epoch-checkpoints",
    "--data-buffer-size", "0", "--log-format", "json", "--log-interval", "10", "--cpu",
]
TRAIN = {  # params.yaml's variants, seed 1
    "baseline": [*TRANSLATION, "--arch", "transformer", *SIZES, *TRAIN_SCHEDULE],
    "mem10": [*TRANSLATION, "--arch", "mem_transformer", "--mem-tokens", "10", *SIZES,
              *TRAIN_SCHEDULE],
}
PRETRAIN = [  # workflow/presets/cpu_replication_glue.yaml's pretrain section
    "--task", "masked_lm", "--criterion", "masked_lm", "--sample-break-mode", "none",
    "--tokens-per-sample", "128", "--mask-prob", "0.15", "--arch", "roberta_base",
    "--encoder-layers", "4", "--encoder-embed-dim", "128", "--encoder-ffn-embed-dim", "512",
    "--encoder-attention-heads", "4", "--seed", "1", "--save-dir", "save",
    "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--adam-eps", "1e-06",
    "--lr", "0.0005", "--lr-scheduler", "polynomial_decay", "--warmup-updates", "150",
    "--total-num-update", "1500", "--weight-decay", "0.01", "--clip-norm", "0.0",
    "--dropout", "0.1", "--attention-dropout", "0.1", "--max-tokens", "4096",
    "--max-update", "1500", "--validate-interval-updates", "500",
    "--save-interval-updates", "500", "--keep-interval-updates", "1", "--no-epoch-checkpoints",
    "--data-buffer-size", "0", "--log-format", "json", "--log-interval", "10", "--cpu",
]
# fmt: on


def head(data: str) -> list[str]:
    return [sys.executable, "-m", "fairseq_cli.train", data, "--user-dir", str(PLUGIN_DIR)]


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch):
    """A machine without CUDA, whatever this one has (``--cpu`` in every command)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("variant", sorted(TRAIN))
def test_the_train_command_of_params_yaml_is_the_one_its_runs_started_with(variant):
    params = load_params(REPO / "params.yaml")
    command = run_train_command(params, variant, 1, Path("data"), Path("save"))
    assert command == [*head("data"), *TRAIN[variant]]


def test_the_pretrain_command_is_the_one_its_runs_started_with():
    params = load_params(REPO / "workflow/presets/cpu_replication_glue.yaml")
    command = pretrain_command(params.pretrain, params.model, Path("bin"), Path("save"))
    assert command == [*head("bin"), *PRETRAIN]

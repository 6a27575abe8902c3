"""The train stage (memtr/run/training.py) on real fairseq-train runs: early stopping, and a
resume from a truncated checkpoint_last.pt."""

from __future__ import annotations

import copy
import logging
import re

import pandas as pd
import pytest
from pipeline_helpers import PIPELINE_PARAMS

from memtr.config.params import parse_params
from memtr.run.training import (
    fingerprint,
    prepare_checkpoint_dir,
    run_training,
    train,
    train_command,
    write_learning_curve,
)
from memtr.tasks import task_of

pytestmark = pytest.mark.slow

INTERVAL, PATIENCE = 25, 2


def test_patience_counts_validations_of_the_update_interval_only(reverse_corpus, tmp_path):
    """With train.patience, a run validates every validate_interval_updates updates and not
    also at each epoch's end (fairseq's default), so it stops ``patience x interval`` updates
    after its best. A model that does not move (lr 1e-9) has its best at the first validation;
    the reversal task's epoch (57 updates of 500 tokens) ends between two validations."""
    doc = copy.deepcopy(PIPELINE_PARAMS)
    doc["data"]["dataset"] = "synthetic"
    doc["train"].update(max_tokens=500, lr=1e-9, warmup_updates=5, max_update=500,
                        validate_interval_updates=INTERVAL, patience=PATIENCE)  # fmt: skip
    params = parse_params(doc)
    baseline = params.variants["baseline"]
    options = task_of(params.spec).train_options(
        params.train, params.model, baseline, reverse_corpus / "bin", None
    )
    summary, records = train(params.train, baseline, options, 1, reverse_corpus / "bin", tmp_path)

    write_learning_curve(records, tmp_path / "curve.csv")
    curve = pd.read_csv(tmp_path / "curve.csv").dropna(subset=["valid_loss"])
    validated = list(curve["update"])
    assert validated == [INTERVAL * (k + 1) for k in range(PATIENCE + 1)]
    assert summary["stopped_by"] == "patience"
    assert summary["updates"] == INTERVAL * (PATIENCE + 1)
    assert (tmp_path / "model.pt").is_file()


def test_a_truncated_last_checkpoint_resumes_from_the_newest_good_one(
    reverse_corpus, tmp_path, caplog
):
    """Once every rerun failed with "fairseq-train failed with status 1" (the cause, "checkpoint
    file is corrupted", in the log only). A run of this stage's command stopped at update 20 of
    40 (checkpoints every 10), its checkpoint_last.pt then cut in half: the stage resumes from
    the checkpoint of update 20 and finishes, the cut file kept aside."""
    doc = copy.deepcopy(PIPELINE_PARAMS)
    doc["data"]["dataset"] = "synthetic"
    doc["train"].update(max_tokens=500, max_update=40, validate_interval_updates=10)
    params = parse_params(doc)
    variant, data, save = (
        params.variants["baseline"],
        reverse_corpus / "bin",
        tmp_path / "checkpoints",
    )
    options = task_of(params.spec).train_options(params.train, params.model, variant, data, None)
    command = train_command(params.train, variant, options, 1, data, save)
    prepare_checkpoint_dir(save, fingerprint(command, data))
    run_training([*command, "--max-update", "20"], save / "train.log", 1)  # the "killed" run
    last = save / "checkpoint_last.pt"
    whole = last.read_bytes()
    last.write_bytes(whole[: len(whole) // 2])

    with caplog.at_level(logging.WARNING):
        summary, _ = train(params.train, variant, options, 1, data, tmp_path)
    log = (save / "train.log").read_text()
    resumed_at = re.findall(
        r"Loaded checkpoint \S+checkpoint_last\.pt \(epoch \d+ @ (\d+) updates\)", log
    )
    assert resumed_at == ["20"], log[-2000:]
    assert summary["resumed"] is True and summary["updates"] == 40
    (kept,) = tmp_path.glob("checkpoints.corrupt-*/checkpoint_last.pt")
    assert kept.stat().st_size == len(whole) // 2
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "checkpoint_last.pt is unreadable" in warning and "resuming from checkpoint_" in warning

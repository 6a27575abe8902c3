"""The train stage's early stopping (memtr/run/training.py), on a real fairseq-train run."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from pipeline_helpers import PIPELINE_PARAMS

from memtr.config.params import parse_params
from memtr.run.training import parse_log, train, write_learning_curve

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
    summary = train(params, params.variants["baseline"], 1, reverse_corpus / "bin", tmp_path)

    write_learning_curve(parse_log(tmp_path / "checkpoints/train.log"), tmp_path / "curve.csv")
    curve = pd.read_csv(tmp_path / "curve.csv").dropna(subset=["valid_loss"])
    validated = list(curve["update"])
    assert validated == [INTERVAL * (k + 1) for k in range(PATIENCE + 1)]
    assert summary["stopped_by"] == "patience"
    assert summary["updates"] == INTERVAL * (PATIENCE + 1)
    assert (tmp_path / "model.pt").is_file()

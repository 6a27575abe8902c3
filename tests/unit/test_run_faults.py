"""Faults of a run's working files (memtr/run): an unreadable checkpoint_last.pt falls back to
the newest good checkpoint, never deleted; a fairseq log with no update is refused, not
summarised as 0 updates and NaN losses. Checkpoints are written by torch.save as fairseq's
are (its args as an argparse.Namespace) and loaded as fairseq loads them."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pytest
import torch

from memtr.run.training import logged_records, prepare_checkpoint_dir

PRINT = "fingerprint of these settings"


def write_checkpoint(path: Path, updates: int, mtime: float) -> bytes:
    """A checkpoint shaped as fairseq's (model, args, optimizer history), dated ``mtime``."""
    state = {
        "args": argparse.Namespace(arch="transformer", max_update=40),
        "model": {"encoder.weight": torch.full((4, 4), float(updates))},
        "optimizer_history": [{"num_updates": updates, "optimizer_name": "FairseqAdam"}],
        "extra_state": {"train_iterator": {"epoch": 1, "iterations_in_epoch": updates}},
    }
    torch.save(state, path)
    os.utime(path, (mtime, mtime))
    return path.read_bytes()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run's checkpoints as a run killed at update 20 leaves them: best at 10, the interval
    checkpoint at 20, and checkpoint_last.pt cut short while fairseq copied it."""
    save = tmp_path / "checkpoints"
    save.mkdir()
    (save / "fingerprint.txt").write_text(PRINT + "\n")
    write_checkpoint(save / "checkpoint_best.pt", 10, 1000)
    write_checkpoint(save / "checkpoint_1_20.pt", 20, 2000)
    whole = write_checkpoint(save / "checkpoint_last.pt", 20, 3000)
    (save / "checkpoint_last.pt").write_bytes(whole[: len(whole) // 2])
    return save


def updates_of(path: Path) -> int:
    return torch.load(path, weights_only=True)["optimizer_history"][-1]["num_updates"]


def corrupt_copies(save: Path) -> dict[str, int]:
    """What was moved aside: name -> size (one folder ``checkpoints.corrupt-<time>``)."""
    (aside,) = save.parent.glob("checkpoints.corrupt-*")
    return {p.name: p.stat().st_size for p in aside.iterdir()}


def test_truncated_last_checkpoint_falls_back_to_the_newest_good_one(run_dir, caplog):
    cut = (run_dir / "checkpoint_last.pt").stat().st_size
    with caplog.at_level(logging.WARNING):
        assert prepare_checkpoint_dir(run_dir, PRINT) is True
    assert updates_of(run_dir / "checkpoint_last.pt") == 20  # checkpoint_1_20.pt's copy
    assert corrupt_copies(run_dir) == {"checkpoint_last.pt": cut}  # kept, not deleted
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "\n" not in warning
    assert "checkpoint_last.pt is unreadable" in warning
    assert "resuming from checkpoint_1_20.pt instead" in warning


def test_an_unreadable_candidate_is_moved_aside_too(run_dir, caplog):
    (run_dir / "checkpoint_1_20.pt").write_bytes(b"garbage")
    os.utime(run_dir / "checkpoint_1_20.pt", (2000, 2000))
    with caplog.at_level(logging.WARNING):
        assert prepare_checkpoint_dir(run_dir, PRINT) is True
    assert updates_of(run_dir / "checkpoint_last.pt") == 10  # checkpoint_best.pt's copy
    assert set(corrupt_copies(run_dir)) == {"checkpoint_last.pt", "checkpoint_1_20.pt"}
    assert "resuming from checkpoint_best.pt instead" in caplog.text


def test_with_no_good_checkpoint_the_run_starts_over(run_dir, caplog):
    for name in ("checkpoint_best.pt", "checkpoint_1_20.pt"):
        (run_dir / name).write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        assert prepare_checkpoint_dir(run_dir, PRINT) is False
    assert not list(run_dir.glob("*.pt"))
    assert set(corrupt_copies(run_dir)) == {
        "checkpoint_last.pt", "checkpoint_best.pt", "checkpoint_1_20.pt"
    }  # fmt: skip
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "no other checkpoint there loads" in warning and "training starts over" in warning


def test_a_good_last_checkpoint_is_resumed_as_it_is(tmp_path, caplog):
    save = tmp_path / "checkpoints"
    save.mkdir()
    (save / "fingerprint.txt").write_text(PRINT + "\n")
    whole = write_checkpoint(save / "checkpoint_last.pt", 20, 3000)
    with caplog.at_level(logging.WARNING):
        assert prepare_checkpoint_dir(save, PRINT) is True
    assert (save / "checkpoint_last.pt").read_bytes() == whole
    assert not caplog.records and not list(tmp_path.glob("checkpoints.corrupt-*"))


# fairseq-train's own lines with --log-format simple (what train.extra_args could once pass):
# no JSON record, so nothing for train.json's updates and losses
SIMPLE_LOG = """\
2025-01-01 10:00:01 | INFO | train_inner | epoch 001:     10 / 57 loss=3.9, nll_loss=3.8, \
ppl=13.9, wps=5120, ups=10.2, wpb=500, bsz=62, num_updates=10, lr=2e-05, gnorm=1.2, train_wall=1
2025-01-01 10:00:02 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 3.71 | \
nll_loss 3.6 | ppl 12.1 | wps 9000 | wpb 480 | bsz 60 | num_updates 10
2025-01-01 10:00:03 | INFO | fairseq_cli.train | done training in 3.0 seconds
"""


def test_a_log_without_json_records_is_refused_in_one_line(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(SIMPLE_LOG)
    with pytest.raises(RuntimeError) as caught:
        logged_records(log)
    message = str(caught.value)
    assert "\n" not in message and str(log) in message
    assert message.startswith("no validation record (updates, valid_loss) in")

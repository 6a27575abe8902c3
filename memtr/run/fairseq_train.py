"""The one builder of fairseq-train command lines: the pipeline's training, the pretrain
stage and the GPU check start fairseq-train through it, so each gets the same plugin,
checkpointing, log format, device and precision options."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from memtr.run.fairseq import PLUGIN_DIR, device_args, precision_args

# checkpointing and logging the pipeline relies on: the last checkpoint to resume from, the
# best one for model.pt, JSON records for the learning curve
LOG_OPTIONS = ("--log-format", "json", "--log-interval", "10")


def fairseq_train_command(
    data: Path, save_dir: Path, seed: int, model: Sequence[str], schedule: Sequence[str], *,
    max_update: int, validate_interval: int, precision: str, where: str = "train.precision",
    stopping: Sequence[str] = (), extra: Sequence[str] = (),
) -> list[str]:  # fmt: skip
    """``python -m fairseq_cli.train`` on ``data`` into ``save_dir``.

    ``model``: the task, criterion and architecture options; ``schedule``: optimizer, learning
    rate and budget; ``validate_interval``: validate and save every so many updates (0: per
    epoch, saving at the end of the budget); ``stopping``: an early-stopping rule; ``extra``:
    the user's own options, last. A ConfigError when this machine cannot train in
    ``precision`` (named ``where``)."""
    return [
        sys.executable, "-m", "fairseq_cli.train", str(data), "--user-dir", str(PLUGIN_DIR),
        *model, "--seed", str(seed), "--save-dir", str(save_dir), *schedule,
        "--validate-interval-updates", str(validate_interval),
        "--save-interval-updates", str(validate_interval or max_update),
        "--keep-interval-updates", "1", "--no-epoch-checkpoints",
        # fairseq's prefetch thread can abort the process at exit after a mid-epoch stop
        # (exit 134 after the checkpoint is written); without it the exit is clean.
        "--data-buffer-size", "0",
        *LOG_OPTIONS, *stopping, *device_args(), *precision_args(precision, where), *extra,
    ]  # fmt: skip

"""A resumable run's ``checkpoint_last.pt``, checked before fairseq-train resumes from it.

A run killed while fairseq copies its checkpoints can leave ``checkpoint_last.pt`` truncated
(fairseq writes the first checkpoint of a save atomically, then copies it to the other names);
fairseq would then fail on every rerun ("checkpoint file is corrupted", in its log only). So
the train and pretrain stages load it first as fairseq would (``torch.load`` with
``weights_only``, the plugin's safe globals); an unreadable one is moved aside, never deleted,
and the newest good checkpoint of the folder (``checkpoint_<epoch>_<update>.pt``,
``checkpoint_best.pt``) takes its place, or the run starts over when there is none.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

logger = logging.getLogger(__name__)

LAST = "checkpoint_last.pt"


def load_error(path: Path) -> str | None:
    """Why fairseq could not load ``path`` (the error's first line), or None when it can."""
    import torch

    import fairseq_plugins  # noqa: F401  (the safe globals fairseq's loading needs)

    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any failure: fairseq would fail the same way)
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return f"{type(exc).__name__}: {lines[0].split('. ')[0][:160]}"  # its first sentence
    return None


def move_aside(path: Path, aside: Path) -> Path:
    """Move ``path`` into the folder ``aside`` (created); return its new path."""
    aside.mkdir(parents=True, exist_ok=True)
    target = aside / path.name
    path.rename(target)
    return target


def recover_last_checkpoint(save_dir: Path) -> bool:
    """Make ``save_dir/checkpoint_last.pt`` loadable or absent; True when one is there to
    resume from. An unreadable one (and every unreadable checkpoint tried after it) goes to
    ``<save_dir>.corrupt-<time>/``, with a one-line warning."""
    last = save_dir / LAST
    if not last.is_file():
        return False
    error = load_error(last)
    if error is None:
        return True
    aside = save_dir.with_name(f"{save_dir.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    move_aside(last, aside)
    others = sorted(
        (p for p in save_dir.glob("checkpoint*.pt") if p.is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for candidate in others:
        if load_error(candidate) is None:
            tmp = save_dir / f"{LAST}.tmp"
            shutil.copyfile(candidate, tmp)
            tmp.replace(last)
            logger.warning("%s is unreadable (%s): moved to %s; resuming from %s instead",
                           last, error, aside, candidate.name)  # fmt: skip
            return True
        move_aside(candidate, aside)
    logger.warning("%s is unreadable (%s) and no other checkpoint there loads: moved to %s; "
                   "training starts over", last, error, aside)  # fmt: skip
    return False

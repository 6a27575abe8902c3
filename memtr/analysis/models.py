"""A trained checkpoint as a fairseq model, and a binarized split in batches.

The analysis reads whole splits, so the model runs on the GPU when there is one. Imports torch;
fairseq is imported only when a model is loaded (it is slow to import and registers the
plugin's models).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from memtr.common.paths import PLUGIN_DIR


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(
    checkpoint: Path, data: Path, overrides: dict[str, Any] | None = None, device: str | None = None
) -> tuple[Any, Any]:
    """Load a memtr checkpoint with its plugin, model options ``overrides`` set (as
    fairseq-generate's ``--model-overrides``); return (model in eval mode, in float32 on
    ``device``: the GPU when there is one, else the CPU; and its task on ``data``)."""
    from fairseq import checkpoint_utils, utils

    utils.import_user_module(argparse.Namespace(user_dir=str(PLUGIN_DIR)))
    models, _cfg, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={"data": str(data), **(overrides or {})}
    )
    return models[0].to(device or default_device()).float().eval(), task


def batches(task: Any, split: str, batch_size: int) -> Iterator[dict]:
    """The samples of ``split`` in fairseq's order (sorted by length), ``batch_size``
    sentences at most, none dropped: each with ``id`` (B,), ``net_input`` (``src_tokens``
    (B, n), left-padded as fairseq pads sources; ``src_lengths`` (B,);
    ``prev_output_tokens`` (B, t)) and ``target`` (B, t), right-padded."""
    task.load_dataset(split)
    iterator = task.get_batch_iterator(
        task.dataset(split), max_sentences=batch_size, required_batch_size_multiple=1
    )
    yield from iterator.next_epoch_itr(shuffle=False)


def to_device(sample: dict, device: torch.device) -> dict:
    """``sample``'s ``net_input`` and ``target`` on ``device``."""
    net_input = {k: v.to(device) for k, v in sample["net_input"].items()}
    return {**sample, "net_input": net_input, "target": sample["target"].to(device)}

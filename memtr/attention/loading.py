"""A trained checkpoint as a fairseq model, what kind of model it is, and sample lines as the
token ids it reads.

Imports torch; fairseq is imported only when a model is loaded or inspected (it is slow to
import and registers the plugin's models).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from memtr.attention.schema import ModelInfo
from memtr.common.paths import PLUGIN_DIR

LM_MAX_TOKENS = 64  # tokens of an LM sample segment at most: heatmaps stay readable


def load_model(checkpoint: Path, data: Path) -> tuple[Any, Any]:
    """Load a memtr checkpoint with its plugin; return (model in eval mode, task)."""
    from fairseq import checkpoint_utils, utils

    utils.import_user_module(argparse.Namespace(user_dir=str(PLUGIN_DIR)))
    models, _cfg, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={"data": str(data)}
    )
    model = models[0].cpu().float().eval()
    return model, task


def is_language_model(model: Any) -> bool:
    """A decoder-only model (``transformer_lm``, ``mem_transformer_lm``), not a translation one."""
    from fairseq.models import FairseqLanguageModel

    return isinstance(model, FairseqLanguageModel)


def is_classifier(model: Any) -> bool:
    """True for a RoBERTa-style model with classification heads (GLUE fine-tuning)."""
    return hasattr(model, "classification_heads")


def model_info(model: Any, name: str) -> ModelInfo:
    """Name, memory layout and memory size of a loaded model (0 for a plain transformer or
    transformer_lm)."""
    if is_language_model(model):
        decoder = model.decoder
        layout = "lm_recurrent" if getattr(decoder, "recurrent", False) else "lm"
        return ModelInfo(name, layout, getattr(decoder, "num_memory", 0))
    encoder = getattr(model.encoder, "sentence_encoder", model.encoder)  # RoBERTa: inside
    return ModelInfo(name, getattr(encoder, "layout", "none"), getattr(encoder, "num_memory", 0))


def encode_source(task: Any, line: str, max_tokens: int) -> Tensor:
    """Token ids (1, n) of a tokenized line, with </s>, cut to ``max_tokens``."""
    ids = task.source_dictionary.encode_line(line, add_if_not_exist=False, append_eos=True)
    if ids.numel() > max_tokens:
        ids = torch.cat([ids[: max_tokens - 1], ids[-1:]])
    return ids.long().unsqueeze(0)


def encode_lm_line(dictionary: Any, line: str, max_tokens: int) -> Tensor:
    """LM input ids (1, n): ``</s>`` then the line's tokens, cut to ``max_tokens``.

    ``</s>`` comes first as an LM input starts after an end of sentence; the cut keeps the
    sample within one segment (see ``lm_max_tokens``).
    """
    ids = dictionary.encode_line(line, add_if_not_exist=False, append_eos=False)
    ids = torch.cat([ids.new_tensor([dictionary.eos()]), ids])[:max_tokens]
    return ids.long().unsqueeze(0)


def lm_max_tokens(decoder: Any) -> int:
    """Tokens of one LM sample: one segment, within the learned positions and LM_MAX_TOKENS."""
    limits = [LM_MAX_TOKENS, decoder.max_positions()]
    if getattr(decoder, "segment_len", 0):
        limits.append(decoder.segment_len)
    return min(limits)

"""The translation model ``mem_transformer`` (Burtsev et al., 2020, arXiv 2006.11527).

fairseq's ``transformer`` whose encoder is the plugin's ``MemTransformerEncoder``
(``modules/mem_encoder.py``: the four layouts and the choices the paper leaves open).
Options: ``--mem-tokens``, ``--mem-layout``, ``--mem-init-std``, ``--mem-hide-from-decoder``;
at inference, ``--model-overrides`` may add ``mem_intervention`` (``modules/intervention.py``).
Architectures: one family per layout (``mem_transformer``, ``mem_ctrl``, ``mem_ctrl_shared``,
``mem_bottleneck``, see ``memspec.TRANSLATION_ARCH``), each with fairseq's sizes and
``_tiny``, e.g. ``mem_ctrl_iwslt_de_en``; the family sets the default ``--mem-layout``.
"""

from __future__ import annotations

import argparse
import functools
import logging
from typing import Any

from fairseq.models import register_model
from fairseq.models.transformer import (
    TransformerModel,
    base_architecture,
    transformer_iwslt_de_en,
    transformer_vaswani_wmt_en_de_big,
    transformer_wmt_en_de,
)
from torch import nn

from memspec import MEMORY_LAYOUTS, TRANSLATION_ARCH, TRANSLATION_MODEL

from ..modules.intervention import from_model_options
from ..modules.mem_encoder import MemTransformerEncoder, validate_memory_options
from ..modules.options import mem_tokens_arg, positive_float_arg
from .architectures import register_architectures

logger = logging.getLogger(__name__)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameter counts: total, memory vectors, dedicated memory layers."""
    encoder = model.encoder
    memory = encoder.memory.vectors.numel() if encoder.memory is not None else 0
    return {
        "total": sum(p.numel() for p in model.parameters()),
        "memory_tokens": memory,
        "memory_layers": sum(p.numel() for p in encoder.memory_layers.parameters()),
    }


def describe_parameters(model: nn.Module) -> str:
    """The line a built model logs: layout, memory size and parameter counts."""
    counts = count_parameters(model)
    encoder = model.encoder
    return (
        f"memtr: layout={encoder.layout} mem_tokens={encoder.num_memory} | "
        f"params total={counts['total']:,} memory_tokens={counts['memory_tokens']:,} "
        f"memory_layers={counts['memory_layers']:,}"
    )


@register_model(TRANSLATION_MODEL)
class MemTransformerModel(TransformerModel):
    """fairseq's ``transformer`` whose encoder carries trainable memory tokens."""

    @classmethod
    def add_args(cls, parser: argparse.ArgumentParser) -> None:
        super().add_args(parser)
        parser.add_argument(
            "--mem-tokens",
            type=mem_tokens_arg,
            metavar="M",
            help="number of trainable memory tokens (0 = plain transformer)",
        )
        parser.add_argument(
            "--mem-layout",
            choices=MEMORY_LAYOUTS,
            help="prepend (MemTransformer), ctrl (MemCtrl), ctrl_shared, bottleneck",
        )
        parser.add_argument(
            "--mem-init-std",
            type=positive_float_arg,
            metavar="STD",
            help="std of the memory's normal init (default: a scaled token's)",
        )
        parser.add_argument(
            "--mem-hide-from-decoder",
            action="store_true",
            help="the decoder's cross-attention sees the sequence outputs only",
        )

    @classmethod
    def build_model(cls, args: argparse.Namespace, task: Any) -> MemTransformerModel:
        mem_base_architecture(args)  # fill options missing from older checkpoints
        validate_memory_options(args)
        model = super().build_model(args, task)
        model.encoder.set_intervention(from_model_options(args))  # inference only, else None
        logger.info(describe_parameters(model))
        return model

    @classmethod
    def build_encoder(
        cls, cfg: Any, src_dict: Any, embed_tokens: nn.Embedding
    ) -> MemTransformerEncoder:
        return MemTransformerEncoder(cfg, src_dict, embed_tokens)


def mem_base_architecture(args: argparse.Namespace, layout: str = "prepend") -> None:
    """Defaults of the memory options (model sizes come from fairseq's architectures)."""
    args.mem_tokens = getattr(args, "mem_tokens", 10)
    args.mem_layout = getattr(args, "mem_layout", layout)
    args.mem_init_std = getattr(args, "mem_init_std", None)
    args.mem_hide_from_decoder = getattr(args, "mem_hide_from_decoder", False)


def tiny_architecture(args: argparse.Namespace) -> None:
    """A model for tests and CPU demos: d=64, 2+2 layers."""
    args.encoder_embed_dim = getattr(args, "encoder_embed_dim", 64)
    args.encoder_ffn_embed_dim = getattr(args, "encoder_ffn_embed_dim", 128)
    args.encoder_layers = getattr(args, "encoder_layers", 2)
    args.encoder_attention_heads = getattr(args, "encoder_attention_heads", 4)
    args.decoder_layers = getattr(args, "decoder_layers", 2)
    args.decoder_attention_heads = getattr(args, "decoder_attention_heads", 4)
    base_architecture(args)


# Model sizes: architecture-name suffix -> fairseq function that fills that size's defaults.
SIZES = {
    "": base_architecture,
    "_tiny": tiny_architecture,
    "_iwslt_de_en": transformer_iwslt_de_en,
    "_wmt_en_de": transformer_wmt_en_de,
    "_vaswani_wmt_en_de_big": transformer_vaswani_wmt_en_de_big,
}

# One family of architectures per encoder layout (prefix + size suffix, see memspec).
for _layout, _prefix in TRANSLATION_ARCH.items():
    register_architectures(
        TRANSLATION_MODEL, _prefix, SIZES, functools.partial(mem_base_architecture, layout=_layout)
    )

"""The language model ``mem_transformer_lm``: fairseq's ``transformer_lm`` with memory tokens
(Burtsev et al., 2020, arXiv 2006.11527), optionally recurrent across segments (after Bulatov
et al., 2022, Recurrent Memory Transformer, arXiv 2207.06881).

The decoder is the plugin's ``MemLMDecoder`` (``modules/mem_lm_decoder.py``: the layout of a
segment, its attention mask, the recurrent memory and the choices the paper leaves open).
Here: the model's config and options, the build (as fairseq's, same order of random draws)
and the architectures.

* Options: ``--mem-tokens M`` (0 = none), ``--mem-init-std``, ``--mem-recurrent`` (the memory
  written by segment ``k`` is read by ``k+1``), ``--mem-segment-len L`` (0 = the whole input),
  ``--mem-bptt-segments K`` (detach the memory every ``K`` segments; needs ``--mem-recurrent``).
* The recurrent memory is carried across batches only by a task that passes ``mem_stream``
  (``takes_mem_stream``; the plugin's ``stream_lm`` task does); with another task a warning
  says it is carried between the segments of one batch only.
* Architectures: ``mem_transformer_lm`` (the config's defaults) and ``mem_transformer_lm`` +
  ``_tiny``, ``_big``, ``_wiki103`` (fairseq's sizes).
"""

import argparse
import logging
from dataclasses import dataclass, field
from typing import Any, Optional

from fairseq import options
from fairseq.dataclass.utils import gen_parser_from_dataclass
from fairseq.models import register_model
from fairseq.models.transformer_lm import (
    DEFAULT_MAX_TARGET_POSITIONS,
    TransformerLanguageModel,
    TransformerLanguageModelConfig,
    base_lm_architecture,
    transformer_lm_baevski_wiki103,
    transformer_lm_big,
)
from fairseq.modules import AdaptiveInput
from fairseq.utils import safe_getattr
from torch import nn

from memspec import LM_MODEL

from ..modules.mem_lm_decoder import MemLMDecoder, validate_lm_memory_options
from ..modules.options import mem_tokens_arg, non_negative_int_arg, positive_float_arg
from .architectures import register_architectures

logger = logging.getLogger(__name__)


# No ``from __future__ import annotations`` in this module: fairseq reads the config's field
# types at run time, and its parser understands ``typing.Optional`` but not ``X | None``.
@dataclass
class MemTransformerLanguageModelConfig(TransformerLanguageModelConfig):
    mem_tokens: int = field(default=10, metadata={"help": "number of memory tokens (0 = none)"})
    mem_init_std: Optional[float] = field(  # noqa: UP045 (fairseq's parser reads typing.Optional)
        default=None, metadata={"help": "std of the memory's normal init"}
    )
    mem_recurrent: bool = field(
        default=False, metadata={"help": "the memory written by segment k is read by k+1"}
    )
    mem_segment_len: int = field(
        default=0, metadata={"help": "tokens per segment (0 = the whole input)"}
    )
    mem_bptt_segments: int = field(
        default=0, metadata={"help": "detach the memory every K segments (0 = never in a batch)"}
    )


def add_memory_lm_args(parser: argparse.ArgumentParser) -> None:
    """The memory options, parsed with clear errors (names match the config's fields)."""
    parser.add_argument(
        "--mem-tokens", type=mem_tokens_arg, metavar="M", help="number of memory tokens"
    )
    parser.add_argument(
        "--mem-init-std",
        type=positive_float_arg,
        metavar="STD",
        help="std of the memory's normal init (default: a scaled token's)",
    )
    parser.add_argument(
        "--mem-recurrent",
        action="store_true",
        help="recurrent memory: the write block of segment k is the read memory of k+1",
    )
    parser.add_argument(
        "--mem-segment-len",
        type=non_negative_int_arg,
        metavar="L",
        help="cut each input row into segments of L tokens (0 = one segment)",
    )
    parser.add_argument(
        "--mem-bptt-segments",
        type=non_negative_int_arg,
        metavar="K",
        help="gradients flow back through K segments (0 = all segments of a batch)",
    )


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameter counts: total and memory vectors."""
    memory = model.decoder.memory
    return {
        "total": sum(p.numel() for p in model.parameters()),
        "memory_tokens": memory.vectors.numel() if memory is not None else 0,
    }


@register_model(LM_MODEL, dataclass=MemTransformerLanguageModelConfig)
class MemTransformerLanguageModel(TransformerLanguageModel):
    """fairseq's ``transformer_lm`` whose decoder carries memory tokens (see module docstring)."""

    takes_mem_stream = True  # read by the stream_lm task: pass ``mem_stream`` in net_input

    @classmethod
    def add_args(cls, parser: argparse.ArgumentParser) -> None:
        gen_parser_from_dataclass(parser, TransformerLanguageModelConfig(), delete_default=True)
        add_memory_lm_args(parser)

    @classmethod
    def build_model(cls, args: Any, task: Any) -> "MemTransformerLanguageModel":
        """As ``TransformerLanguageModel.build_model`` (same order of random draws), with our
        decoder; character embeddings are not supported."""
        validate_lm_memory_options(args)
        if args.decoder_layers_to_keep:
            args.decoder_layers = len(args.decoder_layers_to_keep.split(","))
        if safe_getattr(args, "max_target_positions", None) is None:
            args.max_target_positions = safe_getattr(
                args, "tokens_per_sample", DEFAULT_MAX_TARGET_POSITIONS
            )
        if args.adaptive_input:
            embed_tokens = AdaptiveInput(
                len(task.source_dictionary),
                task.source_dictionary.pad(),
                args.decoder_input_dim,
                args.adaptive_input_factor,
                args.decoder_embed_dim,
                options.eval_str_list(args.adaptive_input_cutoff, type=int),
                args.quant_noise_pq,
                args.quant_noise_pq_block_size,
            )
        else:
            embed_tokens = cls.build_embedding(args, task.source_dictionary, args.decoder_input_dim)
        model = cls(MemLMDecoder(args, task.target_dictionary, embed_tokens))
        if args.mem_recurrent and not getattr(task, "streams_rows", False):
            logger.warning(
                "memtr: --mem-recurrent with task %s: memory is carried between the segments "
                "of one batch only (use --task stream_lm to carry it across batches)",
                type(task).__name__,
            )
        counts = count_parameters(model)
        logger.info(
            f"memtr: lm mem_tokens={args.mem_tokens} recurrent={bool(args.mem_recurrent)} "
            f"segment_len={args.mem_segment_len} bptt_segments={args.mem_bptt_segments} | "
            f"params total={counts['total']:,} memory_tokens={counts['memory_tokens']:,}"
        )
        return model


def mem_lm_base_architecture(args: Any) -> None:
    """Defaults of the memory options (model sizes come from fairseq's architectures)."""
    args.mem_tokens = getattr(args, "mem_tokens", 10)
    args.mem_init_std = getattr(args, "mem_init_std", None)
    args.mem_recurrent = getattr(args, "mem_recurrent", False)
    args.mem_segment_len = getattr(args, "mem_segment_len", 0)
    args.mem_bptt_segments = getattr(args, "mem_bptt_segments", 0)


def tiny_lm_architecture(args: Any) -> None:
    """A model for tests and CPU demos: d=64, 2 layers, 4 heads."""
    args.decoder_embed_dim = getattr(args, "decoder_embed_dim", 64)
    args.decoder_ffn_embed_dim = getattr(args, "decoder_ffn_embed_dim", 128)
    args.decoder_layers = getattr(args, "decoder_layers", 2)
    args.decoder_attention_heads = getattr(args, "decoder_attention_heads", 4)
    base_lm_architecture(args)


# Architecture-name suffix -> fairseq function that fills that size's defaults. The plain
# ``mem_transformer_lm`` architecture is registered with the model, as fairseq registers
# ``transformer_lm``: the config's defaults, no architecture function.
LM_SIZES = {
    "_tiny": tiny_lm_architecture,
    "_big": transformer_lm_big,
    "_wiki103": transformer_lm_baevski_wiki103,
}


register_architectures(LM_MODEL, LM_MODEL, LM_SIZES, mem_lm_base_architecture)

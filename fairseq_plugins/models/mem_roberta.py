"""A RoBERTa/BERT-style masked LM with memory tokens (the paper's GLUE experiment).

fairseq's ``roberta`` whose sentence encoder is the plugin's ``MemTransformerEncoder``
(``modules/mem_encoder.py``) in the ``prepend`` layout: ``m`` trainable memory vectors in front
of the embedded tokens (memory first, no positions), ordinary bidirectional encoder layers over
``[mem ; tokens]``::

    [mem' ; h'] = Layer_l([mem ; h]),   h_0 = LN(emb(tokens) + pos)

* Outputs: the memory positions are dropped after the last layer, so the encoder's features
  are (B, n, C) over the real tokens only. The masked-LM head scores real tokens, and the
  sentence classification head reads ``features[:, 0]``, the first *real* token (``<s>``,
  which ``sentence_prediction`` prepends), exactly as in RoBERTa; the memory reaches it
  through self-attention.
* Starting from a pre-trained RoBERTa: ``fairseq-train --restore-file roberta.pt
  --reset-optimizer --reset-dataloader --reset-meters --arch mem_roberta_... --mem-tokens M``.
  Every pre-trained weight loads unchanged (same parameter names, positions not shifted);
  the memory vectors, absent from the checkpoint, keep their fresh init
  (``upgrade_state_dict_named``).
* Memory init (a choice the paper leaves open): normal with ``--mem-init-std``; by default
  1.0, the per-element scale of a token after RoBERTa's embedding LayerNorm, or BERT's init
  std 0.02 for models without that LayerNorm (``roberta_prenorm``).
* ``--mem-tokens 0`` builds exactly fairseq's ``roberta`` (same parameters, same outputs).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from fairseq.models import register_model
from fairseq.models.roberta.model import (
    RobertaEncoder,
    RobertaModel,
    base_architecture,
    roberta_large_architecture,
    roberta_prenorm_architecture,
)
from fairseq.models.transformer import TransformerConfig
from fairseq.modules.transformer_sentence_encoder import init_bert_params
from fairseq.utils import safe_getattr, safe_hasattr
from omegaconf import OmegaConf
from torch import Tensor, nn

from memspec import ROBERTA_MODEL

from ..modules.mem_encoder import MemTransformerEncoder, validate_memory_options
from ..modules.options import mem_tokens_arg, positive_float_arg
from .architectures import register_architectures

logger = logging.getLogger(__name__)

BERT_INIT_STD = 0.02  # init_bert_params: token and position embeddings


class MemRobertaEncoder(RobertaEncoder):
    """RoBERTa's encoder whose sentence encoder prepends memory; features are real tokens."""

    def build_encoder(self, args: Any, dictionary: Any, embed_tokens: nn.Embedding) -> nn.Module:
        encoder = MemTransformerEncoder(
            TransformerConfig.from_namespace(args), dictionary, embed_tokens
        )
        encoder.apply(init_bert_params)  # as RobertaEncoder.build_encoder (memory untouched)
        return encoder

    def extract_features(
        self, src_tokens: Tensor, return_all_hiddens: bool = False, **kwargs: Any
    ) -> tuple[Tensor, dict[str, Any]]:
        """Features (B, n, C) of the real tokens; memory positions dropped after the last layer."""
        encoder = self.sentence_encoder
        x, _, _, states = encoder.encode_all(
            src_tokens, kwargs.get("token_embeddings"), return_all_hiddens
        )
        m = encoder.num_memory
        features = x[m:].transpose(0, 1)  # (T, B, C) -> (B, n, C); features[:, 0] is <s>
        inner_states = [s[m:] for s in states] if return_all_hiddens else None
        return features, {"inner_states": inner_states}


@register_model(ROBERTA_MODEL)
class MemRobertaModel(RobertaModel):
    """fairseq's ``roberta`` with memory tokens in its encoder (see module docstring)."""

    @staticmethod
    def add_args(parser: argparse.ArgumentParser) -> None:
        RobertaModel.add_args(parser)
        parser.add_argument(
            "--mem-tokens", type=mem_tokens_arg, metavar="M", help="number of memory tokens"
        )
        parser.add_argument(
            "--mem-init-std",
            type=positive_float_arg,
            metavar="STD",
            help="std of the memory's normal init (default: 1.0 after an embedding LayerNorm)",
        )

    @classmethod
    def build_model(cls, args: Any, task: Any) -> MemRobertaModel:
        """As ``RobertaModel.build_model``, with the memory encoder."""
        if OmegaConf.is_config(args):
            OmegaConf.set_struct(args, False)
        mem_roberta_base_architecture(args)
        validate_memory_options(args)
        if not safe_hasattr(args, "max_positions"):
            if not safe_hasattr(args, "tokens_per_sample"):
                args.tokens_per_sample = task.max_positions()
            args.max_positions = args.tokens_per_sample
        encoder = MemRobertaEncoder(args, task.source_dictionary)
        if OmegaConf.is_config(args):
            OmegaConf.set_struct(args, True)
        model = cls(args, encoder)
        memory = encoder.sentence_encoder.memory
        logger.info(
            f"memtr: roberta mem_tokens={args.mem_tokens} | params total="
            f"{sum(p.numel() for p in model.parameters()):,} memory_tokens="
            f"{memory.vectors.numel() if memory is not None else 0:,}"
        )
        return model

    def upgrade_state_dict_named(self, state_dict: dict[str, Tensor], name: str) -> None:
        """Accept checkpoints without memory (a pre-trained RoBERTa): keep the fresh memory."""
        super().upgrade_state_dict_named(state_dict, name)
        memory = self.encoder.sentence_encoder.memory
        key = (name + "." if name else "") + "encoder.sentence_encoder.memory.vectors"
        if memory is not None and key not in state_dict:
            logger.info(f"memtr: {key} is not in the checkpoint: keeping its fresh init")
            state_dict[key] = memory.vectors.detach().clone()


def mem_roberta_base_architecture(args: Any) -> None:
    """Defaults of the memory options; fixed settings of the prepend layout."""
    args.mem_tokens = safe_getattr(args, "mem_tokens", 10)
    base_architecture(args)  # fills layernorm_embedding, read just below
    default_std = 1.0 if args.layernorm_embedding else BERT_INIT_STD
    if safe_getattr(args, "mem_init_std", None) is None:
        args.mem_init_std = default_std
    args.mem_layout = "prepend"  # the encoder's other layouts are not offered here
    args.mem_hide_from_decoder = False  # no decoder: features drop the memory themselves


def tiny_roberta_architecture(args: Any) -> None:
    """A model for tests and CPU demos: d=64, 2 layers, 4 heads."""
    args.encoder_layers = safe_getattr(args, "encoder_layers", 2)
    args.encoder_embed_dim = safe_getattr(args, "encoder_embed_dim", 64)
    args.encoder_ffn_embed_dim = safe_getattr(args, "encoder_ffn_embed_dim", 128)
    args.encoder_attention_heads = safe_getattr(args, "encoder_attention_heads", 4)
    base_architecture(args)


# Architecture-name suffix -> fairseq function that fills that size's defaults.
ROBERTA_SIZES = {
    "": base_architecture,
    "_tiny": tiny_roberta_architecture,
    "_base": base_architecture,
    "_large": roberta_large_architecture,
    "_prenorm": roberta_prenorm_architecture,
}


register_architectures(
    ROBERTA_MODEL, ROBERTA_MODEL, ROBERTA_SIZES, mem_roberta_base_architecture, sizes_first=True
)

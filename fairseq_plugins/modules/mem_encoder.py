"""Memory Transformer encoders (Burtsev et al., 2020, arXiv 2006.11527) for fairseq.

Four layouts of the encoder, all with ``m`` trainable memory vectors placed in front
of the embedded source, ``h0 = [mem ; emb(src)]`` (memory first, no positions).
The encoder of the registered models ``mem_transformer`` (all four layouts, see
``models/mem_transformer.py``) and ``mem_roberta`` (``prepend`` only):

* ``prepend`` (MemTransformer): ordinary encoder layers over ``[mem ; seq]``::

      [mem' ; seq'] = Layer_l([mem ; seq])

* ``ctrl`` (MemCtrl): the memory is updated by a dedicated layer with its own
  weights (attention and feed-forward), the sequence by the ordinary layer; both
  attend over ``[mem ; seq]`` of the previous depth::

      mem' = MemLayer_l(query=mem, keys=[mem ; seq])
      seq' = Layer_l(query=seq, keys=[mem ; seq])

* ``ctrl_shared`` (MemCtrl-shared): as ``ctrl`` with one ``MemLayer`` whose weights
  every depth shares (a memory controller applied at every layer).

* ``bottleneck`` (MemBottleneck): no token-to-token attention; the global context
  reaches a token only through the memory, and the decoder sees only the memory::

      mem' = Layer_l(query=mem, keys=[mem ; seq])
      seq' = Layer_l(query=seq, keys=mem')

Choices the paper leaves open (see README, "Design choices"):

* Memory init: normal with ``--mem-init-std``; by default the std of a scaled token
  embedding (1.0 with fairseq's sqrt(d) embedding scale), so memory and tokens start
  at the same norm.
* The memory is concatenated after the token-embedding pipeline (scale, positions,
  dropout): it has no position and is not dropped out, as in x-transformers.
* The decoder's cross-attention sees ``[mem ; seq]`` outputs (the paper's choice);
  ``--mem-hide-from-decoder`` gives it the sequence outputs only. MemBottleneck always
  gives it the memory only.
* MemBottleneck uses the ordinary layer's weights for both of its steps, so it adds
  no parameters beyond the memory: a BLEU drop is the bottleneck's, not a size effect.

At inference an intervention (``modules/intervention.py``: zero, swap, mean, hide, knockout,
remove) may change the memory outputs the decoder reads, or run without memory.
"""

from __future__ import annotations

from typing import Any

import torch
from fairseq.models.transformer import TransformerEncoderBase
from torch import Tensor, nn

from memspec import MEMORY_LAYOUTS, check_mem_tokens

from .intervention import Intervention, check_intervention
from .memory import MemoryTokens, encoder_layer_forward


class MemoryConfigError(ValueError):
    """An inconsistent combination of memory options."""


def validate_memory_options(cfg: Any) -> None:
    """Check the memory options of a model config; raise MemoryConfigError naming the problem."""
    m = check_mem_tokens(cfg.mem_tokens)
    layout = cfg.mem_layout
    if layout not in MEMORY_LAYOUTS:
        raise MemoryConfigError(
            f"--mem-layout must be one of {', '.join(MEMORY_LAYOUTS)}, got {layout!r}"
        )
    if layout != "prepend" and m == 0:
        raise MemoryConfigError(f"--mem-layout {layout} needs --mem-tokens >= 1, got 0")
    if layout == "bottleneck" and cfg.mem_hide_from_decoder:
        raise MemoryConfigError(
            "--mem-hide-from-decoder cannot be used with --mem-layout bottleneck: "
            "its decoder sees only the memory"
        )
    if layout != "prepend" and getattr(cfg, "encoder_layerdrop", 0) > 0:
        raise MemoryConfigError(f"--encoder-layerdrop is not supported with --mem-layout {layout}")
    std = cfg.mem_init_std
    if std is not None and not std > 0:
        raise MemoryConfigError(f"--mem-init-std must be > 0, got {std}")


class MemTransformerEncoder(TransformerEncoderBase):
    """fairseq's Transformer encoder with ``m`` memory tokens in front of the source.

    The encoder output, its padding mask, embeddings and states share one time axis
    whose first ``m`` positions are the memory (see ``decoder_positions``).
    """

    def __init__(self, cfg: Any, dictionary: Any, embed_tokens: nn.Embedding) -> None:
        super().__init__(cfg, dictionary, embed_tokens)
        validate_memory_options(cfg)
        self.num_memory = cfg.mem_tokens
        self.layout = cfg.mem_layout
        self.hide_memory_from_decoder = bool(cfg.mem_hide_from_decoder)
        dim = embed_tokens.embedding_dim
        self.memory = None
        if self.num_memory > 0:
            std = cfg.mem_init_std
            if std is None:  # the std of a scaled token embedding, see module docstring
                std = self.embed_scale * dim**-0.5
            self.memory = MemoryTokens(self.num_memory, dim, std)
        self.memory_layers = nn.ModuleList()
        if self.layout == "ctrl":
            self.memory_layers.extend(self.build_encoder_layer(cfg) for _ in self.layers)
        elif self.layout == "ctrl_shared":
            self.memory_layers.append(self.build_encoder_layer(cfg))
        # Set to a list to collect per-layer attention probabilities (B, H, T, T).
        self.recorded_attention: list[Tensor] | None = None
        # An intervention on the memory at inference (modules/intervention.py), or None.
        self.intervention: Intervention | None = None

    def set_intervention(self, intervention: Intervention | None) -> None:
        """Apply ``intervention`` from the next forward on (None: the intact model); an
        InterventionError when this model does not define it."""
        if intervention is not None:
            dim = self.embed_tokens.embedding_dim
            layout, m, hidden = self.layout, self.num_memory, self.hide_memory_from_decoder
            check_intervention(intervention, layout, m, hidden, dim)
        self.intervention = intervention

    @property
    def memory_in_use(self) -> int:
        """Memory slots the encoder runs with: ``num_memory``, 0 while it is removed."""
        removed = self.intervention is not None and self.intervention.removes_memory
        return 0 if removed else self.num_memory

    def decoder_positions(self) -> slice:
        """The slice of the encoder's time axis that the decoder reads."""
        if self.layout == "bottleneck":
            return slice(0, self.num_memory)
        if self.hide_memory_from_decoder:
            return slice(self.memory_in_use, None)
        return slice(None)

    def encode_all(
        self,
        src_tokens: Tensor,
        token_embeddings: Tensor | None = None,
        return_all_hiddens: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor, list[Tensor]]:
        """Run the encoder and return every position, memory included.

        Returns:
            x (T, B, C), padding mask (B, T), embedding (B, T, C), states list of (T, B, C),
            with T = m + n and the memory at positions ``0 .. m-1``.
        """
        padding_mask = src_tokens.eq(self.padding_idx)  # (B, n), True at padding
        x, embedding = self.forward_embedding(src_tokens, token_embeddings)  # (B, n, C)
        x = x * (1 - padding_mask.unsqueeze(-1).type_as(x))  # zero the pads, as fairseq does
        if self.memory_in_use:
            embedding, _ = self.memory.prepend(embedding, padding_mask)  # (B, m + n, C)
            x, padding_mask = self.memory.prepend(x, padding_mask)  # (B, m + n, C), (B, m + n)
        x = x.transpose(0, 1)  # (T, B, C)
        layer_mask = padding_mask if padding_mask.any() else None

        states = [x] if return_all_hiddens else []
        for index, layer in enumerate(self.layers):
            x = self.run_layer(index, layer, x, layer_mask)  # (T, B, C)
            if return_all_hiddens:
                states.append(x)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x, padding_mask, embedding, states

    def forward_scriptable(
        self,
        src_tokens: Tensor,
        src_lengths: Tensor | None = None,
        return_all_hiddens: bool = False,
        token_embeddings: Tensor | None = None,
    ) -> dict[str, list[Tensor]]:
        x, padding_mask, embedding, states = self.encode_all(
            src_tokens, token_embeddings, return_all_hiddens
        )
        seen = self.decoder_positions()
        out, mask = x[seen], padding_mask[:, seen]  # (T', B, C), (B, T')
        if self.intervention is not None:  # memory first, at the positions the decoder reads
            out, mask = self.intervention.apply(out, mask, self.memory_in_use)
        lengths = src_tokens.ne(self.padding_idx).sum(dim=1, dtype=torch.int32).view(-1, 1)
        return {
            "encoder_out": [out],  # (T', B, C)
            "encoder_padding_mask": [mask],  # (B, T')
            "encoder_embedding": [embedding[:, seen]],  # (B, T', C)
            "encoder_states": [s[seen] for s in states],  # list of (T', B, C)
            "fc_results": [],
            "src_tokens": [],
            "src_lengths": [lengths],  # (B, 1): real source tokens, memory not counted
        }

    def run_layer(self, index: int, layer: nn.Module, x: Tensor, mask: Tensor | None) -> Tensor:
        """Apply encoder layer ``index`` of this layout to ``x`` (T, B, C) -> (T, B, C)."""
        record = self.recorded_attention is not None
        m = self.num_memory
        if self.layout == "prepend" and not record:
            out = layer(x, encoder_padding_mask=mask)  # fairseq's own fused path
            return out[0] if isinstance(out, tuple) else out
        if self.layout == "prepend":
            out, probs = encoder_layer_forward(layer, x, x, mask, need_weights=True)
            self.recorded_attention.append(probs)
            return out
        memory, sequence = x[:m], x[m:]  # (m, B, C), (n, B, C)
        if self.layout == "bottleneck":
            new_memory, mem_probs = encoder_layer_forward(layer, memory, x, mask, record)
            new_sequence, seq_probs = encoder_layer_forward(
                layer, sequence, new_memory, None, record
            )
        else:
            memory_layer = self.memory_layers[index if self.layout == "ctrl" else 0]
            new_memory, mem_probs = encoder_layer_forward(memory_layer, memory, x, mask, record)
            new_sequence, seq_probs = encoder_layer_forward(layer, sequence, x, mask, record)
        if record:
            if self.layout == "bottleneck":  # sequence rows put no weight on sequence keys
                seq_probs = torch.cat(
                    [seq_probs, seq_probs.new_zeros(*seq_probs.shape[:3], x.size(0) - m)], dim=-1
                )
            self.recorded_attention.append(torch.cat([mem_probs, seq_probs], dim=2))  # (B, H, T, T)
        return torch.cat([new_memory, new_sequence], dim=0)

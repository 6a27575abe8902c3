"""The decoder of the language model ``mem_transformer_lm`` (``models/mem_lm.py``): memory tokens for a decoder-only
LM (Burtsev et al., 2020, arXiv 2006.11527), with an optional recurrent memory across segments
(after Bulatov et al., 2022, Recurrent Memory Transformer, arXiv 2207.06881).

fairseq's ``transformer_lm`` decoder with ``m`` trainable memory vectors placed in front of
every segment of ``n`` real tokens (memory first, no positions)::

    h0 = [ read (m) ; emb(tokens) (n) ; write (m, with --mem-recurrent only) ]

Self-attention mask of one segment, built in one place (``segment_mask``), rows are queries::

                 keys:  read   tokens          write
        read            all    -               -
        tokens          all    causal (j <= i) -
        write           all    all             all

* Every real token reads the whole memory and stays causal over the tokens; memory tokens
  attend to each other bidirectionally.
* The read memory does not see the tokens of its own segment: if it did, a token would read,
  through the memory, tokens that come after it. Without recurrence the read memory is
  therefore input-independent: a learned per-layer prefix (the only causal-safe reading of the
  paper's "memory in front of the sequence" for a decoder-only LM without Transformer-XL
  caches).
* ``--mem-recurrent`` (RMT): a write block sits *after* the tokens, so under the same mask it
  sees the whole segment. Its input is the segment's read memory and its final outputs (after
  the decoder's final layer norm, so they keep the scale of the initial memory) are the read
  memory of the next segment of the same stream::

      read_1 = M (learned),   write_k = read_k,   read_{k+1} = LN(h^L[write_k])

  No token attends to the write block, so the write block changes no token output of its own
  segment, and incremental decoding never needs it inside a segment.
* Segments: ``--mem-segment-len L`` cuts every input row into segments of ``L`` tokens, each its
  own attention window with positions restarting at 1; 0 keeps the whole input as one segment.
  Gradients flow back through the segments of one batch (``--mem-bptt-segments K`` cuts the
  graph every ``K`` segments). Between batches the memory is carried (detached) only when the
  task passes ``mem_stream`` (the plugin's ``stream_lm`` task does: row ``r`` of batch ``i+1``
  continues row ``r`` of batch ``i``); other tasks start every batch from ``M``.
* Only real-token positions reach the output projection, so losses and perplexities are
  computed on the tokens the baseline ``transformer_lm`` scores. With ``--mem-tokens 0`` and no
  segmenting the decoder runs fairseq's own code: the baseline bit for bit.

Choices the paper leaves open (see the module's tests for the behaviour):

* Memory init: normal with ``--mem-init-std``; by default the std of a scaled token embedding
  (1.0 with fairseq's sqrt(d) embedding scale), as in ``mem_transformer``.
* Memory is concatenated after the token pipeline (scale, positions, dropout): it has no
  position and is not dropped out.
"""

from __future__ import annotations

from typing import Any

import torch
from fairseq.models.transformer import TransformerDecoder
from fairseq.utils import safe_getattr
from torch import Tensor, nn

from memspec import check_mem_tokens

from .mem_encoder import MemoryConfigError
from .memory import MemoryTokens, self_attention_probs

IncrementalState = dict[str, dict[str, Tensor | None]]
MemStream = dict[str, Any]  # {"key": split name, "start": column of this batch in its rows}


def validate_lm_memory_options(cfg: Any) -> None:
    """Check the memory options of an LM config; raise MemoryConfigError naming the problem."""
    m = check_mem_tokens(cfg.mem_tokens)
    if cfg.mem_recurrent and m == 0:
        raise MemoryConfigError("--mem-recurrent needs --mem-tokens >= 1, got 0")
    if cfg.mem_bptt_segments and not cfg.mem_recurrent:
        raise MemoryConfigError("--mem-bptt-segments needs --mem-recurrent")
    if cfg.mem_segment_len < 0 or cfg.mem_bptt_segments < 0:
        raise MemoryConfigError("--mem-segment-len and --mem-bptt-segments must be >= 0")
    std = cfg.mem_init_std
    if std is not None and not std > 0:
        raise MemoryConfigError(f"--mem-init-std must be > 0, got {std}")
    if safe_getattr(cfg, "character_embeddings", False):
        raise MemoryConfigError("--character-embeddings is not supported with memory tokens")


class MemLMDecoder(TransformerDecoder):
    """fairseq's LM decoder with read (and, recurrent, write) memory around each segment."""

    def __init__(self, args: Any, dictionary: Any, embed_tokens: nn.Module) -> None:
        super().__init__(args, dictionary, embed_tokens, no_encoder_attn=True)
        self.num_memory = args.mem_tokens
        self.recurrent = bool(args.mem_recurrent)
        self.segment_len = args.mem_segment_len
        self.bptt_segments = args.mem_bptt_segments
        self.memory = None
        if self.num_memory > 0:  # created after fairseq's parameters: M = 0 draws the same init
            std = args.mem_init_std
            if std is None:  # the std of a scaled token embedding, see module docstring
                std = self.embed_scale * self.embed_dim**-0.5
            self.memory = MemoryTokens(self.num_memory, self.embed_dim, std)
        # stream key -> (memory (B, m, C) written by the last batch, column the next batch starts)
        self.carried: dict[str, tuple[Tensor, int]] = {}
        # A list to record the self-attention probabilities of full (not incremental) forward
        # passes on the segment path (not fairseq's own path of a plain model): one (B, H, T, T)
        # over [read ; tokens ; write] per layer and segment, for ``memtr.attention``.
        # None = off, the default, and then it costs nothing.
        self.recorded_attention: list[Tensor] | None = None

    @property
    def is_plain(self) -> bool:
        """No memory and no segmenting: fairseq's own ``transformer_lm`` code path."""
        return self.num_memory == 0 and self.segment_len == 0

    def forward(
        self,
        prev_output_tokens: Tensor,
        encoder_out: Any = None,
        incremental_state: IncrementalState | None = None,
        features_only: bool = False,
        full_context_alignment: bool = False,
        alignment_layer: int | None = None,
        alignment_heads: int | None = None,
        src_lengths: Any = None,
        return_all_hiddens: bool = False,
        mem_stream: MemStream | None = None,
    ) -> tuple[Tensor, dict[str, Any]]:
        """As fairseq's decoder; ``mem_stream`` lets a recurrent memory continue a stream."""
        if self.is_plain:
            x, extra = self.extract_features(
                prev_output_tokens,
                encoder_out,
                incremental_state,
                full_context_alignment=full_context_alignment,
                alignment_layer=alignment_layer,
                alignment_heads=alignment_heads,
            )
        elif incremental_state is not None:
            x, extra = self.extract_features_incremental(prev_output_tokens, incremental_state)
        else:
            x, extra = self.extract_features_segments(prev_output_tokens, mem_stream)
        if not features_only:
            x = self.output_layer(x)
        return x, extra

    # ---- building blocks -------------------------------------------------------------------

    def embed(self, tokens: Tensor) -> Tensor:
        """fairseq's token pipeline for one segment: (B, n) -> (B, n, C), positions from 1."""
        positions = self.embed_positions(tokens) if self.embed_positions is not None else None
        x = self.embed_scale * self.embed_tokens(tokens)
        if self.quant_noise is not None:
            x = self.quant_noise(x)
        if self.project_in_dim is not None:
            x = self.project_in_dim(x)
        if positions is not None:
            x = x + positions
        if self.layernorm_embedding is not None:
            x = self.layernorm_embedding(x)
        return self.dropout_module(x)

    def learned_memory(self, batch: int) -> Tensor | None:
        """The initial memory ``M`` expanded over the batch: (B, m, C), or None when m = 0."""
        if self.memory is None:
            return None
        return self.memory.vectors.unsqueeze(0).expand(batch, -1, -1)

    def segment_mask(self, n: int, write: bool, like: Tensor) -> Tensor:
        """Additive self-attention mask (T, T) over ``[read (m) ; tokens (n) ; write (m)?]``.

        0 where a query row may attend to a key column, -inf elsewhere (see module docstring).
        """
        m = self.num_memory
        total = m + n + (m if write else 0)
        allowed = torch.zeros(total, total, dtype=torch.bool, device=like.device)
        allowed[:, :m] = True  # everyone reads the read memory
        allowed[m : m + n, m : m + n] = torch.ones(n, n, dtype=torch.bool).tril()  # causal
        if write:
            allowed[m + n :, m:] = True  # the write block sees the segment and itself
        mask = torch.zeros(total, total, dtype=like.dtype, device=like.device)
        return mask.masked_fill(~allowed, float("-inf"))

    def run_layers(
        self,
        x: Tensor,
        mask: Tensor | None,
        key_padding: Tensor | None,
        incremental_state: IncrementalState | None,
    ) -> tuple[Tensor, list[Tensor]]:
        """The decoder layers and final norm over x (T, B, C); returns x and the layer inputs."""
        record = self.recorded_attention is not None and incremental_state is None
        states = [x]
        for layer in self.layers:
            if record:
                probs = self_attention_probs(layer, x, mask, key_padding)  # (B, H, T, T)
                self.recorded_attention.append(probs)
            x, _, _ = layer(
                x,
                None,
                None,
                incremental_state,
                self_attn_mask=mask,
                self_attn_padding_mask=key_padding,
            )
            states.append(x)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x, states

    def forward_segment(
        self, tokens: Tensor, memory: Tensor | None, write: bool
    ) -> tuple[Tensor, Tensor | None, list[Tensor]]:
        """One segment with its memory.

        Args:
            tokens: (B, n) real tokens (right padded).
            memory: (B, m, C) read memory, or None when m = 0.
            write: also run the write block (recurrent memory).
        Returns:
            token features (B, n, C) after the final norm, written memory (B, m, C) or None,
            per-layer token states, each (n, B, C).
        """
        m, n = self.num_memory, tokens.size(1)
        x = self.embed(tokens)  # (B, n, C)
        blocks = [memory, x, memory] if write else [memory, x]
        h = torch.cat([b for b in blocks if b is not None], dim=1).transpose(0, 1)  # (T, B, C)
        pad = tokens.eq(self.padding_idx)  # (B, n)
        key_padding = None
        if pad.any():
            no_pad = pad.new_zeros(pad.size(0), m)
            key_padding = torch.cat([no_pad, pad, no_pad] if write else [no_pad, pad], dim=1)
        h, states = self.run_layers(h, self.segment_mask(n, write, h), key_padding, None)
        written = h[m + n :].transpose(0, 1) if write else None  # (B, m, C)
        return h[m : m + n].transpose(0, 1), written, [s[m : m + n] for s in states]

    # ---- full forward over segments --------------------------------------------------------

    def segments(self, tokens: Tensor) -> tuple[Tensor, ...]:
        """Split (B, T) into segments of ``segment_len`` columns (one if 0)."""
        return tokens.split(self.segment_len or tokens.size(1), dim=1)

    def start_memory(self, tokens: Tensor, stream: MemStream | None) -> Tensor | None:
        """The read memory of the first segment: carried from the previous batch of this
        stream when the batch continues it, else the learned ``M``."""
        fresh = self.learned_memory(tokens.size(0))
        if not self.recurrent or stream is None:
            return fresh
        carried = self.carried.get(stream["key"])
        if carried is None or carried[1] != stream["start"] or carried[0].size(0) != tokens.size(0):
            return fresh
        return carried[0].to(fresh.device)

    def extract_features_segments(
        self, tokens: Tensor, stream: MemStream | None
    ) -> tuple[Tensor, dict[str, Any]]:
        """Features of all real tokens (B, T, C'), segment after segment."""
        memory = self.start_memory(tokens, stream)
        features, states = [], []
        for index, segment in enumerate(self.segments(tokens)):
            if self.recurrent and index and self.bptt_segments and index % self.bptt_segments == 0:
                memory = memory.detach()  # truncated backpropagation through segments
            x, written, seg_states = self.forward_segment(segment, memory, write=self.recurrent)
            if self.recurrent:
                memory = written
            features.append(x)
            states.append(seg_states)
        if self.recurrent and stream is not None:
            self.carried[stream["key"]] = (memory.detach(), stream["start"] + tokens.size(1))
        x = torch.cat(features, dim=1)  # (B, T, C)
        if self.project_out_dim is not None:
            x = self.project_out_dim(x)
        inner = [torch.cat(layer, dim=0) for layer in zip(*states, strict=True)]  # (T, B, C)
        return x, {"attn": [None], "inner_states": inner}

    # ---- incremental decoding --------------------------------------------------------------

    def extract_features_incremental(
        self, tokens: Tensor, incremental_state: IncrementalState
    ) -> tuple[Tensor, dict[str, Any]]:
        """Features of the newest token (B, 1, C'), reusing cached keys and values.

        The first step of each segment runs ``[read memory ; token]`` as a prefix, so every
        layer's cache holds the memory; at a segment boundary the caches are emptied and, with
        recurrent memory, the finished segment is run once more in full to get its write block.
        """
        t = tokens.size(1)
        start = (t - 1) // self.segment_len * self.segment_len if self.segment_len else 0
        state = self.get_incremental_state(incremental_state, "memory") or {}
        x = self.embed(tokens[:, start:])[:, -1:]  # (B, 1, C), position within the segment
        pad = tokens[:, -1:].eq(self.padding_idx)  # (B, 1)
        mask = None
        if "start" not in state or int(state["start"]) != start:
            memory = self.next_segment_memory(tokens, state, start)
            for layer in self.layers:  # a new segment is a new attention window
                layer.self_attn._set_input_buffer(incremental_state, {})
            state = {"start": tokens.new_tensor(start)}
            if memory is not None:  # run the memory as a prefix: it enters every layer's cache
                state["memory"] = memory
                x = torch.cat([memory, x], dim=1)  # (B, m + 1, C)
                pad = torch.cat([pad.new_zeros(pad.size(0), self.num_memory), pad], dim=1)
                mask = self.segment_mask(1, False, x)
            self.set_incremental_state(incremental_state, "memory", state)
        key_padding = pad if pad.any() else None
        h, states = self.run_layers(x.transpose(0, 1), mask, key_padding, incremental_state)
        x = h[-1:].transpose(0, 1)  # (B, 1, C)
        if self.project_out_dim is not None:
            x = self.project_out_dim(x)
        return x, {"attn": [None], "inner_states": [s[-1:] for s in states]}

    def next_segment_memory(
        self, tokens: Tensor, state: dict[str, Tensor | None], start: int
    ) -> Tensor | None:
        """Read memory of the segment starting at column ``start`` during incremental decoding."""
        if "start" not in state or not self.recurrent:
            return self.learned_memory(tokens.size(0))
        finished = tokens[:, int(state["start"]) : start]  # (B, L): the previous segment
        _, written, _ = self.forward_segment(finished, state["memory"], write=True)
        return written

    def reorder_incremental_state(
        self, incremental_state: IncrementalState, new_order: Tensor
    ) -> None:
        """Beam search reordering of the cached memory (layer caches reorder themselves)."""
        state = self.get_incremental_state(incremental_state, "memory")
        if state is not None and state.get("memory") is not None:
            state["memory"] = state["memory"].index_select(0, new_order)
            self.set_incremental_state(incremental_state, "memory", state)

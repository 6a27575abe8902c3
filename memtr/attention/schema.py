"""What one model and one sample sentence are, and the columns of the memory-mass table.

Shared by every module of ``memtr.attention``; numpy only, no torch.

Translation models (``mem_transformer`` and its variants)
--------------------------------------------------------

The encoder's time axis is ``[memory ; sequence]`` (memory first, ``T = m + n``, the
sequence ending with ``</s>``). For each sample sentence (one at a time, so no padding) we
record:

* encoder self-attention (``self_attn``), every layer and head: ``(L, H, T, T)``, rows =
  queries. The four blocks are memory->memory ``[:m, :m]``, memory->sequence ``[:m, m:]``,
  sequence->memory ``[m:, :m]`` and sequence->sequence ``[m:, m:]``; the last is exactly
  zero for MemBottleneck (its tokens attend to the memory only);
* the decoder's cross-attention, every layer and head: ``(Ld, H, t, k)`` over its ``k`` keys,
  which are ``[mem ; seq]`` by default, ``seq`` with ``--mem-hide-from-decoder`` and ``mem``
  for MemBottleneck (``key_is_memory`` says which). The target is the model's own greedy
  translation, fed back teacher-forced: row ``i`` is the step that outputs token ``i``.

Language models (``mem_transformer_lm``, layouts ``lm`` and ``lm_recurrent``)
---------------------------------------------------------------------------

The decoder's self-attention over one segment ``[read (m) ; tokens (n) ; write (w)]``, every
layer and head: ``(L, H, T, T)`` with ``T = m + n + w``; ``w = m`` with ``--mem-recurrent``
(layout ``lm_recurrent``), else 0. Each sample line is one segment (see
``memtr.attention.loading.encode_lm_line``). The read memory is the learned initial memory
(for a recurrent model, the read memory of a stream's first segment); the write block is what
a recurrent model passes to the next segment. There is no cross-attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCKS = ("memory_to_memory", "memory_to_seq", "seq_to_memory", "seq_to_seq")
COLUMNS = (
    "model",
    "layout",
    "num_memory",
    "layer",
    *BLOCKS,
    "memory_entropy",
    "memory_entropy_norm",
    "decoder_to_memory",
    "num_sentences",
)
# Columns the comparison table (tables stage) adds: the share uniform attention would put on
# the memory, from the sample sentences' lengths (``memtr.attention.measures.uniform_shares``)
UNIFORM_COLUMNS = ("uniform_seq_to_memory", "uniform_decoder_to_memory")
LM_LAYOUTS = ("lm", "lm_recurrent")  # the layout column of a language model: without / with write


@dataclass
class SampleAttention:
    """Attention probabilities of one sentence (float32, rows sum to 1)."""

    src_tokens: list[str]  # n sequence tokens: MT source (last </s>), LM input (first </s>)
    tgt_tokens: list[str]  # t output subwords (greedy), the last is </s> unless cut off; LM: []
    # (L, H, T, T): MT encoder over [memory (m) ; source (n)], LM decoder over
    # [read (m) ; tokens (n) ; write (w)]
    self_attn: np.ndarray
    cross: np.ndarray  # (Ld, H, t, k) over the decoder's k keys; LM: (0, H, 0, 0), none
    key_is_memory: np.ndarray  # (k,) bool: which decoder keys are memory slots


@dataclass
class ModelInfo:
    """Which model the attention comes from: the table's key and how its axes are laid out."""

    name: str
    layout: str  # MT: the encoder's memory layout; LM: one of LM_LAYOUTS
    num_memory: int

    @property
    def is_lm(self) -> bool:
        return self.layout in LM_LAYOUTS

    @property
    def num_write(self) -> int:
        """Write slots at the end of an LM segment (0 but for a recurrent memory)."""
        return self.num_memory if self.layout == "lm_recurrent" else 0

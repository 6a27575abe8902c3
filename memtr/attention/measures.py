"""Per-layer numbers of attention over memory: block shares and memory-row entropy.

numpy and pandas only, no torch. The axes of the recorded maps are described in
``memtr.attention.schema``.

Translation models
------------------

Numbers per layer (``memory_mass.csv``), each the mean over sentences, heads and rows of the
attention mass a row puts on a block of keys (a share in [0, 1]):

* ``memory_to_memory``, ``memory_to_seq``, ``seq_to_memory``, ``seq_to_seq``: encoder blocks;
* ``memory_entropy``: entropy (nats) of the memory rows over all ``T`` keys, and
  ``memory_entropy_norm``: the same divided by ``ln T`` (0 = one key, 1 = uniform);
* ``decoder_to_memory``: the share of the decoder's cross-attention on memory keys (0 when
  the memory is hidden from the decoder, 1 for MemBottleneck).

Encoder and decoder may have different depths: a column is empty where its side has no
such layer.

Language models
---------------

The same columns, on the decoder's segment ``[read (m) ; tokens (n) ; write (w)]``, mean:

* ``seq_to_memory``, ``seq_to_seq``: token rows on the read memory and on the tokens (they sum
  to 1: tokens never see the write block, and are causal among themselves);
* ``memory_to_memory``, ``memory_to_seq``: the write rows on the read memory and on the tokens
  (the rest, ``1 -`` both, is write->write). A model without a write block has its read rows
  measured instead: they see only the read memory, so 1 and 0 by construction;
* ``memory_entropy`` over those memory rows, ``memory_entropy_norm`` divided by the log of
  the keys they may see (``T`` for write rows, ``m`` for read rows; empty when ``m = 1``);
* ``decoder_to_memory``: empty (NaN), a decoder-only LM has no cross-attention.

The uniform reference
---------------------

``uniform_shares`` gives what ``seq_to_memory`` and ``decoder_to_memory`` would be if every
row spread its attention evenly over the keys it may see: per row, memory keys / keys seen,
averaged like the shares (over a sentence's rows, then over the sentences). A translation
model's sequence rows see the ``m + n`` keys (MemBottleneck's only the ``m`` memory keys: 1 by
construction), its decoder rows the ``k`` keys of ``key_is_memory``; an LM's token ``i``
(0-based) sees the ``m`` read slots and tokens ``0..i``. A share above its uniform reference
means the memory draws attention (sink-like); at or below it, no preference for the memory.
The tables stage adds them to the comparison table (``memtr.attention.tables``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from memtr.attention.schema import COLUMNS, UNIFORM_COLUMNS, ModelInfo, SampleAttention


@dataclass(frozen=True)
class Blocks:
    """Where memory and sequence sit on the self-attention axes of one sample."""

    memory_rows: slice  # MT: the memory; LM: the write block, else the read block
    memory_keys: slice  # MT: the memory; LM: the read memory
    seq: slice  # the sequence, as rows and as keys
    memory_row_keys: int  # keys a memory row may attend to: the entropy's maximum is its log


def blocks_of(info: ModelInfo, n: int) -> Blocks:
    """The blocks of a sample with ``n`` sequence tokens (see module docstring)."""
    m, w = info.num_memory, info.num_write
    mem, seq = slice(0, m), slice(m, m + n)
    if not info.is_lm:
        return Blocks(mem, mem, seq, m + n)
    if w:
        return Blocks(slice(m + n, m + n + w), mem, seq, m + n + w)
    return Blocks(mem, mem, seq, m)


def block_shares(probs: np.ndarray, blocks: Blocks) -> dict[str, np.ndarray]:
    """Mean attention mass each block of rows puts on each block of keys, per layer.

    Args:
        probs: (L, H, T, T) self-attention probabilities.
        blocks: where the memory and the sequence are on both axes.
    Returns:
        {block name: (L,)}, averaged over heads and the rows of the block.
    """
    mem_rows, mem_keys, seq = blocks.memory_rows, blocks.memory_keys, blocks.seq
    pairs = {
        "memory_to_memory": (mem_rows, mem_keys),
        "memory_to_seq": (mem_rows, seq),
        "seq_to_memory": (seq, mem_keys),
        "seq_to_seq": (seq, seq),
    }
    return {
        name: probs[:, :, rows, keys].sum(-1).mean(axis=(1, 2))  # (L,)
        for name, (rows, keys) in pairs.items()
    }


def row_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats over the last axis, with 0 log 0 = 0: (..., K) -> (...)."""
    safe = np.where(probs > 0, probs, 1.0)
    return -(probs * np.log(safe)).sum(-1)


def memory_entropy(probs: np.ndarray, blocks: Blocks) -> tuple[np.ndarray, np.ndarray]:
    """Mean entropy of the memory rows per layer, in nats and divided by the log of the keys
    they may see (NaN for one key): (L,), (L,)."""
    ent = row_entropy(probs[:, :, blocks.memory_rows, :]).mean(axis=(1, 2))  # (L,)
    keys = blocks.memory_row_keys
    norm = ent / math.log(keys) if keys > 1 else np.full_like(ent, np.nan)
    return ent, norm


def decoder_memory_share(cross: np.ndarray, key_is_memory: np.ndarray) -> np.ndarray:
    """Mean cross-attention mass on memory keys per decoder layer: (Ld, H, t, k) -> (Ld,)
    ((0,) for an LM: no cross-attention)."""
    if cross.shape[0] == 0:
        return np.zeros(0)
    return cross[..., key_is_memory].sum(-1).mean(axis=(1, 2))


def sample_numbers(sample: SampleAttention, info: ModelInfo) -> dict[str, np.ndarray]:
    """Per-layer numbers of one sentence: {column: (L,) or (Ld,); (0,) for an LM's
    ``decoder_to_memory``}."""
    blocks = blocks_of(info, len(sample.src_tokens))
    numbers = block_shares(sample.self_attn, blocks)
    numbers["memory_entropy"], numbers["memory_entropy_norm"] = memory_entropy(
        sample.self_attn, blocks
    )
    numbers["decoder_to_memory"] = decoder_memory_share(sample.cross, sample.key_is_memory)
    return numbers


def memory_mass_table(samples: Sequence[SampleAttention], info: ModelInfo) -> pd.DataFrame:
    """One row per layer (1-based): the numbers averaged over the sample sentences."""
    per_sample = [sample_numbers(s, info) for s in samples]
    depth = max(len(v) for v in per_sample[0].values())
    rows = []
    for layer in range(depth):
        row: dict[str, Any] = {"model": info.name, "layout": info.layout}
        row.update(num_memory=info.num_memory, layer=layer + 1)
        for key in per_sample[0]:
            values = [float(s[key][layer]) for s in per_sample if layer < len(s[key])]
            row[key] = float(np.mean(values)) if values else np.nan
        row["num_sentences"] = len(samples)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def uniform_seq_to_memory(info: ModelInfo, n: int) -> float:
    """The share of memory keys among the keys a sequence row may see, averaged over the
    ``n`` rows of one sentence (see the module docstring)."""
    m = info.num_memory
    if info.is_lm:  # token i sees the m read slots and tokens 0..i
        return float(np.mean([m / (m + i + 1) for i in range(n)]))
    if info.layout == "bottleneck":  # the sequence reads only the memory
        return 1.0
    return m / (m + n)


def uniform_shares(samples: Sequence[SampleAttention], info: ModelInfo) -> dict[str, float]:
    """The uniform references of ``seq_to_memory`` and ``decoder_to_memory`` (NaN for an LM,
    which has no cross-attention), averaged over the sentences as the shares are."""
    seq = [uniform_seq_to_memory(info, len(s.src_tokens)) for s in samples]
    decoder = [float(np.mean(s.key_is_memory)) for s in samples if s.cross.shape[0]]
    values = (
        float(np.mean(seq)) if seq else np.nan,
        float(np.mean(decoder)) if decoder else np.nan,
    )
    return dict(zip(UNIFORM_COLUMNS, values, strict=True))

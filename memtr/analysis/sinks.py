"""Attention sinks: per layer and head, where the tokens' attention goes, over a whole split.

Every key a query may see falls in one group (``GROUPS``): the ``memory`` slots, the source's
``first`` token, its final ``</s>`` (``eos``) and the ``rest`` of the source (a source of
``</s>`` alone has no first token). For each layer and head, and for both the encoder's
self-attention (its token rows, memory rows left out) and the decoder's cross-attention (its
target rows), ``share`` is the attention mass a row puts on a group, averaged over the rows
of a sentence and then over the sentences of the split; the groups' shares add up to 1.
``uniform`` is what uniform attention over the keys a row sees would give: a group's keys /
keys seen (for ``memory``: m / (m + n), the decoder's m / its k keys), averaged the same way.
A share above its uniform reference draws attention (sink-like).

The first token and ``</s>`` are the sink candidates of a model without memory (StreamingLLM's
first token; ``</s>`` in translation encoders), measured for every model, so that a memory
model's table answers whether its memory takes over the baseline's sinks, and where.

Batched as fairseq batches a split (sources left-padded, targets right-padded): padding keys
get no attention and belong to no group, padding rows are left out. The decoder is
teacher-forced on the reference targets, as in training. Keys seen: a MemBottleneck token
sees the memory alone (its ``memory`` uniform is 1); its decoder, and a decoder with
``--mem-hide-from-decoder``, read the memory alone or the source alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from fairseq_plugins.modules.memory import self_attention_probs
from memtr.analysis.models import batches, to_device
from memtr.run.attention_hooks import cross_attention_heads

GROUPS = ("memory", "first", "eos", "rest")
COLUMNS = ("attention", "layer", "head", "keys", "share", "uniform", "sentences")


def source_key_groups(src_tokens: Tensor, m: int, pad: int, eos: int) -> Tensor:
    """Which group each key of the encoder's ``[memory ; source]`` axis is in.

    Args:
        src_tokens: (B, n) padded source ids.
        m: memory slots in front of the source.
        pad, eos: the dictionary's padding and ``</s>`` ids.
    Returns:
        (B, m + n, G) one-hot over ``GROUPS``; all zero at padding.
    """
    batch, n = src_tokens.shape
    real = src_tokens.ne(pad)  # (B, n)
    index = torch.arange(n, device=src_tokens.device).expand(batch, n)  # (B, n)
    first = torch.where(real, index, n).min(dim=1, keepdim=True).values  # (B, 1)
    last = torch.where(real, index, -1).max(dim=1, keepdim=True).values  # (B, 1)
    is_eos = index.eq(last) & src_tokens.eq(eos)  # (B, n): the final </s>
    is_first = index.eq(first) & real & ~is_eos
    rest = real & ~is_first & ~is_eos
    zeros = torch.zeros_like(real)
    sequence = torch.stack([zeros, is_first, is_eos, rest], dim=-1)  # (B, n, G)
    memory = torch.zeros(batch, m, len(GROUPS), dtype=torch.bool, device=src_tokens.device)
    memory[..., GROUPS.index("memory")] = True  # (B, m, G)
    return torch.cat([memory, sequence], dim=1).float()  # (B, m + n, G)


def group_shares(probs: Tensor, groups: Tensor, rows: Tensor) -> Tensor:
    """Mass on each key group, averaged over each sentence's valid rows.

    Args:
        probs: (B, H, Tq, Tk) attention probabilities, rows = queries.
        groups: (B, Tk, G) one-hot key groups.
        rows: (B, Tq) True at the rows that count (a sentence has at least one).
    Returns:
        (B, H, G) per sentence and head.
    """
    mass = probs.float() @ groups.unsqueeze(1)  # (B, H, Tq, G)
    weight = rows.float() / rows.sum(dim=1, keepdim=True)  # (B, Tq), sums to 1 a sentence
    return (mass * weight[:, None, :, None]).sum(dim=2)  # (B, H, G)


def uniform_shares(seen: Tensor) -> Tensor:
    """What uniform attention puts on each group: its keys / the keys seen.

    Args:
        seen: (B, Tk, G) one-hot groups of the keys every row sees (zero elsewhere).
    Returns:
        (B, G).
    """
    counts = seen.sum(dim=1)  # (B, G)
    return counts / counts.sum(dim=1, keepdim=True)


def encoder_attention(encoder: Any, src_tokens: Tensor, src_lengths: Tensor) -> tuple[dict, list]:
    """The encoder's output and its per-head self-attention, each layer (B, H, T, T).

    The plugin's encoder records its own (every layout); fairseq's ``transformer`` computes
    head-averaged weights at most, so each layer's probabilities are recomputed from its
    input (``self_attention_probs``), caught by a pre-hook.
    """
    if hasattr(encoder, "recorded_attention"):
        encoder.recorded_attention = []
        try:
            return encoder(src_tokens, src_lengths), encoder.recorded_attention
        finally:
            encoder.recorded_attention = None
    probs: list[Tensor] = []

    def record(layer: Any, args: tuple, kwargs: dict) -> None:
        x = args[0] if args else kwargs["x"]  # (T, B, C)
        mask = args[1] if len(args) > 1 else kwargs.get("encoder_padding_mask")
        probs.append(self_attention_probs(layer, x, kwargs.get("attn_mask"), mask))

    handles = [
        layer.register_forward_pre_hook(record, with_kwargs=True) for layer in encoder.layers
    ]
    try:
        return encoder(src_tokens, src_lengths), probs
    finally:
        for handle in handles:
            handle.remove()


def cross_attention(decoder: Any, prev_tokens: Tensor, encoder_out: dict) -> list[Tensor]:
    """Per-head cross-attention of every decoder layer, teacher-forced on ``prev_tokens``
    (B, t): a list of (B, H, t, k). fairseq returns head weights for one layer at most,
    averaged; a pre-hook asks each layer's ``encoder_attn`` for per-head weights."""
    heads = cross_attention_heads(decoder, prev_tokens, encoder_out)  # (H, B, t, k) each
    return [a.transpose(0, 1) for a in heads]  # (B, H, t, k)


def decoder_positions(encoder: Any) -> slice:
    """The positions of ``[memory ; source]`` the decoder reads (all for fairseq's own)."""
    return encoder.decoder_positions() if hasattr(encoder, "decoder_positions") else slice(None)


def batch_sums(model: Any, sample: dict, pad: int, eos: int) -> dict[str, list[Tensor]]:
    """{"encoder" | "decoder": [shares (L, H, G), uniform (G,)]} of one batch, each summed
    over its sentences (float64, on the CPU)."""
    encoder = model.encoder
    m = getattr(encoder, "num_memory", 0)
    net_input = sample["net_input"]
    src = net_input["src_tokens"]  # (B, n)
    groups = source_key_groups(src, m, pad, eos)  # (B, m + n, G)
    encoder_out, self_probs = encoder_attention(encoder, src, net_input["src_lengths"])
    token_rows = torch.cat([src.new_zeros(src.size(0), m, dtype=torch.bool), src.ne(pad)], 1)
    seen = groups.clone()  # (B, m + n, G): the keys a token row sees
    if getattr(encoder, "layout", None) == "bottleneck":
        seen[:, m:] = 0  # its tokens read the memory alone
    decoder_keys = groups[:, decoder_positions(encoder)]  # (B, k, G)
    cross = cross_attention(model.decoder, net_input["prev_output_tokens"], encoder_out)
    target_rows = sample["target"].ne(pad)  # (B, t)
    sides = {
        "encoder": ([group_shares(p, groups, token_rows) for p in self_probs], seen),
        "decoder": ([group_shares(p, decoder_keys, target_rows) for p in cross], decoder_keys),
    }
    return {
        side: [torch.stack(shares).sum(dim=1).double().cpu(),  # (L, B, H, G) -> (L, H, G)
               uniform_shares(keys).sum(dim=0).double().cpu()]  # (B, G) -> (G,)
        for side, (shares, keys) in sides.items()
    }  # fmt: skip


@torch.no_grad()
def sink_table(model: Any, task: Any, split: str, batch_size: int) -> pd.DataFrame:
    """The shares of ``split`` as a tidy table: one row per attention (``encoder``,
    ``decoder``), layer and head (1-based) and key group (``GROUPS``), with ``share``,
    ``uniform`` and the number of ``sentences`` (columns ``COLUMNS``)."""
    device = next(model.parameters()).device
    pad, eos = task.source_dictionary.pad(), task.source_dictionary.eos()
    totals: dict[str, list[Tensor]] = {}  # side -> [shares (L, H, G), uniform (G,)]
    sentences = 0
    for sample in batches(task, split, batch_size):
        for side, sums in batch_sums(model, to_device(sample, device), pad, eos).items():
            old = totals.get(side, [0.0, 0.0])
            totals[side] = [a + b for a, b in zip(old, sums, strict=True)]
        sentences += sample["net_input"]["src_tokens"].size(0)
    if not sentences:
        raise ValueError(f"no sentences in split {split}")
    return tidy(
        {side: (s / sentences, u / sentences) for side, (s, u) in totals.items()}, sentences
    )


def tidy(means: dict[str, tuple[Tensor, Tensor]], sentences: int) -> pd.DataFrame:
    """{side: (shares (L, H, G), uniform (G,))} as rows of ``COLUMNS``."""
    rows = []
    for side, (shares, uniform) in means.items():
        layers, heads, _ = shares.shape
        for layer, head, g in np.ndindex(layers, heads, len(GROUPS)):
            rows.append((side, layer + 1, head + 1, GROUPS[g], float(shares[layer, head, g]),
                         float(uniform[g]), sentences))  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))

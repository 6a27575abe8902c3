"""Memory tokens and the attention helpers shared by every memory variant.

Everything that knows where the memory sits in the encoder's time axis lives here:
the memory is always the *first* ``m`` positions, ``[memory ; sequence]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MemoryTokens(nn.Module):
    """``m`` trainable vectors, prepended to every sequence of a batch.

    The memory has no sequence position: positional embeddings are added to the real
    tokens only, so adding memory never shifts the positions of the source tokens.
    """

    def __init__(self, num_tokens: int, dim: int, init_std: float) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.vectors = nn.Parameter(torch.empty(num_tokens, dim))  # (m, C)
        nn.init.normal_(self.vectors, mean=0.0, std=init_std)

    def prepend(self, x: Tensor, padding_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``[memory ; x]`` and its padding mask (memory is never padding).

        Args:
            x: (B, n, C) embedded sequence.
            padding_mask: (B, n), True at padding.
        Returns:
            (B, m + n, C) and (B, m + n).
        """
        batch = x.size(0)
        memory = self.vectors.to(x.dtype).unsqueeze(0).expand(batch, -1, -1)  # (B, m, C)
        mem_mask = padding_mask.new_zeros(batch, self.num_tokens)  # (B, m), all False
        return torch.cat([memory, x], dim=1), torch.cat([mem_mask, padding_mask], dim=1)


def attend(
    mha: nn.Module,
    query: Tensor,
    key_value: Tensor,
    key_padding_mask: Tensor | None,
    need_weights: bool = False,
    attn_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention of ``query`` over ``key_value`` with fairseq's weights.

    fairseq's ``MultiheadAttention`` in self-attention mode projects keys from the
    query, so a layer whose queries are a subset of its keys (memory rows only,
    sequence rows only) cannot use it directly. This reuses its projections.

    Args:
        mha: a fairseq ``MultiheadAttention`` (q/k/v/out projections, ``num_heads``).
        query: (Tq, B, C).
        key_value: (Tk, B, C).
        key_padding_mask: (B, Tk), True at padding, or None.
        need_weights: also return the per-head probabilities (B, H, Tq, Tk).
        attn_mask: (Tq, Tk) additive mask (0 or -inf), as fairseq's ``attn_mask``, or None.
    Returns:
        (Tq, B, C) output and the probabilities or None.
    """
    tq, batch, dim = query.shape
    heads = mha.num_heads
    head_dim = dim // heads

    def split(t: Tensor) -> Tensor:  # (T, B, C) -> (B, H, T, hd)
        return t.view(t.size(0), batch, heads, head_dim).permute(1, 2, 0, 3)

    q = split(mha.q_proj(query))  # (B, H, Tq, hd)
    k = split(mha.k_proj(key_value))  # (B, H, Tk, hd)
    v = split(mha.v_proj(key_value))  # (B, H, Tk, hd)
    mask = None
    if key_padding_mask is not None:
        mask = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, Tk), True = may attend
    if attn_mask is not None:  # one additive mask: (Tq, Tk), or (B, 1, Tq, Tk) with padding
        mask = attn_mask if mask is None else attn_mask.masked_fill(~mask, float("-inf"))
    dropout = mha.dropout_module.p if mha.training else 0.0
    probs = None
    if need_weights:
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(head_dim)  # (B, H, Tq, Tk)
        if mask is not None and mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        elif mask is not None:
            scores = scores + mask
        probs = scores.softmax(dim=-1)
        out = F.dropout(probs, p=dropout, training=mha.training) @ v  # (B, H, Tq, hd)
    else:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    out = out.permute(2, 0, 1, 3).reshape(tq, batch, dim)  # (Tq, B, C)
    return mha.out_proj(out), probs


def self_attention_probs(
    layer: nn.Module, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None
) -> Tensor:
    """Per-head self-attention probabilities of a fairseq transformer layer on its input.

    fairseq's fused attention returns head-averaged weights at most; this recomputes the
    layer's attention from its own norm and projections, for recording (the layer's forward
    is not touched).

    Args:
        layer: a fairseq encoder or decoder layer (``self_attn``, ``self_attn_layer_norm``).
        x: (T, B, C) the layer's input.
        attn_mask: (T, T) additive mask (0 or -inf), or None.
        key_padding_mask: (B, T), True at padding, or None.
    Returns:
        (B, H, T, T) probabilities, rows = queries.
    """
    query = layer.self_attn_layer_norm(x) if layer.normalize_before else x
    _, probs = attend(layer.self_attn, query, query, key_padding_mask, True, attn_mask)
    return probs


def encoder_layer_forward(
    layer: nn.Module,
    query: Tensor,
    key_value: Tensor,
    key_padding_mask: Tensor | None,
    need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """One fairseq ``TransformerEncoderLayerBase`` whose queries may differ from its keys.

    Same computation as the layer's own ``forward`` (pre- or post-norm, dropout,
    residuals, feed-forward), with the attention of ``query`` rows over ``key_value``.

    Args:
        layer: a fairseq ``TransformerEncoderLayerBase``.
        query: (Tq, B, C) rows to update.
        key_value: (Tk, B, C) rows they attend to (un-normalised layer input).
        key_padding_mask: (B, Tk), True at padding, or None.
    Returns:
        (Tq, B, C) updated rows, and attention probabilities (B, H, Tq, Tk) or None.
    """
    residual = query
    if layer.normalize_before:
        query = layer.self_attn_layer_norm(query)
        key_value = layer.self_attn_layer_norm(key_value)
    x, probs = attend(layer.self_attn, query, key_value, key_padding_mask, need_weights)
    x = layer.dropout_module(x)
    x = layer.residual_connection(x, residual)
    if not layer.normalize_before:
        x = layer.self_attn_layer_norm(x)

    residual = x
    if layer.normalize_before:
        x = layer.final_layer_norm(x)
    x = layer.activation_fn(layer.fc1(x))
    x = layer.activation_dropout_module(x)
    x = layer.fc2(x)
    x = layer.dropout_module(x)
    x = layer.residual_connection(x, residual)
    if not layer.normalize_before:
        x = layer.final_layer_norm(x)
    return x, probs

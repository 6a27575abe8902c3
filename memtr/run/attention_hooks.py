"""fairseq's attention weights per head, which its decoder returns for one layer at most and
averaged over heads: hooks on each layer's attention ask for them and keep them."""

from __future__ import annotations

from typing import Any

from torch import Tensor


def cross_attention_heads(decoder: Any, prev_tokens: Tensor, encoder_out: dict) -> list[Tensor]:
    """Per-head cross-attention of every decoder layer, teacher-forced on ``prev_tokens``
    (B, t): one (H, B, t, k) tensor per layer. A pre-hook on each layer's ``encoder_attn``
    asks it for per-head weights, a forward hook keeps them."""
    captured: list[Tensor] = []

    def ask_heads(_module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        return args, {**kwargs, "need_weights": True, "need_head_weights": True}

    def keep(_module: Any, _args: tuple, output: tuple) -> None:
        captured.append(output[1])  # (H, B, t, k)

    handles = []
    for layer in decoder.layers:
        handles.append(layer.encoder_attn.register_forward_pre_hook(ask_heads, with_kwargs=True))
        handles.append(layer.encoder_attn.register_forward_hook(keep))
    try:
        decoder(prev_tokens, encoder_out=encoder_out)
    finally:
        for handle in handles:
            handle.remove()
    return captured

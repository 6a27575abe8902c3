"""Recording attention probabilities of a loaded model, one sample sentence at a time.

The axes of what is recorded are described in ``memtr.attention.schema``. Self-attention is
recorded by the plugin's models themselves: setting ``recorded_attention = []`` on an encoder
or an LM decoder makes each layer append its per-head probabilities, ``None`` switches it off.
fairseq's decoders give the cross-attention of one layer only, averaged over heads, so hooks
ask every layer for its per-head weights. One sentence at a time means no padding rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from memtr.attention.loading import (
    encode_lm_line,
    encode_source,
    is_language_model,
    lm_max_tokens,
)
from memtr.attention.schema import SampleAttention
from memtr.run.attention_hooks import cross_attention_heads


def record_decoder(model: Any, tokens: Tensor) -> np.ndarray:
    """Self-attention of an LM decoder on one segment ``tokens`` (1, n): (L, H, T, T)."""
    decoder = model.decoder
    decoder.recorded_attention = []
    try:
        model(tokens)
        probs = [p[0].float().numpy() for p in decoder.recorded_attention]  # each (H, T, T)
    finally:
        decoder.recorded_attention = None
    if len(probs) != len(decoder.layers):
        raise ValueError(f"expected one segment, recorded {len(probs)} layer maps")
    return np.stack(probs)


def record_encoder(model: Any, src: Tensor) -> tuple[dict, np.ndarray]:
    """Run the encoder on ``src`` (1, n); return its output and attention (L, H, T, T)."""
    encoder = model.encoder
    encoder.recorded_attention = []
    try:
        out = encoder(src, src_lengths=torch.tensor([src.size(1)]))
        probs = [p[0].float().numpy() for p in encoder.recorded_attention]  # each (H, T, T)
    finally:
        encoder.recorded_attention = None
    return out, np.stack(probs)


def greedy_decode(model: Any, encoder_out: dict, max_len: int) -> Tensor:
    """Greedy output tokens (1, t) ending with </s>, or cut at ``max_len``."""
    eos, pad = model.decoder.dictionary.eos(), model.decoder.dictionary.pad()
    out = torch.full((1, 1), eos, dtype=torch.long)  # (1, 1 + steps), starts with </s>
    for _ in range(max_len):
        logits, _ = model.decoder(out, encoder_out=encoder_out)  # (1, steps, V)
        scores = logits[0, -1]
        scores[pad] = -math.inf
        token = scores.argmax().view(1, 1)
        out = torch.cat([out, token], dim=1)
        if token.item() == eos:
            break
    return out[:, 1:]


def record_cross_attention(decoder: Any, prev_tokens: Tensor, encoder_out: dict) -> np.ndarray:
    """Per-head cross-attention of every decoder layer, teacher-forced: (Ld, H, t, k).

    fairseq returns head weights for one ``alignment_layer`` only, averaged; hooks ask each
    layer for its heads (memtr.run.attention_hooks).
    """
    captured = cross_attention_heads(decoder, prev_tokens, encoder_out)  # (H, B, t, k) each
    return np.stack([a[:, 0].float().numpy() for a in captured])


def decoder_key_is_memory(encoder: Any, n: int) -> np.ndarray:
    """(k,) bool: which keys of the decoder's cross-attention are memory slots."""
    m = encoder.num_memory
    positions = np.arange(m + n)[encoder.decoder_positions()]  # positions on [mem ; seq]
    return positions < m


@torch.no_grad()
def extract_lm_sample(model: Any, task: Any, line: str) -> SampleAttention:
    """Decoder self-attention of one tokenized line, as one LM segment."""
    dictionary = task.source_dictionary
    tokens = encode_lm_line(dictionary, line, lm_max_tokens(model.decoder))  # (1, n)
    probs = record_decoder(model, tokens)  # (L, H, T, T)
    heads = probs.shape[1]
    return SampleAttention(
        src_tokens=[dictionary[i] for i in tokens[0].tolist()],
        tgt_tokens=[],
        self_attn=probs,
        cross=np.zeros((0, heads, 0, 0), dtype=np.float32),  # no cross-attention
        key_is_memory=np.zeros(0, dtype=bool),
    )


@torch.no_grad()
def extract_sample(model: Any, task: Any, line: str) -> SampleAttention:
    """Encoder and decoder attention of one tokenized source line."""
    max_src = min(model.encoder.max_positions(), 1024)
    src = encode_source(task, line, max_src)  # (1, n)
    n = src.size(1)
    encoder_out, enc_probs = record_encoder(model, src)  # enc_probs: (L, H, m + n, m + n)
    max_len = min(2 * n + 10, model.decoder.max_positions() - 1)
    hyp = greedy_decode(model, encoder_out, max_len)  # (1, t)
    eos = model.decoder.dictionary.eos()
    prev = torch.cat([torch.full((1, 1), eos, dtype=torch.long), hyp[:, :-1]], dim=1)  # (1, t)
    cross = record_cross_attention(model.decoder, prev, encoder_out)  # (Ld, H, t, k)
    return SampleAttention(
        src_tokens=[task.source_dictionary[i] for i in src[0].tolist()],
        tgt_tokens=[task.target_dictionary[i] for i in hyp[0].tolist()],
        self_attn=enc_probs,
        cross=cross,
        key_is_memory=decoder_key_is_memory(model.encoder, n),
    )


def extract(model: Any, task: Any, lines: Sequence[str]) -> list[SampleAttention]:
    """Attention of every sample line (one at a time: no padding in the recorded rows)."""
    one = extract_lm_sample if is_language_model(model) else extract_sample
    return [one(model, task, line) for line in lines]

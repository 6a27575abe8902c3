"""Analytic matmul FLOPs of an encoder-decoder Transformer and of its memory variants.

Counts the matrix products only (2 FLOPs per multiply-add): the q/k/v/out projections,
attention scores and weighted values, the feed-forward, and the output projection onto
the vocabulary. Layer norms, softmaxes, embeddings look-ups and the loss are left out.
Training costs 3x the forward (the backward does two products per forward product:
the input gradient and the weight gradient).

Lengths are the padded lengths the model computes on: ``n`` source positions, ``t``
target positions, ``m`` memory tokens. Per layout (see fairseq_plugins/modules/mem_encoder.py):

* ``none`` (``memspec.BASELINE``, fairseq's transformer): encoder layers on n rows;
  decoder cross-attention over n keys.
* ``prepend``: encoder layers on n + m rows; cross-attention over n + m keys.
* ``ctrl`` / ``ctrl_shared`` (same FLOPs, shared weights or not): per depth a memory
  layer (m query rows over n + m keys, its own K/V projections of the n + m rows) and
  the sequence layer (n rows over n + m keys); cross-attention over n + m keys.
* ``bottleneck``: per depth m rows over n + m keys, then n rows over the m new memory
  rows (K/V projected from m rows); cross-attention over the m memory rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

from memspec import BASELINE, LAYOUTS

TRAIN_FACTOR = 3  # forward + backward (input and weight gradients)


@dataclass(frozen=True)
class Dims:
    """Sizes of an encoder-decoder Transformer (encoder and decoder share d and ffn)."""

    d: int
    ffn: int
    enc_layers: int
    dec_layers: int
    vocab: int


def attention_block(d: int, ffn: int, q: int, k: int) -> int:
    """Forward FLOPs of one encoder layer whose ``q`` query rows attend over ``k`` keys.

    Q and output projections on q rows, K and V projections on k rows, scores and
    weighted values (q x k x d each), the feed-forward (two d x ffn products) on q rows.
    """
    projections = 2 * d * d * (2 * q + 2 * k)
    attention = 2 * 2 * q * k * d
    feed_forward = 2 * 2 * q * d * ffn
    return projections + attention + feed_forward


def encoder_forward(dims: Dims, layout: str, n: int, m: int) -> int:
    """Forward FLOPs of the encoder for one sentence of ``n`` (padded) positions."""
    d, f = dims.d, dims.ffn
    if layout == BASELINE:
        per_layer = attention_block(d, f, n, n)
    elif layout == "prepend":
        per_layer = attention_block(d, f, n + m, n + m)
    elif layout in ("ctrl", "ctrl_shared"):
        per_layer = attention_block(d, f, m, n + m) + attention_block(d, f, n, n + m)
    elif layout == "bottleneck":
        per_layer = attention_block(d, f, m, n + m) + attention_block(d, f, n, m)
    else:
        raise ValueError(f"unknown layout {layout!r}; one of {', '.join(LAYOUTS)}")
    return dims.enc_layers * per_layer


def cross_keys(layout: str, n: int, m: int, hide: bool = False) -> int:
    """How many encoder positions the decoder's cross-attention reads.

    ``hide``: ``--mem-hide-from-decoder`` (the decoder reads the n sequence rows only).
    """
    if layout == BASELINE:
        return n
    if layout == "bottleneck":
        return m
    return n if hide else n + m


def decoder_forward(dims: Dims, t: int, keys: int) -> int:
    """Forward FLOPs of the decoder for ``t`` target positions over ``keys`` encoder rows.

    Self-attention is counted in full (t x t), as the masked kernels compute it.
    """
    d, f = dims.d, dims.ffn
    self_attention = 2 * d * d * 4 * t + 2 * 2 * t * t * d
    cross_attention = 2 * d * d * (2 * t + 2 * keys) + 2 * 2 * t * keys * d
    feed_forward = 2 * 2 * t * d * f
    per_layer = self_attention + cross_attention + feed_forward
    output_projection = 2 * t * d * dims.vocab
    return dims.dec_layers * per_layer + output_projection


def forward_flops(dims: Dims, layout: str, n: int, t: int, m: int = 0, hide: bool = False) -> int:
    """Forward FLOPs of one sentence pair (padded lengths n, t) for a layout."""
    if layout == BASELINE and m:
        raise ValueError("the baseline has no memory (m must be 0)")
    keys = cross_keys(layout, n, m, hide)
    return encoder_forward(dims, layout, n, m) + decoder_forward(dims, t, keys)


def train_flops(
    dims: Dims, layout: str, batch: int, n: int, t: int, m: int = 0, hide: bool = False
) -> int:
    """Forward + backward FLOPs of a batch of ``batch`` pairs padded to (n, t)."""
    return TRAIN_FACTOR * batch * forward_flops(dims, layout, n, t, m, hide)


def predicted_ratio(dims: Dims, layout: str, shapes: list[tuple[int, int, int]], m: int) -> float:
    """FLOPs(layout, m) / FLOPs(baseline) summed over batches of shape (B, n, t)."""
    ours = sum(train_flops(dims, layout, b, n, t, m) for b, n, t in shapes)
    base = sum(train_flops(dims, BASELINE, b, n, t) for b, n, t in shapes)
    return ours / base


def generate_flops(
    dims: Dims, layout: str, batch: int, n: int, steps: int, m: int = 0, beam: int = 5
) -> int:
    """FLOPs of beam search with incremental decoding, ``steps`` decoder steps.

    The encoder runs once per sentence; each step runs the decoder on ``batch * beam``
    rows of one new position (self-attention over the ``s`` cached positions, cross-attention
    over the encoder rows); the output projection onto the vocabulary runs at every step.
    The cross-attention keys and values are projected once per sentence, not per beam
    (fairseq's beamable encoder-decoder attention, which SequenceGenerator switches on).
    """
    d, f = dims.d, dims.ffn
    rows = batch * beam
    keys = cross_keys(layout, n, m)
    encoder = batch * encoder_forward(dims, layout, n, m)
    cross_kv = dims.dec_layers * batch * 2 * d * d * 2 * keys
    per_step_fixed = (
        dims.dec_layers * (2 * d * d * 4 + 2 * d * d * 2 + 2 * 2 * keys * d + 2 * 2 * d * f)
        + 2 * d * dims.vocab
    )
    self_attention = sum(dims.dec_layers * 2 * 2 * s * d for s in range(1, steps + 1))
    return encoder + cross_kv + rows * (steps * per_step_fixed + self_attention)


def lm_forward(d: int, ffn: int, layers: int, t: int, m: int, output: int) -> int:
    """Forward FLOPs of a decoder-only LM on one segment of ``t`` tokens with ``m`` memory
    rows (prepended: every layer runs on t + m rows, causal attention counted in full), and
    an output projection of ``output`` columns on the t token rows (the vocabulary, or the
    head of an adaptive softmax)."""
    return layers * attention_block(d, ffn, t + m, t + m) + 2 * t * d * output


def classifier_forward(d: int, ffn: int, layers: int, n: int, m: int) -> int:
    """Forward FLOPs of a RoBERTa-style encoder on one example of ``n`` tokens with ``m``
    memory rows prepended (the classification head, two d-wide products on one row, is
    left out)."""
    return layers * attention_block(d, ffn, n + m, n + m)

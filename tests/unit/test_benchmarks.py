"""The benchmark (benchmarks/run.py) without running it: its FLOP counter by hand, its rows
and architectures, its command line. The seconds-long smoke run is in
``tests/integration/test_benchmark_run.py``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from benchmark_helpers import FAIRSEQ_MODELS, XT_MODELS
from conftest import REPO

from benchmarks.flops import Dims, forward_flops, generate_flops, predicted_ratio, train_flops
from benchmarks.specs import Config, fairseq_specs, xt_specs
from memspec import BASELINE, LAYOUTS

# One layer each side, d=2, ffn 4, vocabulary 10; a sentence pair of n=3 source and
# t=2 target positions. Every matmul (rows x inner @ inner x cols) costs 2*rows*inner*cols.
TINY = Dims(d=2, ffn=4, enc_layers=1, dec_layers=1, vocab=10)


def mm(rows: int, inner: int, cols: int) -> int:
    return 2 * rows * inner * cols


def encoder_layer_by_hand(q: int, k: int) -> int:
    """q query rows over k key rows, d=2, ffn 4, written out matmul by matmul."""
    return (
        mm(q, 2, 2)  # Q projection
        + mm(k, 2, 2)  # K projection
        + mm(k, 2, 2)  # V projection
        + mm(q, 2, k)  # scores Q K^T
        + mm(q, k, 2)  # probabilities @ V
        + mm(q, 2, 2)  # output projection
        + mm(q, 2, 4)  # fc1
        + mm(q, 4, 2)  # fc2
    )


def decoder_by_hand(t: int, keys: int) -> int:
    self_attention = 4 * mm(t, 2, 2) + mm(t, 2, t) + mm(t, t, 2)
    cross_attention = 2 * mm(t, 2, 2) + 2 * mm(keys, 2, 2) + mm(t, 2, keys) + mm(t, keys, 2)
    feed_forward = mm(t, 2, 4) + mm(t, 4, 2)
    output = mm(t, 2, 10)
    return self_attention + cross_attention + feed_forward + output


def test_flops_baseline_one_layer_by_hand():
    assert encoder_layer_by_hand(3, 3) == 264
    assert decoder_by_hand(2, 3) == 368
    assert forward_flops(TINY, BASELINE, n=3, t=2) == 264 + 368
    assert train_flops(TINY, BASELINE, batch=5, n=3, t=2) == 3 * 5 * 632


def test_flops_memory_layouts_by_hand():
    m = 1
    # prepend: the encoder on n + m rows, the decoder over n + m keys.
    assert forward_flops(TINY, "prepend", 3, 2, m) == encoder_layer_by_hand(4, 4) + decoder_by_hand(
        2, 4
    )
    assert forward_flops(TINY, "prepend", 3, 2, m) == 384 + 400
    # ctrl: memory layer (m rows over n + m) + sequence layer (n rows over n + m).
    ctrl = encoder_layer_by_hand(1, 4) + encoder_layer_by_hand(3, 4) + decoder_by_hand(2, 4)
    assert ctrl == 144 + 304 + 400
    assert forward_flops(TINY, "ctrl", 3, 2, m) == ctrl
    assert forward_flops(TINY, "ctrl_shared", 3, 2, m) == ctrl
    # bottleneck: m rows over n + m, then n rows over the m memory rows; decoder over m.
    bottleneck = encoder_layer_by_hand(1, 4) + encoder_layer_by_hand(3, 1) + decoder_by_hand(2, 1)
    assert forward_flops(TINY, "bottleneck", 3, 2, m) == bottleneck
    # --mem-hide-from-decoder: the decoder reads the n sequence rows only.
    assert forward_flops(TINY, "prepend", 3, 2, m, hide=True) == 384 + decoder_by_hand(2, 3)


def test_flops_generation_by_hand():
    # Beam 1, two decoder steps of one row: per step Q/K/V/out of the new row, attention
    # over the s cached positions, cross-attention over 3 keys, ffn, output projection.
    step = 4 * mm(1, 2, 2) + 2 * mm(1, 2, 2) + mm(1, 2, 3) + mm(1, 3, 2) + 2 * mm(1, 2, 4)
    step += mm(1, 2, 10)
    self_attention = sum(mm(1, 2, s) + mm(1, s, 2) for s in (1, 2))
    cross_kv = 2 * mm(3, 2, 2)  # once per sentence
    expected = encoder_layer_by_hand(3, 3) + cross_kv + 2 * step + self_attention
    assert generate_flops(TINY, BASELINE, batch=1, n=3, steps=2, beam=1) == expected == 624


def test_predicted_ratio_is_one_without_memory():
    shapes = [(104, 19, 18), (128, 16, 14)]
    dims = Dims(256, 1024, 3, 3, 7792)
    assert predicted_ratio(dims, "prepend", shapes, 0) == 1.0
    assert predicted_ratio(dims, "prepend", shapes, 20) > predicted_ratio(
        dims, "prepend", shapes, 5
    )
    with pytest.raises(ValueError, match="unknown layout"):
        forward_flops(dims, "sideways", 3, 2, 1)


def test_specs_rows_and_architectures():
    cfg = Config()
    specs = fairseq_specs(cfg)
    assert [s.name for s in specs] == FAIRSEQ_MODELS
    assert [s.name for s in xt_specs(cfg)] == XT_MODELS
    assert {s.layout for s in specs} == set(LAYOUTS)
    assert specs[0].arch == "transformer" and specs[-1].layout == BASELINE
    assert [s.arch for s in specs if s.mem_tokens == 20][:4] == [
        "mem_transformer",
        "mem_ctrl",
        "mem_ctrl_shared",
        "mem_bottleneck",
    ]
    assert specs[-1].extra_src == 20 and specs[-1].mem_tokens == 0


def test_cli_help_lists_every_option():
    proc = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for option in ("--quick", "--threads", "--repeats", "--warmup", "--out", "--data"):
        assert option in proc.stdout
    for option in ("--max-tokens", "--device", "--no-memory"):
        assert option in proc.stdout
    assert "--probe" not in proc.stdout

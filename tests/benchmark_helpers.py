"""The rows the benchmark (``benchmarks/run.py``) writes, for its unit and integration tests."""

from __future__ import annotations

# The rows of the train and generate sections, and of the x-transformers section (m = 20).
FAIRSEQ_MODELS = [
    "transformer",
    "mem_transformer m=0",
    *(
        f"{arch} m={m}"
        for arch in ("mem_transformer", "mem_ctrl", "mem_ctrl_shared", "mem_bottleneck")
        for m in (5, 10, 20)
    ),
    "transformer, +20 source tokens (reference)",
]
XT_MODELS = [
    "transformer",
    "mem_transformer m=20",
    "mem_transformer m=20 hide-from-decoder",
    "x-transformers m=0",
    "x-transformers m=20",
    "x-transformers m=20 attn_flash",
]

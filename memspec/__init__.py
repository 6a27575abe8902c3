"""The memory vocabulary: layouts, limits and architecture names, in one place.

Pure Python (no torch, no fairseq), so that the fairseq plugin (``fairseq_plugins``), the
pipeline (``memtr``) and the benchmarks all import the same names without loading a model
library. Nothing here imports from the rest of the repository.
"""

from __future__ import annotations

# The baseline: no memory at all (a plain fairseq architecture).
BASELINE = "none"
# Where the memory sits in an encoder (the plugin's ``--mem-layout``):
#   prepend      [memory ; sequence] through the same layers (MemTransformer)
#   ctrl         memory rows updated by their own layers (MemCtrl)
#   ctrl_shared  one memory layer shared by every depth (MemCtrl-shared)
#   bottleneck   the sequence reads only the memory; the decoder sees only the memory
MEMORY_LAYOUTS = ("prepend", "ctrl", "ctrl_shared", "bottleneck")
# Every layout a variant of params.yaml (or a benchmark row) can take.
LAYOUTS = (BASELINE, *MEMORY_LAYOUTS)

MAX_MEM_TOKENS = 1024  # above this a "memory" is longer than any source the paper uses

# fairseq model names registered by the plugin, and the architecture-name prefix of each
# translation layout (the size suffix is appended, e.g. ``mem_ctrl_iwslt_de_en``).
TRANSLATION_MODEL = "mem_transformer"
TRANSLATION_ARCH = {
    "prepend": "mem_transformer",
    "ctrl": "mem_ctrl",
    "ctrl_shared": "mem_ctrl_shared",
    "bottleneck": "mem_bottleneck",
}
LM_MODEL = "mem_transformer_lm"  # decoder-only language model (memory may be recurrent)
ROBERTA_MODEL = "mem_roberta"  # masked-LM encoder with a classification head (GLUE)


def check_mem_tokens(value: int | str) -> int:
    """Parse and validate ``--mem-tokens``: an integer in ``[0, MAX_MEM_TOKENS]``."""
    try:
        m = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"--mem-tokens must be an integer, got {value!r}") from None
    if not 0 <= m <= MAX_MEM_TOKENS:
        raise ValueError(f"--mem-tokens must be between 0 and {MAX_MEM_TOKENS}, got {m}")
    return m

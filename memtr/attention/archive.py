"""The raw probabilities of one model's sample sentences: ``attention.npz``, written and read.

numpy only, no torch: plots and numbers can be redone from the file without the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memtr.attention.schema import ModelInfo, SampleAttention


def save_npz(path: Path, samples: Sequence[SampleAttention], info: ModelInfo) -> None:
    """Raw probabilities: ``s{i}_self_attn``, ``s{i}_cross``, ``s{i}_key_is_memory``,
    ``s{i}_src_tokens``, ``s{i}_tgt_tokens`` per sentence, plus ``model``, ``layout``,
    ``num_memory`` and ``num_sentences``; no pickled objects."""
    arrays: dict[str, np.ndarray] = {
        "model": np.array(info.name),
        "layout": np.array(info.layout),
        "num_memory": np.array(info.num_memory),
        "num_sentences": np.array(len(samples)),
    }
    for i, s in enumerate(samples):
        arrays[f"s{i}_self_attn"] = s.self_attn.astype(np.float32)  # (L, H, T, T)
        arrays[f"s{i}_cross"] = s.cross.astype(np.float32)  # (Ld, H, t, k)
        arrays[f"s{i}_key_is_memory"] = s.key_is_memory  # (k,)
        arrays[f"s{i}_src_tokens"] = np.array(s.src_tokens)
        arrays[f"s{i}_tgt_tokens"] = np.array(s.tgt_tokens, dtype=str)
    np.savez_compressed(path, **arrays)


def load_npz(path: Path) -> tuple[ModelInfo, list[SampleAttention]]:
    """Read back what ``save_npz`` wrote."""
    with np.load(path) as z:
        info = ModelInfo(str(z["model"]), str(z["layout"]), int(z["num_memory"]))
        samples = [
            SampleAttention(
                src_tokens=[str(x) for x in z[f"s{i}_src_tokens"]],
                tgt_tokens=[str(x) for x in z[f"s{i}_tgt_tokens"]],
                self_attn=z[f"s{i}_self_attn"],
                cross=z[f"s{i}_cross"],
                key_is_memory=z[f"s{i}_key_is_memory"],
            )
            for i in range(int(z["num_sentences"]))
        ]
    return info, samples

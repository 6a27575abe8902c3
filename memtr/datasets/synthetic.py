"""Generated algorithmic sequence tasks (copy, reverse, sort): no network needed."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

TASKS: dict[str, Callable[[list[str]], list[str]]] = {
    "copy": lambda tokens: list(tokens),
    "reverse": lambda tokens: tokens[::-1],
    "sort": lambda tokens: sorted(tokens),
}


def make_pairs(
    task: str, count: int, vocab_size: int = 20, min_len: int = 3, max_len: int = 10, seed: int = 0
) -> list[tuple[str, str]]:
    """Return ``count`` (source, target) lines of whitespace-separated symbols ``w0 .. w{V-1}``."""
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}; choose one of {', '.join(TASKS)}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len} and {max_len}")
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(vocab_size)]
    pairs = []
    for _ in range(count):
        tokens = rng.choices(vocab, k=rng.randint(min_len, max_len))
        pairs.append((" ".join(tokens), " ".join(TASKS[task](tokens))))
    return pairs


def write_parallel_corpus(
    out_dir: Path, task: str, sizes: dict[str, int], src: str = "src", tgt: str = "tgt", **kwargs
) -> Path:
    """Write ``{split}.{src}`` / ``{split}.{tgt}`` files for each split in ``sizes``.

    Each split uses its own seed, so train, valid and test do not share a generator stream.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_seed = kwargs.pop("seed", 0)
    for offset, (split, count) in enumerate(sizes.items()):
        pairs = make_pairs(task, count, seed=base_seed + 1000 * offset, **kwargs)
        (out_dir / f"{split}.{src}").write_text("".join(s + "\n" for s, _ in pairs))
        (out_dir / f"{split}.{tgt}").write_text("".join(t + "\n" for _, t in pairs))
    return out_dir

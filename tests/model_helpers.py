"""Build real fairseq models through fairseq's own option parsing (as fairseq-train does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from fairseq import options, tasks

from memtr.common.paths import PLUGIN_DIR

# One small size for every model in the unit tests (d=32, 2+2 layers).
SMALL = [
    "--encoder-embed-dim",
    "32",
    "--encoder-ffn-embed-dim",
    "64",
    "--encoder-layers",
    "2",
    "--encoder-attention-heads",
    "4",
    "--decoder-embed-dim",
    "32",
    "--decoder-ffn-embed-dim",
    "64",
    "--decoder-layers",
    "2",
    "--decoder-attention-heads",
    "4",
]


def n_params(model: torch.nn.Module) -> int:
    """The number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def parse_args(data_dir: Path, *extra: str) -> Any:
    """Parse fairseq-train options for the translation task on ``data_dir``."""
    parser = options.get_training_parser()
    argv = [str(data_dir), "--user-dir", str(PLUGIN_DIR), "--task", "translation", *extra]
    return options.parse_args_and_arch(parser, argv)


def build_model(data_dir: Path, *extra: str, seed: int = 0) -> tuple[Any, Any]:
    """Return (model, task) built from command-line style options, seeded."""
    args = parse_args(data_dir, *extra)
    task = tasks.setup_task(args)
    torch.manual_seed(seed)
    return task.build_model(args), task


def memory_model(data_dir: Path, mem_tokens: int, *extra: str, seed: int = 0) -> tuple[Any, Any]:
    """A MemTransformer of the SMALL size with ``mem_tokens`` memory tokens."""
    return build_model(
        data_dir,
        "--arch",
        "mem_transformer",
        *SMALL,
        "--mem-tokens",
        str(mem_tokens),
        *extra,
        seed=seed,
    )


def sample_batch(task: Any, sizes: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    """A left-padded source batch (as fairseq pads sources) and decoder inputs.

    Returns src_tokens (B, n), src_lengths (B,), prev_output_tokens (B, t).
    """
    gen = torch.Generator().manual_seed(seed)
    vocab = task.source_dictionary
    first, last = vocab.nspecial, len(vocab)
    n = max(sizes)
    src = torch.full((len(sizes), n), vocab.pad(), dtype=torch.long)
    for row, size in enumerate(sizes):
        src[row, n - size :] = torch.randint(first, last, (size,), generator=gen)
        src[row, -1] = vocab.eos()
    prev = torch.randint(first, last, (len(sizes), 5), generator=gen)
    prev[:, 0] = vocab.eos()
    return {"src_tokens": src, "src_lengths": torch.tensor(sizes), "prev_output_tokens": prev}

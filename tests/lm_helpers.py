"""Data and model builders for the memory LM and masked-LM tests (real fairseq, no mocks)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from fairseq import options, tasks

from memtr.common.paths import PLUGIN_DIR

BLOCK = 8  # tokens per line of the recall stream, the end-of-sentence included
KEYS = 8  # recall targets are uniform over this many keys: chance accuracy 1/8
FILLERS = 4
# The recall stream of the LM tests, in lines per split: multiples of the rows of their batches.
RECALL_SPLITS = {"train": 4096, "valid": 256, "test": 512}

# One small LM size for every test (pre-norm, as fairseq's LM architectures force).
LM_SMALL = [
    "--decoder-embed-dim",
    "32",
    "--decoder-ffn-embed-dim",
    "64",
    "--decoder-layers",
    "2",
    "--decoder-attention-heads",
    "4",
    "--decoder-normalize-before",
]


def fairseq_preprocess(*argv: str) -> None:
    """Run fairseq-preprocess with ``argv`` in this process: the command line's own code
    (``fairseq_cli.preprocess``, parsed and run as its ``cli_main`` does), so the same files as
    ``run_cli("preprocess", ...)``, without starting a Python and importing fairseq again
    (seconds of CPU per call)."""
    from fairseq_cli import preprocess

    args = options.get_preprocessing_parser().parse_args(list(argv))
    kept = list(preprocess.logger.handlers)
    try:
        preprocess.main(args)
    finally:  # main adds a log file handler in --destdir at every call
        for handler in [h for h in preprocess.logger.handlers if h not in kept]:
            preprocess.logger.removeHandler(handler)
            handler.close()


def recall_lines(blocks: int, seed: int, block: int = BLOCK) -> list[str]:
    """A stream whose every line starts with the key of the line before it.

    Line ``k`` is ``k<prev> k<key> f f f f f`` (``block - 3`` fillers) and fairseq appends
    ``</s>``, so a line is ``block`` tokens. With segments aligned to lines, the first target of
    a segment is the key seen in the previous segment only: predictable with recurrent memory,
    at chance without.
    """
    rng = random.Random(seed)
    prev = rng.randrange(KEYS)
    lines = []
    for _ in range(blocks):
        key = rng.randrange(KEYS)
        fillers = [f"f{rng.randrange(FILLERS)}" for _ in range(block - 3)]
        lines.append(" ".join([f"k{prev}", f"k{key}", *fillers]))
        prev = key
    return lines


def write_recall_corpus(
    root: Path, sizes: dict[str, int], seed: int = 0, block: int = BLOCK
) -> Path:
    """Write and binarize (fairseq-preprocess --only-source, in process) a recall stream of
    lines of ``block`` tokens per split."""
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for offset, (split, blocks) in enumerate(sizes.items()):
        lines = recall_lines(blocks, seed + 1000 * offset, block)
        (raw / f"{split}.txt").write_text("".join(line + "\n" for line in lines))
    prefixes = {"train": "--trainpref", "valid": "--validpref", "test": "--testpref"}
    args = [item for split in sizes for item in (prefixes[split], str(raw / f"{split}.txt"))]
    fairseq_preprocess("--only-source", *args, "--destdir", str(root / "bin"), "--workers", "1")
    return root / "bin"


def parse_lm_args(data_dir: Path, *extra: str, task: str = "language_modeling") -> Any:
    """Parse fairseq-train options for an LM task on ``data_dir``."""
    parser = options.get_training_parser()
    argv = [str(data_dir), "--user-dir", str(PLUGIN_DIR), "--task", task, *extra]
    return options.parse_args_and_arch(parser, argv)


def build_lm(
    data_dir: Path, *extra: str, task: str = "language_modeling", seed: int = 0
) -> tuple[Any, Any]:
    """Return (model, task) built from command-line style options, seeded."""
    args = parse_lm_args(data_dir, *extra, task=task)
    fairseq_task = tasks.setup_task(args)
    torch.manual_seed(seed)
    return fairseq_task.build_model(args), fairseq_task


def memory_lm(data_dir: Path, mem_tokens: int, *extra: str, seed: int = 0, **kw: Any):
    """A ``mem_transformer_lm`` of the LM_SMALL size with ``mem_tokens`` memory tokens."""
    return build_lm(
        data_dir,
        "--arch",
        "mem_transformer_lm",
        *LM_SMALL,
        "--mem-tokens",
        str(mem_tokens),
        *extra,
        seed=seed,
        **kw,
    )


def random_tokens(task: Any, batch: int, length: int, seed: int = 0) -> torch.Tensor:
    """(B, T) random real tokens, each row starting with </s> as LM sources do."""
    gen = torch.Generator().manual_seed(seed)
    vocab = task.source_dictionary
    tokens = torch.randint(vocab.nspecial, len(vocab), (batch, length), generator=gen)
    tokens[:, 0] = vocab.eos()
    return tokens


def other_token_at(tokens: torch.Tensor, column: int, task: Any) -> torch.Tensor:
    """A copy of ``tokens`` (B, T) with another real token in ``column`` of every row."""
    first = task.source_dictionary.nspecial
    changed = tokens.clone()
    span = len(task.source_dictionary) - first
    changed[:, column] = first + (tokens[:, column] - first + 1) % span
    return changed


def log_probs(model: Any, tokens: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """(B, T, V) log-probabilities of a full forward pass."""
    out = model(tokens, **kwargs)
    return model.get_normalized_probs(out, log_probs=True)


# ---- a generated sentence classification task in GLUE's file format ----------------------

ROBERTA_HEAD = "sentence_classification_head"  # fairseq's default classification head name

# The sizes of mem_roberta_tiny, for a plain ``--arch roberta``.
ROBERTA_TINY = [
    "--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
    "--encoder-attention-heads", "4", "--max-positions", "32",
]  # fmt: skip


def marker_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """(sentence, label) rows: label 1 when the sentence contains ``w0``, half of each."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        label = index % 2
        words = [f"w{rng.randrange(1, 20)}" for _ in range(rng.randint(4, 12))]
        if label:
            words[rng.randrange(len(words))] = "w0"
        rows.append((" ".join(words), str(label)))
    rng.shuffle(rows)
    return rows


def write_glue_task(root: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """SST-2-style ``train.tsv``/``dev.tsv`` (header, sentence TAB label), cut and binarized
    (fairseq-preprocess, in process) as fairseq's GLUE recipe does: ``bin/input0`` (its
    dictionary) and ``bin/label``."""
    tsv, cut = root / "glue", root / "cut"
    tsv.mkdir(parents=True, exist_ok=True)
    cut.mkdir(exist_ok=True)
    for offset, (split, count) in enumerate(sizes.items()):
        rows = marker_rows(count, seed + 1000 * offset)
        table = ["sentence\tlabel", *(f"{text}\t{label}" for text, label in rows)]
        (tsv / f"{split}.tsv").write_text("\n".join(table) + "\n")
        lines = (tsv / f"{split}.tsv").read_text().splitlines()[1:]  # the recipe's tail -n +2
        cells = [line.split("\t") for line in lines]  # the recipe's cut -f1 / cut -f2
        (cut / f"{split}.input0").write_text("".join(row[0] + "\n" for row in cells))
        (cut / f"{split}.label").write_text("".join(row[1] + "\n" for row in cells))
    for column in ("input0", "label"):
        fairseq_preprocess(
            "--only-source", "--trainpref", str(cut / f"train.{column}"),
            "--validpref", str(cut / f"dev.{column}"), "--destdir", str(root / "bin" / column),
            "--workers", "1",
        )  # fmt: skip
    return root / "bin"


def build_roberta(data: Path, *extra: str, seed: int = 0) -> tuple[Any, Any]:
    """A model on ``sentence_prediction`` (2 classes, its head registered), seeded."""
    parser = options.get_training_parser()
    argv = [
        str(data), "--user-dir", str(PLUGIN_DIR), "--task", "sentence_prediction",
        "--num-classes", "2", "--criterion", "sentence_prediction", "--max-positions", "32",
        *extra,
    ]  # fmt: skip
    args = options.parse_args_and_arch(parser, argv)
    task = tasks.setup_task(args)
    torch.manual_seed(seed)
    return task.build_model(args), task


def memory_roberta(data: Path, mem_tokens: int, seed: int = 0) -> tuple[Any, Any]:
    """A ``mem_roberta_tiny`` with ``mem_tokens`` memory tokens on ``sentence_prediction``."""
    return build_roberta(
        data, "--arch", "mem_roberta_tiny", "--mem-tokens", str(mem_tokens), seed=seed
    )

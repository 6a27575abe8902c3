"""Memory language model through the fairseq CLI: three tiny ``fairseq-train`` runs on a recall
stream, scored with ``fairseq-eval-lm`` and by recall accuracy (the in-process model tests are
in ``tests/unit/test_mem_lm.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from conftest import NO_PREFETCH, in_parallel, run_cli
from fairseq import checkpoint_utils
from lm_helpers import KEYS, LM_SMALL, RECALL_SPLITS, write_recall_corpus

import fairseq_plugins  # noqa: F401  (registers stream_lm and the models: checkpoints load)
from memtr.common.paths import PLUGIN_DIR

# Lines of 4 tokens (k<prev> k<key> f </s>), not the 8 of lm_helpers.BLOCK, and 32 rows a
# batch, not 16: one target in 4 is a recall, and a batch holds twice as many. The recurrent
# model learns the recall in 140-250 updates (seeds 1-5, measured; seed 1: about 140) where
# lines of 8 in batches of 16 took 350-450 of their 600 (seeds 1-3); 350 updates keep about
# the same room past the latest seed.
LINE = 4
ROWS = 32  # batch rows of the stream runs; the recall splits hold a multiple of ROWS lines
UPDATES = 350


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binarized recall stream: train 4096 lines, valid 256, test 512 (4 tokens each)."""
    return write_recall_corpus(tmp_path_factory.mktemp("recall"), RECALL_SPLITS, block=LINE)


TRAIN = [
    "--user-dir", str(PLUGIN_DIR), *LM_SMALL, "--optimizer", "adam", "--lr", "0.003",
    "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "50", "--clip-norm", "1.0",
    "--dropout", "0.0", "--max-update", str(UPDATES), "--validate-interval", "100",
    "--no-epoch-checkpoints", "--no-save-optimizer-state", "--num-workers", "0", "--seed", "1",
    "--cpu", *NO_PREFETCH,
]  # fmt: skip
# Every model sees windows of one line; the memory models read 4 lines per row of a batch, and
# every batch holds the same 512 tokens.
STREAM = ["--task", "stream_lm", "--tokens-per-sample", str(4 * LINE), "--batch-size", str(ROWS)]
RUNS = {
    "baseline": [
        "--task", "language_modeling", "--arch", "transformer_lm", "--tokens-per-sample",
        str(LINE), "--sample-break-mode", "none", "--batch-size", str(4 * ROWS),
    ],
    "memory": [*STREAM, "--arch", "mem_transformer_lm", "--mem-tokens", "4",
               "--mem-segment-len", str(LINE)],
    "recurrent": [*STREAM, "--arch", "mem_transformer_lm", "--mem-tokens", "4",
                  "--mem-segment-len", str(LINE), "--mem-recurrent"],
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> dict[str, Path]:
    """Checkpoints of the three tiny runs (UPDATES updates each, one thread each, side by
    side: about 15 s of CPU each)."""
    root = tmp_path_factory.mktemp("lm_runs")

    def train(name: str) -> Path:
        argv = RUNS[name]
        run_cli("train", str(data), *TRAIN, *argv, "--save-dir", str(root / name), threads=1)
        return root / name / "checkpoint_last.pt"

    return dict(zip(RUNS, in_parallel(train, RUNS), strict=True))


def eval_lm(data: Path, checkpoint: Path, name: str) -> tuple[int, float]:
    task = RUNS[name][: RUNS[name].index("--arch")] + ["--batch-size", str(ROWS)]
    if name == "baseline":
        task += ["--tokens-per-sample", str(LINE), "--sample-break-mode", "none"]
    else:
        task += ["--tokens-per-sample", str(4 * LINE)]
    proc = run_cli(
        "eval_lm", str(data), "--user-dir", str(PLUGIN_DIR), "--path", str(checkpoint),
        "--gen-subset", "test", "--num-workers", "0", "--cpu", *task, threads=1,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    tokens = int(re.search(r"Evaluated ([\d,]+) tokens", log).group(1).replace(",", ""))
    return tokens, float(re.search(r"Perplexity: ([\d.]+)", log).group(1))


@pytest.mark.slow
def test_eval_lm_perplexities_are_comparable_and_recurrence_helps(data, trained):
    scores = in_parallel(lambda name: eval_lm(data, trained[name], name), trained)
    results = dict(zip(trained, scores, strict=True))
    print("memtr tiny LM runs (tokens, perplexity):", results)
    assert {tokens for tokens, _ in results.values()} == {512 * LINE}  # the same tokens
    # One line in 4 starts with a key seen only in the previous line: at best exp(ln 8 / 2 +
    # ln 4 / 4) = 4.0 without recalling it, exp(ln 8 / 4 + ln 4 / 4) = 2.38 with it (measured:
    # about 4.0 and 2.5). With lines of 8 tokens the bounds were 4.0 and 3.08 and the recurrent
    # one had to be under 3.4; 3.0 sits as far into the wider gap.
    assert results["baseline"][1] > 3.8 and results["memory"][1] > 3.8
    assert results["recurrent"][1] < 3.0


def recall_accuracy(checkpoint: Path, data: Path) -> float:
    """Accuracy on the first target of every segment but each row's first (the recall)."""
    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={"data": str(data)}
    )
    model = models[0].eval()
    task.load_dataset("test")
    itr = task.get_batch_iterator(task.dataset("test"), max_sentences=ROWS)
    hits, total = 0, 0
    with torch.no_grad():
        for batch in itr.next_epoch_itr(shuffle=False):
            predicted = model(**batch["net_input"])[0].argmax(-1)  # (B, T)
            first = 1 if batch["net_input"]["mem_stream"]["start"] == 0 else 0
            columns = list(range(first * LINE, batch["target"].size(1), LINE))
            hits += (predicted[:, columns] == batch["target"][:, columns]).sum().item()
            total += batch["target"][:, columns].numel()
    return hits / total


@pytest.mark.slow
def test_recurrent_memory_carries_a_key_to_the_next_segment(data, trained):
    with_recurrence = recall_accuracy(trained["recurrent"], data)
    without = recall_accuracy(trained["memory"], data)
    print(f"memtr recall accuracy: recurrent {with_recurrence:.3f}, not recurrent {without:.3f}")
    assert with_recurrence > 0.9
    assert without < 2.5 / KEYS  # chance is 1 / KEYS

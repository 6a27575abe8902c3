"""Shared fixtures: a tiny binarized parallel corpus built with the real fairseq-preprocess,
and the tiny translation models trained on it once a session with the real fairseq-train."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from slurm_fixture import slurm_cluster, slurm_session  # noqa: F401  (one cluster a run)
from tier_report import tier_of

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")
R = TypeVar("R")

# For every fairseq-train in the tests: fairseq's prefetch thread (a daemon BufferedIterator),
# still collating when a short run ends mid-epoch, can abort the exit ("terminate called without
# an active exception", status -6), as it did once in CI. No prefetch thread, no race.
NO_PREFETCH = ("--data-buffer-size", "0")
sys.path.insert(0, str(REPO))
from memtr.common.paths import PLUGIN_DIR  # noqa: E402  (light: no third-party import)

# Every subprocess of the tests (fairseq, dvc, snakemake) and this process: OpenMP threads
# sleep while they wait instead of spinning, since the tests run side by side (pytest-xdist
# workers, pipelines in the background) and a spinning thread holds a core another job needs.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Subprocesses run side by side by in_parallel: one per core, at most two (CI has two cores).
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
PARALLEL = max(1, min(2, CORES or 1))


# Test files that share a session fixture too costly to build twice: each set runs in one
# pytest-xdist worker (the tiny models; the Slurm cluster, which one machine runs once).
SHARED_WORKER = {
    "tiny_models": (
        "tests/integration/test_cli.py",
        "tests/integration/test_attention.py",
        "tests/integration/test_intervention_decoding.py",
    ),
    "slurm": ("tests/e2e/test_pipeline_slurm.py", "tests/e2e/test_slurm_cluster.py"),
}
# Tiers in the order their tests are handed out: the longest first, so that the short tests
# fill the workers at the end instead of one worker finishing a pipeline alone.
TIER_ORDER = ("e2e", "integration", "audit", "unit")


def worker_group(nodeid: str) -> str:
    """The tests that one pytest-xdist worker runs together: the test's file (its module
    fixtures are built once), or the shared set of files it belongs to."""
    path = nodeid.split("::")[0]
    return next((name for name, files in SHARED_WORKER.items() if path in files), path)


def tier_rank(item: pytest.Item) -> int:
    tier = tier_of(item.nodeid)
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tiers first (stable: the order within a tier stays)."""
    items.sort(key=tier_rank)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist (-n, pyproject.toml)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Hand out whole worker groups (worker_group) in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class WorkerGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return WorkerGroupScheduling(config, log)


def pytest_collection_finish(session: pytest.Session) -> None:
    """One OpenMP thread for the models the tests build in this process: they are tiny, and two
    threads spin-wait for each other when another job holds a core (extracting the attention of
    two sentences took 8 s of CPU instead of 0.1 s). Subprocesses choose their own (run_cli)."""
    if "torch" in sys.modules:  # imported by a collected test module
        sys.modules["torch"].set_num_threads(1)


def run_cli(
    module: str, *args: str, cwd: Path | None = None, check: bool = True, threads: int = 2
) -> subprocess.CompletedProcess:
    """Run a fairseq command-line entry point (``fairseq_cli.<module>``) in a subprocess.

    ``threads=1`` suits the tiniest models: their steps are too short for two OpenMP threads,
    which spin-wait for each other when another job holds a core.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.run(
        [sys.executable, "-m", f"fairseq_cli.{module}", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"fairseq_cli.{module} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return proc


def in_parallel(run: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[run(item) for item in items]``, ``PARALLEL`` at a time in threads: for subprocesses
    (one core each, ``threads=1``), which a tiny model keeps busier than two OpenMP threads.
    The first exception is raised once all have run."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(run, items))


# fairseq-train options of the translation tests (the tiny models below, the CLI tests).
# Batches of 500 tokens: the reversal task is learned in about as many updates as with 2000
# (the old setting), at half the cost (the cost of an update grows with its tokens).
TRAIN_ARGS = [
    "--user-dir",
    str(PLUGIN_DIR),
    "--task",
    "translation",
    "--share-all-embeddings",
    "--optimizer",
    "adam",
    "--lr",
    "3e-3",
    "--lr-scheduler",
    "inverse_sqrt",
    "--warmup-updates",
    "50",
    "--max-tokens",
    "500",
    "--criterion",
    "label_smoothed_cross_entropy",
    "--label-smoothing",
    "0.1",
    "--dropout",
    "0.1",
    "--cpu",
    "--seed",
    "1",
    "--no-epoch-checkpoints",
    "--log-format",
    "simple",
    "--log-interval",
    "25",
    *NO_PREFETCH,
]
# Updates of the trained tiny models: BLEU 59-89 on the test split (bottleneck lowest) against
# 0.2 for the untrained model; with 100 updates nothing is learned yet (BLEU < 1).
TINY_UPDATES = 300
# name (the memory layout) -> (architecture, memory tokens, updates) of the tiny translation
# models trained once a session on ``reverse_corpus``; ``nomem`` is also the untrained baseline.
TINY_MODELS = {
    "prepend": ("mem_transformer_tiny", 6, TINY_UPDATES),
    "ctrl": ("mem_ctrl_tiny", 10, TINY_UPDATES),
    "ctrl_shared": ("mem_ctrl_shared_tiny", 10, TINY_UPDATES),
    "bottleneck": ("mem_bottleneck_tiny", 10, TINY_UPDATES),
    "nomem": ("mem_transformer_tiny", 0, 1),
}
TINY_TRAIN_ARGS = [
    *TRAIN_ARGS,
    "--disable-validation",  # nothing reads a validation loss or checkpoint_best.pt
    "--save-interval",  # one checkpoint_last.pt, at the last update (with the optimizer
    "1000",  # state: test_cli resumes from it)
]


def tiny_train_args(name: str, save_dir: Path, updates: int | None = None) -> list[str]:
    """fairseq-train options (after the data folder) of tiny model ``name``."""
    arch, mem, default_updates = TINY_MODELS[name]
    return [
        "--arch", arch, "--mem-tokens", str(mem), "--max-update", str(updates or default_updates),
        "--save-dir", str(save_dir), *TINY_TRAIN_ARGS,
    ]  # fmt: skip


@dataclass(frozen=True)
class TrainedModel:
    """A tiny model trained by fairseq-train: its last checkpoint and the training log."""

    name: str
    arch: str
    mem_tokens: int
    updates: int
    checkpoint: Path
    log: str  # stdout and stderr


@pytest.fixture(scope="session")
def tiny_models(
    reverse_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., dict[str, TrainedModel]]:
    """``tiny_models(*names)``: the TINY_MODELS of those names, each trained once a session
    (when first asked for, side by side) and then only read: decoded (intact and under memory
    interventions), run through the attention stage, resumed from a copy.

    Each is trained with fairseq-train (TRAIN_ARGS, one OpenMP thread, no validation) on the
    reversal task for TINY_UPDATES updates: enough for the task to be learned, BLEU far above
    the untrained ``nomem`` model (1 update), see test_cli.py; and for attention maps that are
    not uniform, for the attention stage.
    """
    root = tmp_path_factory.mktemp("tiny_models")
    done: dict[str, TrainedModel] = {}

    def train(name: str) -> TrainedModel:
        arch, mem, updates = TINY_MODELS[name]
        save = root / name
        proc = run_cli(
            "train", str(reverse_corpus / "bin"), *tiny_train_args(name, save), threads=1
        )
        log = proc.stdout + proc.stderr
        return TrainedModel(name, arch, mem, updates, save / "checkpoint_last.pt", log)

    def get(*names: str) -> dict[str, TrainedModel]:
        todo = [name for name in dict.fromkeys(names) if name not in done]
        done.update(zip(todo, in_parallel(train, todo), strict=True))
        return {name: done[name] for name in names}

    return get


@pytest.fixture(scope="session")
def reverse_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binarized reversal task (joined dictionary), src -> tgt, with raw text beside it."""
    from memtr.datasets.synthetic import write_parallel_corpus

    root = tmp_path_factory.mktemp("reverse")
    raw = write_parallel_corpus(
        root / "raw",
        "reverse",
        {"train": 4000, "valid": 200, "test": 100},
        vocab_size=12,
        min_len=3,
        max_len=8,
        seed=1,
    )
    run_cli(
        "preprocess",
        "--source-lang",
        "src",
        "--target-lang",
        "tgt",
        "--trainpref",
        str(raw / "train"),
        "--validpref",
        str(raw / "valid"),
        "--testpref",
        str(raw / "test"),
        "--destdir",
        str(root / "bin"),
        "--joined-dictionary",
        "--workers",
        "1",
    )
    return root

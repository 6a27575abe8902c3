"""A throw-away copy of the repository with a tiny params.yaml, for real pipeline runs."""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "data"
VENV_BIN = Path(sys.executable).parent

TINY_PARAMS = {
    "data": {"dataset": "multi30k_de_en", "datasets": {}, "mirror": None, "bpe": "sentencepiece",
             "gpt2_bpe": None, "bpe_vocab_size": 1000,
             "clean": {"min_len": 1, "max_len": 250, "ratio": 1.5},
             "synthetic": {"task": "reverse", "train": 2000, "valid": 100, "test": 100,
                           "vocab_size": 20, "min_len": 3, "max_len": 12, "seed": 0}},
    "model": {"size": "base", "args": {
        "encoder_layers": 1, "decoder_layers": 1, "encoder_embed_dim": 32, "decoder_embed_dim": 32,
        "encoder_ffn_embed_dim": 64, "decoder_ffn_embed_dim": 64, "encoder_attention_heads": 2,
        "decoder_attention_heads": 2, "share_all_embeddings": True}},
    "variants": {"baseline": {"layout": "none", "mem_tokens": 0},
                 "mem4": {"layout": "prepend", "mem_tokens": 4}},
    "experiment": {"name": "tiny", "variants": ["baseline", "mem4"], "seeds": [1], "reference": "baseline"},
    "pretrain": {"name": "none"},
    "train": {"max_update": 30, "max_tokens": 4096, "lr": 0.003, "warmup_updates": 10,
              "dropout": 0.1, "label_smoothing": 0.1, "weight_decay": 0.0, "clip_norm": 0.0,
              "validate_interval_updates": 10, "threads": 2, "extra_args": []},
    "eval": {"splits": ["test"], "beam": 2, "lenpen": 1.0, "max_len_a": 1.0, "max_len_b": 5,
             "batch_size": 256, "sacrebleu_tokenize": "13a", "bootstrap_resamples": 100},
    "attention": {"num_sentences": 2, "seeds": [1]},
}  # fmt: skip

# What the pipeline tests run: TINY_PARAMS (which tests/unit/test_params.py mutates, so its
# values stay) made as cheap as the assertions allow. The tests check that the stages run,
# agree and write what they promise, not what a model learns: 10 updates (one validation,
# one checkpoint); greedy decoding of at most 8 subwords a sentence, in batches of 1,024
# sentences. An untrained model never ends a hypothesis early, so decoding time is the
# length limit times the sentences: beam 2 up to 1.0 x source length + 5 took 17x longer
# on newstest2014's 3,003 sentences (measured: 240 s against 14 s). One thread per job: a
# 32-wide model gains nothing from a second, and the tests run two pipelines side by side.
PIPELINE_PARAMS = copy.deepcopy(TINY_PARAMS)
PIPELINE_PARAMS["train"].update(
    max_update=10, warmup_updates=5, validate_interval_updates=10, threads=1
)
PIPELINE_PARAMS["eval"].update(beam=1, max_len_a=0.0, max_len_b=8, batch_size=1024)
UPDATES = PIPELINE_PARAMS["train"]["max_update"]


def synthetic_params(**train: object) -> dict:
    """PIPELINE_PARAMS on the generated reversal task (``data.synthetic``): no corpus to
    download, little to prepare; ``train`` updates the train section."""
    doc = copy.deepcopy(PIPELINE_PARAMS)
    doc["data"]["dataset"] = "synthetic"
    doc["train"].update(train)
    return doc


def tracked_files() -> list[str]:
    """Files of the working tree that git tracks or would track (not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


def make_workspace(dest: Path, params: dict | None = None) -> Path:
    """Copy the repository to ``dest`` (a fresh git repo) with ``params`` as params.yaml."""
    for rel in tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    (dest / "params.yaml").write_text(yaml.safe_dump(params or PIPELINE_PARAMS, sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "workspace"], cwd=dest, check=True)
    return dest


def tool_env(**extra: str) -> dict[str, str]:
    """Environment for dvc/snakemake: the venv first on PATH, the local data mirror.

    OpenMP threads sleep when they wait (``OMP_WAIT_POLICY=PASSIVE``) instead of spinning: a
    test may run two pipelines side by side on two cores (see :class:`Background`), where a
    spinning thread would hold the core that the other pipeline's job needs.
    """
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "MEMTR_DATA_MIRROR": str(MIRROR),
        "OMP_NUM_THREADS": "2",
        "OMP_WAIT_POLICY": "PASSIVE",
        **extra,
    }


def run_tool(
    args: list[str], cwd: Path, timeout: float = 900, **extra_env: str
) -> subprocess.CompletedProcess:
    """Run a command of the venv (dvc, snakemake) in ``cwd``; return the finished process."""
    return subprocess.run(
        args, cwd=cwd, env=tool_env(**extra_env), capture_output=True, text=True, timeout=timeout
    )


def run_with_changed_params(
    ws: Path, change, args: tuple[str, ...] = ("dvc", "repro")
) -> subprocess.CompletedProcess:
    """Run a tool in ``ws`` with its params.yaml changed by ``change(doc)``, then put the
    params back as they were."""
    good = (ws / "params.yaml").read_text()
    doc = yaml.safe_load(good)
    change(doc)
    (ws / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        return run_tool(list(args), ws)
    finally:
        (ws / "params.yaml").write_text(good)


class Background:
    """A command of the venv (dvc, snakemake) started now in ``cwd`` and collected later with
    :meth:`wait`, e.g. a whole pipeline run beside another one: most stages are one Python
    process on one core (imports, tiny models with one thread), so two runs side by side on
    two cores take little longer than the longer of them. Its output goes to files beside
    ``cwd`` (a pipe would fill up and stall it); :meth:`stop` kills what is left of it."""

    def __init__(self, args: list[str], cwd: Path, **extra_env: str) -> None:
        self.args, self.cwd = args, cwd
        self.out_path, self.err_path = (cwd.with_name(f"{cwd.name}.{n}") for n in ("out", "err"))
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                args, cwd=cwd, env=tool_env(**extra_env), stdout=out, stderr=err,
                start_new_session=True,  # its own process group: stop() ends the whole run
            )  # fmt: skip
        self.result: subprocess.CompletedProcess | None = None

    def wait(self, timeout: float = 1500) -> subprocess.CompletedProcess:
        """The finished process (waits for it; kills it after ``timeout`` seconds)."""
        if self.result is None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.stop()
                raise
            self.result = subprocess.CompletedProcess(
                self.args, self.proc.returncode,
                self.out_path.read_text(errors="replace"), self.err_path.read_text(errors="replace"),
            )  # fmt: skip
        return self.result

    def stop(self) -> None:
        """Kill the run's process group if it still runs (idempotent)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def write_sst2_mirror(root: Path, train: int = 400, dev: int = 96, seed: int = 0) -> Path:
    """A small generated task in GLUE SST-2's files and mirror layout (glue/SST-2/*.tsv).

    GLUE cannot be downloaded here, so a pipeline test serves this instead: a sentence is
    positive when it holds a word of the positive list, which a tiny model learns quickly.
    """
    import random

    rng = random.Random(seed)
    good, bad = ["good", "great", "fine", "lovely"], ["bad", "awful", "poor", "dull"]
    filler = [f"w{i}" for i in range(40)]

    def sentence() -> tuple[str, int]:
        label = rng.randint(0, 1)
        words = rng.choices(filler, k=rng.randint(3, 9))
        words.insert(rng.randint(0, len(words)), rng.choice(good if label else bad))
        return " ".join(words), label

    folder = root / "glue" / "SST-2"
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", train), ("dev", dev)):
        rows = [sentence() for _ in range(count)]
        lines = ["sentence\tlabel", *(f"{s}\t{label}" for s, label in rows)]
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    test = ["index\tsentence", *(f"{i}\t{sentence()[0]}" for i in range(dev))]
    (folder / "test.tsv").write_text("\n".join(test) + "\n")
    return root


def check(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (
        f"{proc.args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def snakemake_jobs(ws: Path) -> dict[str, set[str]]:
    """Rule name -> output files of a forced dry run (the whole DAG), without the flags the
    dry run shows after a file (``results/<e>/results.csv (update)``)."""
    proc = check(run_tool(["snakemake", "--forceall", "--dry-run", "--cores", "1"], ws))
    jobs: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout):
        name = re.match(r"(?:local)?rule (\w+):", block)
        outputs = re.search(r"^\s+output: (.*)$", block, flags=re.M)
        if name and outputs and name.group(1) != "all":
            jobs.setdefault(name.group(1), set()).update(
                re.sub(r" \(\w+\)$", "", o.strip()) for o in outputs.group(1).split(",")
            )
    return jobs


def dvc_jobs(ws: Path) -> dict[str, set[str]]:
    """Stage name (without its matrix suffix) -> declared outputs, metrics and plots."""
    from dvc.repo import Repo

    jobs: dict[str, set[str]] = {}
    with Repo(str(ws)) as repo:
        for stage in repo.index.stages:
            outs = {os.path.relpath(o.fs_path, ws) for o in stage.outs}
            jobs.setdefault(stage.name.split("@")[0], set()).update(outs)
    return jobs


# stages whose outputs are the same bytes whatever their params: a rerun of one goes no further
# under DVC (the check's stamp; the pretrain stage's marker folder with pretrain.name none)
SAME_BYTES = ("check_params", "pretrain")


def dvc_plan(ws: Path) -> set[str]:
    """The stages `dvc repro` would run in ``ws`` (``train@mem4-1``): those `dvc status` finds
    changed, and the stages downstream of them (their inputs change), but not through the
    stages of SAME_BYTES; pretrain.name none's marker stage itself left out."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(ws)) as repo:
        changed = {name.split(":")[-1] for name in repo.status()}
        graph = repo.index.graph  # an edge points from a stage to one it depends on
        stages = {stage.addressing.split(":")[-1]: stage for stage in graph.nodes}
        plan = set(changed)
        for name in changed - set(SAME_BYTES):
            plan |= {s.addressing.split(":")[-1] for s in nx.ancestors(graph, stages[name])}
    return plan - {"pretrain"}


def snakemake_plan(ws: Path) -> set[str]:
    """The jobs `snakemake -n` plans in ``ws``, named as DVC names its stages
    (``train@mem4-1``); the pretrain marker's job left out, as in :func:`dvc_plan`."""
    out = check(run_tool(["snakemake", "--dry-run", "--cores", "1"], ws)).stdout
    plan = set()
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if not rule or rule[1] == "all":
            continue
        found = re.search(r"^\s+wildcards: (.*)$", block, flags=re.M)
        wildcards = dict(w.split("=", 1) for w in found[1].split(", ")) if found else {}
        item = f"@{wildcards['variant']}-{wildcards['seed']}" if wildcards else ""
        plan.add(rule[1] + item)
    return plan - {"pretrain"}


def run_train_command(params, variant: str, seed: int, data: Path, save: Path) -> list[str]:
    """The fairseq-train command the train stage builds for ``variant`` of ``params`` (a
    loaded Params): the task's options, then memtr.run.training.train_command."""
    from memtr.run.training import train_command
    from memtr.tasks import task_of

    v = params.variants[variant]
    options = task_of(params.spec).train_options(
        params.train, params.model, v, data, params.restore_file()
    )
    return train_command(params.train, v, options, seed, data, save)

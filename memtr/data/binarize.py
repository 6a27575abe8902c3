"""Binarization stage: ``data/prep/<ds>/`` -> ``data/bin/<ds>/`` with ``fairseq-preprocess``.

* MT: ``--source-lang/--target-lang`` with a joined dictionary; ``spm.model`` is copied along
  so that the folder is enough for ``fairseq-generate --bpe sentencepiece``.
* LM: ``--only-source`` on ``<split>.tokens`` (fairseq's dictionary of the dataset's tokens).
* GLUE: the layout of fairseq's RoBERTa recipe, ``input0/``, ``input1/`` (one dictionary built
  from both training inputs) and ``label/`` (STS-B: ``label/<split>.label`` scores / 5).

fairseq runs as ``python -m fairseq_cli.preprocess`` of the current interpreter, so it works in
any virtual environment; the output folder replaces ``out`` only when complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from memtr.common.errors import DataError
from memtr.common.textio import atomic_dir, check_aligned, read_lines, write_lines
from memtr.datasets.registry import Dataset
from memtr.datasets.subwords import GPT2_DIR

log = logging.getLogger(__name__)


def default_workers() -> int:
    """Parallel workers: the usable cores, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def run_preprocess(args: list[str], what: str) -> None:
    """Run ``fairseq-preprocess`` with ``args``; raise :class:`DataError` on failure."""
    cmd = [sys.executable, "-m", "fairseq_cli.preprocess", *args]
    log.info("%s: %s", what, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise DataError(f"fairseq-preprocess failed for {what} (exit {proc.returncode}):\n{tail}")
    for line in (proc.stdout + proc.stderr).splitlines():
        if "sents," in line:  # e.g. "[de] .../train.de: 29000 sents, ... 0.0% replaced by <unk>"
            log.info("%s: %s", what, line[line.find("[") :])


def _splits_present(prep: Path, pattern: str, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if (prep / pattern.format(split=name)).exists()]


def binarize_mt(ds: Dataset, prep: Path, out: Path, workers: int) -> None:
    """Binarize a translation dataset with a joined dictionary."""
    for split in ("train", "valid", "test"):
        check_aligned(prep / f"{split}.{ds.src}", prep / f"{split}.{ds.tgt}")
    run_preprocess(
        [
            "--source-lang", ds.src, "--target-lang", ds.tgt,
            "--trainpref", str(prep / "train"),
            "--validpref", str(prep / "valid"),
            "--testpref", str(prep / "test"),
            "--destdir", str(out), "--joined-dictionary", "--workers", str(workers),
        ],
        ds.name,
    )  # fmt: skip
    shutil.copyfile(prep / "spm.model", out / "spm.model")


def binarize_lm(ds: Dataset, prep: Path, out: Path, workers: int) -> None:
    """Binarize a language-modelling dataset (``--only-source``)."""
    run_preprocess(
        [
            "--only-source",
            "--trainpref", str(prep / "train.tokens"),
            "--validpref", str(prep / "valid.tokens"),
            "--testpref", str(prep / "test.tokens"),
            "--destdir", str(out), "--workers", str(workers),
        ],
        ds.name,
    )  # fmt: skip


def binarize_glue(ds: Dataset, prep: Path, out: Path, workers: int) -> None:
    """Binarize GLUE inputs (shared dictionary) and labels as fairseq's RoBERTa recipe does."""
    task = ds.glue
    assert task is not None
    n_inputs = len(task.inputs)
    valid = [s for s in task.splits if s.startswith("valid")]
    test = [s for s in task.splits if s.startswith("test")]
    for split in ["train", *valid]:
        check_aligned(
            *(prep / f"{split}.input{i}" for i in range(n_inputs)), prep / f"{split}.label"
        )
    gpt2 = prep / GPT2_DIR
    if gpt2.is_dir():  # GPT-2 BPE: the released (or pre-trained) model's own dictionary
        shutil.copyfile(gpt2 / "dict.txt", out / "dict.txt")
    else:
        input_dictionary(prep, n_inputs, out / "dict.txt", ds.name, workers)
    for i in range(n_inputs):
        run_preprocess(
            [
                "--only-source", "--srcdict", str(out / "dict.txt"),
                "--trainpref", str(prep / f"train.input{i}"),
                "--validpref", ",".join(str(prep / f"{s}.input{i}") for s in valid),
                "--testpref", ",".join(str(prep / f"{s}.input{i}") for s in test),
                "--destdir", str(out / f"input{i}"), "--workers", str(workers),
            ],
            f"{ds.name} input{i}",
        )  # fmt: skip
    (out / "dict.txt").unlink()
    if gpt2.is_dir():
        shutil.copytree(gpt2, out / GPT2_DIR)
    else:
        shutil.copyfile(prep / "spm.model", out / "spm.model")
    label_dir = out / "label"
    if task.regression:  # the recipe feeds STS-B scores as text, scaled to [0, 1]
        label_dir.mkdir()
        for split in ["train", *valid]:
            scores = (f"{float(x) / 5.0:g}" for x in read_lines(prep / f"{split}.label"))
            write_lines(label_dir / f"{split}.label", scores)
        return
    run_preprocess(
        [
            "--only-source",
            "--trainpref", str(prep / "train.label"),
            "--validpref", ",".join(str(prep / f"{s}.label") for s in valid),
            "--destdir", str(label_dir), "--workers", str(workers),
        ],
        f"{ds.name} label",
    )  # fmt: skip


def input_dictionary(prep: Path, n_inputs: int, dest: Path, name: str, workers: int) -> None:
    """The dictionary of every training input (all input columns together) into ``dest``."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".dict-") as tmp:
        both = Path(tmp, "train.inputs")
        write_lines(
            both, (x for i in range(n_inputs) for x in read_lines(prep / f"train.input{i}"))
        )
        run_preprocess(
            ["--only-source", "--trainpref", str(both), "--destdir", tmp, "--dict-only",
             "--workers", str(workers)],
            f"{name} dictionary",
        )  # fmt: skip
        shutil.copyfile(Path(tmp, "dict.txt"), dest)


BINARIZERS = {"mt": binarize_mt, "synthetic": binarize_mt, "lm": binarize_lm, "glue": binarize_glue}


def binarize(ds: Dataset, prep: Path, out: Path, workers: int | None = None) -> Path:
    """Binarize ``prep`` into ``out`` (replaced atomically); return ``out``."""
    prep, out = Path(prep), Path(out)
    if not (prep / "stats.json").is_file():
        raise DataError(f"{prep} is not a finished preprocessing output; run the prepare stage")
    with atomic_dir(out) as tmp:
        BINARIZERS[ds.kind](ds, prep, tmp, workers or default_workers())
        drop_preprocess_logs(tmp)
    return out


def drop_preprocess_logs(folder: Path) -> None:
    """Delete fairseq-preprocess's logs under ``folder``: their timestamps and temporary paths
    would make two identical binarizations hash differently (and invalidate every trained
    model downstream in the DVC cache). Their summary lines are logged by run_preprocess."""
    for log_file in folder.rglob("preprocess.log"):
        log_file.unlink()

"""Preprocessing and binarization for real: the small datasets end to end from the local mirror
(through the stage scripts or the library), byte-identical reruns, and GLUE's binarized layout
(fairseq-preprocess runs; the in-process preparation tests are in
``tests/unit/test_data_prepare.py``).

The GLUE and synthetic tests share their runs: each (dataset, workers) is prepared and
binarized once per module, by :class:`Runs`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sentencepiece as spm
import yaml
from conftest import in_parallel
from data_helpers import SMALL, indexed, sacrebleu_cache, served_upstream, shared_data
from pipeline_helpers import TINY_PARAMS

from memtr.common.paths import REPO
from memtr.common.textio import count_lines, read_lines
from memtr.data.binarize import binarize
from memtr.data.download import fetch_dataset, generate_synthetic
from memtr.data.extra_test import build_extra_sets
from memtr.data.prepare import PrepareOptions, prepare
from memtr.datasets.params import DataParams, SyntheticParams
from memtr.datasets.registry import Dataset, get_dataset

# The generated reversal task of the synthetic tests: 300 training pairs of 3..8 tokens.
SYNTHETIC = DataParams(
    dataset="synthetic",
    synthetic=SyntheticParams(task="reverse", train=300, valid=20, test=30, max_len=8),
)


def _stage(script: str, *args: str, cwd: Path, env: dict | None = None):
    return subprocess.run(
        [sys.executable, str(REPO / "workflow" / "scripts" / script), "--quiet", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


# --------------------------------------------------------------------------------------------
# Shared runs of prepare + binarize


@dataclass(frozen=True)
class Run:
    """One prepare + binarize of a dataset's raw files (copied into ``root/raw``)."""

    ds: Dataset
    raw: Path
    prep: Path
    bin: Path
    stats: dict
    workers: int


class Runs:
    """The raw data of the synthetic and GLUE tests and their prepare + binarize runs, each made
    once: ``runs.get(name, *workers)``. The synthetic raw files are generated (``SYNTHETIC``),
    the GLUE ones downloaded from fake upstream files (``fetch``)."""

    def __init__(self, root: Path, fetch: Callable[[str], tuple[Dataset, Path]]):
        self.root, self.fetch = root, fetch
        self.synthetic_files: dict[str, str] = {}
        self._sources: dict[str, tuple[Dataset, Path, DataParams]] = {}
        self._runs: dict[tuple[str, int], Run] = {}

    def source(self, name: str) -> tuple[Dataset, Path, DataParams]:
        """``(dataset, raw folder, params)`` of ``name``, made on first use."""
        if name not in self._sources:
            if name == "synthetic":
                raw = self.root / "synthetic-source"
                self.synthetic_files = generate_synthetic(raw, SYNTHETIC.synthetic)
                self._sources[name] = (get_dataset(name), raw, SYNTHETIC)
            else:
                self._sources[name] = (*self.fetch(name), SMALL)
        return self._sources[name]

    def get(self, name: str, *workers: int) -> list[Run]:
        """The runs of ``name`` with each of ``workers``, made on first use.

        Each run copies the raw files under a folder of its own (so that every path differs
        between runs), then prepares and binarizes them with its number of workers. The
        binarizations (fairseq-preprocess subprocesses: most of the time) of the missing runs
        go side by side (``in_parallel``)."""
        ds, source, params = self.source(name)
        missing = [w for w in dict.fromkeys(workers) if (name, w) not in self._runs]
        prepared = []
        for w in missing:
            root = self.root / f"{name}-{w}"
            shutil.copytree(source, root / "raw")
            stats = prepare(ds, root / "raw", root / "prep", PrepareOptions.of(params), workers=w)
            prepared.append(Run(ds, root / "raw", root / "prep", root / "bin", stats, w))
        in_parallel(lambda run: binarize(ds, run.prep, run.bin, workers=run.workers), prepared)
        self._runs.update({(name, run.workers): run for run in prepared})
        return [self._runs[name, w] for w in workers]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """The module's shared :class:`Runs`, with fake upstream files served for GLUE."""
    root = tmp_path_factory.mktemp("runs")
    with served_upstream(root / "upstream") as fetch:
        yield Runs(root, fetch)


# --------------------------------------------------------------------------------------------
# Small datasets, end to end from the local mirror


def test_multi30k_end_to_end_through_the_stage_scripts(tmp_path):
    mirror = shared_data()
    doc = copy.deepcopy(TINY_PARAMS)  # the data stages read its data: section
    doc["data"]["bpe_vocab_size"] = 2000
    nt14 = mirror / "wmt14-newstest2014-deen"  # the same sentences, declared as text files
    declared = {"name": "own_nt14", "source": str(nt14 / "newstest2014.de"),
                "reference": str(nt14 / "newstest2014.en")}  # fmt: skip
    doc["eval"]["extra_test"] = ["newstest2014_de_en", "sacrebleu:wmt14/full", declared]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    env = {"MEMTR_DATA_MIRROR": str(mirror)}
    for script in ("download.py", "prepare.py", "binarize.py"):
        proc = _stage(script, cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
    raw, prep, bin_ = (
        tmp_path / "data" / layer / "multi30k_de_en" for layer in ("raw", "prep", "bin")
    )
    stats = json.loads((prep / "stats.json").read_text())
    assert stats["lines"]["train"] + stats["dropped_train_pairs"] == 29000
    assert 0 < stats["dropped_train_pairs"] < 2000
    assert stats["spm_vocab_size"] == 2000
    assert (
        count_lines(prep / "train.de") == count_lines(prep / "train.en") == stats["lines"]["train"]
    )
    # raw references and sources are kept untouched for sacrebleu
    assert (prep / "test.ref.en").read_bytes() == (raw / "test_2016_flickr.en").read_bytes()
    assert (prep / "valid.raw.de").read_bytes() == (raw / "val.de").read_bytes()
    # decoding the BPE test target gives back the raw references (detokenized output)
    sp = spm.SentencePieceProcessor(model_file=str(bin_ / "spm.model"))
    decoded = [sp.decode(line.split()) for line in read_lines(prep / "test.en")]
    refs = list(read_lines(prep / "test.ref.en"))
    assert sum(d == r for d, r in zip(decoded, refs, strict=True)) >= 0.99 * len(refs)
    # joined dictionary, and every split binarized with the right number of sentences
    assert (bin_ / "dict.de.txt").read_text() == (bin_ / "dict.en.txt").read_text()
    for split, n in (("train", stats["lines"]["train"]), ("valid", 1014), ("test", 1000)):
        for lang in ("de", "en"):
            assert len(indexed(bin_ / f"{split}.de-en.{lang}")) == n
    assert_sacrebleu_set_reads_as_the_registry_copy(tmp_path, prep, bin_)


def assert_sacrebleu_set_reads_as_the_registry_copy(tmp_path: Path, prep: Path, bin_: Path):
    """``sacrebleu:wmt14/full`` (through sacrebleu's registry and a pre-filled cache) and the
    registry's newstest2014_de_en are the same 3,003 sentences, binarized the same way."""
    cache = sacrebleu_cache(tmp_path / "sacrebleu")
    env = {"SACREBLEU": str(cache), "MEMTR_DATA_MIRROR": str(shared_data())}
    args = ("--prep", str(prep), "--bin", str(bin_), "--out", str(tmp_path / "extra"))
    proc = _stage("extra_test.py", *args, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "extra/stats.json").read_text())["sets"]
    assert stats["wmt14_full"]["source"] == "sacrebleu:wmt14/full"
    assert stats["wmt14_full"]["lines"] == stats["newstest2014"]["lines"] == 3003
    ours, theirs = tmp_path / "extra/newstest2014", tmp_path / "extra/wmt14_full"
    declared = tmp_path / "extra/own_nt14"  # a test set declared in eval.extra_test
    assert stats["own_nt14"]["source"] == "declared in eval.extra_test"
    for name in ("test.raw.de", "test.ref.en", "test.de-en.de.bin", "test.de-en.en.bin"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
        assert (ours / name).read_bytes() == (declared / name).read_bytes(), name
    # the offline cache filled from plain-text files by docs/own-data.md's command, as written
    filled = tmp_path / "filled"
    for lang in ("de", "en"):
        shutil.copy(shared_data() / f"wmt14-newstest2014-deen/newstest2014.{lang}", tmp_path)
    block = re.search(r"```bash\n(set=wmt14/full .*?)```", (REPO / "docs/own-data.md").read_text(),
                      flags=re.S).group(1)  # fmt: skip
    subprocess.run(["bash", "-c", block], cwd=tmp_path, check=True,
                   env={**os.environ, "SACREBLEU": str(filled)})  # fmt: skip
    assert sorted(p.name for p in (filled / "wmt14/full").iterdir()) == [
        f"wmt14_full.de-en.{field}" for field in ("docid", "genre", "origlang", "ref", "src")
    ]  # fmt: skip
    only = {**yaml.safe_load((tmp_path / "params.yaml").read_text())}
    only["eval"]["extra_test"] = ["sacrebleu:wmt14/full"]
    (tmp_path / "filled.yaml").write_text(yaml.safe_dump(only))
    out = ("--prep", str(prep), "--bin", str(bin_), "--out", str(tmp_path / "extra_filled"))
    proc = _stage("extra_test.py", "--params", "filled.yaml", *out, cwd=tmp_path,
                  env={"SACREBLEU": str(filled)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for name in ("test.raw.de", "test.ref.en", "test.de-en.de.bin", "test.de-en.en.bin"):
        assert (tmp_path / "extra_filled/wmt14_full" / name).read_bytes() == (
            theirs / name
        ).read_bytes(), name
    # without the cache (and no network here): one line naming the set and the cache
    env["SACREBLEU"] = str(tmp_path / "empty")
    proc = _stage("extra_test.py", *args, cwd=tmp_path, env=env)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: sacrebleu:wmt14/full (de-en) not available in the cache")
    assert (theirs / "test.raw.de").is_file()  # the earlier output is kept


def test_wikitext2_end_to_end_from_the_mirror(tmp_path):
    ds = get_dataset("wikitext2")
    raw, prep, bin_ = tmp_path / "raw", tmp_path / "prep", tmp_path / "bin"
    fetch_dataset(ds, raw, tmp_path / "cache", str(shared_data()), progressbar=False)
    stats = prepare(ds, raw, prep, PrepareOptions.of(SMALL), workers=2)
    assert stats["lines"] == {"train": 36718, "valid": 3760, "test": 4358}
    binarize(ds, prep, bin_, workers=2)
    # WikiText-2: 33,278 types (fairseq keeps <unk> and end-of-line as its own specials)
    assert count_lines(bin_ / "dict.txt") == 33278 - 2
    train = indexed(bin_ / "train")
    assert len(train) == 36718
    assert int(train.sizes.sum()) == 2_088_628  # tokens including end-of-line
    assert len(indexed(bin_ / "valid")) == 3760
    # WikiText-103's valid/test are WikiText-2's articles; through WikiText-2's dictionary the
    # words WikiText-103 keeps become the <unk> that WikiText-2 writes: the extra_test stage
    # binarizes them to WikiText-2's valid/test bytes (so every model scores them the same).
    mirror = str(shared_data())
    extra = tmp_path / "extra"
    sets = build_extra_sets(ds, ["wikitext103_eval"], prep, bin_, extra, tmp_path / "cache",
                            mirror, progressbar=False)["sets"]  # fmt: skip
    assert set(sets) == {"wikitext103_valid", "wikitext103_test"}
    assert sets["wikitext103_test"]["tokens"] == 245_569  # WikiText-103's published count
    assert sets["wikitext103_valid"]["tokens"] == 217_646  # published count, line ends in
    assert sets["wikitext103_test"]["same_tokens_as"] == "test"
    assert sets["wikitext103_valid"]["same_tokens_as"] == "valid"
    assert 4.0 < sets["wikitext103_test"]["unk_percent"] < 6.0  # words outside WikiText-2
    for label, split in (("wikitext103_valid", "valid"), ("wikitext103_test", "test")):
        assert (extra / label / "test.bin").read_bytes() == (bin_ / f"{split}.bin").read_bytes()
    assert json.loads((extra / "stats.json").read_text())["sets"] == sets


# --------------------------------------------------------------------------------------------
# Shared runs: byte determinism, then what the runs hold


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", ["synthetic", "glue_rte"])
def test_prepare_and_binarize_are_byte_deterministic(runs, name):
    """Same raw data and params, other folders and thread counts: byte-identical outputs, so
    that a rerun of the data stages does not invalidate the models trained downstream.

    GLUE RTE runs on the fake upstream files, downloaded through its registry entry. The
    one-worker runs are those that the synthetic and layout tests below check."""
    first, second = runs.get(name, 1, 2)
    for a, b in ((first.prep, second.prep), (first.bin, second.bin)):
        files = _folder_bytes(a)
        assert "spm.model" in files or a.name == "bin"
        assert not [f for f in files if f.endswith("preprocess.log")]
        assert files == _folder_bytes(b), f"{a} and {b} differ"
    sp = spm.SentencePieceProcessor(model_file=str(first.prep / "spm.model"))
    assert sp.get_piece_size() > 10  # still a loadable model after the trainer spec was cleared


def test_synthetic_end_to_end(runs):
    (run,) = runs.get("synthetic", 1)  # generated, prepared and binarized with one worker
    files, raw, prep = runs.synthetic_files, run.raw, run.prep
    assert set(files) == {f"{s}.{x}" for s in ("train", "valid", "test") for x in ("src", "tgt")}
    for src, tgt in zip(read_lines(raw / "test.src"), read_lines(raw / "test.tgt"), strict=True):
        assert tgt.split() == src.split()[::-1]
    stats = run.stats
    assert stats["lines"]["train"] == 300 and stats["dropped_train_pairs"] == 0
    assert (prep / "test.ref.tgt").read_text() == (raw / "test.tgt").read_text()
    assert len(indexed(run.bin / "test.src-tgt.tgt")) == 30


@pytest.mark.parametrize("name", ["glue_rte", "glue_stsb"])
def test_glue_binarized_layout(runs, name):
    bin_ = runs.get(name, 1)[0].bin  # prepared (SMALL) and binarized with one worker
    assert (bin_ / "input0" / "dict.txt").read_text() == (bin_ / "input1" / "dict.txt").read_text()
    for part in ("input0", "input1"):
        assert len(indexed(bin_ / part / "train")) == 24
        assert len(indexed(bin_ / part / "test")) == 24
    if name == "glue_stsb":  # regression: scores / 5 as text, as the recipe writes them
        assert list(read_lines(bin_ / "label" / "train.label"))[:2] == ["0.5", "0.8"]
    else:
        assert len(indexed(bin_ / "label" / "valid")) == 24
        assert "entailment" in (bin_ / "label" / "dict.txt").read_text()

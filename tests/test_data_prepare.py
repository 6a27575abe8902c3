"""Preprocessing and binarization: the small datasets end to end, the large ones on fakes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sentencepiece as spm
from data_helpers import ALL_GLUE, fake_upstream, http_server, shared_data

from memtr.common.textio import AlignmentError, count_lines, read_lines, write_lines
from memtr.data.binarize import binarize
from memtr.data.download import fetch_dataset, generate_synthetic
from memtr.data.prepare import encode_clean, keep_pair, prepare, seg_lines, train_spm
from memtr.datasets.params import CleanParams, DataParams, SyntheticParams
from memtr.datasets.registry import get_dataset

REPO = Path(__file__).resolve().parents[1]
SMALL = DataParams(bpe_vocab_size=500)


def _stage(script: str, *args: str, cwd: Path, env: dict | None = None):
    return subprocess.run(
        [sys.executable, str(REPO / "workflow" / "scripts" / script), "--quiet", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _indexed(prefix: Path):
    from fairseq.data import indexed_dataset

    return indexed_dataset.make_dataset(str(prefix), impl="mmap")


# --------------------------------------------------------------------------------------------
# Small datasets, end to end from the local mirror


def test_multi30k_end_to_end_through_the_stage_scripts(tmp_path):
    mirror = shared_data()
    (tmp_path / "params.yaml").write_text(
        "data:\n  dataset: multi30k_de_en\n  bpe_vocab_size: 2000\n  clean: {ratio: 1.5}\n"
    )
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
            assert len(_indexed(bin_ / f"{split}.de-en.{lang}")) == n


def test_wikitext2_end_to_end_from_the_mirror(tmp_path):
    ds = get_dataset("wikitext2")
    raw, prep, bin_ = tmp_path / "raw", tmp_path / "prep", tmp_path / "bin"
    fetch_dataset(ds, raw, tmp_path / "cache", str(shared_data()), progressbar=False)
    stats = prepare(ds, raw, prep, SMALL, workers=2)
    assert stats["lines"] == {"train": 36718, "valid": 3760, "test": 4358}
    binarize(ds, prep, bin_, workers=2)
    # WikiText-2: 33,278 types (fairseq keeps <unk> and end-of-line as its own specials)
    assert count_lines(bin_ / "dict.txt") == 33278 - 2
    train = _indexed(bin_ / "train")
    assert len(train) == 36718
    assert int(train.sizes.sum()) == 2_088_628  # tokens including end-of-line
    assert len(_indexed(bin_ / "valid")) == 3760


def test_synthetic_end_to_end(tmp_path):
    ds = get_dataset("synthetic")
    syn = SyntheticParams(task="reverse", train=300, valid=20, test=30, max_len=8)
    raw, prep, bin_ = tmp_path / "raw", tmp_path / "prep", tmp_path / "bin"
    files = generate_synthetic(raw, syn)
    assert set(files) == {f"{s}.{x}" for s in ("train", "valid", "test") for x in ("src", "tgt")}
    for src, tgt in zip(read_lines(raw / "test.src"), read_lines(raw / "test.tgt"), strict=True):
        assert tgt.split() == src.split()[::-1]
    stats = prepare(ds, raw, prep, DataParams(dataset="synthetic", synthetic=syn), workers=1)
    assert stats["lines"]["train"] == 300 and stats["dropped_train_pairs"] == 0
    assert (prep / "test.ref.tgt").read_text() == (raw / "test.tgt").read_text()
    binarize(ds, prep, bin_, workers=1)
    assert len(_indexed(bin_ / "test.src-tgt.tgt")) == 30


# --------------------------------------------------------------------------------------------
# Checks and atomic outputs


def test_misaligned_parallel_files_are_a_clear_error(tmp_path):
    ds = get_dataset("multi30k_de_en")
    raw = tmp_path / "raw"
    fetch_dataset(ds, raw, tmp_path / "cache", str(shared_data()), progressbar=False)
    lines = list(read_lines(raw / "train.en"))
    write_lines(raw / "train.en", lines[:-1])
    out = tmp_path / "prep"
    out.mkdir()
    (out / "good.txt").write_text("previous output\n")
    with pytest.raises(AlignmentError, match="train.de has 29000, train.en has 28999 lines"):
        prepare(ds, raw, out, SMALL)
    assert [p.name for p in out.iterdir()] == ["good.txt"]  # the old output is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _prepare_and_binarize(ds, raw_source: Path, root: Path, params: DataParams, workers: int):
    """Copy the raw files under ``root`` (so every path differs), prepare and binarize them."""
    raw = root / "raw"
    shutil.copytree(raw_source, raw)
    prepare(ds, raw, root / "prep", params, workers=workers)
    binarize(ds, root / "prep", root / "bin", workers=workers)
    return root / "prep", root / "bin"


@pytest.mark.parametrize("name", ["synthetic", "glue_rte"])
def test_prepare_and_binarize_are_byte_deterministic(upstream, tmp_path, name):
    """Same raw data and params, other folders and thread counts: byte-identical outputs, so
    that a rerun of the data stages does not invalidate the models trained downstream."""
    if name == "synthetic":
        ds, raw = get_dataset(name), tmp_path / "source"
        params = DataParams(dataset=name, synthetic=SyntheticParams(train=300, valid=20, test=30))
        generate_synthetic(raw, params.synthetic)
    else:
        (ds, raw), params = upstream(name), SMALL
    first = _prepare_and_binarize(ds, raw, tmp_path / "one", params, workers=1)
    second = _prepare_and_binarize(ds, raw, tmp_path / "two", params, workers=2)
    for a, b in zip(first, second, strict=True):
        files = _folder_bytes(a)
        assert "spm.model" in files or a.name == "bin"
        assert not [f for f in files if f.endswith("preprocess.log")]
        assert files == _folder_bytes(b), f"{a} and {b} differ"
    sp = spm.SentencePieceProcessor(model_file=str(first[0] / "spm.model"))
    assert sp.get_piece_size() > 10  # still a loadable model after the trainer spec was cleared


def test_clean_rule_matches_clean_corpus_n():
    clean = CleanParams(min_len=1, max_len=10, ratio=1.5)
    assert keep_pair(4, 6, clean)
    assert not keep_pair(4, 7, clean)  # ratio 1.75
    assert not keep_pair(0, 1, clean)  # an empty side
    assert not keep_pair(11, 10, clean)  # too long
    assert keep_pair(10, 10, clean)


def test_encode_clean_counts_drops(tmp_path):
    src = tmp_path / "s"
    tgt = tmp_path / "t"
    write_lines(src, ["a b c", "a", "", "a b c d e f"])
    write_lines(tgt, ["a b c", "a b c d", "a", "a b c d e"])
    sp = train_spm([src, tgt], tmp_path / "m", 30)
    kept, dropped = encode_clean(
        sp, src, tgt, tmp_path / "os", tmp_path / "ot", CleanParams(1, 250, 1.5)
    )
    assert (kept, dropped) == (2, 2)
    assert count_lines(tmp_path / "os") == count_lines(tmp_path / "ot") == 2


def test_sgm_extraction_matches_sacrebleu_text():
    """The raw newstest2014 test set is extracted exactly as sacrebleu prints it."""
    folder = shared_data() / "wmt14-newstest2014-deen"
    for sgm, plain in (("src.de.sgm", "newstest2014.de"), ("ref.en.sgm", "newstest2014.en")):
        extracted = list(seg_lines(folder / f"newstest2014-deen-{sgm}"))
        assert extracted == list(read_lines(folder / plain))
        assert len(extracted) == 3003


# --------------------------------------------------------------------------------------------
# Large datasets on small generated files of the same formats


@pytest.fixture
def upstream(tmp_path):
    """Serve fake upstream files: ``make(name) -> (dataset, raw folder)`` after download."""
    root = tmp_path / "www"
    root.mkdir()
    with http_server(root) as (base, _):

        def make(name: str):
            ds = fake_upstream(get_dataset(name), root, base)
            raw = tmp_path / "raw" / name
            fetch_dataset(ds, raw, tmp_path / "cache", progressbar=False)
            return ds, raw

        yield make


def test_wmt14_recipe_on_fake_archives(upstream, tmp_path):
    ds, raw = upstream("wmt14_de_en")
    assert sorted(p.name for p in raw.iterdir() if p.name != "checksums.lock.json") == sorted(
        f.name for f in ds.files
    )
    stats = prepare(ds, raw, tmp_path / "prep", SMALL)
    prep = tmp_path / "prep"
    assert stats["lines"]["train.raw"] == 3 * 60  # the three corpora concatenated
    assert stats["lines"]["train"] + stats["dropped_train_pairs"] == 180
    assert stats["lines"]["valid"] == 60 and stats["lines"]["test"] == 30
    refs = list(read_lines(prep / "test.ref.en"))
    assert refs[0] == "Sentence Nummer 0 ist hier ."  # seg tags and extra spaces removed


def test_iwslt14_recipe_on_fake_archive(upstream, tmp_path):
    ds, raw = upstream("iwslt14_de_en")
    prep = tmp_path / "prep"
    stats = prepare(ds, raw, prep, SMALL)
    # 3 talks of 20 lines, plus title and description whose tags (only) are removed
    assert stats["lines"]["valid"] == 66 // 23  # every 23rd line
    assert stats["lines"]["train.raw"] == 66 - 66 // 23
    assert stats["lines"]["test"] == 5 * 7  # dev2010, dev2012, tst2010-2012
    sp = spm.SentencePieceProcessor(model_file=str(prep / "spm.model"))
    train = [sp.decode(line.split()) for line in read_lines(prep / "train.en")]
    assert "title 0 en" in train and "description 1 en" in train
    assert not [line for line in train if "<" in line or "url" in line or "talkid" in line]
    refs = (prep / "test.ref.en").read_text()
    assert refs == refs.lower() and "sentence nummer 0 ist hier ." in refs


def test_wikitext103_on_fake_zip(upstream, tmp_path):
    ds, raw = upstream("wikitext103")
    stats = prepare(ds, raw, tmp_path / "prep", SMALL)
    assert stats["lines"]["train"] == count_lines(raw / "wiki.train.tokens") > 0
    assert (tmp_path / "prep" / "test.tokens").read_bytes() == (
        raw / "wiki.test.tokens"
    ).read_bytes()


@pytest.mark.parametrize("name", ALL_GLUE)
def test_glue_tasks_on_fake_files(upstream, tmp_path, name):
    ds, raw = upstream(name)
    task = ds.glue
    prep = tmp_path / "prep"
    stats = prepare(ds, raw, prep, SMALL)
    n_inputs = len(task.inputs)
    for split in task.splits:
        assert (prep / f"{split}.input{n_inputs - 1}").exists()
        assert not (prep / f"{split}.input{n_inputs}").exists()
        assert (prep / f"{split}.label").exists() != split.startswith("test")
    if name == "glue_mrpc":  # dev rows are those listed in the dev ids (every 4th of 24)
        assert (stats["lines"]["train"], stats["lines"]["valid"], stats["lines"]["test"]) == (
            18,
            6,
            24,
        )
    else:  # header removed (CoLA train/dev have none), malformed QQP rows dropped
        assert stats["lines"]["train"] == 24
    first = next(read_lines(prep / f"train.raw.input{n_inputs - 1}"))
    if name == "glue_mrpc":  # pair 0 went to dev
        assert first == "second 1 ."
    else:
        assert first == f"sentence 0 part {n_inputs - 1} of the example ."
    label = next(read_lines(prep / "valid.label"))
    if name == "glue_mnli":  # dev labels come from gold_label, not the train column
        assert label == "not_entailment"
    elif name != "glue_mrpc":
        assert label in ("entailment", "2.5")


@pytest.mark.parametrize("name", ["glue_rte", "glue_stsb"])
def test_glue_binarized_layout(upstream, tmp_path, name):
    ds, raw = upstream(name)
    prep, bin_ = tmp_path / "prep", tmp_path / "bin"
    prepare(ds, raw, prep, SMALL)
    binarize(ds, prep, bin_, workers=1)
    assert (bin_ / "input0" / "dict.txt").read_text() == (bin_ / "input1" / "dict.txt").read_text()
    for part in ("input0", "input1"):
        assert len(_indexed(bin_ / part / "train")) == 24
        assert len(_indexed(bin_ / part / "test")) == 24
    if name == "glue_stsb":  # regression: scores / 5 as text, as the recipe writes them
        assert list(read_lines(bin_ / "label" / "train.label"))[:2] == ["0.5", "0.8"]
    else:
        assert len(_indexed(bin_ / "label" / "valid")) == 24
        assert "entailment" in (bin_ / "label" / "dict.txt").read_text()

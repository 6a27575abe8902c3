"""Preprocessing in process: its checks and cleaning rule, and the recipe of every large dataset
on small generated files of its upstream formats. The small datasets end to end from the local
mirror, binarization and byte determinism are in ``tests/integration/test_data_binarize.py``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sentencepiece as spm
from data_helpers import ALL_GLUE, SMALL, served_upstream, shared_data

from memtr.common.textio import AlignmentError, count_lines, read_lines, write_lines
from memtr.data.download import fetch_dataset
from memtr.data.prepare import (
    PrepareOptions,
    encode_clean,
    keep_pair,
    prepare,
    seg_lines,
    train_spm,
)
from memtr.datasets.cleaning import drop_reason, results_note, summary_lines
from memtr.datasets.params import CleanParams
from memtr.datasets.registry import Dataset, get_dataset

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
        prepare(ds, raw, out, PrepareOptions.of(SMALL))
    assert [p.name for p in out.iterdir()] == ["good.txt"]  # the old output is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_clean_rule_matches_clean_corpus_n():
    clean = CleanParams(min_len=1, max_len=10, ratio=1.5, ratio_min_len=1)  # ratio on every pair
    assert keep_pair(4, 6, clean)
    assert not keep_pair(4, 7, clean)  # ratio 1.75
    assert not keep_pair(0, 1, clean)  # an empty side
    assert not keep_pair(11, 10, clean)  # too long
    assert keep_pair(10, 10, clean)


def test_short_pairs_are_spared_the_ratio():
    clean = CleanParams(min_len=1, max_len=250, ratio=1.5)  # the default: from 10 tokens
    assert clean.ratio_min_len == 10
    assert keep_pair(4, 9, clean) and keep_pair(9, 4, clean)  # longer side under 10: spared
    assert not keep_pair(4, 10, clean)  # from 10 tokens up the ratio applies
    assert keep_pair(7, 10, clean)
    assert drop_reason(0, 3, clean) == "min_len"  # an empty side is never spared
    assert drop_reason(251, 240, clean) == "max_len"
    assert drop_reason(6, 12, clean) == "ratio"


def test_encode_clean_counts_each_filters_drops_with_examples(tmp_path):
    src = tmp_path / "s"
    tgt = tmp_path / "t"
    write_lines(src, ["a b c", "a", "", "a b c d e f", "x " * 11])
    write_lines(tgt, ["a b c", "a b c d", "a", "a b c d e", "y y"])
    sp = train_spm([src, tgt], tmp_path / "m", 30)
    report = encode_clean(
        sp, src, tgt, tmp_path / "os", tmp_path / "ot", CleanParams(1, 250, 1.5, ratio_min_len=1)
    )
    assert (report["pairs"], report["kept"]) == (5, 2)
    assert report["dropped"] == {"min_len": 1, "max_len": 0, "ratio": 2}
    assert [e["pair"] for e in report["examples"]["ratio"]] == [
        ["a", "a b c d"],
        ["x " * 11, "y y"],
    ]
    assert report["examples"]["min_len"][0]["tokens"][0] == 0
    assert count_lines(tmp_path / "os") == count_lines(tmp_path / "ot") == 2
    spared = encode_clean(  # the default spares the short pair, not the long one
        sp, src, tgt, tmp_path / "os", tmp_path / "ot", CleanParams(1, 250, 1.5)
    )
    assert spared["dropped"] == {"min_len": 1, "max_len": 0, "ratio": 1}
    lines = summary_lines("toy", spared, CleanParams(1, 250, 1.5))
    assert lines[0] == "toy: data.clean kept 3 of 5 training pairs, dropped 2"
    assert "  ratio: 1 dropped (a side over 1.5 times as long as the other, the longer at " \
        "least 10 BPE tokens)" in lines  # fmt: skip
    assert any(line.startswith("    e.g. [") and line.endswith("||| y y") for line in lines)


def test_the_results_notes_carry_the_counts_of_stats_json(tmp_path):
    assert results_note(tmp_path) is None  # no prepared data: no note
    (tmp_path / "stats.json").write_text(json.dumps({"lines": {"train": 5}}))
    assert results_note(tmp_path) is None  # not a translation dataset: nothing cleaned
    cleaning = {"pairs": 2000, "kept": 1990, "dropped": {"min_len": 1, "max_len": 0, "ratio": 9}}
    (tmp_path / "stats.json").write_text(json.dumps({"cleaning": cleaning}))
    assert results_note(tmp_path) == (
        "training data: data.clean dropped 10 of 2,000 training pairs (0.5%; min_len 1, "
        f"max_len 0, ratio 9), examples in the prepare stage's output and `{tmp_path.as_posix()}"
        "/stats.json`."
    )


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
def upstream(tmp_path: Path) -> Iterator[Callable[[str], tuple[Dataset, Path]]]:
    """Serve fake upstream files: ``make(name) -> (dataset, raw folder)`` after download."""
    with served_upstream(tmp_path) as make:
        yield make


def test_wmt14_recipe_on_fake_archives(upstream, tmp_path):
    ds, raw = upstream("wmt14_de_en")
    assert sorted(p.name for p in raw.iterdir() if p.name != "checksums.lock.json") == sorted(
        f.name for f in ds.files
    )
    stats = prepare(ds, raw, tmp_path / "prep", PrepareOptions.of(SMALL))
    prep = tmp_path / "prep"
    assert stats["lines"]["train.raw"] == 3 * 60  # the three corpora concatenated
    assert stats["lines"]["train"] + stats["dropped_train_pairs"] == 180
    assert stats["lines"]["valid"] == 60 and stats["lines"]["test"] == 30
    refs = list(read_lines(prep / "test.ref.en"))
    assert refs[0] == "Sentence Nummer 0 ist hier ."  # seg tags and extra spaces removed


def test_iwslt14_recipe_on_fake_archive(upstream, tmp_path):
    ds, raw = upstream("iwslt14_de_en")
    prep = tmp_path / "prep"
    stats = prepare(ds, raw, prep, PrepareOptions.of(SMALL))
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
    stats = prepare(ds, raw, tmp_path / "prep", PrepareOptions.of(SMALL))
    assert stats["lines"]["train"] == count_lines(raw / "wiki.train.tokens") > 0
    assert (tmp_path / "prep" / "test.tokens").read_bytes() == (
        raw / "wiki.test.tokens"
    ).read_bytes()


@pytest.mark.parametrize("name", ALL_GLUE)
def test_glue_tasks_on_fake_files(upstream, tmp_path, name):
    ds, raw = upstream(name)
    task = ds.glue
    prep = tmp_path / "prep"
    stats = prepare(ds, raw, prep, PrepareOptions.of(SMALL))
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

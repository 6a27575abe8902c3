"""Where the evaluate and tables stages find a test set, its references and its dictionaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memtr.common.errors import ConfigError
from memtr.data.extra_test import preprocess_report
from memtr.datasets.extra_sets import eval_location, reference_file
from memtr.reports.tables import repeated_sets, selection_left_out
from memtr.run.fairseq import thread_env
from memtr.run.training import dictionaries, has_input_dictionary


def extra_folder(tmp_path: Path) -> Path:
    (tmp_path / "extra" / "newstest2014").mkdir(parents=True)
    return tmp_path / "extra"


def test_own_splits_are_read_from_the_dataset(tmp_path):
    data, prep = tmp_path / "bin", tmp_path / "prep"
    assert eval_location("valid", data, None) == (data, "valid")
    assert reference_file("test", prep, None, "en") == prep / "test.ref.en"


def test_an_extra_set_is_the_test_split_of_its_own_folder(tmp_path):
    extra = extra_folder(tmp_path)
    assert eval_location("newstest2014", tmp_path / "bin", extra) == (
        extra / "newstest2014",
        "test",
    )
    assert reference_file("newstest2014", tmp_path, extra, "en") == (
        extra / "newstest2014" / "test.ref.en"
    )


def test_a_missing_extra_set_names_the_stage_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the extra_test stage"):
        reference_file("wikitext103_test", tmp_path, extra_folder(tmp_path), "en")
    with pytest.raises(ConfigError, match="needs the extra test sets folder"):
        eval_location("newstest2014", tmp_path, None)


def test_repeated_sets_are_those_with_another_splits_tokens(tmp_path):
    assert repeated_sets(None) == {}
    assert repeated_sets(tmp_path) == {}  # no stats.json: the extra_test stage did not run
    sets = {
        "wikitext103_test": {"tokens": 245569, "same_tokens_as": "test"},
        "newstest2014": {"tokens": 69000},
    }
    (tmp_path / "stats.json").write_text(json.dumps({"dataset": "x", "sets": sets}))
    assert repeated_sets(tmp_path) == {"wikitext103_test": "test"}


def test_the_checkpoint_selection_split_claims_only_when_it_is_all_there_is():
    assert selection_left_out({"valid", "test"}) == {"valid"}
    assert selection_left_out({"valid", "newstest2014"}) == {"valid"}
    assert selection_left_out({"valid"}) == set()  # GLUE: the dev set is the only one
    assert selection_left_out({"test", "wikitext103_test"}) == set()
    # a repeat of valid's tokens is no independent test set
    assert (
        selection_left_out({"valid", "wikitext103_valid"}, {"wikitext103_valid": "valid"}) == set()
    )


def test_preprocess_report_reads_the_first_side(tmp_path):
    log = tmp_path / "preprocess.log"
    log.write_text(
        "2026-11-26 | INFO | fairseq_cli.preprocess | [de] Dictionary: 4000 types\n"
        "2026-11-26 | INFO | fairseq_cli.preprocess | [de] test.de: 3003 sents, 145432 tokens,"
        " 0.044% replaced (by <unk>)\n"
        "2026-11-26 | INFO | fairseq_cli.preprocess | [en] test.en: 3003 sents, 120000 tokens,"
        " 0.1% replaced (by <unk>)\n"
    )
    assert preprocess_report(log) == {"lines": 3003, "tokens": 145432, "unk_percent": 0.044}
    assert log.is_file()  # reading does not delete


def test_dictionaries_of_translation_and_glue_folders(tmp_path):
    for name in ("dict.de.txt", "dict.en.txt", "input0/dict.txt", "label/dict.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("a 1\n")
    found = [p.relative_to(tmp_path).as_posix() for p in dictionaries(tmp_path)]
    assert found == ["dict.de.txt", "dict.en.txt", "input0/dict.txt", "label/dict.txt"]
    assert dictionaries(tmp_path / "input0") == [tmp_path / "input0" / "dict.txt"]
    assert dictionaries(tmp_path / "nowhere") == []


def test_a_label_dictionary_alone_is_not_binarized_input(tmp_path):
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "dict.txt").write_text("0 1\n")
    assert not has_input_dictionary(tmp_path)
    (tmp_path / "input0").mkdir()
    (tmp_path / "input0" / "dict.txt").write_text("a 1\n")
    assert has_input_dictionary(tmp_path)
    translation = tmp_path / "mt"
    translation.mkdir()
    (translation / "dict.de.txt").write_text("a 1\n")
    assert has_input_dictionary(translation)
    assert not has_input_dictionary(tmp_path / "nowhere")


def test_thread_env_limits_both_thread_pools():
    env = thread_env(3)
    assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("3", "3")
    assert "PATH" in env

"""Test sets of one's own in ``eval.extra_test``: declarations (files as in data.datasets, a
source and a reference side) validated in one line, their labels in the evaluate and tables
stages, and their files read as a declared dataset's are. Built and binarized through the
extra_test stage on the real mirror: tests/integration/test_data_binarize.py; in a results
table through ``dvc repro``: tests/e2e/test_pipeline_own_data.py."""

from __future__ import annotations

import copy
import subprocess
import sys
import zipfile

import pytest
import yaml
from pipeline_helpers import REPO, TINY_PARAMS

from memtr.common.errors import ConfigError, DataError
from memtr.config.params import parse_params
from memtr.data.download import fetch_dataset
from memtr.data.inline import write_test_sides
from memtr.datasets.extra_sets import declared_test_set, names_of

TSV_SET = {"name": "ted", "format": "tsv", "columns": {"source": 1, "reference": 0},
           "file": {"url": "corpus/ted.zip", "member": "ted/tst.tsv"}}  # fmt: skip
TEXT_SET = {"name": "inhouse", "source": "corpus/in.de", "reference": "corpus/in.en"}


def with_extra(*entries) -> dict:
    doc = copy.deepcopy(TINY_PARAMS)  # Multi30k De->En
    doc["eval"]["extra_test"] = list(entries)
    return doc


def test_declared_sets_are_labelled_by_their_names():
    params = parse_params(with_extra("newstest2014_de_en", TSV_SET, TEXT_SET))
    assert params.study().eval_labels() == ["test", "newstest2014", "ted", "inhouse"]
    ds = declared_test_set(TSV_SET, params.data.selected())
    assert (ds.name, ds.kind, ds.src, ds.tgt) == ("ted", "mt", "de", "en")
    assert [raw.name for raw in ds.files] == ["test.tsv"]
    assert names_of(params.eval.extra_test) == [
        "newstest2014_de_en", "ted (declared)", "inhouse (declared)"
    ]  # fmt: skip


BAD_SETS = [
    ({**TSV_SET, "name": "test"}, "eval.extra_test: a declared test set needs a name (letters, digits, '_'; not valid or test), got 'test'"),
    ({**TSV_SET, "name": "my set"}, "needs a name (letters, digits, '_'; not valid or test), got 'my set'"),
    ({**TSV_SET, "langs": ["de", "en"]}, "unknown key eval.extra_test.ted.langs; allowed: name, format, header, columns, file, source, reference"),
    ({**TSV_SET, "columns": {"source": 1, "target": 0}}, "eval.extra_test.ted.columns must map source and reference to columns"),
    ({**TSV_SET, "columns": {"source": 1, "reference": 1}}, "eval.extra_test.ted.columns: source and reference are the same column (1)"),
    ({**TSV_SET, "columns": {"source": "de", "reference": "en"}}, "eval.extra_test.ted.columns names a column by header: set eval.extra_test.ted.header: true"),
    ({**TSV_SET, "file": {"url": "corpus/ted.zip"}}, "eval.extra_test.ted.file: ted.zip is an archive; name its member"),
    ({**TSV_SET, "source": "corpus/in.de"}, "eval.extra_test.ted.source applies to text files"),
    ({**TEXT_SET, "reference": "corpus/in.de"}, "eval.extra_test.inhouse: source and reference are the same file (corpus/in.de)"),
    ({"name": "inhouse", "source": "corpus/in.de"}, "eval.extra_test.inhouse needs reference: a URL, a path or a mapping with url"),
    ({**TEXT_SET, "format": "xlsx"}, "eval.extra_test.inhouse.format must be one of text, tsv, csv, got 'xlsx'"),
    ({**TEXT_SET, "name": "newstest2014"}, "eval.extra_test: two test sets have the label 'newstest2014'"),
    (42, "eval.extra_test must be a list of test set names or declarations"),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "message"), BAD_SETS, ids=[m[-40:] for _, m in BAD_SETS])
def test_a_bad_declared_test_set_is_one_line(entry, message):
    with pytest.raises(ConfigError) as err:
        parse_params(with_extra("newstest2014_de_en", entry))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_declared_set_needs_a_translation_experiment():
    doc = with_extra(TEXT_SET)
    doc["data"]["dataset"] = "wikitext2"
    doc["model"] = {"size": "base", "args": {"decoder_layers": 1, "decoder_embed_dim": 32,
                    "decoder_ffn_embed_dim": 64, "decoder_attention_heads": 2}}  # fmt: skip
    doc["variants"] = {"baseline": {"layout": "none", "mem_tokens": 0}}
    doc["experiment"].update(variants=["baseline"])
    doc["train"].update(tokens_per_sample=64, label_smoothing=0.0)
    doc["eval"] = {"splits": ["test"], "batch_size": 8, "bootstrap_resamples": 10,
                   "extra_test": [TEXT_SET]}  # fmt: skip
    with pytest.raises(ConfigError, match="eval.extra_test.inhouse: a declared test set is a "
                       "translation test set"):  # fmt: skip
        parse_params(doc)


def test_its_sides_are_read_like_a_declared_datasets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    with zipfile.ZipFile(tmp_path / "corpus/ted.zip", "w") as zf:
        zf.writestr("ted/tst.tsv", "".join(f"ref {i}\tsrc {i}\tx\n" for i in range(5)))
    ds = declared_test_set(TSV_SET, parse_params(with_extra()).data.selected())
    fetch_dataset(ds, tmp_path / "raw", tmp_path / "cache", progressbar=False)
    source, reference = write_test_sides(ds, tmp_path / "raw", tmp_path / "sides")
    assert (source.name, reference.name) == ("test.de", "test.en")
    assert source.read_text().splitlines() == [f"src {i}" for i in range(5)]
    assert reference.read_text().splitlines() == [f"ref {i}" for i in range(5)]
    with zipfile.ZipFile(tmp_path / "corpus/ted.zip", "w") as zf:  # a row with a field less
        zf.writestr("ted/tst.tsv", "ref 0\tsrc 0\tx\nref 1\tsrc 1\n")
    fetch_dataset(ds, tmp_path / "raw", tmp_path / "cache", progressbar=False)
    with pytest.raises(
        DataError, match=r"^corpus/ted.zip member ted/tst.tsv line 2: 2 field\(s\) where the "
        r"first row has 3$"
    ):  # fmt: skip
        write_test_sides(ds, tmp_path / "raw", tmp_path / "sides")


def test_a_missing_local_test_file_stops_the_check_params_stage(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(with_extra(TEXT_SET)))
    script = REPO / "workflow/scripts/check_params.py"
    proc = subprocess.run([sys.executable, str(script), "--out", "ok"], cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (
        2, "error: eval.extra_test.inhouse: no such file corpus/in.de\n"
    )  # fmt: skip
    assert not (tmp_path / "ok").exists()

"""Datasets declared in params.yaml (``data.datasets``): the schema's one-line errors, and
the download and prepare stages in process on generated files (a zipped TSV served over
HTTP on 127.0.0.1, local text and TSV files). The same declarations through ``dvc repro``
and Snakemake: tests/e2e/test_pipeline_tasks.py and tests/e2e/test_inline_translation.py."""

from __future__ import annotations

import copy
import csv
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import sentencepiece as spm
import yaml
from data_helpers import http_server
from pipeline_helpers import REPO, TINY_PARAMS

from memtr.common.errors import ConfigError, DataError
from memtr.config.params import parse_params
from memtr.data.download import fetch_dataset
from memtr.data.prepare import PrepareOptions, prepare
from memtr.datasets.inline import TASK_KINDS, inline_dataset
from memtr.datasets.params import DataParams, load_data_params
from memtr.specs import spec_for_kind


def pairs_tsv(n: int = 300, duplicates: int = 0) -> str:
    """target, source, attribution: the column order of many downloaded TSV corpora."""
    rows = [f"the {i} house is red\tdas {i} haus ist rot\tCC-BY user{i % 7}" for i in range(n)]
    rows += rows[:duplicates]  # sentences that occur twice: some land in train and test
    return "".join(row + "\n" for row in rows)


def zipped_pairs(folder: Path, **kwargs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "pairs.zip", "w") as zf:
        zf.writestr("corpus/pairs.tsv", pairs_tsv(**kwargs))
    return folder / "pairs.zip"


def translation_declaration(url: str, **extra) -> dict:
    return {
        "task": "translation", "langs": ["de", "en"], "format": "tsv",
        "columns": {"source": 1, "target": 0},
        "files": {"train": {"url": url, "member": "corpus/pairs.tsv"}},
        "split": {"valid": 20, "test": 0.1, "seed": 3}, **extra,
    }  # fmt: skip


def data_params(name: str, declaration: dict) -> DataParams:
    return DataParams(dataset=name, datasets={name: declaration}, bpe_vocab_size=200)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_digest(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


# --------------------------------------------------------------------------------------------
# The schema


def test_each_task_name_selects_the_kind_its_task_trains_on():
    for task, kind in TASK_KINDS.items():
        assert spec_for_kind(kind).name == task


def test_a_declared_dataset_validates_with_the_whole_params_file(tmp_path):
    doc = copy.deepcopy(TINY_PARAMS)
    doc["data"].update(
        dataset="pairs", datasets={"pairs": translation_declaration("https://example.org/p.zip")}
    )
    params = parse_params(doc)
    ds = params.data.selected()
    assert (ds.name, ds.kind, ds.src, ds.tgt) == ("pairs", "mt", "de", "en")
    assert params.spec.name == "translation"
    assert [raw.name for raw in ds.files] == ["train.tsv"]


GOOD = translation_declaration("https://example.org/p.zip")
BAD_DECLARATIONS = [
    ({"task": "parsing"}, "data.datasets.pairs.task must be one of translation, language_modeling, classification, got 'parsing'"),
    ({"format": "xlsx"}, "data.datasets.pairs.format must be one of text, tsv, csv, got 'xlsx'"),
    ({"langs": ["de"]}, "data.datasets.pairs.langs must be [source, target]"),
    ({"columns": {"source": 1}}, "data.datasets.pairs.columns needs a column for 'target'"),
    ({"columns": {"source": 1, "target": -1}}, "data.datasets.pairs.columns.target must be a 0-based index or a header name"),
    ({"columns": {"source": "de", "target": "en"}}, "names a column by header: set data.datasets.pairs.header: true"),
    ({"columns": {"source": 1, "target": 0, "licence": 2}}, "unknown key data.datasets.pairs.columns.licence; translation reads: source, target"),
    ({"files": {"train": "https://example.org/p.zip"}}, "data.datasets.pairs.files.train: p.zip is an archive; name its member"),
    ({"files": {"train": {"url": "https://example.org/p.tsv", "member": "x.tsv"}}}, "data.datasets.pairs.files.train.member needs an archive"),
    ({"files": {"train": {"url": "https://example.org/p.tsv", "sha256": "abc"}}}, "data.datasets.pairs.files.train.sha256 must be 64 hex digits, got 'abc'"),
    ({"files": {"dev": "https://example.org/p.tsv"}}, "unknown split data.datasets.pairs.files.dev; allowed: train, valid, test"),
    ({"files": {"valid": "https://example.org/p.tsv"}}, "data.datasets.pairs.files needs 'train' (valid and test may be carved from it)"),
    ({"split": None}, "data.datasets.pairs: no file for valid and no data.datasets.pairs.split to carve it from train"),
    ({"split": {"valid": 20}}, "data.datasets.pairs.split needs a size for test (no file given)"),
    ({"split": {"valid": 0, "test": 5}}, "data.datasets.pairs.split.valid must be a count >= 1 or a fraction in (0, 1), got 0"),
    ({"split": {"valid": 1.5, "test": 5}}, "data.datasets.pairs.split.valid must be a count >= 1 or a fraction in (0, 1), got 1.5"),
    ({"split": {"valid": 5, "test": 5, "shuffle": True}}, "unknown key data.datasets.pairs.split.shuffle; allowed: valid, test, seed"),
    ({"dedup": True}, "unknown key data.datasets.pairs.dedup; allowed: task, langs"),
    ({"dedup_test_from_train": "yes"}, "data.datasets.pairs.dedup_test_from_train must be true or false"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"), BAD_DECLARATIONS, ids=[m[:50] for _, m in BAD_DECLARATIONS]
)
def test_a_bad_declaration_is_one_line_naming_the_key(change, message):
    doc = copy.deepcopy(TINY_PARAMS)
    doc["data"].update(dataset="pairs", datasets={"pairs": {**GOOD, **change}})
    with pytest.raises(ConfigError) as err:
        parse_params(doc)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("name", "section", "message"), [
    ("multi30k_de_en", GOOD, "'multi30k_de_en' is a registry dataset; give the declaration its own name"),
    ("my corpus", GOOD, "a dataset name is letters, digits"),
    ("pairs", ["not", "a", "mapping"], "data.datasets.pairs must be a mapping, got list"),
    ("texts", {"task": "classification", "format": "text", "files": {"train": "a.txt"}},
     "classification needs format tsv or csv"),
    ("texts", {"task": "language_modeling", "langs": ["de", "en"], "files": {"train": "a.txt"}},
     "data.datasets.texts.langs applies to translation only"),
    ("labels", {"task": "classification", "format": "tsv", "columns": {"inputs": [0, 1, 2], "label": 3},
                "files": {"train": "a.tsv"}}, "columns.inputs must list 1 or 2 columns"),
])  # fmt: skip
def test_names_and_task_shapes_are_checked(name, section, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        inline_dataset(name, section)


def test_a_missing_local_file_stops_the_check_params_stage(tmp_path):
    doc = copy.deepcopy(TINY_PARAMS)
    declaration = {**GOOD, "files": {"train": "local/nowhere.tsv"}}
    doc["data"].update(dataset="pairs", datasets={"pairs": declaration})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    parse_params(doc)  # the tables of a finished run are read without its data
    script = REPO / "workflow/scripts/check_params.py"
    proc = subprocess.run([sys.executable, str(script), "--out", "ok"], cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (
        2, "error: data.datasets.pairs.files: no such file local/nowhere.tsv (for train.tsv)\n"
    )  # fmt: skip
    assert not (tmp_path / "ok").exists()


def test_an_undeclared_name_lists_both_kinds_of_dataset():
    doc = copy.deepcopy(TINY_PARAMS)
    doc["data"].update(dataset="paris", datasets={"pairs": GOOD})
    with pytest.raises(
        ConfigError, match=r"unknown dataset 'paris'; known: .*; declared in data.datasets: pairs"
    ):
        parse_params(doc)


# --------------------------------------------------------------------------------------------
# Download and prepare, in process


@pytest.fixture
def served_pairs(tmp_path):
    """A zipped TSV parallel corpus with an attribution column on a local HTTP server."""
    archive = zipped_pairs(tmp_path / "www", duplicates=30)
    with http_server(tmp_path / "www") as (base, state):
        yield f"{base}/{archive.name}", archive, state


def fetch_and_prepare(params: DataParams, root: Path) -> tuple[Path, dict]:
    ds = params.selected()
    raw, prep = root / "raw", root / "prep"
    fetch_dataset(ds, raw, root / "cache", progressbar=False, download_hashes={})
    return prep, prepare(ds, raw, prep, PrepareOptions.of(params))


def test_zipped_tsv_over_http_is_carved_the_same_way_twice(served_pairs, tmp_path):
    url, archive, _ = served_pairs
    params = data_params("pairs", translation_declaration(url))
    prep, stats = fetch_and_prepare(params, tmp_path / "one")
    again, _ = fetch_and_prepare(params, tmp_path / "two")
    assert folder_digest(prep) == folder_digest(again)  # same file, same params: same bytes
    assert stats["lines"]["valid"] == 20 and stats["lines"]["test"] == 33  # 0.1 of 330 rows
    assert stats["lines"]["train.raw"] == 330 - 53
    source = (prep / "test.raw.de").read_text().splitlines()
    assert all(line.startswith("das ") for line in source)  # column 1, attribution dropped
    assert all("CC-BY" not in line for line in (prep / "test.ref.en").read_text().splitlines())
    # the 30 repeated sentences: those held out while their twin stayed in train are counted
    held = stats["held_out"]
    assert 0 < held["test_in_train"] + held["valid_in_train"] <= 30
    lock = json.loads((tmp_path / "one/raw/checksums.lock.json").read_text())
    assert lock["downloads"][url] == f"sha256:{sha256(archive)}"  # recorded on first download
    reseeded = translation_declaration(url, split={"valid": 20, "test": 0.1, "seed": 4})
    _, other = fetch_and_prepare(data_params("pairs", reseeded), tmp_path / "three")
    assert (tmp_path / "three/prep/test.raw.de").read_text() != "\n".join(source) + "\n"


def test_dedup_removes_test_sentences_from_train(served_pairs, tmp_path):
    url, _, _ = served_pairs
    declaration = translation_declaration(url, dedup_test_from_train=True)
    prep, stats = fetch_and_prepare(data_params("pairs", declaration), tmp_path)
    removed = stats["held_out"]["removed_from_train"]
    assert removed == stats["held_out"]["test_in_train"] > 0  # counted before the removal
    assert stats["lines"]["train.raw"] == 330 - 53 - removed
    sp = spm.SentencePieceProcessor(model_file=str(prep / "spm.model"))
    train = {sp.decode(line.split()) for line in (prep / "train.de").read_text().splitlines()}
    test = set((prep / "test.raw.de").read_text().splitlines())
    assert len(train) > 200 and not train & test


def test_a_checksum_mismatch_names_the_file_and_keeps_nothing(served_pairs, tmp_path):
    url, _, _ = served_pairs
    wrong = {"url": url, "member": "corpus/pairs.tsv", "sha256": "0" * 64}
    params = data_params("pairs", translation_declaration(url, files={"train": wrong}))
    with pytest.raises(DataError, match="checksum mismatch for pairs.zip"):
        fetch_and_prepare(params, tmp_path)
    assert not (tmp_path / "raw" / "train.tsv").exists()


def test_a_url_that_fails_is_one_error(served_pairs, tmp_path):
    url, _, _ = served_pairs
    params = data_params("pairs", translation_declaration(url.replace("pairs.zip", "gone.zip")))
    with pytest.raises(DataError, match=r"not found \(HTTP 404\): http://127.0.0.1:\d+/gone.zip"):
        fetch_and_prepare(params, tmp_path)


def write_lm_files(folder: Path, lines: int = 120) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    text = [
        f"= article {i} =" if i % 20 == 0 else f"word{i % 13} and word{i % 5} ."
        for i in range(lines)
    ]
    (folder / "corpus.txt").write_text("".join(x + "\n" for x in text))
    return {"train": str(folder / "corpus.txt")}


def test_local_lm_text_is_carved_as_running_text(tmp_path):
    files = write_lm_files(tmp_path / "mine")
    declaration = {
        "task": "language_modeling",
        "files": files,
        "split": {"valid": 10, "test": 0.25},
    }
    prep, stats = fetch_and_prepare(data_params("texts", declaration), tmp_path)
    corpus = (tmp_path / "mine/corpus.txt").read_text().splitlines()
    assert (prep / "test.tokens").read_text().splitlines() == corpus[-30:]  # the end of the text
    assert (prep / "valid.tokens").read_text().splitlines() == corpus[-40:-30]
    assert (prep / "train.tokens").read_text().splitlines() == corpus[:-40]
    assert stats["lines"] == {"train": 80, "valid": 10, "test": 30} and stats["held_out"] == {}


def write_classification_tsv(path: Path, rows: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["id\tsentence\tsource\tlabel"]
    lines += [
        f"{i}\t{'good' if i % 2 else 'bad'} film {i}\tsite{i % 3}\t{i % 2}" for i in range(rows)
    ]
    path.write_text("".join(x + "\n" for x in lines))
    return path


def test_local_classification_tsv_by_header_names(tmp_path):
    train = write_classification_tsv(tmp_path / "mine/train.tsv", 60)
    valid = write_classification_tsv(tmp_path / "mine/valid.tsv", 12)
    declaration = {"task": "classification", "format": "tsv", "header": True,
                   "columns": {"inputs": ["sentence"], "label": "label"},
                   "files": {"train": str(train), "valid": str(valid)}, "split": {"test": 6}}  # fmt: skip
    prep, stats = fetch_and_prepare(data_params("films", declaration), tmp_path)
    assert stats["lines"] == {"train": 54, "valid": 12, "test": 6}
    assert (prep / "valid.raw.input0").read_text().splitlines()[:2] == ["bad film 0", "good film 1"]
    assert (prep / "valid.label").read_text().splitlines()[:2] == ["0", "1"]
    assert not (prep / "test.label").exists()  # scored on valid, as GLUE's tasks are


@pytest.mark.parametrize(("declare", "message"), [
    (lambda f: {"columns": {"inputs": [1], "label": 7}},
     r"train.tsv line 2: column 7 \(label\) is past the row's 4 field\(s\)"),
    (lambda f: {"columns": {"inputs": ["review"], "label": "label"}},
     r"train.tsv: no column 'review' in its header \(id, sentence, source, label\)"),
    (lambda f: {"split": {"valid": 30, "test": 30}},
     r"train.tsv: the split sizes \(valid 30 \+ test 30\) leave no training rows of its 60"),
    (lambda f: {"files": {"train": f["train"], "valid": f["empty"]}, "split": {"test": 3}},
     r"films: .*mine/empty.tsv is empty \(a header line only\)"),
])  # fmt: skip
def test_bad_data_is_one_error_and_keeps_the_prepared_folder(tmp_path, declare, message):
    files = {"train": str(write_classification_tsv(tmp_path / "mine/train.tsv", 60)),
             "empty": str(write_classification_tsv(tmp_path / "mine/empty.tsv", 0))}  # fmt: skip
    declaration = {"task": "classification", "format": "tsv", "header": True,
                   "columns": {"inputs": [1], "label": 3}, "files": {"train": files["train"]},
                   "split": {"valid": 6, "test": 6}}  # fmt: skip
    declaration.update(declare(files))
    prep = tmp_path / "prep"
    prep.mkdir()
    (prep / "stats.json").write_text("earlier output\n")
    with pytest.raises(DataError, match=message):
        fetch_and_prepare(data_params("films", declaration), tmp_path)
    assert [p.name for p in prep.iterdir()] == ["stats.json"]
    assert (prep / "stats.json").read_text() == "earlier output\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_text_sides_of_different_lengths_are_named(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/c.de").write_text("a\nb\nc\n")
    (tmp_path / "mine/c.en").write_text("a\nb\n")
    side = {"de": str(tmp_path / "mine/c.de"), "en": str(tmp_path / "mine/c.en")}
    declaration = {"task": "translation", "langs": ["de", "en"], "files": {"train": side},
                   "split": {"valid": 1, "test": 1}}  # fmt: skip
    with pytest.raises(
        DataError,
        match="source and target line counts differ: .*mine/c.de has 3, .*mine/c.en has 2 lines",
    ):
        fetch_and_prepare(data_params("tiny", declaration), tmp_path)


def test_an_edited_local_file_is_read_again_unless_its_declared_checksum_differs(tmp_path):
    """The download stage runs again on the raw folder it wrote (as DVC runs it: outputs
    persist): an edited local file is taken, unless a declared sha256 says otherwise."""
    files = write_lm_files(tmp_path / "mine")
    declaration = {"task": "language_modeling", "files": files, "split": {"valid": 10, "test": 10}}
    ds = data_params("texts", declaration).selected()
    fetch_dataset(ds, tmp_path / "raw", tmp_path / "cache", progressbar=False)
    Path(files["train"]).write_text("another text\n")
    fetch_dataset(ds, tmp_path / "raw", tmp_path / "cache", progressbar=False)
    assert (tmp_path / "raw/train.txt").read_text() == "another text\n"
    pinned = {**declaration, "files": {"train": {"url": files["train"], "sha256": "ab" * 32}}}
    with pytest.raises(
        DataError, match=r"checksum mismatch for .*corpus.txt \(declared in params.yaml\)"
    ):
        fetch_dataset(data_params("texts", pinned).selected(), tmp_path / "raw", tmp_path / "cache",
                      progressbar=False)  # fmt: skip
    assert (tmp_path / "raw/train.txt").read_text() == "another text\n"  # kept as it was


# --------------------------------------------------------------------------------------------
# The worked examples of docs/own-data.md, as written


def worked_examples() -> list[tuple[str, str, str]]:
    """(title, bash block, yaml block) of each example of docs/own-data.md."""
    text = (REPO / "docs/own-data.md").read_text(encoding="utf-8")
    section = text.split("## Three worked examples", 1)[1].split("\n## ", 1)[0]
    examples = []
    for part in section.split("\n### ")[1:]:
        title = part.splitlines()[0]
        blocks = re.findall(r"^```(bash|yaml)\n(.*?)^```$", part, flags=re.M | re.S)
        assert [kind for kind, _ in blocks] == ["bash", "yaml"], title
        examples.append((title, blocks[0][1], blocks[1][1]))
    return examples


@pytest.mark.parametrize(("title", "make_files", "declaration"), worked_examples(),
                         ids=lambda x: x[:30] if isinstance(x, str) else x)  # fmt: skip
def test_the_docs_worked_examples_run_as_written(
    title, make_files, declaration, tmp_path, monkeypatch
):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", "-c", make_files], cwd=tmp_path, env=env, check=True)
    (tmp_path / "params.yaml").write_text(declaration)
    monkeypatch.chdir(tmp_path)  # the stages run at the repository root: paths are relative
    params = load_data_params(tmp_path / "params.yaml")
    params.check_local_files()
    prep, stats = fetch_and_prepare(params, tmp_path / "data")
    assert all(n > 0 for n in stats["lines"].values()), (title, stats)
    assert stats["kind"] == params.selected().kind
    assert (prep / "stats.json").is_file()


def test_csv_with_quoted_fields_and_gzipped_text_files(tmp_path):
    """CSV (RFC 4180: quoted commas, quotes, line breaks in a field) and one gzipped text file
    per language inside a .tar.gz: the other shapes a corpus comes in."""
    (tmp_path / "mine").mkdir()
    rows = [["id", "german", "english"]] + [
        [str(i), f'das Haus {i}, "rot"', f"the house {i},\nred"] for i in range(40)
    ]
    with open(tmp_path / "mine/pairs.csv", "w", newline="") as out:
        csv.writer(out).writerows(rows)
    declaration = {"task": "translation", "langs": ["de", "en"], "format": "csv", "header": True,
                   "columns": {"source": "german", "target": "english"},
                   "files": {"train": str(tmp_path / "mine/pairs.csv")}, "split": {"valid": 4, "test": 4}}  # fmt: skip
    prep, stats = fetch_and_prepare(data_params("csv_pairs", declaration), tmp_path / "csv")
    assert stats["lines"]["train.raw"] == 32
    assert (prep / "test.raw.de").read_text().splitlines()[0].startswith("das Haus ")
    assert all(line.endswith(', "rot"') for line in (prep / "test.raw.de").read_text().splitlines())
    assert all(line.endswith(", red") for line in (prep / "test.ref.en").read_text().splitlines())

    with tarfile.open(tmp_path / "mine/corpus.tar.gz", "w:gz") as tar:
        for lang, word in (("de", "Haus"), ("en", "house")):
            data = gzip.compress("".join(f"{word} {i}\n" for i in range(40)).encode())
            info = tarfile.TarInfo(f"corpus/all.{lang}.gz")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = str(tmp_path / "mine/corpus.tar.gz")
    side = {lang: {"url": archive, "member": f"corpus/all.{lang}.gz"} for lang in ("de", "en")}
    declaration = {"task": "translation", "langs": ["de", "en"], "files": {"train": side},
                   "split": {"valid": 0.1, "test": 0.1, "seed": 2}}  # fmt: skip
    prep, stats = fetch_and_prepare(data_params("tar_pairs", declaration), tmp_path / "tar")
    assert stats["lines"] == {**stats["lines"], "train.raw": 32, "valid": 4, "test": 4}
    raw = tmp_path / "tar/raw/train.de"
    assert raw.read_text().splitlines()[:2] == ["Haus 0", "Haus 1"]  # the member, gunzipped
    assert sorted(p.name for p in raw.parent.iterdir()) == [
        "checksums.lock.json",
        "train.de",
        "train.en",
    ]
    pairs = zip(
        (prep / "test.raw.de").read_text().split("\n"),
        (prep / "test.ref.en").read_text().split("\n"),
        strict=True,
    )
    assert all(d.split()[1:] == e.split()[1:] for d, e in pairs)  # still aligned after the shuffle

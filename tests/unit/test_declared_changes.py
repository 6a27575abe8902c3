"""A declared dataset that changes, and declared files that are wrong: the download stage run
again on the raw folder it wrote (as DVC runs it: its outputs persist) takes every change of
a declaration, the data it cannot read is refused in one line naming the declared file, and
a failed first download leaves nothing behind. In process, on a real HTTP server on
127.0.0.1; the same through ``dvc repro``: tests/e2e/test_pipeline_own_data.py."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import socket
import zipfile
from pathlib import Path

import pytest
from data_helpers import http_server
from pipeline_helpers import TINY_PARAMS

from memtr.common.errors import ConfigError, DataError
from memtr.config.params import parse_params
from memtr.data.download import LOCK_NAME, fetch_dataset
from memtr.data.prepare import PrepareOptions, prepare
from memtr.datasets.params import DataParams
from memtr.datasets.registry import get_dataset


def rows(n: int, start: int = 0, tag: str = "") -> str:
    return "".join(f"the {i} house{tag}\tdas {i} haus{tag}\tuser{i % 3}\n" for i in range(start, n))


def write_zip(path: Path, members: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def declaration(url: str, member: str = "corpus/pairs.tsv", **extra) -> dict:
    train = {"url": url, "member": member, **extra.pop("file", {})}
    return {"task": "translation", "langs": ["de", "en"], "format": "tsv",
            "columns": {"source": 1, "target": 0}, "files": {"train": train},
            "split": {"valid": 10, "test": 10, "seed": 1}, **extra}  # fmt: skip


def selected(decl: dict, name: str = "pairs") -> DataParams:
    return DataParams(dataset=name, datasets={name: decl}, bpe_vocab_size=100)


def fetch(decl: dict, root: Path) -> Path:
    fetch_dataset(selected(decl).selected(), root / "raw", root / "cache", progressbar=False)
    return root / "raw"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def served(tmp_path):
    """A zip of two TSV members (300 and 400 pairs) on a server on 127.0.0.1."""
    archive = write_zip(
        tmp_path / "www/pairs.zip",
        {"corpus/pairs.tsv": rows(300), "corpus/more.tsv": rows(400), "README": "a corpus\n"},
    )
    with http_server(tmp_path / "www") as (base, state):
        yield f"{base}/pairs.zip", archive, state.requests


# --------------------------------------------------------------------------------------------
# A declaration edited after a first run, the raw data in place


def test_each_edit_of_a_declaration_takes_effect_on_the_raw_folder_in_place(served, tmp_path):
    url, archive, requests = served
    raw = fetch(declaration(url), tmp_path)
    assert len((raw / "train.tsv").read_text().splitlines()) == 300 and len(requests) == 1
    fetch(declaration(url), tmp_path)  # unchanged: nothing fetched, nothing extracted
    assert len(requests) == 1

    fetch(declaration(url, "corpus/more.tsv"), tmp_path)  # another member of the cached zip
    assert len((raw / "train.tsv").read_text().splitlines()) == 400
    assert len(requests) == 1  # re-extracted from the download cache, its checksum recorded

    write_zip(archive, {"corpus/pairs.tsv": rows(350, tag="s")})  # a new release, new sha256
    new = declaration(url, file={"sha256": sha(archive)})
    fetch(new, tmp_path)
    assert len(requests) == 2
    assert (raw / "train.tsv").read_text() == rows(350, tag="s")
    lock = json.loads((raw / LOCK_NAME).read_text())
    assert lock["downloads"][url] == f"sha256:{sha(archive)}"
    assert lock["declared"]["train.tsv"]["sha256"] == f"sha256:{sha(archive)}"

    before = snapshot(raw)
    wrong = declaration(url, file={"sha256": "0" * 64})
    with pytest.raises(DataError, match=r"^checksum mismatch for pairs.zip from http://") as err:
        fetch(wrong, tmp_path)
    assert "\n" not in str(err.value)
    gone = declaration(url.replace("pairs.zip", "gone.zip"))
    with pytest.raises(DataError, match=r"not found \(HTTP 404\)"):
        fetch(gone, tmp_path)
    assert snapshot(raw) == before  # the last good raw data, and its lock, as they were


def test_a_url_with_the_same_file_name_is_never_taken_from_the_cache(tmp_path):
    write_zip(tmp_path / "www/a/pairs.zip", {"corpus/pairs.tsv": rows(30)})
    write_zip(tmp_path / "www/b/pairs.zip", {"corpus/pairs.tsv": rows(40)})
    with http_server(tmp_path / "www") as (base, requests):
        raw = fetch(declaration(f"{base}/a/pairs.zip"), tmp_path)
        fetch(declaration(f"{base}/b/pairs.zip"), tmp_path)  # no sha256: a new download
        assert len((raw / "train.tsv").read_text().splitlines()) == 40


def test_a_new_format_leaves_no_raw_file_of_the_old_one(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/pairs.tsv").write_text(rows(30))
    (tmp_path / "mine/pairs.csv").write_text(rows(30).replace("\t", ","))
    raw = fetch({**declaration(str(tmp_path / "mine/pairs.tsv")), "files": {
        "train": str(tmp_path / "mine/pairs.tsv")}}, tmp_path)  # fmt: skip
    as_csv = {
        **declaration(""),
        "format": "csv",
        "files": {"train": str(tmp_path / "mine/pairs.csv")},
    }
    fetch(as_csv, tmp_path)
    assert sorted(p.name for p in raw.iterdir()) == [LOCK_NAME, "train.csv"]
    assert list(json.loads((raw / LOCK_NAME).read_text())["files"]) == ["train.csv"]


def test_a_failed_first_download_leaves_no_empty_folders(served, tmp_path):
    url, _, _ = served
    data = tmp_path / "data"
    with pytest.raises(DataError, match="HTTP 404"):
        fetch_dataset(selected(declaration(url + ".gone.zip")).selected(), data / "raw/pairs",
                      data / "downloads", progressbar=False)  # fmt: skip
    assert not data.exists()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_registry_download_without_network_names_the_mirror_variable(tmp_path):
    ds = get_dataset("newstest2014_de_en")
    url = f"http://127.0.0.1:{closed_port()}/wmt14/test-full.tgz"  # nothing listens there
    offline = dataclasses.replace(
        ds, files=tuple(dataclasses.replace(f, url=url) for f in ds.files)
    )
    with pytest.raises(DataError) as err:
        fetch_dataset(offline, tmp_path / "raw", tmp_path / "cache", progressbar=False, attempts=1)
    message = str(err.value)
    assert message.startswith("cannot reach 127.0.0.1 for test-full.tgz (connection refused)")
    assert "offline, point MEMTR_DATA_MIRROR (or data.mirror) at a local mirror" in message
    assert "\n" not in message and len(message) < 250
    assert not (tmp_path / "raw").exists() and not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------------------------
# Refusals before any work, naming the declared file


def prepare_declared(decl: dict, root: Path, name: str = "pairs") -> dict:
    params = selected(decl, name)
    raw = fetch(decl, root)
    return prepare(params.selected(), raw, root / "prep", PrepareOptions.of(params))


@pytest.mark.parametrize(("change", "message"), [
    ({"columns": {"source": 1, "target": 1}},
     "data.datasets.pairs.columns: source and target are the same column (1)"),
    ({"format": "text", "columns": None, "files": {"train": {"de": "a.txt", "en": "a.txt"}}},
     "data.datasets.pairs.files.train: de and en are the same file (a.txt)"),
    ({"format": "tsv", "header": True, "columns": {"source": "de", "target": "de"}},
     "data.datasets.pairs.columns: source and target are the same column ('de')"),
])  # fmt: skip
def test_source_and_target_from_one_column_or_file_are_refused(change, message):
    doc = copy.deepcopy(TINY_PARAMS)
    decl = {**declaration("https://example.org/p.zip"), **change}
    doc["data"].update(dataset="pairs", datasets={"pairs": decl})
    with pytest.raises(ConfigError) as err:
        parse_params(doc)
    assert str(err.value) == message


BAD_FILES = [
    ("tsv", "en\tde\n" + rows(5).replace("\tuser", "") + "the x\n", {"header": True, "columns": {"source": "de", "target": "en"}},
     "corpus/pairs.zip member corpus/pairs.tsv line 7: 1 field(s) where the header has 2"),
    ("tsv", rows(5) + "the x\tdas x\n", {},
     "corpus/pairs.zip member corpus/pairs.tsv line 6: 2 field(s) where the first row has 3"),
    ("csv", 'id,de,en\n1,"Schau," sagte sie.",Look\n2,a,b\n', {"header": True, "columns": {"source": "de", "target": "en"}},
     "corpus/pairs.zip member corpus/pairs.csv line 2: CSV quoting: ',' expected after '\"'"),
    ("csv", 'id,de,en\n1,a,b\n2,"offen,x\n3,c,d\n', {"header": True, "columns": {"source": 1, "target": 2}},
     "corpus/pairs.zip member corpus/pairs.csv line 3: CSV quoting: unexpected end of data"),
    ("csv", "id,de,en\n1,a,b\n2,a,b,c\n", {"header": True, "columns": {"source": 1, "target": 2}},
     "corpus/pairs.zip member corpus/pairs.csv line 3: 4 field(s) where the header has 3 (CSV quoting:"),
    ("tsv", "", {}, "corpus/pairs.zip member corpus/pairs.tsv is empty"),
    ("csv", "id,de,en\n", {"header": True, "columns": {"source": 1, "target": 2}},
     "corpus/pairs.zip member corpus/pairs.csv is empty (a header line only)"),
    ("tsv", "de\tde\n" + rows(5).replace("\tuser", ""), {"header": True, "columns": {"source": 0, "target": "de"}},
     "corpus/pairs.zip member corpus/pairs.tsv: columns: source and target are the same column (0)"),
    ("tsv", rows(30), {"split": {"valid": 20, "test": 20}},
     "corpus/pairs.zip member corpus/pairs.tsv: the split sizes (valid 20 + test 20) leave no training rows of its 30"),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "text", "change", "message"), BAD_FILES,
                         ids=[m.split(": ", 1)[-1][:40] for *_, m in BAD_FILES])  # fmt: skip
def test_a_file_that_cannot_be_read_right_is_one_line_naming_it(
    tmp_path, monkeypatch, fmt, text, change, message
):
    monkeypatch.chdir(tmp_path)  # a path relative to the repository root, as users declare it
    write_zip(tmp_path / "corpus/pairs.zip", {f"corpus/pairs.{fmt}": text})
    decl = {**declaration("corpus/pairs.zip", f"corpus/pairs.{fmt}"), "format": fmt, **change}
    prep = tmp_path / "prep"
    with pytest.raises(DataError) as err:
        prepare_declared(decl, tmp_path)
    assert str(err.value).startswith(f"pairs: {message}"), str(err.value)
    assert "\n" not in str(err.value) and not prep.exists()
    if fmt == "csv" and "field(s)" in message or "CSV quoting" in message:
        assert "quoting" in str(err.value)


def test_an_empty_text_side_is_named(tmp_path):
    (tmp_path / "de.txt").write_text("")
    (tmp_path / "en.txt").write_text("")
    decl = {"task": "translation", "langs": ["de", "en"], "split": {"valid": 1, "test": 1},
            "files": {"train": {"de": str(tmp_path / "de.txt"), "en": str(tmp_path / "en.txt")}}}  # fmt: skip
    with pytest.raises(DataError, match=r"^pairs: .*de.txt and .*en.txt: empty$"):
        prepare_declared(decl, tmp_path)

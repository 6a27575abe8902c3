"""Download stage: real HTTP on 127.0.0.1, checksums, resume, extraction safety, mirrors."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from data_helpers import fake_upstream, flip_byte, http_server, random_file, shared_data

from memtr.data.download import (
    LOCK_NAME,
    DataError,
    extract_members,
    fetch_dataset,
    fetch_url,
    file_hash,
)
from memtr.datasets.registry import DOWNLOAD_HASHES, M30K, get_dataset

MULTI30K = get_dataset("multi30k_de_en")


@pytest.fixture
def served(tmp_path):
    """An empty folder served over HTTP: ``(root, base_url, state)``."""
    root = tmp_path / "www"
    root.mkdir()
    with http_server(root) as (base, state):
        yield root, base, state


def _mirror_copy(dest: Path, folders: tuple[str, ...] = ("multi30k",)) -> Path:
    """Copy parts of the shared mirror into ``dest`` (so they can be altered)."""
    for folder in folders:
        shutil.copytree(shared_data() / folder, dest / folder)
    return dest


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --------------------------------------------------------------------------------------------
# Happy paths


def test_mirror_over_http_verifies_and_records(served, tmp_path):
    root, base, state = served
    _mirror_copy(root)
    out, cache = tmp_path / "raw", tmp_path / "cache"
    files = fetch_dataset(MULTI30K, out, cache, mirror=base, progressbar=False)
    assert set(files) == {raw.name for raw in MULTI30K.files}
    for raw in MULTI30K.files:  # gunzipped, with the registry's checksums
        assert file_hash(out / raw.name) == raw.sha256
    assert (out / "train.de").read_text(encoding="utf-8").count("\n") == 29000
    lock = json.loads((out / LOCK_NAME).read_text())
    assert lock["files"]["val.en"] == MULTI30K.file("val.en").sha256
    assert (
        lock["downloads"]["mirror:multi30k/train.de.gz"] == DOWNLOAD_HASHES[f"{M30K}/train.de.gz"]
    )
    assert len(state.requests) == 6
    # a second run finds everything up to date and downloads nothing
    fetch_dataset(MULTI30K, out, cache, mirror=base, progressbar=False)
    assert len(state.requests) == 6


def test_upstream_addresses_with_known_hashes(served, tmp_path):
    """The upstream form (URL per .gz, registry checksums) against a local copy of upstream."""
    root, base, state = served
    src = shared_data() / "multi30k"
    hashes = {}
    files = []
    for raw in MULTI30K.files:
        rel = raw.url.removeprefix("https://")
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / Path(raw.url).name, root / rel)
        files.append(dataclasses.replace(raw, url=f"{base}/{rel}"))
        hashes[files[-1].url] = DOWNLOAD_HASHES[raw.url]
    local = dataclasses.replace(MULTI30K, files=tuple(files))
    out, cache = tmp_path / "raw", tmp_path / "cache"
    fetch_dataset(local, out, cache, progressbar=True, download_hashes=hashes)
    assert all(file_hash(out / raw.name) == raw.sha256 for raw in MULTI30K.files)
    assert sorted(p.name for p in (cache / "multi30k_de_en").iterdir()) == sorted(
        Path(raw.url).name for raw in MULTI30K.files
    )


def test_local_folder_mirror(tmp_path):
    mirror = _mirror_copy(tmp_path / "mirror")
    files = fetch_dataset(MULTI30K, tmp_path / "raw", tmp_path / "cache", str(mirror), False)
    assert files["test_2016_flickr.de"] == MULTI30K.file("test_2016_flickr.de").sha256
    assert not (tmp_path / "cache").exists()  # a local mirror is read in place


# --------------------------------------------------------------------------------------------
# Failures: corrupted, truncated, missing


def test_corrupted_download_is_rejected_and_removed(served, tmp_path):
    root, base, _ = served
    _mirror_copy(root)
    flip_byte(root / "multi30k" / "val.en.gz")
    out, cache = tmp_path / "raw", tmp_path / "cache"
    with pytest.raises(DataError, match=r"checksum mismatch for val\.en\.gz"):
        fetch_dataset(MULTI30K, out, cache, mirror=base, progressbar=False)
    assert "val.en" not in _leftovers(out)
    assert not [n for n in _leftovers(cache) if n.startswith("val.en")]  # no cache, no .part


def test_corrupted_local_mirror_file_is_rejected(tmp_path):
    mirror = _mirror_copy(tmp_path / "mirror")
    flip_byte(mirror / "multi30k" / "train.en.gz")
    out = tmp_path / "raw"
    with pytest.raises(DataError, match=r"train\.en\.gz \(mirror copy of train\.en\)"):
        fetch_dataset(MULTI30K, out, tmp_path / "cache", str(mirror), False)
    assert "train.en" not in _leftovers(out)


def test_extracted_file_checksum_mismatch_leaves_nothing(tmp_path):
    """A mirror holding an extracted file that differs from the registry's checksum."""
    mirror = tmp_path / "mirror"
    (mirror / "wikitext-2").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (mirror / "wikitext-2" / f"wiki.{split}.tokens").write_text(" = fake = \n")
    out = tmp_path / "raw"
    with pytest.raises(DataError, match=r"checksum mismatch for .*wiki\.train\.tokens"):
        fetch_dataset(get_dataset("wikitext2"), out, tmp_path / "c", str(mirror), False)
    assert _leftovers(out) == []


def test_interrupted_transfer_resumes_within_a_run(served, tmp_path):
    root, base, state = served
    payload = random_file(root / "big.bin", 3_000_000)
    state.cut_after["/big.bin"] = 16 * 65536  # whole network chunks: none is lost
    dest = tmp_path / "cache" / "big.bin"
    fetch_url(f"{base}/big.bin", dest, file_hash(payload), progressbar=False, attempts=2)
    assert dest.read_bytes() == payload.read_bytes()
    assert state.requests == [("/big.bin", None), ("/big.bin", "bytes=1048576-")]
    assert not dest.with_name("big.bin.part").exists()


def test_interrupted_transfer_resumes_on_next_run(served, tmp_path):
    root, base, state = served
    payload = random_file(root / "big.bin", 2_000_000)
    state.cut_after["/big.bin"] = 700_000
    dest = tmp_path / "cache" / "big.bin"
    with pytest.raises(DataError, match=r"big\.bin incomplete .*run again to resume"):
        fetch_url(f"{base}/big.bin", dest, None, progressbar=False, attempts=1)
    assert not dest.exists()
    kept = dest.with_name("big.bin.part").stat().st_size
    assert 600_000 < kept <= 700_000  # all but the last, incomplete network chunk
    fetch_url(f"{base}/big.bin", dest, file_hash(payload), progressbar=False, attempts=1)
    assert dest.read_bytes() == payload.read_bytes()
    assert state.requests[-1] == ("/big.bin", f"bytes={kept}-")


def test_server_ignoring_range_restarts_cleanly(served, tmp_path):
    root, base, state = served
    payload = random_file(root / "big.bin", 1_500_000)
    state.cut_after["/big.bin"] = 500_000
    state.ignore_range = True
    dest = tmp_path / "big.bin"
    fetch_url(f"{base}/big.bin", dest, file_hash(payload), progressbar=False, attempts=2)
    assert dest.read_bytes() == payload.read_bytes()


def test_truncated_file_with_unknown_checksum_is_an_error(served, tmp_path):
    """A short .gz (server sends what it has, no error) must not become a raw file."""
    root, base, _ = served
    data = gzip.compress(b"line\n" * 50_000)
    (root / "x").mkdir()
    (root / "x" / "part.de.gz").write_bytes(data[: len(data) // 2])
    raw = dataclasses.replace(MULTI30K.files[0], name="part.de", url=f"{base}/x/part.de.gz")
    ds = dataclasses.replace(MULTI30K, files=(dataclasses.replace(raw, sha256=None),))
    out = tmp_path / "raw"
    with pytest.raises(DataError, match=r"cannot read part\.de"):
        fetch_dataset(ds, out, tmp_path / "cache", progressbar=False, download_hashes={})
    assert "part.de" not in _leftovers(out)


def test_missing_file_over_http(served, tmp_path):
    _, base, _ = served
    with pytest.raises(DataError, match=r"not found \(HTTP 404\): .*/multi30k/train\.de\.gz"):
        fetch_dataset(MULTI30K, tmp_path / "raw", tmp_path / "cache", base, False)
    assert _leftovers(tmp_path / "cache") == []


def test_missing_file_in_local_mirror():
    """WikiText-103's training set is not in the shared mirror: a clear error."""
    mirror = shared_data()
    with pytest.raises(DataError, match=r"wiki\.train\.tokens: not in the mirror"):
        fetch_dataset(get_dataset("wikitext103"), Path("/nonexistent/raw"), Path("/x"), str(mirror))


def test_lock_detects_a_changed_upstream_file(served, tmp_path):
    """Unknown checksums are recorded on first download and enforced afterwards."""
    root, base, _ = served
    ds = fake_upstream(get_dataset("iwslt14_de_en"), root, base)
    out, cache = tmp_path / "raw", tmp_path / "cache"
    fetch_dataset(ds, out, cache, progressbar=False)
    lock = json.loads((out / LOCK_NAME).read_text())
    assert set(lock["files"]) == {raw.name for raw in ds.files}
    assert list(lock["downloads"]) == [ds.files[0].url]
    archive = root / ds.files[0].url.split("/", 3)[3]
    archive.write_bytes(archive.read_bytes() + b"\0")
    shutil.rmtree(cache)
    (out / "train.tags.de-en.de").unlink()
    with pytest.raises(DataError, match=r"checksum mismatch for de-en\.tgz"):
        fetch_dataset(ds, out, cache, progressbar=False)


# --------------------------------------------------------------------------------------------
# Extraction safety


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
    return path


def test_tar_member_escaping_target_is_refused(tmp_path):
    target = tmp_path / "a" / "b"
    target.mkdir(parents=True)
    archive = _tar(tmp_path / "evil.tgz", [("../../evil.txt", b"x")])
    with pytest.raises(
        DataError, match=r"unsafe archive member path '\.\./\.\./evil\.txt' in evil\.tgz"
    ):
        extract_members(archive, {"../../evil.txt": (target / "evil.txt", None)})
    assert not list(tmp_path.rglob("evil.txt"))


def test_tar_symlink_out_of_target_is_refused(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    link = tarfile.TarInfo("data/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = _tar(tmp_path / "link.tgz", [link])
    with pytest.raises(DataError, match="unsafe member 'data/link'"):
        extract_members(archive, {"data/link": (target / "link", None)})
    assert list(target.iterdir()) == []


def test_zip_member_paths_are_checked(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(DataError, match="unsafe archive member path '../evil.txt'"):
        extract_members(archive, {"../evil.txt": (tmp_path / "out" / "evil.txt", None)})
    assert not list(tmp_path.rglob("evil.txt"))


def test_missing_member_is_named(tmp_path):
    archive = _tar(tmp_path / "a.tgz", [("dir/present.txt", b"x\n")])
    wanted = {
        "dir/present.txt": (tmp_path / "present.txt", None),
        "dir/absent.txt": (tmp_path / "absent.txt", None),
    }
    with pytest.raises(DataError, match=r"member dir/absent\.txt not found in a\.tgz"):
        extract_members(archive, wanted)


def test_extracts_only_wanted_members_with_verification(tmp_path):
    archive = _tar(tmp_path / "a.tgz", [("./d/one.txt", b"1\n"), ("d/two.txt", b"2\n")])
    dest = tmp_path / "out"
    dest.mkdir()
    good = file_hash(_tar_member_bytes(b"1\n", tmp_path / "ref"))
    shas = extract_members(archive, {"d/one.txt": (dest / "one.txt", good)})
    assert shas == {"d/one.txt": good}
    assert [p.name for p in dest.iterdir()] == ["one.txt"]
    with pytest.raises(DataError, match="checksum mismatch for d/one.txt in a.tgz"):
        extract_members(archive, {"d/one.txt": (dest / "other.txt", "sha256:" + "0" * 64)})
    assert not (dest / "other.txt").exists()


def _tar_member_bytes(data: bytes, path: Path) -> Path:
    path.write_bytes(data)
    return path

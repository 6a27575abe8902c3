"""Archives that try to leave the download folder, and downloads cut short where nothing says
so: tar members are checked as zip members are, and nothing outside the folders of the
download stage is read or removed; a download whose length the server does not give, and
whose checksum nobody declared, is checked another way (a ``Range`` probe, the archive's or
gzip's own integrity) or refused in one line; an archive in the download cache that cannot be
read is removed, so that the next run fetches it again. Real tar and zip files, a real HTTP
server on 127.0.0.1."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from data_helpers import http_server, random_file

from memtr.common.errors import ConfigError, DataError
from memtr.data.download import extract_members, fetch_dataset, fetch_url, file_hash
from memtr.datasets.params import DataParams


def rows(n: int) -> str:
    return "".join(f"the {i} house\tdas {i} haus\n" for i in range(n))


def declared(url: str, member: str | None = None, **file) -> DataParams:
    train = {"url": url, **({"member": member} if member else {}), **file}
    decl = {"task": "translation", "langs": ["de", "en"], "format": "tsv",
            "columns": {"source": 1, "target": 0}, "files": {"train": train},
            "split": {"valid": 10, "test": 10, "seed": 1}}  # fmt: skip
    return DataParams(dataset="pairs", datasets={"pairs": decl}, bpe_vocab_size=100)


def fetch(params: DataParams, root: Path) -> Path:
    fetch_dataset(params.selected(), root / "raw", root / "cache", progressbar=False)
    return root / "raw"


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def tar_of(path: Path, *members: tarfile.TarInfo | tuple[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
    return path


def special(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


# --------------------------------------------------------------------------------------------
# Tar members that leave the tree


@pytest.fixture
def victim(tmp_path):
    """A file outside every folder of the download stage."""
    path = tmp_path / "elsewhere" / "train.tsv"
    path.parent.mkdir()
    path.write_text("precious\n")
    return path


def test_an_absolute_tar_member_never_reads_or_removes_the_local_file(tmp_path, victim):
    """The reproduced bug: ``tar -cPf corpus.tar /abs/train.tsv`` declared with that member
    copied the local file into data/raw/ and then deleted it."""
    archive = tar_of(tmp_path / "www" / "corpus.tar", (str(victim), b"from the archive\n"))
    out = tmp_path / "raw"
    out.mkdir()
    with pytest.raises(DataError, match=r"^unsafe archive member path '/.*/train\.tsv' in corpus"):
        extract_members(archive, {str(victim): (out / "train.tsv", None)})
    assert victim.read_text() == "precious\n"
    assert files_in(out) == []


@pytest.mark.parametrize(
    "member, wanted",
    [
        (("../../elsewhere/train.tsv", b"x\n"), "../../elsewhere/train.tsv"),
        (special("data/train.tsv", tarfile.LNKTYPE, "VICTIM"), "data/train.tsv"),
        (special("data/train.tsv", tarfile.LNKTYPE, "../elsewhere/train.tsv"), "data/train.tsv"),
        (special("data/train.tsv", tarfile.SYMTYPE, "VICTIM"), "data/train.tsv"),
        (special("data/train.tsv", tarfile.SYMTYPE, "../../elsewhere/train.tsv"), "data/train.tsv"),
        (special("data/train.tsv", tarfile.CHRTYPE), "data/train.tsv"),
        (special("data/train.tsv", tarfile.FIFOTYPE), "data/train.tsv"),
    ],
    ids=["dotdot", "hardlink-abs", "hardlink-up", "symlink-abs", "symlink-up", "device", "fifo"],
)
def test_tar_members_out_of_the_tree_are_refused(tmp_path, victim, member, wanted):
    if isinstance(member, tarfile.TarInfo) and member.linkname == "VICTIM":
        member.linkname = str(victim)
    archive = tar_of(tmp_path / "www" / "corpus.tgz", member)
    out = tmp_path / "raw"
    out.mkdir()
    with pytest.raises(DataError, match=r"^unsafe .*member.* in corpus\.tgz"):
        extract_members(archive, {wanted: (out / "train.tsv", None)})
    assert victim.read_text() == "precious\n"
    assert files_in(out) == []
    assert files_in(tmp_path / "www") == ["corpus.tgz"]


def test_a_hardlink_to_a_member_of_the_archive_reads_that_member(tmp_path):
    archive = tar_of(
        tmp_path / "corpus.tgz",
        ("data/real.tsv", b"a\tb\n"),
        special("data/train.tsv", tarfile.LNKTYPE, "data/real.tsv"),
    )
    out = tmp_path / "raw"
    extract_members(archive, {"./data/train.tsv": (out / "train.tsv", None)})
    assert (out / "train.tsv").read_bytes() == b"a\tb\n"
    assert files_in(tmp_path) == ["corpus.tgz", "train.tsv"]


@pytest.mark.parametrize("member", ["/abs/train.tsv", "../train.tsv", "corpus/../../train.tsv"])
def test_a_declared_member_outside_the_archive_is_refused_by_the_params_check(member):
    with pytest.raises(ConfigError, match=r"^data\.datasets\.pairs\.files\.train\.member must be"):
        declared("corpus.tar", member).selected()


# --------------------------------------------------------------------------------------------
# Downloads without a length


@pytest.fixture
def no_length(tmp_path):
    """A server that sends no Content-Length: ``(root, base, state)``."""
    root = tmp_path / "www"
    root.mkdir()
    with http_server(root) as (base, state):
        state.no_length = True
        yield root, base, state


def test_a_transfer_cut_short_without_a_length_is_resumed_after_a_range_probe(no_length, tmp_path):
    root, base, state = no_length
    payload = random_file(root / "big.bin", 1_000_000)
    state.cut_after["/big.bin"] = 6 * 65536
    dest = tmp_path / "cache" / "big.bin"
    fetch_url(f"{base}/big.bin", dest, None, progressbar=False)
    assert dest.read_bytes() == payload.read_bytes()
    assert state.requests[0] == ("/big.bin", None)
    assert state.requests[1] == ("/big.bin", "bytes=393216-")


def test_a_whole_file_without_a_length_is_confirmed_by_the_range_probe(no_length, tmp_path):
    root, base, state = no_length
    payload = random_file(root / "small.bin", 10_000)
    dest = tmp_path / "small.bin"
    fetch_url(f"{base}/small.bin", dest, None, progressbar=False)
    assert dest.read_bytes() == payload.read_bytes()
    assert state.requests == [("/small.bin", None), ("/small.bin", "bytes=10000-")]


def test_a_plain_file_cut_short_without_length_range_or_checksum_is_refused(no_length, tmp_path):
    """The reproduced case: half the rows were taken, their checksum recorded as the truth."""
    root, base, state = no_length
    (root / "pairs.tsv").write_text(rows(4000))
    state.cut_after["/pairs.tsv"] = 20_000
    state.ignore_range = True
    with pytest.raises(DataError) as err:
        fetch(declared(f"{base}/pairs.tsv"), tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert "pairs.tsv" in message and "declare its sha256" in message
    assert files_in(tmp_path / "raw") == [] and files_in(tmp_path / "cache") == []


def test_a_declared_checksum_needs_no_length(no_length, tmp_path):
    root, base, state = no_length
    served = root / "pairs.tsv"
    served.write_text(rows(400))
    state.ignore_range = True
    raw = fetch(declared(f"{base}/pairs.tsv", sha256=file_hash(served)), tmp_path)
    assert (raw / "train.tsv").read_bytes() == served.read_bytes()
    assert len(state.requests) == 1


def _zip(path: Path, text: str) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("corpus/pairs.tsv", text)
    return path


ARCHIVES = {
    "pairs.zip": lambda path, text: _zip(path, text),
    "pairs.tgz": lambda path, text: tar_of(path, ("corpus/pairs.tsv", text.encode())),
    "pairs.tsv.gz": lambda path, text: path.write_bytes(gzip.compress(text.encode())) and path,
}


@pytest.mark.parametrize("name", ARCHIVES)
def test_an_archive_without_length_or_range_is_checked_whole_and_fetched_again(
    no_length, tmp_path, name
):
    root, base, state = no_length
    text = "".join(f"{i} {i * i}\tzahl {i}\n" for i in range(20_000))  # compresses poorly
    served = ARCHIVES[name](root / name, text)
    state.cut_after[f"/{name}"] = served.stat().st_size // 2
    state.ignore_range = True
    raw = fetch(declared(f"{base}/{name}", None if name.endswith(".gz") else "corpus/pairs.tsv"),
                tmp_path)  # fmt: skip
    assert (raw / "train.tsv").read_text() == text
    assert [path for path, _ in state.requests] == [f"/{name}"] * 3  # cut, probe, whole


# --------------------------------------------------------------------------------------------
# An archive in the download cache that cannot be read


@pytest.mark.parametrize("name", ["pairs.zip", "pairs.tgz"])
def test_an_unreadable_archive_is_removed_from_the_cache_and_fetched_again(tmp_path, name):
    www = tmp_path / "www"
    www.mkdir()
    whole = ARCHIVES[name](tmp_path / name, rows(3000)).read_bytes()
    (www / name).write_bytes(whole[: len(whole) // 2])  # upstream itself broken, with a length
    with http_server(www) as (base, state):
        params = declared(f"{base}/{name}", "corpus/pairs.tsv")
        with pytest.raises(DataError) as err:
            fetch(params, tmp_path)
        message = str(err.value)
        assert "\n" not in message
        assert name in message and "removed it from the download cache" in message
        assert files_in(tmp_path / "cache") == [] and files_in(tmp_path / "raw") == []
        (www / name).write_bytes(whole)  # repaired upstream: the next run fetches it again
        raw = fetch(params, tmp_path)
    assert (raw / "train.tsv").read_text() == rows(3000)
    assert len(state.requests) == 2

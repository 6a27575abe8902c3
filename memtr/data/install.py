"""Checksums and the installation of raw files: gunzip, copy or extract archive members,
each written to a temporary name, verified, then renamed into place.

Archive members are read from the archive itself, never through a path a member names: zip
and tar member names must stay inside the tree (no absolute names, no ``..``), and a tar
member must pass ``tarfile``'s ``data`` filter (no links out of the tree, no devices) and be
a regular file or a hard link to one in the archive. An archive that cannot be read is a
:class:`BadArchive`, so that the download stage can drop it from its cache.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import pooch

from memtr.common.errors import DataError

CHUNK = 1 << 20  # copying


class BadArchive(DataError):
    """An archive (or ``.gz``) that cannot be read: cut short, corrupted, or not one at all."""


# what a file cut short or corrupted raises while it is read
UNREADABLE = (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile, tarfile.TarError)


# --------------------------------------------------------------------------------------------
# Checksums


def file_hash(path: Path, alg: str = "sha256") -> str:
    """Return ``"alg:hex"`` of the file at ``path``."""
    return f"{alg}:{pooch.file_hash(str(path), alg=alg)}"


def hash_ok(path: Path, known: str) -> bool:
    """True when ``path`` has the checksum ``known`` (pooch's ``alg:hex`` form)."""
    alg, _, digest = known.rpartition(":")
    return pooch.file_hash(str(path), alg=alg or "sha256") == digest.lower()


def verify(path: Path, known: str | None, what: str) -> str:
    """Check ``path`` against ``known`` (if any); return its sha256 (``sha256:hex``)."""
    if known is not None and not hash_ok(path, known):
        raise DataError(
            f"checksum mismatch for {what}: expected {known}, got {file_hash(path, _alg(known))}"
        )
    return file_hash(path)


def _alg(known: str) -> str:
    return known.partition(":")[0] if ":" in known else "sha256"


# --------------------------------------------------------------------------------------------
# Installing raw files: gunzip, extract, copy; verified before the atomic rename


def _install(dest: Path, write, known: str | None, what: str) -> str:
    """Write ``dest`` through ``write(binary_file)`` into a temporary, verify, rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        with tmp.open("wb") as out:
            write(out)
        digest = verify(tmp, known, what)
    except UNREADABLE as exc:  # the source: a .gz or an archive member cut short or corrupt
        tmp.unlink(missing_ok=True)
        raise BadArchive(f"cannot read {what}: {_one_line(exc)}") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot read {what}: {_one_line(exc)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)
    return digest


def install_copy(
    src: Path, dest: Path, known: str | None, gunzip: bool = False, what: str | None = None
) -> str:
    """Copy (or gunzip) ``src`` to ``dest``, verifying the result against ``known``."""

    def write(out):
        with gzip.open(src, "rb") if gunzip else src.open("rb") as fin:
            shutil.copyfileobj(fin, out, CHUNK)

    return _install(dest, write, known, what or f"{dest.name} (from {src.name})")


def safe_member_path(name: str, archive: str | None = None) -> PurePosixPath:
    """Return the archive member path ``name`` if it stays inside the target folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if not path.parts or path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
        where = f" in {archive}" if archive else ""
        raise DataError(f"unsafe archive member path {name!r}{where}")
    return path


def extract_members(archive: Path, wanted: dict[str, tuple[Path, str | None]]) -> dict[str, str]:
    """Extract ``member -> (dest, known sha)`` from a tar or zip archive; return dest shas.

    Only the listed members are extracted, each read from the archive itself (never from a
    path a member names); a missing member is an error naming it, an archive that cannot be
    read a :class:`BadArchive`.
    """
    for member in wanted:
        safe_member_path(member, archive.name)
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, wanted)
    try:
        return _extract_tar(archive, wanted)
    except tarfile.ReadError as exc:
        if "could not be opened" in str(exc):
            raise BadArchive(
                f"{archive.name} cannot be opened as a zip or a tar archive (cut short, "
                "corrupt, or no archive at all)"
            ) from None
        raise BadArchive(f"cannot read {archive.name}: {_one_line(exc)}") from None
    except UNREADABLE as exc:
        raise BadArchive(f"cannot read {archive.name}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _extract_zip(archive: Path, wanted: dict[str, tuple[Path, str | None]]) -> dict[str, str]:
    result = {}
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        for member, (dest, known) in wanted.items():
            if member not in names:
                raise DataError(f"member {member} not found in {archive.name}")

            def write(out, member=member):
                with zf.open(member) as fin:
                    shutil.copyfileobj(fin, out, CHUNK)

            result[member] = _install(dest, write, known, f"{member} in {archive.name}")
    return result


def check_tar_member(info: tarfile.TarInfo, archive: str, folder: Path) -> None:
    """Refuse a tar member as the ``data`` filter would for ``folder`` (links out of the tree,
    devices, ``..``), an absolute name as zip member names are (the filter would strip its
    ``/``), and anything but a regular file or a hard link to one in the archive."""
    safe_member_path(info.name, archive)
    try:
        tarfile.data_filter(info, str(folder))  # checks only: nothing is extracted
    except tarfile.FilterError as exc:
        raise DataError(f"unsafe member {info.name!r} in {archive}: {exc}") from None
    if not (info.isreg() or info.islnk()):
        raise DataError(f"unsafe member {info.name!r} in {archive}: not a regular file")


def _extract_tar(archive: Path, wanted: dict[str, tuple[Path, str | None]]) -> dict[str, str]:
    norm = {posixpath.normpath(m): m for m in wanted}
    result = {}
    with tarfile.open(archive) as tar:
        for info in tar:  # a single pass, so a .tgz is decompressed once
            member = norm.get(posixpath.normpath(info.name))
            if member is None:
                continue
            dest, known = wanted[member]
            check_tar_member(info, archive.name, dest.parent)

            def write(out, info=info):
                try:  # a hard link reads the member it names, from the archive
                    fin = tar.extractfile(info)
                except KeyError:
                    fin = None
                if fin is None:
                    raise DataError(
                        f"member {info.name} of {archive.name} links to no file in the archive"
                    )
                shutil.copyfileobj(fin, out, CHUNK)

            result[member] = _install(dest, write, known, f"{member} in {archive.name}")
        missing = sorted(set(wanted) - set(result))
    if missing:
        raise DataError(f"member {missing[0]} not found in {archive.name}")
    return result


def archive_intact(path: Path, name: str) -> bool | None:
    """Whether the archive or ``.gz`` file ``path`` (named ``name``) reads whole to its end,
    with its own checks (zip's CRCs, the tar blocks, gzip's CRC and length); None for a
    format that has no such check."""
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                return zf.testzip() is None
        if name.endswith((".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")):
            with tarfile.open(path) as tar:
                for info in tar:
                    if info.isreg():
                        fin = tar.extractfile(info)
                        assert fin is not None
                        while fin.read(CHUNK):
                            pass
            return True
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as fin:
                while fin.read(CHUNK):
                    pass
            return True
    except (*UNREADABLE, OSError):
        return False
    return None

"""Checksums and the installation of raw files: gunzip, copy or extract archive members,
each written to a temporary name, verified, then renamed into place.

Archives are extracted with ``tarfile``'s ``data`` filter; zip member paths are checked.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import pooch

from memtr.common.errors import DataError

CHUNK = 1 << 20  # copying


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
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot read {what}: {exc}") from None
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


def safe_member_path(name: str) -> PurePosixPath:
    """Return the archive member path ``name`` if it stays inside the target folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if not path.parts or path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
        raise DataError(f"unsafe archive member path {name!r}")
    return path


def extract_members(archive: Path, wanted: dict[str, tuple[Path, str | None]]) -> dict[str, str]:
    """Extract ``member -> (dest, known sha)`` from a tar or zip archive; return dest shas.

    Only the listed members are extracted; a missing member is an error naming it.
    """
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, wanted)
    try:
        return _extract_tar(archive, wanted)
    except tarfile.ReadError as exc:
        raise DataError(f"{archive.name} is neither a zip nor a tar archive: {exc}") from None


def _extract_zip(archive: Path, wanted: dict[str, tuple[Path, str | None]]) -> dict[str, str]:
    result = {}
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        for member, (dest, known) in wanted.items():
            safe_member_path(member)
            if member not in names:
                raise DataError(f"member {member} not found in {archive.name}")

            def write(out, member=member):
                with zf.open(member) as fin:
                    shutil.copyfileobj(fin, out, CHUNK)

            result[member] = _install(dest, write, known, f"{member} in {archive.name}")
    return result


def _extract_tar(archive: Path, wanted: dict[str, tuple[Path, str | None]]) -> dict[str, str]:
    norm = {posixpath.normpath(m): m for m in wanted}
    result = {}
    with (
        tempfile.TemporaryDirectory(dir=next(iter(wanted.values()))[0].parent) as tmp,
        tarfile.open(archive) as tar,
    ):
        for info in tar:  # a single pass, so a .tgz is decompressed once
            member = norm.get(posixpath.normpath(info.name))
            if member is None:
                continue
            try:
                tar.extract(info, tmp, filter="data")
            except tarfile.FilterError as exc:
                raise DataError(f"unsafe member {info.name!r} in {archive.name}: {exc}") from None
            dest, known = wanted[member]
            extracted = Path(tmp, info.name)
            if not extracted.is_file():
                raise DataError(f"member {member} of {archive.name} is not a regular file")
            what = f"{member} in {archive.name}"
            result[member] = install_copy(extracted, dest, known, what=what)
            extracted.unlink()
    missing = sorted(set(wanted) - set(result))
    if missing:
        raise DataError(f"member {missing[0]} not found in {archive.name}")
    return result

"""Download stage: fetch, verify and extract the raw files of a dataset.

Downloads go through :func:`pooch.retrieve` (hash check, then an atomic move into the cache)
with :class:`ResumableDownloader`, which streams into a ``.part`` file with a progress bar and
resumes it with HTTP ``Range`` requests. A corrupted or truncated file is an error naming the
file, and never reaches the cache or ``data/raw``. Archives are extracted with ``tarfile``'s
``data`` filter; zip member paths are checked. Every file written is first written to a
temporary name and moved into place once verified.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import posixpath
import shutil
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pooch
import requests
from tqdm import tqdm

from memtr.datasets.params import SyntheticParams
from memtr.datasets.registry import DOWNLOAD_HASHES, Dataset, RawFile, basename
from memtr.datasets.synthetic import write_parallel_corpus
from memtr.common.textio import atomic_dir, atomic_write_text
from memtr.common.errors import DataError
from memtr.data.install import extract_members, file_hash, hash_ok, install_copy, verify

log = logging.getLogger(__name__)

LOCK_NAME = "checksums.lock.json"
STREAM_CHUNK = 1 << 16  # network reads: at most this much is lost when a transfer breaks


# --------------------------------------------------------------------------------------------
# Checksums recorded on first download


@dataclass
class Lock:
    """Checksums recorded on first download (``checksums.lock.json`` next to the raw data)."""

    path: Path
    downloads: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Lock:
        """Read the lock at ``path`` (an empty one if absent)."""
        if not path.exists():
            return cls(path)
        doc = json.loads(path.read_text(encoding="utf-8"))
        return cls(path, dict(doc.get("downloads", {})), dict(doc.get("files", {})))

    def save(self) -> None:
        """Write the lock atomically."""
        doc = {"downloads": dict(sorted(self.downloads.items())), "files": self.files}
        atomic_write_text(self.path, json.dumps(doc, indent=2, sort_keys=False) + "\n")


# --------------------------------------------------------------------------------------------
# Resumable HTTP download (a pooch downloader)


@dataclass
class ResumableDownloader:
    """pooch downloader: stream ``url`` into ``part`` with a progress bar, resuming with Range.

    An interrupted transfer leaves ``part`` in place; the next attempt (within this call, up
    to ``attempts``, or on a later run) asks for the missing bytes only. The complete file is
    then handed to pooch, which checks its hash before moving it into the cache.
    """

    part: Path
    progressbar: bool = True
    attempts: int = 3
    timeout: float = 60.0

    def __call__(self, url: str, output_file: str, pooch_obj: Any, check_only: bool = False):
        """Download ``url`` to ``output_file`` (pooch's downloader interface)."""
        self.part.parent.mkdir(parents=True, exist_ok=True)
        reason = "transfer ended early"
        for attempt in range(1, self.attempts + 1):
            try:
                if self._transfer(url):
                    os.replace(self.part, output_file)
                    return
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("transfer of %s interrupted (%s)", url, type(exc).__name__)
            log.info("attempt %d/%d: %d bytes so far", attempt, self.attempts, self._have())
        raise DataError(
            f"download of {basename(url)} incomplete after {self.attempts} attempts "
            f"({self._have()} bytes kept in {self.part}; run again to resume): {url}: {reason}"
        )

    def _have(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def _transfer(self, url: str) -> bool:
        """One request; return True when ``part`` holds the whole file."""
        offset = self._have()
        headers = {"Accept-Encoding": "identity"}  # the bytes as stored, so sizes add up
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as resp:
            if resp.status_code == 416:  # nothing left to send, or a stale part: start over
                self.part.unlink()
                return False
            if resp.status_code == 404:
                raise DataError(f"not found (HTTP 404): {url}")
            if resp.status_code >= 400:
                raise DataError(
                    f"download of {basename(url)} failed (HTTP {resp.status_code}): {url}"
                )
            total = self._expected_total(resp, offset)
            if resp.status_code != 206:
                offset = 0
            with (
                self.part.open("ab" if offset else "wb") as out,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    desc=basename(url),
                    disable=not self.progressbar,
                    file=sys.stderr,
                ) as bar,
            ):
                for chunk in resp.iter_content(STREAM_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
        return total is None or self._have() == total

    @staticmethod
    def _expected_total(resp: requests.Response, offset: int) -> int | None:
        """Full size of the file from Content-Range (206) or Content-Length (200)."""
        if resp.status_code == 206:
            crange = resp.headers.get("Content-Range", "")
            start, _, total = crange.removeprefix("bytes ").partition("/")
            if not start.startswith(f"{offset}-"):
                raise DataError(f"server answered range {crange!r} to a request from {offset}")
            return int(total) if total.isdigit() else None
        length = resp.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else None


def fetch_url(
    url: str, dest: Path, known: str | None, progressbar: bool = True, attempts: int = 3
) -> Path:
    """Download ``url`` to ``dest`` unless already there with hash ``known``; return ``dest``.

    A hash mismatch deletes the download and raises :class:`DataError` naming the file.
    """
    downloader = ResumableDownloader(dest.with_name(dest.name + ".part"), progressbar, attempts)
    pooch_log = pooch.get_logger()
    level = pooch_log.level
    pooch_log.setLevel(logging.WARNING)  # we log ourselves, and record unknown hashes
    try:
        log.info("fetching %s -> %s", url, dest)
        pooch.retrieve(url, known, fname=dest.name, path=dest.parent, downloader=downloader)
    except ValueError as exc:  # pooch's hash mismatch; it deleted the temporary file
        downloader.part.unlink(missing_ok=True)
        raise DataError(f"checksum mismatch for {dest.name} from {url}: {exc}") from None
    except requests.RequestException as exc:
        raise DataError(f"download of {dest.name} failed: {exc}") from None
    finally:
        pooch_log.setLevel(level)
    return dest


# --------------------------------------------------------------------------------------------
# A whole dataset


def is_url(location: str) -> bool:
    """True for http(s) addresses (mirrors may also be local folders)."""
    return location.startswith(("http://", "https://"))


def _join(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + rel


@dataclass
class Fetcher:
    """Fetch the raw files of one dataset into ``out`` (downloads cached in ``cache``)."""

    dataset: Dataset
    out: Path
    cache: Path
    mirror: str | None = None
    progressbar: bool = True
    attempts: int = 3
    download_hashes: Mapping[str, str] = field(default_factory=lambda: DOWNLOAD_HASHES)

    def __post_init__(self) -> None:
        self.lock = Lock.load(self.out / LOCK_NAME)

    def known(self, raw: RawFile) -> str | None:
        """Checksum a raw file must have: the registry's, else the one recorded earlier."""
        return raw.sha256 or self.lock.files.get(raw.name)

    def up_to_date(self, raw: RawFile) -> bool:
        """True when the raw file exists and matches a known or recorded checksum."""
        path, known = self.out / raw.name, self.known(raw)
        return path.exists() and known is not None and hash_ok(path, known)

    def run(self) -> dict[str, str]:
        """Fetch every file that is missing or stale; return ``name -> sha256``."""
        self.out.mkdir(parents=True, exist_ok=True)
        todo = []
        for raw in self.dataset.files:
            if self.up_to_date(raw):
                self.lock.files[raw.name] = self.known(raw)
                log.info("%s: up to date", raw.name)
            else:
                todo.append(raw)
        mirrored = [raw for raw in todo if raw.mirror] if self.mirror else []
        for raw in mirrored:
            self._from_mirror(raw)
        upstream = [raw for raw in todo if raw not in mirrored]  # declared files: no mirror
        for url in dict.fromkeys(raw.url for raw in upstream):
            self._from_upstream(url, [raw for raw in upstream if raw.url == url])
        return {raw.name: self.lock.files[raw.name] for raw in self.dataset.files}

    def _record(self, names_shas: Iterable[tuple[str, str]]) -> None:
        for name, sha in names_shas:
            self.lock.files[name] = sha
        self.lock.save()

    def _download(self, url: str, cache_name: str, key: str, known: str | None) -> Path:
        known = known or self.lock.downloads.get(key)
        dest = self.cache / self.dataset.name / cache_name
        fetch_url(url, dest, known, self.progressbar, self.attempts)
        if key not in self.lock.downloads:
            self.lock.downloads[key] = file_hash(dest)
        return dest

    def _local(self, path: str) -> Path:
        """A declared local file, verified like a download (checksum given or recorded)."""
        src = Path(path).expanduser()
        if not src.is_file():
            raise DataError(f"{self.dataset.name}: no such file {path}")
        known = self.download_hashes.get(path) or self.lock.downloads.get(path)
        self.lock.downloads[path] = verify(src, known, f"{path} (declared in params.yaml)")
        return src

    def _from_upstream(self, url: str, raws: list[RawFile]) -> None:
        if is_url(url):
            archive = self._download(url, basename(url), url, self.download_hashes.get(url))
        else:
            archive = self._local(url)
        log.info("%s: fetched %s", self.dataset.name, basename(url))
        members = {raw.member: raw for raw in raws if raw.member is not None}
        if members:
            wanted = {m: (self._member_dest(raw), self._member_known(raw)) for m, raw in members.items()}
            shas = extract_members(archive, wanted)
            for member, raw in members.items():
                if self._gzipped_member(raw):  # e.g. a release of corpus.de.gz files in a tar
                    packed = self._member_dest(raw)
                    shas[member] = install_copy(packed, self.out / raw.name, self.known(raw), True)
                    packed.unlink()
            self._record((members[m].name, sha) for m, sha in shas.items())
        for raw in raws:
            if raw.member is None:
                gunzip = url.endswith(".gz") and not raw.name.endswith(".gz")
                sha = install_copy(archive, self.out / raw.name, self.known(raw), gunzip)
                self._record([(raw.name, sha)])

    @staticmethod
    def _gzipped_member(raw: RawFile) -> bool:
        return raw.member is not None and raw.member.endswith(".gz") and not raw.name.endswith(".gz")

    def _member_dest(self, raw: RawFile) -> Path:
        """Where a member is extracted: the raw file, or beside it when it must be gunzipped."""
        dest = self.out / raw.name
        return dest.with_name(f".{raw.name}.gz") if self._gzipped_member(raw) else dest

    def _member_known(self, raw: RawFile) -> str | None:
        return None if self._gzipped_member(raw) else self.known(raw)  # checked once gunzipped

    def _mirror_file_hash(self, raw: RawFile) -> str | None:
        if raw.mirror_is_gz:
            known = self.download_hashes.get(raw.url)
            return known or self.lock.downloads.get(f"mirror:{raw.mirror}")
        return self.known(raw)

    def _from_mirror(self, raw: RawFile) -> None:
        assert self.mirror is not None
        key, known = f"mirror:{raw.mirror}", self._mirror_file_hash(raw)
        if is_url(self.mirror):
            url = _join(self.mirror, raw.mirror)
            src = self._download(url, f"mirror/{raw.mirror}", key, known)
        else:
            src = Path(self.mirror).expanduser() / raw.mirror
            if not src.is_file():
                raise DataError(f"{raw.name}: not in the mirror (no file {src})")
            verify(src, known, f"{src} (mirror copy of {raw.name})")
        sha = install_copy(src, self.out / raw.name, self.known(raw), gunzip=raw.mirror_is_gz)
        self._record([(raw.name, sha)])
        log.info("%s: %s from the mirror", self.dataset.name, raw.name)


def fetch_dataset(
    dataset: Dataset,
    out: Path,
    cache: Path,
    mirror: str | None = None,
    progressbar: bool = True,
    attempts: int = 3,
    download_hashes: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Fetch, verify and extract ``dataset`` into ``out``; return ``file -> sha256``.

    ``download_hashes`` replaces the registry's known checksums of upstream downloads.
    """
    hashes = DOWNLOAD_HASHES if download_hashes is None else download_hashes
    hashes = {**hashes, **dataset.options.get("download_hashes", {})}  # declared datasets'
    return Fetcher(dataset, Path(out), Path(cache), mirror, progressbar, attempts, hashes).run()


def generate_synthetic(out: Path, params: SyntheticParams) -> dict[str, str]:
    """Write the ``synthetic`` dataset's raw ``{train,valid,test}.{src,tgt}`` into ``out``."""
    sizes = {"train": params.train, "valid": params.valid, "test": params.test}
    with atomic_dir(Path(out)) as tmp:
        write_parallel_corpus(
            tmp,
            params.task,
            sizes,
            src="src",
            tgt="tgt",
            vocab_size=params.vocab_size,
            min_len=params.min_len,
            max_len=params.max_len,
            seed=params.seed,
        )
        lock = Lock(tmp / LOCK_NAME, files={p.name: file_hash(p) for p in sorted(tmp.iterdir())})
        lock.save()
    return lock.files

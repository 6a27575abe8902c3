"""Download stage: fetch, verify and extract the raw files of a dataset.

Downloads go through :func:`pooch.retrieve` (hash check, then an atomic move into the cache)
with :mod:`memtr.data.http`'s downloader, which streams into a ``.part`` file with a progress
bar and resumes it with HTTP ``Range`` requests. A corrupted or truncated file is an error
naming the file, and never reaches the cache or ``data/raw``; so is a download of unknown
length that cannot be checked otherwise (:mod:`memtr.data.http`). Archive members are read
from the archive itself, their names and links checked (:mod:`memtr.data.install`); a cached
download that cannot be read is removed from the cache. Every file written is first
written to a temporary name and moved into place once verified. A declared dataset's raw
files are fetched and extracted again when their declaration (or local file) changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memtr.common.errors import DataError
from memtr.common.textio import atomic_dir, atomic_write_text
from memtr.data.http import Unreachable, fetch_url
from memtr.data.install import (
    BadArchive,
    extract_members,
    file_hash,
    hash_ok,
    install_copy,
    verify,
)
from memtr.datasets.inline import described, is_inline
from memtr.datasets.params import SyntheticParams
from memtr.datasets.registry import DOWNLOAD_HASHES, MIRROR_ENV, Dataset, RawFile, basename
from memtr.datasets.synthetic import write_parallel_corpus

log = logging.getLogger(__name__)

LOCK_NAME = "checksums.lock.json"


# --------------------------------------------------------------------------------------------
# Checksums recorded on first download


@dataclass
class Lock:
    """Checksums recorded on first download (``checksums.lock.json`` next to the raw data),
    and for a dataset declared in ``params.yaml`` the declaration each raw file came from."""

    path: Path
    downloads: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    declared: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Lock:
        """Read the lock at ``path`` (an empty one if absent)."""
        if not path.exists():
            return cls(path)
        doc = json.loads(path.read_text(encoding="utf-8"))
        return cls(path, dict(doc.get("downloads", {})), dict(doc.get("files", {})),
                   dict(doc.get("declared", {})))  # fmt: skip

    def save(self) -> None:
        """Write the lock atomically."""
        doc: dict[str, Any] = {
            "downloads": dict(sorted(self.downloads.items())),
            "files": self.files,
        }
        if self.declared:
            doc["declared"] = dict(sorted(self.declared.items()))
        atomic_write_text(self.path, json.dumps(doc, indent=2, sort_keys=False) + "\n")


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
        self._local_hashes: dict[str, str] = {}

    def known(self, raw: RawFile) -> str | None:
        """Checksum a raw file must have: the registry's, else the one recorded earlier."""
        return raw.sha256 or self.lock.files.get(raw.name)

    def declaration(self, raw: RawFile) -> dict | None:
        """A declared file's declaration, and a local file's checksum as it is now (None for
        the registry's files)."""
        found = self.dataset.options.get("declarations", {}).get(raw.name)
        if found is None or is_url(raw.url) or not Path(raw.url).expanduser().is_file():
            return found
        return {**found, "source_sha256": self._local_hash(raw.url)}

    def up_to_date(self, raw: RawFile) -> bool:
        """True when the raw file exists, matches a known or recorded checksum, and (for a
        declared file) came from the declaration and local file as they are now."""
        path, known = self.out / raw.name, self.known(raw)
        if not (path.exists() and known is not None and hash_ok(path, known)):
            return False
        return self.lock.declared.get(raw.name) == self.declaration(raw)

    def run(self) -> dict[str, str]:
        """Fetch every file that is missing or stale; return ``name -> sha256``.

        A declared file whose declaration (or local file) changed is fetched again (from the
        download cache when its checksum still matches) and extracted again. Folders this
        call created are removed again when it fails and leaves them empty.
        """
        created = _missing_folders(self.out, self.cache / self.dataset.name)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._fetch()
        except BaseException:
            for folder in created:  # deepest first; kept when it holds anything (a .part)
                _remove_empty_tree(folder)
            raise
        return {raw.name: self.lock.files[raw.name] for raw in self.dataset.files}

    def _fetch(self) -> None:
        todo = []
        for raw in self.dataset.files:
            if self.up_to_date(raw):
                self.lock.files[raw.name] = self.known(raw)
                log.info("%s: up to date", described(self.dataset, raw.name))
            else:
                todo.append(raw)
                declared = self.declaration(raw)
                if declared is not None and self.lock.declared.get(raw.name) != declared:
                    self.lock.files.pop(raw.name, None)  # another file now: not the old checksum
        mirrored = [raw for raw in todo if raw.mirror] if self.mirror else []
        for raw in mirrored:
            self._from_mirror(raw)
        upstream = [raw for raw in todo if raw not in mirrored]  # declared files: no mirror
        for url in dict.fromkeys(raw.url for raw in upstream):
            try:
                self._from_upstream(url, [raw for raw in upstream if raw.url == url])
            except Unreachable as exc:
                if not any(raw.mirror for raw in upstream if raw.url == url):
                    raise
                raise Unreachable(
                    f"{exc}; offline, point {MIRROR_ENV} (or data.mirror) at a local mirror of "
                    "the registry's files (docs/pipeline.md, 'Data and the data mirror')"
                ) from None
        if is_inline(self.dataset):
            self._prune()

    def _prune(self) -> None:
        """Remove the raw files an earlier declaration left that this one does not name."""
        names = {raw.name for raw in self.dataset.files} | {LOCK_NAME}
        for path in sorted(self.out.iterdir()):
            if path.is_file() and path.name not in names:
                path.unlink()
        for records in (self.lock.files, self.lock.declared):
            for name in set(records) - names:
                del records[name]
        self.lock.save()

    def _record(self, names_shas: Iterable[tuple[str, str]]) -> None:
        for name, sha in names_shas:
            self.lock.files[name] = sha
            if (declared := self.declaration(self.dataset.file(name))) is not None:
                self.lock.declared[name] = declared
        self.lock.save()

    def _download(self, url: str, cache_name: str, key: str, known: str | None) -> Path:
        known = known or self.lock.downloads.get(key)
        dest = self.cache / self.dataset.name / cache_name
        fetch_url(url, dest, known, self.progressbar, self.attempts)
        if known is None or not known.startswith("sha256:"):
            known = self.lock.downloads.get(key) if known else None
        self.lock.downloads[key] = known or file_hash(dest)
        return dest

    def _local_hash(self, path: str) -> str:
        if path not in self._local_hashes:
            self._local_hashes[path] = file_hash(Path(path).expanduser())
        return self._local_hashes[path]

    def _local(self, path: str) -> Path:
        """A declared local file, verified against its declared checksum, if any. Without one
        it is read as it is now (its checksum is recorded): an edited file is taken."""
        src = Path(path).expanduser()
        if not src.is_file():
            raise DataError(f"{self.dataset.name}: no such file {path}")
        known, sha = self.download_hashes.get(path), self._local_hash(path)
        if known is not None and known != sha:
            verify(src, known, f"{path} (declared in params.yaml)")  # raises, naming both
        self.lock.downloads[path] = sha
        return src

    def _cache_name(self, url: str) -> str:
        """A download's name in the cache; a declared URL's under a folder named by the URL,
        so that another URL with the same file name is never taken for it."""
        if not is_inline(self.dataset):
            return basename(url)
        return f"{hashlib.sha256(url.encode()).hexdigest()[:12]}/{basename(url)}"

    @contextlib.contextmanager
    def _dropped_if_unreadable(self, download: Path, key: str) -> Iterator[None]:
        """Remove ``download`` from the download cache (and its checksum recorded on first
        download) when it cannot be read, so that the next run fetches it again. A file
        outside the cache (a declared local file, a local mirror) is never removed."""
        try:
            yield
        except BadArchive as exc:
            if not download.resolve().is_relative_to(self.cache.resolve()):
                raise
            download.unlink(missing_ok=True)
            if self.lock.downloads.pop(key, None) is not None and self.lock.path.exists():
                self.lock.save()
            raise BadArchive(
                f"{exc}; removed it from the download cache ({download}): the next run "
                "downloads it again"
            ) from None

    def _from_upstream(self, url: str, raws: list[RawFile]) -> None:
        if is_url(url):
            archive = self._download(url, self._cache_name(url), url, self.download_hashes.get(url))
        else:
            archive = self._local(url)
        log.info("%s: fetched %s", self.dataset.name, basename(url))
        with self._dropped_if_unreadable(archive, url):
            self._install_from(url, archive, raws)

    def _install_from(self, url: str, archive: Path, raws: list[RawFile]) -> None:
        members = {raw.member: raw for raw in raws if raw.member is not None}
        if members:
            wanted = {
                m: (self._member_dest(raw), self._member_known(raw)) for m, raw in members.items()
            }
            shas = extract_members(archive, wanted)
            for member, raw in members.items():
                if self._gzipped_member(raw):  # e.g. a release of corpus.de.gz files in a tar
                    packed, what = self._member_dest(raw), described(self.dataset, raw.name)
                    shas[member] = install_copy(
                        packed, self.out / raw.name, self.known(raw), True, what
                    )
                    packed.unlink()
            self._record((members[m].name, sha) for m, sha in shas.items())
        for raw in raws:
            if raw.member is None:
                gunzip = url.endswith(".gz") and not raw.name.endswith(".gz")
                what = described(self.dataset, raw.name) if is_inline(self.dataset) else None
                sha = install_copy(archive, self.out / raw.name, self.known(raw), gunzip, what)
                self._record([(raw.name, sha)])

    @staticmethod
    def _gzipped_member(raw: RawFile) -> bool:
        return (
            raw.member is not None and raw.member.endswith(".gz") and not raw.name.endswith(".gz")
        )

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
        with self._dropped_if_unreadable(src, key):
            sha = install_copy(src, self.out / raw.name, self.known(raw), gunzip=raw.mirror_is_gz)
        self._record([(raw.name, sha)])
        log.info("%s: %s from the mirror", self.dataset.name, raw.name)


def _missing_folders(*folders: Path) -> list[Path]:
    """The folders (and their parents) that do not exist yet, deepest first."""
    missing: list[Path] = []
    for folder in folders:
        while not folder.exists() and folder not in missing and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def _remove_empty_tree(folder: Path) -> None:
    """Remove ``folder`` and the empty folders in it, if nothing else is left in it."""
    if not folder.is_dir():
        return
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(sub.iterdir()):
            sub.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


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

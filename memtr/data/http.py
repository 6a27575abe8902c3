"""Resumable HTTP downloads through pooch: stream into a ``.part`` file with a progress bar,
resume it with ``Range`` requests, and hand the complete file to pooch, which checks its hash
before moving it into the cache. Every failure is a one-line :class:`DataError`.

A server that sends no length ends the body by closing the connection, so a transfer cut
short looks whole. Without a checksum to check it against, the download is then confirmed
another way: a ``Range`` request for the bytes past the end (answered 416: nothing more;
206: the rest, resumed), else the archive's or gzip's own integrity (zip's CRCs, the tar
blocks read to the end, gzip's CRC and length); a file none of these can check is refused.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pooch
import requests
from tqdm import tqdm

from memtr.common.errors import DataError
from memtr.data.install import archive_intact
from memtr.datasets.registry import basename

log = logging.getLogger(__name__)

STREAM_CHUNK = 1 << 16  # network reads: at most this much is lost when a transfer breaks


class Unreachable(DataError):
    """No connection to a download's host at all (no network, a wrong host name)."""


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
    check_length: bool = True  # no checksum will check the file: a missing length is checked
    range_ignored: bool = False  # the server answered a Range request with the whole file

    def __call__(self, url: str, output_file: str, pooch_obj: Any, check_only: bool = False):
        """Download ``url`` to ``output_file`` (pooch's downloader interface)."""
        self.part.parent.mkdir(parents=True, exist_ok=True)
        reason = "transfer ended early"
        for attempt in range(1, self.attempts + 1):
            try:
                done = self._transfer(url)
                if done is None and self.check_length:
                    done = self._confirm(url)
                if done is not False:
                    os.replace(self.part, output_file)
                    return
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("transfer of %s interrupted (%s)", url, type(exc).__name__)
                if self._have() == 0 and _no_connection(exc):
                    host = urlsplit(url).hostname
                    raise Unreachable(
                        f"cannot reach {host} for {basename(url)} ({_no_connection(exc)})"
                    ) from None
            log.info("attempt %d/%d: %d bytes so far", attempt, self.attempts, self._have())
        raise DataError(
            f"download of {basename(url)} incomplete after {self.attempts} attempts "
            f"({self._have()} bytes kept in {self.part}; run again to resume): {url}: {reason}"
        )

    def _have(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def _confirm(self, url: str) -> bool:
        """Whether ``part``, a transfer of unknown length, is the whole file (see the module's
        docstring); False when it is not (it is then resumed or fetched again)."""
        if not self.range_ignored:
            done = self._transfer(url, probe=True)
            if done is not None:
                return done
        name = basename(url)
        intact = archive_intact(self.part, name)
        if intact is None:
            self.part.unlink()
            raise DataError(
                f"download of {name} cannot be checked: {urlsplit(url).hostname} sent no length "
                f"and ignores Range requests, so a transfer cut short looks whole, and {name} "
                "has no sha256; declare its sha256 (beside its url in params.yaml) and run again"
            )
        if not intact:
            log.warning("%s is cut short or corrupt (no length was sent): fetching it again", url)
            self.part.unlink()
        return intact

    def _transfer(self, url: str, probe: bool = False) -> bool | None:
        """One request; return True when ``part`` holds the whole file, None when it may (the
        server sent no length). A ``probe`` asks for the bytes past a transfer of unknown
        length: the rest is appended; an answer with the whole file is not read."""
        offset = self._have()
        headers = {"Accept-Encoding": "identity"}  # the bytes as stored, so sizes add up
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as resp:
            if resp.status_code == 416 and probe:  # nothing past what we have: the whole file
                return True
            if resp.status_code == 416:  # nothing left to send, or a stale part: start over
                self.part.unlink()
                return False
            if probe and resp.status_code == 200:  # Range ignored: the length stays unknown
                self.range_ignored = True
                return None
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
        return None if total is None else self._have() == total

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


def _no_connection(exc: Exception) -> str:
    """Why no connection could be opened at all ('' when one was: a transfer broke off)."""
    text = str(exc)
    if "NameResolution" in text or "Name or service not known" in text or "resolve" in text:
        return "its name does not resolve: no network?"
    if "Connection refused" in text:
        return "connection refused"
    if "Network is unreachable" in text or "No route to host" in text:
        return "network unreachable"
    return ""


def fetch_url(
    url: str, dest: Path, known: str | None, progressbar: bool = True, attempts: int = 3
) -> Path:
    """Download ``url`` to ``dest`` unless already there with hash ``known``; return ``dest``.

    A hash mismatch deletes the download and raises :class:`DataError` naming the file.
    Without ``known``, a download whose server sends no length is checked another way
    (:meth:`ResumableDownloader._confirm`).
    """
    part = dest.with_name(dest.name + ".part")
    downloader = ResumableDownloader(part, progressbar, attempts, check_length=known is None)
    pooch_log = pooch.get_logger()
    level = pooch_log.level
    pooch_log.setLevel(logging.WARNING)  # we log ourselves, and record unknown hashes
    try:
        if dest.exists() and known is not None:
            log.info("%s: in the download cache (%s), checking its checksum", url, dest)
        else:
            log.info("fetching %s -> %s", url, dest)
        pooch.retrieve(url, known, fname=dest.name, path=dest.parent, downloader=downloader)
    except ValueError as exc:  # pooch's hash mismatch; it deleted the temporary file
        downloader.part.unlink(missing_ok=True)
        found = re.search(r"expected (\S+) but got (\w+)", str(exc))
        detail = f"expected {found[1]}, got {found[1].split(':')[0]}:{found[2]}" if found else exc
        raise DataError(f"checksum mismatch for {dest.name} from {url}: {detail}") from None
    except requests.RequestException as exc:
        raise DataError(f"download of {dest.name} failed: {exc}") from None
    finally:
        pooch_log.setLevel(level)
    return dest

"""Line-oriented text files and atomic outputs shared by the data stages.

Lines are split on ``\\n`` only (never on ``\\r`` or Unicode line separators, which would
break the alignment of parallel corpora), and read as UTF-8 with undecodable bytes replaced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


class AlignmentError(ValueError):
    """Parallel files with different line counts."""


def read_lines(path: Path) -> Iterator[str]:
    """Yield the lines of ``path`` without their line ending."""
    with open(path, encoding="utf-8", errors="replace", newline="\n") as fin:
        for line in fin:
            yield line.rstrip("\n").rstrip("\r")


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` to ``path`` (one per line); return how many were written."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line + "\n")
            count += 1
    return count


def count_lines(path: Path) -> int:
    """Number of ``\\n``-terminated lines (a last line without ``\\n`` counts too)."""
    count, last = 0, b"\n"
    with open(path, "rb") as fin:
        while block := fin.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def check_aligned(*paths: Path) -> int:
    """Return the common line count of ``paths``; raise :class:`AlignmentError` otherwise."""
    counts = {Path(p): count_lines(p) for p in paths}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{p.name} has {n}" for p, n in counts.items())
        raise AlignmentError(f"parallel files differ in line count: {detail} lines")
    return next(iter(counts.values()))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as tmp:
        tmp.write(text)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)


@contextlib.contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder that replaces ``dest`` only if the block succeeds.

    On error the temporary folder is removed and an existing ``dest`` is left untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-"))
    tmp.chmod(0o755)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)

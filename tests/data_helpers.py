"""Helpers for the data-stage tests: a local HTTP server and fake upstream archives.

The server serves a folder on 127.0.0.1, honours ``Range: bytes=N-`` (Python's own handler
does not), can cut the connection after a number of bytes on the first request of a path,
and can leave out ``Content-Length`` (HTTP/1.0: the body then ends where the connection
closes, so a transfer cut short looks whole).
``fake_upstream`` writes small files in the format of every upstream download of a registry
entry (tgz, zip, gz, plain) and returns the entry with its addresses moved to the server;
``served_upstream`` serves them and downloads a registry entry from there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import os
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from memtr.data.download import fetch_dataset
from memtr.datasets.params import DataParams
from memtr.datasets.registry import GLUE_TASKS, Dataset, GlueTask, RawFile, get_dataset

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


SMALL = DataParams(bpe_vocab_size=500)  # data params of the preparation tests


def shared_data() -> Path:
    """The shared data mirror beside the repository, or skip the test."""
    if not (SHARED_DATA / "MANIFEST.sha256").is_file():
        pytest.skip(f"shared data mirror not found at {SHARED_DATA}")
    return SHARED_DATA


# --------------------------------------------------------------------------------------------
# HTTP server


@dataclass
class ServerState:
    """What the test server does and what it saw."""

    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent on first GET
    ignore_range: bool = False
    no_length: bool = False  # no Content-Length: the body ends where the connection closes
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)


def _handler(root: Path, state: ServerState) -> type[SimpleHTTPRequestHandler]:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format, *args):  # quiet
            pass

        def do_GET(self):
            path = urlsplit(self.path).path
            state.requests.append((path, self.headers.get("Range")))
            file = Path(self.translate_path(self.path))
            if not file.is_file():
                self.send_error(404)
                return
            data = file.read_bytes()
            start = self._range_start()
            if start is not None and start >= len(data):
                self.send_error(416)
                return
            if start is None:
                self.send_response(200)
                body = data
            else:
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                body = data[start:]
            if not state.no_length:
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            cut = state.cut_after.pop(path, None)
            if cut is not None:  # send part of the body, then drop the connection
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            self.wfile.write(body)

        def _range_start(self) -> int | None:
            header = self.headers.get("Range")
            if state.ignore_range or not header or not header.startswith("bytes="):
                return None
            first = header.removeprefix("bytes=").split("-")[0]
            return int(first) if first.isdigit() else None

    return Handler


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[tuple[str, ServerState]]:
    """Serve ``root`` on 127.0.0.1 (a free port); yield ``(base_url, state)``."""
    state = ServerState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------------------------
# Fake upstream files in the registry's formats

N_LINES = 60


def _plain_pairs(lang: str, n: int = N_LINES, offset: int = 0) -> list[str]:
    word = {"de": "Satz", "en": "Sentence"}.get(lang, lang)
    return [f"{word} Nummer {i + offset} ist hier ." for i in range(n)]


def _sgm(lines: list[str], lang: str) -> str:
    segs = "".join(f'<seg id="{i + 1}"> {line}  </seg>\n' for i, line in enumerate(lines))
    return (
        f'<srcset setid="fake" srclang="any">\n<doc docid="d1" genre="news" origlang="{lang}">\n'
        f"{segs}</doc>\n</srcset>\n"
    )


def _iwslt_tags(lang: str) -> str:
    out = []
    for talk in range(3):
        out += [
            f"<url>http://www.ted.com/talks/{talk}</url>",
            f"<keywords>talks, {lang}</keywords>",
            f"<talkid>{talk}</talkid>",
            f"<title>Title {talk} {lang}</title>",
            f"<description>Description {talk} {lang}</description>",
        ]
        out += _plain_pairs(lang, 20, offset=20 * talk)
    return "\n".join(out) + "\n"


def _wikitext(split: str) -> str:
    body = " ".join(f"word{i} @-@ token" for i in range(12))
    return "".join(f" \n = Heading {split} {i} = \n \n {body} .\n" for i in range(N_LINES // 4))


def _glue_rows(task: GlueTask, test: bool, n: int = 24) -> list[list[str]]:
    columns = (*task.inputs, *task.test_inputs, task.label, task.dev_label or 0)
    width = max(columns) + 1
    if task.num_fields and not test:
        width = task.num_fields
    labels = ["2.5", "4.0"] if task.regression else ["entailment", "not_entailment"]
    rows = []
    for i in range(n):
        row = [f"x{i}c{c}" for c in range(width)]
        for j, col in enumerate(task.test_inputs if test else task.inputs):
            row[col] = f"sentence {i} part {j} of the example ."
        if not test:
            row[task.label] = labels[i % 2]
            if task.dev_label is not None:
                row[task.dev_label] = labels[(i + 1) % 2]
        rows.append(row)
    return rows


def _glue_tsv(task: GlueTask, name: str) -> str:
    test = name.startswith("test")
    rows = _glue_rows(task, test)
    if task.num_fields and not test:
        rows.append(["malformed", "row"])  # dropped by the QQP filter
    header = [] if not (task.header_in_train_dev or test) else [["header"] * len(rows[0])]
    return "".join("\t".join(row) + "\n" for row in header + rows)


def _mrpc(name: str) -> str:
    if name == "mrpc_dev_ids.tsv":
        return "".join(f"{100 + i}\t{200 + i}\n" for i in range(0, 24, 4))
    rows = ["\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
    rows += [f"{i % 2}\t{100 + i}\t{200 + i}\tfirst {i} .\tsecond {i} ." for i in range(24)]
    return "\n".join(rows) + "\n"


def fake_content(ds: Dataset, raw: RawFile) -> str:
    """Small text in the format of the raw file ``raw`` of ``ds``."""
    name = raw.name
    if ds.kind == "glue":
        task = ds.glue
        assert task is not None
        return _mrpc(name) if task.folder == "MRPC" else _glue_tsv(task, name.removesuffix(".tsv"))
    if name.endswith(".tokens"):
        return _wikitext(name.split(".")[1])
    if name.endswith(".sgm"):
        lang = name.split(".")[-2]
        return _sgm(_plain_pairs(lang, 30), lang)
    if name.endswith(".xml"):
        lang = name.split(".")[-2]
        return "<mteval>\n" + _sgm(_plain_pairs(lang, 7), lang) + "</mteval>\n"
    if name.startswith("train.tags"):
        return _iwslt_tags(name.rsplit(".", 1)[1])
    lang = name.rsplit(".", 1)[1]
    return "\n".join(_plain_pairs(lang)) + "\n"


def _write_archive(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    members = {**members, "unrelated/README": b"not extracted\n"}
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        return
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def fake_upstream(ds: Dataset, root: Path, base_url: str) -> Dataset:
    """Write fake upstream files for ``ds`` under ``root``; return ``ds`` served from there.

    An upstream ``https://host/path`` becomes ``<base_url>/host/path``; raw checksums are
    dropped (the content is fake), so they are recorded on first download instead.
    """
    files = []
    for url in ds.urls:
        parts = urlsplit(url)
        local = root / parts.netloc / parts.path.lstrip("/")
        raws = [raw for raw in ds.files if raw.url == url]
        content = {raw.name: fake_content(ds, raw).encode() for raw in raws}
        if raws[0].member is not None:
            _write_archive(local, {raw.member: content[raw.name] for raw in raws})
        else:
            local.parent.mkdir(parents=True, exist_ok=True)
            data = content[raws[0].name]
            local.write_bytes(gzip.compress(data) if url.endswith(".gz") else data)
        new_url = f"{base_url}/{parts.netloc}{parts.path}"
        files += [dataclasses.replace(raw, url=new_url, sha256=None) for raw in raws]
    return dataclasses.replace(ds, files=tuple(files))


def flip_byte(path: Path, offset: int = 100) -> None:
    """Corrupt ``path`` in place by inverting one byte."""
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


def random_file(path: Path, size: int) -> Path:
    """Write ``size`` random bytes to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


ALL_GLUE = [f"glue_{key}" for key in GLUE_TASKS]


@contextlib.contextmanager
def served_upstream(root: Path) -> Iterator[Callable[[str], tuple[Dataset, Path]]]:
    """Serve fake upstream files from ``root/www``; yield ``make(name) -> (dataset, raw folder)``
    that downloads registry entry ``name`` from there into ``root/raw/<name>``."""
    www = root / "www"
    www.mkdir(parents=True)
    with http_server(www) as (base, _):

        def make(name: str) -> tuple[Dataset, Path]:
            ds = fake_upstream(get_dataset(name), www, base)
            raw = root / "raw" / name
            fetch_dataset(ds, raw, root / "cache", progressbar=False)
            return ds, raw

        yield make


def indexed(prefix: Path):
    """The binarized (mmap) fairseq dataset at ``prefix``."""
    from fairseq.data import indexed_dataset

    return indexed_dataset.make_dataset(str(prefix), impl="mmap")


def sacrebleu_cache(root: Path) -> Path:
    """A sacrebleu cache (``$SACREBLEU``) as ``sacrebleu -t wmt14/full -l de-en`` leaves it on a
    networked machine: the downloaded ``test-full.tgz`` in ``wmt14/full/raw/`` and its
    extracted files, here the De-En pair only (the mirror's byte-identical copies); sacrebleu
    writes its plain-text files from them itself."""
    raw = root / "wmt14" / "full" / "raw"
    (raw / "test-full").mkdir(parents=True)
    with tarfile.open(raw / "wmt14_full.test-full.tgz", "w:gz") as tar:
        for side in ("src.de", "ref.en"):
            name = f"newstest2014-deen-{side}.sgm"
            source = shared_data() / "wmt14-newstest2014-deen" / name
            (raw / "test-full" / name).write_bytes(source.read_bytes())
            tar.add(source, arcname=f"test-full/{name}")
    return root

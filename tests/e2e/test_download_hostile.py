"""Issue 48's two download faults as a new user meets them, through `dvc repro download`: a
tar made with ``tar -cPf`` whose member is a local file's absolute path, and a server on
127.0.0.1 that sends no Content-Length, ignores ``Range`` and cuts the transfer short. Each
stops in one line and leaves the local file and ``data/`` as they were; the cases one by
one: tests/unit/test_download_integrity.py."""

from __future__ import annotations

import copy
import shutil
import subprocess

import pytest
import yaml
from data_helpers import http_server
from pipeline_helpers import PIPELINE_PARAMS, make_workspace, run_tool

pytestmark = [pytest.mark.pipeline]


def params(url: str, member: str | None = None) -> dict:
    doc = copy.deepcopy(PIPELINE_PARAMS)
    train = {"url": url, **({"member": member} if member else {})}
    declaration = {"task": "translation", "langs": ["de", "en"], "format": "tsv",
                   "columns": {"source": 1, "target": 0}, "files": {"train": train},
                   "split": {"valid": 10, "test": 10, "seed": 1}}  # fmt: skip
    doc["data"].update(dataset="pairs", datasets={"pairs": declaration})
    return doc


def errors(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar command")
def test_hostile_archive_and_a_cut_download_stop_dvc_in_one_line(tmp_path):
    victim = tmp_path / "elsewhere" / "train.tsv"
    victim.parent.mkdir()
    victim.write_text("the 1 house\tdas 1 haus\n" * 50)
    www = tmp_path / "www"
    www.mkdir()
    subprocess.run(["tar", "-cPf", str(www / "corpus.tar"), str(victim)], check=True)
    (www / "pairs.tsv").write_text("".join(f"the {i} house\tdas {i} haus\n" for i in range(4000)))
    with http_server(www) as (base, state):
        ws = make_workspace(tmp_path / "ws", params(f"{base}/corpus.tar", str(victim)))
        proc = run_tool(["dvc", "repro", "download"], ws, timeout=300)
        assert proc.returncode != 0
        assert errors(proc) == [
            "error: data.datasets.pairs.files.train.member must be a path inside the archive "
            f"(no leading /, no ..), got '{victim}'"
        ]
        assert victim.read_text() == "the 1 house\tdas 1 haus\n" * 50
        assert not (ws / "data" / "raw" / "pairs").exists()

        state.no_length, state.ignore_range = True, True
        state.cut_after["/pairs.tsv"] = 20_000
        (ws / "params.yaml").write_text(yaml.safe_dump(params(f"{base}/pairs.tsv")))
        proc = run_tool(["dvc", "repro", "download"], ws, timeout=300)
    assert proc.returncode != 0
    assert errors(proc) == [
        "error: download of pairs.tsv cannot be checked: 127.0.0.1 sent no length and ignores "
        "Range requests, so a transfer cut short looks whole, and pairs.tsv has no sha256; "
        "declare its sha256 (beside its url in params.yaml) and run again"
    ]
    assert not (ws / "data" / "raw" / "pairs").exists()
    assert not list((ws / "data").glob("downloads/**/*.tsv*"))

"""A user's own parallel corpus through the whole pipeline with `dvc repro`, declared in
params.yaml only: a zipped TSV (target, source, attribution) on an HTTP server on 127.0.0.1,
valid and test carved from it, a test set of one's own declared in eval.extra_test, a tiny
training and evaluation, the results table; then the declaration edited with the raw data in
place. The schema's errors and the data errors one by one: tests/unit/test_inline_datasets.py,
tests/unit/test_declared_changes.py and tests/unit/test_declared_test_sets.py."""

from __future__ import annotations

import copy
import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from data_helpers import http_server
from pipeline_helpers import (
    PIPELINE_PARAMS,
    check,
    make_workspace,
    run_tool,
    run_with_changed_params,
)

from memtr.datasets.synthetic import make_pairs

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

DATASET, EXP = "reversed_pairs", "own_data"
ROWS, HELD_OUT = 800, {"valid": 40, "test": 0.05}  # test: 40 of the 800 rows


def write_zipped_tsv(folder: Path, rows: int = ROWS, seed: int = 5) -> Path:
    """The generated reversal task as a TSV in a zip: target, source, an attribution column."""
    pairs = make_pairs("reverse", rows, vocab_size=20, min_len=3, max_len=10, seed=seed)
    lines = [f"{tgt}\t{src}\tCC-BY-4.0 contributor {i % 9}" for i, (src, tgt) in enumerate(pairs)]
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "pairs.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("release/pairs.tsv", "".join(line + "\n" for line in lines))
    return folder / "pairs.zip"


OWN_TEST = {"name": "own_test", "format": "tsv", "columns": {"source": 1, "reference": 0},
            "file": "corpus/own_test.tsv"}  # a test set of one's own, a local file  # fmt: skip
OWN_TEST_ROWS = 30


def declared_params(url: str) -> dict:
    doc = copy.deepcopy(PIPELINE_PARAMS)
    declaration = {
        "task": "translation", "langs": ["src", "tgt"], "format": "tsv",
        "columns": {"source": 1, "target": 0},
        "files": {"train": {"url": url, "member": "release/pairs.tsv"}},
        "split": {**HELD_OUT, "seed": 7},
    }  # fmt: skip
    doc["data"].update(dataset=DATASET, datasets={DATASET: declaration}, bpe_vocab_size=100)
    doc["experiment"]["name"] = EXP
    doc["eval"]["extra_test"] = [OWN_TEST]
    return doc


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def own_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, list, str]]:
    """(workspace, served zip, the server's request log, the run's output) after a whole
    `dvc repro`."""
    root = tmp_path_factory.mktemp("own_data")
    archive = write_zipped_tsv(root / "www")
    with http_server(root / "www") as (base, state):
        ws = make_workspace(root / "ws", declared_params(f"{base}/{archive.name}"))
        pairs = make_pairs("reverse", OWN_TEST_ROWS, vocab_size=20, min_len=3, max_len=10, seed=9)
        (ws / "corpus").mkdir()
        (ws / OWN_TEST["file"]).write_text("".join(f"{tgt}\t{src}\n" for src, tgt in pairs))
        first = check(run_tool(["dvc", "repro"], ws))
        yield ws, archive, state.requests, first.stdout


def test_a_declared_zipped_tsv_runs_to_a_results_table(own_data):
    ws, archive, requests, output = own_data
    assert [path for path, _ in requests] == ["/pairs.zip"]  # fetched once
    lock = json.loads((ws / f"data/raw/{DATASET}/checksums.lock.json").read_text())
    assert set(lock["downloads"].values()) == {
        f"sha256:{hashlib.sha256(archive.read_bytes()).hexdigest()}"
    }
    stats = json.loads((ws / f"data/prep/{DATASET}/stats.json").read_text())
    assert stats["lines"]["valid"] == stats["lines"]["test"] == 40
    assert stats["lines"]["train.raw"] == ROWS - 80
    assert set(stats["held_out"]) == {"valid_in_train", "test_in_train"}
    refs = (ws / f"data/prep/{DATASET}/test.ref.tgt").read_text().splitlines()
    sources = (ws / f"data/prep/{DATASET}/test.raw.src").read_text().splitlines()
    assert all(ref.split() == src.split()[::-1] for ref, src in zip(refs, sources, strict=True))
    table = pd.read_csv(ws / f"results/{EXP}/results.csv")
    for split in ("test", "own_test"):  # the declared test set: a split of the table
        rows = table[table["split"] == split]
        assert list(rows["variant"]) == ["baseline", "mem4"]
        assert rows["bleu_mean"].between(0, 100).all()
    for variant in ("baseline", "mem4"):
        scores = json.loads((ws / f"metrics/{EXP}/{variant}/seed1/eval.json").read_text())
        assert scores["test"]["sentences"] == 40
        assert scores["own_test"]["sentences"] == OWN_TEST_ROWS
    own = ws / f"data/extra/{DATASET}/own_test"
    assert (own / "test.ref.tgt").read_text().splitlines()[0] == (
        (ws / OWN_TEST["file"]).read_text().split("\t")[0]
    )  # the reference column, read as declared
    notes = (ws / f"results/{EXP}/results.md").read_text()
    assert f"Machine translation: {DATASET}" in notes
    assert "(eval.extra_test: own_test (declared))" in notes
    cleaning = stats["cleaning"]
    dropped = sum(cleaning["dropped"].values())
    assert f"- training data: data.clean dropped {dropped:,} of {cleaning['pairs']:,} " in notes
    assert f"{DATASET}: data.clean kept {cleaning['kept']:,} of {cleaning['pairs']:,}" in output
    again = check(run_tool(["dvc", "repro"], ws))
    assert "Running stage" not in again.stdout and len(requests) == 1


def test_the_carved_split_is_the_same_bytes_on_a_second_run(own_data, tmp_path):
    ws, _, _, _ = own_data
    proc = run_tool(
        ["python", "workflow/scripts/prepare.py", "--quiet", "--out", str(tmp_path / "again")], ws
    )
    check(proc)
    assert digests(tmp_path / "again") == digests(ws / f"data/prep/{DATASET}")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["split"].update(valid=500, test=300),
     f"error: {DATASET}: pairs.zip member release/pairs.tsv: the split sizes (valid 500 + test 300) leave no training rows of its 800"),
    (lambda d: d["columns"].update(source=3),
     f"error: {DATASET}: pairs.zip member release/pairs.tsv line 1: column 3 (source) is past the row's 3 field(s)"),
    (lambda d: d.update(format="parquet"),
     f"error: data.datasets.{DATASET}.format must be one of text, tsv, csv, got 'parquet'"),
])  # fmt: skip
def test_a_bad_declaration_stops_dvc_in_one_line_and_keeps_the_data(own_data, change, message):
    ws, _, _, _ = own_data
    kept = [f"data/prep/{DATASET}", f"data/bin/{DATASET}"]
    before = {path: digests(ws / path) for path in kept}
    proc = run_with_changed_params(ws, lambda doc: change(doc["data"]["datasets"][DATASET]))
    assert proc.returncode != 0
    assert [line for line in proc.stderr.splitlines() if line.startswith("error: ")] == [message]
    assert "Running stage 'train" not in proc.stdout
    assert {path: digests(ws / path) for path in kept} == before


def edit_declaration(ws: Path, **train) -> None:
    """Set the declared dataset's training file in the workspace's params.yaml (kept)."""
    doc = yaml.safe_load((ws / "params.yaml").read_text())
    doc["data"]["datasets"][DATASET]["files"]["train"] = train
    (ws / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def train_rows(ws: Path) -> int:
    return json.loads((ws / f"data/prep/{DATASET}/stats.json").read_text())["lines"]["train.raw"]


def test_an_edited_declaration_takes_effect_with_the_raw_data_in_place(own_data):
    """The declaration edited after a first run (data/raw/<name>/ in place, as DVC keeps it):
    a new release with its new sha256 arrives; a wrong sha256 stops in one line and keeps
    the prepared data; an edited local file arrives through docs/own-data.md's remedies.
    Runs last: it leaves the workspace on other data."""
    ws, archive, requests, _ = own_data
    declared = yaml.safe_load((ws / "params.yaml").read_text())["data"]["datasets"][DATASET]
    url = declared["files"]["train"]["url"]
    member = "release/pairs.tsv"
    assert train_rows(ws) == ROWS - 80
    write_zipped_tsv(archive.parent, rows=1000, seed=6)  # a new release at the same address
    edit_declaration(
        ws, url=url, member=member, sha256=hashlib.sha256(archive.read_bytes()).hexdigest()
    )
    check(run_tool(["dvc", "repro", "prepare"], ws))
    assert train_rows(ws) == 1000 - 40 - 50 and len(requests) == 2  # test: 0.05 of 1,000
    kept = digests(ws / f"data/prep/{DATASET}")

    edit_declaration(ws, url=url, member=member, sha256="0" * 64)
    proc = run_tool(["dvc", "repro", "prepare"], ws)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode != 0 and len(errors) == 1
    assert errors[0].startswith(f"error: checksum mismatch for pairs.zip from {url}")
    assert digests(ws / f"data/prep/{DATASET}") == kept

    local = ws / "corpus" / "pairs.zip"  # the same release as a local file, no sha256
    local.write_bytes(archive.read_bytes())
    edit_declaration(ws, url="corpus/pairs.zip", member=member)
    check(run_tool(["dvc", "repro", "prepare"], ws))
    assert train_rows(ws) == 910
    write_zipped_tsv(local.parent, rows=1200, seed=7)  # edited in place: DVC does not watch it
    assert "Running stage" not in check(run_tool(["dvc", "repro", "prepare"], ws)).stdout
    check(run_tool(["dvc", "repro", "--force", "download"], ws))  # the documented remedy
    check(run_tool(["dvc", "repro", "prepare"], ws))
    assert train_rows(ws) == 1200 - 40 - 60
    write_zipped_tsv(local.parent, rows=1300, seed=8)  # the other remedy: its new sha256
    edit_declaration(ws, url="corpus/pairs.zip", member=member,
                     sha256=hashlib.sha256(local.read_bytes()).hexdigest())  # fmt: skip
    check(run_tool(["dvc", "repro", "prepare"], ws))
    assert train_rows(ws) == 1300 - 40 - 65

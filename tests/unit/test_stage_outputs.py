"""A tables or figures stage that fails keeps its previous outputs and names the file it could
not read: run on a copy of a committed campaign (cpu_replication_glue_rte: its tables read
no prepared data), with one input spoiled. The DVC side (persist: true) is checked here on
dvc.yaml, and for real with `dvc repro` in tests/e2e/test_pipeline.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from memtr import stage

REPO = Path(__file__).resolve().parents[2]
EXP = "cpu_replication_glue_rte"
TABLES = ("results.csv", "results.md", "claims.csv", "claims.md", "runs.csv",
          "memory_mass.csv", "memory_mass.md", "README.md", "params.yaml", "verdicts.json")  # fmt: skip


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed runs and tables of EXP, copied; no prepared data, no extra sets."""
    root = tmp_path_factory.mktemp("campaign")
    shutil.copytree(REPO / "metrics" / EXP, root / "metrics")
    (root / "results").mkdir()
    shutil.copytree(REPO / "results" / EXP / "attention", root / "results" / "attention")
    for name in TABLES:
        shutil.copyfile(REPO / "results" / EXP / name, root / "results" / name)
    shutil.copyfile(REPO / "results" / EXP / "params.yaml", root / "params.yaml")
    for empty in ("prep", "extra"):
        (root / empty).mkdir()
    return root


def tables_stage(root: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable, str(REPO / "workflow/scripts/tables.py"),
        "--params", str(root / "params.yaml"), "--metrics", str(root / "metrics"),
        "--prep", str(root / "prep"), "--extra", str(root / "extra"),
        "--attention", str(root / "results/attention"), "--out", str(root / "results"),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO)


def contents(root: Path) -> dict[str, bytes]:
    return {name: (root / "results" / name).read_bytes() for name in TABLES}


FAULTS = [
    ("metrics/mem10/seed2/eval.json", b'{"test": garbage', "not JSON (Expecting value"),
    ("metrics/baseline/seed3/train.json", b'{"updates": 10}', "no 'train_wall_s'"),
    ("results/attention/mem10_seed1/memory_mass.csv", b"\x89PNG\r\n\x1a\n\x00\xff",
     "UnicodeDecodeError"),
    ("results/attention/mem20_seed1/memory_mass.csv", b"a,b\n1,2\n",
     "not a memory-mass table (no column 'model')"),
]  # fmt: skip


@pytest.mark.parametrize(("spoiled", "garbage", "why"), FAULTS)
def test_an_unreadable_input_is_named_and_the_tables_are_kept(campaign, spoiled, garbage, why):
    before = contents(campaign)
    good = (campaign / spoiled).read_bytes()
    (campaign / spoiled).write_bytes(garbage)
    try:
        proc = tables_stage(campaign)
    finally:
        (campaign / spoiled).write_bytes(good)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr  # one line
    assert proc.stderr.startswith(f"error: cannot read {campaign / spoiled}: ")
    assert why in proc.stderr
    assert contents(campaign) == before
    assert not list((campaign / "results").glob(".*staging*"))


def test_the_copy_regenerates_the_committed_tables(campaign):
    """The staged writing changes no byte: the committed tables come out again."""
    for name in TABLES:
        (campaign / "results" / name).write_text("previous\n")
    assert tables_stage(campaign).returncode == 0
    committed = {name: (REPO / "results" / EXP / name).read_bytes() for name in TABLES}
    assert contents(campaign) == committed
    assert not list((campaign / "results").glob(".*staging*"))


def test_staged_outputs_replace_files_and_folders_only_on_success(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "old.png").write_text("old figure")
    (tmp_path / "report.html").write_text("old page")
    with pytest.raises(RuntimeError), stage.staged_outputs(tmp_path, "figures") as staged:
        (staged / "report.html").write_text("half-written page")
        raise RuntimeError("a figure failed")
    assert (tmp_path / "report.html").read_text() == "old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "report.html"]

    with stage.staged_outputs(tmp_path, "figures") as staged:
        (staged / "figures").mkdir()
        (staged / "figures" / "new.png").write_text("new figure")
        (staged / "report.html").write_text("new page")
    assert [p.name for p in (tmp_path / "figures").iterdir()] == ["new.png"]
    assert (tmp_path / "report.html").read_text() == "new page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "report.html"]


def test_dvc_leaves_the_tables_and_figures_in_place_while_their_stage_runs():
    """persist: true, or DVC deletes the outputs before the command (and, uncached, cannot
    restore them when it fails)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name in ("tables", "figures"):
        declared = stages[name]["outs"] + stages[name].get("metrics", [])
        outs = [next(iter(out.items())) for out in declared]
        assert outs and all(flags.get("persist") is True for _, flags in outs), name

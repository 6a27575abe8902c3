"""The real pipeline on a tiny config: dvc repro, snakemake, same DAG, faults, bad params."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import (
    PIPELINE_PARAMS,
    UPDATES,
    Background,
    check,
    dvc_jobs,
    make_workspace,
    run_tool,
    run_with_changed_params,
    snakemake_jobs,
    synthetic_params,
    tool_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

EXP = PIPELINE_PARAMS["experiment"]["name"]
RESULTS = [f"results/{EXP}/{name}" for name in ("results.csv", "results.md", "claims.csv",
                                                "claims.md", "runs.csv", "memory_mass.csv",
                                                "memory_mass.md", "README.md", "params.yaml")]  # fmt: skip


def digest(folder: Path, paths: list[str]) -> dict[str, str]:
    return {p: hashlib.sha256((folder / p).read_bytes()).hexdigest() for p in paths}


# The dvc workspace adds an out-of-domain test set, an equal-compute baseline (2x steps) and
# the valid split, which chose each run's checkpoint: scored, reported, never claimed.
DVC_PARAMS = copy.deepcopy(PIPELINE_PARAMS)
DVC_PARAMS["variants"]["baseline_x2"] = {
    "layout": "none",
    "mem_tokens": 0,
    "max_update": 2 * UPDATES,
}
DVC_PARAMS["experiment"].update(
    variants=["baseline", "mem4", "baseline_x2"], equal_compute={"mem4": "baseline_x2"}
)
DVC_PARAMS["eval"].update(splits=["valid", "test"], extra_test=["newstest2014_de_en"])


def assert_results(ws: Path, variants: tuple[str, ...] = ("baseline", "mem4")) -> pd.DataFrame:
    """The tables exist, hold one row per variant, with real numbers from the runs."""
    table = pd.read_csv(ws / f"results/{EXP}/results.csv")
    table = table[table["split"] == "test"]
    assert list(table["variant"]) == list(variants)
    assert table["bleu_mean"].between(0, 100).all()
    assert (table["params_total"].iloc[1] - table["params_total"].iloc[0]) == 4 * 32
    for variant in ("baseline", "mem4"):
        scores = json.loads((ws / f"metrics/{EXP}/{variant}/seed1/eval.json").read_text())
        assert scores["test"]["sentences"] == 1000
        assert "tok:13a" in scores["test"]["bleu_signature"]
    mass = pd.read_csv(ws / f"results/{EXP}/memory_mass.csv")
    assert set(mass["model"]) == {"mem4_seed1"}
    assert len(mass) == 1, "one row per encoder layer of mem4 (1 layer)"
    assert list((ws / f"results/{EXP}/attention/mem4_seed1").glob("*.png"))
    figures = ws / f"results/{EXP}/figures"  # the figures stage: the claims table, drawn
    forest = pd.read_csv(figures / "claims_forest.csv")
    assert list(forest["delta"]) == list(
        pd.read_csv(ws / f"results/{EXP}/claims.csv")["delta_bleu"]
    )
    assert {"claims_forest", "learning_curves", "memory_mass"} <= {
        p.stem for p in figures.glob("*.png")
    }
    return table


@pytest.fixture(scope="module")
def snakemake_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    """`snakemake --profile local` over the whole DAG from the download on (Multi30k through
    Snakemake's data rules), started at once: it runs beside the dvc workspace's `dvc repro`
    (each mostly one process on one core) and test_snakemake_runs_the_same_dag_locally
    collects it."""
    run = Background(
        ["snakemake", "--profile", "local"], make_workspace(tmp_path_factory.mktemp("snakemake"))
    )
    yield run
    run.stop()


@pytest.fixture(scope="module")
def dvc_workspace(tmp_path_factory: pytest.TempPathFactory, snakemake_run: Background) -> Path:
    """The whole DAG with `dvc repro`; every test that only reads its outputs shares it.
    (``snakemake_run``: started first, to run beside this one.)"""
    ws = make_workspace(tmp_path_factory.mktemp("dvc"), DVC_PARAMS)
    check(run_tool(["dvc", "repro"], ws))
    return ws


def test_dvc_repro_runs_the_whole_dag_then_nothing(dvc_workspace: Path):
    assert_results(dvc_workspace, ("baseline", "mem4", "baseline_x2"))
    start = time.perf_counter()
    again = check(run_tool(["dvc", "repro"], dvc_workspace))
    assert "Running stage" not in again.stdout
    assert "Data and pipelines are up to date" in again.stdout + again.stderr
    print(f"no-op dvc repro: {time.perf_counter() - start:.1f} s")
    shown = check(run_tool(["dvc", "metrics", "show", "--json"], dvc_workspace))
    assert f"metrics/{EXP}/mem4/seed1/eval.json" in shown.stdout
    check(run_tool(["dvc", "plots", "show", "--json"], dvc_workspace))


def run_files(ws: Path, variant: str) -> tuple[dict, dict]:
    folder = ws / f"metrics/{EXP}/{variant}/seed1"
    return tuple(json.loads((folder / f"{n}.json").read_text()) for n in ("train", "eval"))


def test_out_of_domain_test_set_and_equal_compute_pairing(dvc_workspace: Path):
    ws = dvc_workspace
    stats = json.loads((ws / "data/extra/multi30k_de_en/stats.json").read_text())
    news = stats["sets"]["newstest2014"]
    assert news["source"] == "newstest2014_de_en" and news["lines"] == 3003
    assert news["unk_percent"] < 1.0, "the joint BPE reads news text with almost no <unk>"
    refs = (ws / "data/extra/multi30k_de_en/newstest2014/test.ref.en").read_text().splitlines()
    assert refs[0] == "Gutach: Increased safety for pedestrians"  # sacrebleu's wmt14 ref line 1
    runs = {v: run_files(ws, v) for v in DVC_PARAMS["experiment"]["variants"]}
    for variant, (train, scores) in runs.items():
        assert scores["newstest2014"]["sentences"] == 3003
        hyps = ws / f"metrics/{EXP}/{variant}/seed1/outputs/hyps.newstest2014.txt"
        assert len(hyps.read_text().splitlines()) == 3003
        assert train["updates"] == (2 * UPDATES if variant == "baseline_x2" else UPDATES)
    table = pd.read_csv(ws / f"results/{EXP}/results.csv").set_index(["split", "variant"])
    assert set(table.index.get_level_values("split")) == {"valid", "test", "newstest2014"}
    for split in ("test", "newstest2014"):
        mem4 = table.loc[(split, "mem4")]
        bleu = {v: runs[v][1][split]["bleu"] for v in runs}
        assert mem4["compute_reference"] == "baseline_x2"
        assert mem4["delta_vs_compute_reference"] == round(bleu["mem4"] - bleu["baseline_x2"], 2)
        assert mem4["delta_vs_reference"] == round(bleu["mem4"] - bleu["baseline"], 2)
        wall = runs["mem4"][0]["train_wall_s"] / runs["baseline_x2"][0]["train_wall_s"]
        assert mem4["wall_ratio_vs_compute_reference"] == round(wall, 2)
        assert 0 < mem4["p_vs_compute_reference"] <= 1
    claims = pd.read_csv(ws / f"results/{EXP}/claims.csv")
    pairs = set(
        claims[["split", "variant", "against", "budget"]].itertuples(index=False, name=None)
    )
    assert pairs == {
        (split, "mem4", against, budget)
        for split in ("test", "newstest2014")
        for against, budget in (("baseline", "equal steps"), ("baseline_x2", "equal compute"))
    }
    assert set(claims["verdict"]) == {"undecided (1 seed)"}
    per_run = pd.read_csv(ws / f"results/{EXP}/runs.csv").set_index("variant")
    for variant, (train, scores) in runs.items():
        assert per_run.loc[variant, "train_wall_s"] == train["train_wall_s"]
        assert per_run.loc[variant, "bleu_newstest2014"] == scores["newstest2014"]["bleu"]
    notes = (ws / f"results/{EXP}/claims.md").read_text()
    assert "`better`/`worse` when p_adj and p_boot_adj are both below 0.05" in notes


def test_replication_report_is_written_from_the_claims_table(dvc_workspace: Path):
    from memtr.reports.replication import Claim, report

    claims = pd.read_csv(dvc_workspace / f"results/{EXP}/claims.csv")
    text = report(dvc_workspace / "results", (Claim(1, EXP, "memory helps"),))
    assert "3 training runs" in text
    assert f"{UPDATES} updates (equal-steps budget), 1 seed(s)" in text
    for _, row in claims.iterrows():
        line = next(
            x for x in text.splitlines()
            if x.startswith(f"| {row['split']} | `mem4` | `{row['against']}` ({row['budget']}")
        )  # fmt: skip
        assert f"{row['delta_bleu']:+.2f}" in line and f"n/a / {row['p_boot_adj']:.4f}" in line
        assert f"**{row['verdict']}**" in line
    # one seed: no test over seeds, the bootstrap's p (Holm over its family) is shown
    assert "- equal steps: 2 comparisons in 2 families: 2 undecided (1 seed) (of 2).\n" in text
    assert "- `baseline` on newstest2014: BLEU " in text and "the metric's floor here: 5.00" in text


def test_the_split_that_chose_the_checkpoints_is_reported_without_a_claim(dvc_workspace):
    """valid chose each run's checkpoint (best validation loss): it is scored and in the
    results table, but makes no claim, and claims.md and the replication report say why."""
    from memtr.reports.replication import Claim, report

    ws = dvc_workspace
    for variant in DVC_PARAMS["experiment"]["variants"]:
        scores = run_files(ws, variant)[1]
        assert scores["valid"]["sentences"] == 1014  # Multi30k's valid, every sentence
        hyps = ws / f"metrics/{EXP}/{variant}/seed1/outputs/hyps.valid.txt"
        assert len(hyps.read_text().splitlines()) == 1014
    table = pd.read_csv(ws / f"results/{EXP}/results.csv")
    assert set(table[table["split"] == "valid"]["variant"]) == set(
        DVC_PARAMS["experiment"]["variants"]
    )
    assert "valid" not in set(pd.read_csv(ws / f"results/{EXP}/claims.csv")["split"])
    assert "`valid` chose each run's checkpoint" in (ws / f"results/{EXP}/claims.md").read_text()
    text = report(ws / "results", (Claim(1, EXP, "memory helps"),))
    assert "`valid` chose each run's checkpoint" in text
    assert "`baseline` on valid" not in text


BAD_PARAMS = [
    (lambda d: d["train"].update(max_update=-1), "error: train.max_update must be > 0, got -1"),
    (lambda d: d["train"].update(dropuot=0.2), "error: unknown key train.dropuot"),
    (lambda d: d["experiment"].update(reference="mem99"),
     "error: experiment.reference 'mem99' must be one of experiment.variants"),
    (lambda d: d["variants"]["mem4"].update(mem_tokens=-4),
     "error: variants.mem4.mem_tokens must be between 0 and 1024, got -4"),
]  # fmt: skip


@pytest.mark.parametrize(("break_params", "message"), BAD_PARAMS)
def test_bad_params_stop_dvc_before_any_work_and_keep_results(dvc_workspace, break_params, message):
    ws = dvc_workspace
    kept = RESULTS + [f"metrics/{EXP}/mem4/seed1/eval.json", f"runs/{EXP}/mem4/seed1/model.pt"]
    before = digest(ws, kept)
    proc = run_with_changed_params(ws, break_params)  # the workspace's params, one key broken
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert "Running stage 'train" not in proc.stdout
    assert digest(ws, kept) == before


def test_unparseable_params_stop_dvc_and_keep_results(dvc_workspace):
    ws = dvc_workspace
    before = digest(ws, RESULTS)
    good = (ws / "params.yaml").read_text()
    (ws / "params.yaml").write_text(good + "\ntrain: [unclosed\n")
    try:
        proc = run_tool(["dvc", "repro"], ws)
    finally:
        (ws / "params.yaml").write_text(good)
    assert proc.returncode != 0
    assert "params.yaml" in proc.stderr
    assert digest(ws, RESULTS) == before


def spoiled_run(ws: Path, command: list[str], spoiled: str) -> subprocess.CompletedProcess:
    """``command`` in ``ws`` with the file ``spoiled`` cut to garbage, then put back (its bytes
    and its time, so that neither tool sees a change afterwards)."""
    path = ws / spoiled
    good, stat = path.read_bytes(), path.stat()
    path.write_text('{"test": garbage')
    try:
        return run_tool(command, ws)
    finally:
        path.write_bytes(good)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_failed_tables_stage_names_the_file_and_keeps_the_tables(dvc_workspace):
    """Once a traceback ending in JSONDecodeError, and DVC had deleted results/<e>/ before
    the command: now persist: true leaves the tables, which the stage replaces only once it has
    written them all."""
    ws = dvc_workspace
    outputs = [*RESULTS, f"results/{EXP}/report.html"]
    before = digest(ws, outputs)
    spoiled = f"metrics/{EXP}/mem4/seed1/eval.json"
    proc = spoiled_run(ws, ["dvc", "repro", "--single-item", "--force", "tables"], spoiled)
    assert proc.returncode != 0
    assert f"error: cannot read {spoiled}: not JSON (Expecting value" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert digest(ws, outputs) == before


def test_dvc_and_snakemake_have_the_same_stages_and_outputs(dvc_workspace):
    assert dvc_jobs(dvc_workspace) == snakemake_jobs(dvc_workspace)


def test_snakemake_lint_is_clean(dvc_workspace):
    proc = check(run_tool(["snakemake", "--lint"], dvc_workspace))
    assert "Lints for" not in proc.stdout + proc.stderr
    assert "your workflow is in a good condition" in proc.stdout + proc.stderr


def test_snakemake_runs_the_same_dag_locally(snakemake_run: Background):
    ws = snakemake_run.cwd
    check(snakemake_run.wait())
    assert_results(ws)
    again = check(run_tool(["snakemake", "--profile", "local", "--dry-run"], ws))
    assert "Nothing to be done" in again.stdout + again.stderr
    # `snakemake --report` gets the figures through the rules' report() flags
    check(run_tool(["snakemake", "--report", "snakemake_report.zip"], ws))
    with zipfile.ZipFile(ws / "snakemake_report.zip") as report:
        assert any(name.endswith("claims_forest.png") for name in report.namelist())


def test_a_failed_tables_job_gets_its_tables_back_from_snakemake(snakemake_run: Background):
    """Snakemake deletes a failed job's outputs; with update() it restores the previous ones."""
    ws = snakemake_run.cwd
    check(snakemake_run.wait())
    before = digest(ws, RESULTS)
    spoiled = f"metrics/{EXP}/mem4/seed1/eval.json"
    command = ["snakemake", "--profile", "local", RESULTS[0], "--forcerun", "tables"]
    proc = spoiled_run(ws, command, spoiled)
    assert proc.returncode != 0
    assert f"Restored previous version of {RESULTS[0]}" in proc.stdout + proc.stderr
    assert digest(ws, RESULTS) == before
    log = (ws / f"logs/{EXP}/tables.log").read_text()
    assert f"error: cannot read {spoiled}: not JSON" in log, log


def test_bad_params_stop_snakemake_in_one_line(tmp_path):
    doc = copy.deepcopy(PIPELINE_PARAMS)
    doc["eval"]["beam"] = 0
    ws = make_workspace(tmp_path, doc)
    proc = run_tool(["snakemake", "--profile", "local"], ws)
    assert proc.returncode != 0
    assert "error: eval.beam must be > 0, got 0" in proc.stderr
    assert not (ws / "data").exists() and not (ws / "build").exists()


def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    # The generated reversal task (nothing to download, seconds to prepare), long enough for
    # the kill and the resume to fall mid-epoch (about 40 updates an epoch); a checkpoint every
    # 10 updates. Updates take over 0.1 s here: 1 s after the first checkpoint the run is
    # far from its 60th.
    doc = synthetic_params(max_update=60, validate_interval_updates=10)
    doc["data"]["synthetic"]["train"] = 20000
    ws = make_workspace(tmp_path, doc)
    last = ws / f"runs/{EXP}/baseline/seed1/checkpoints/checkpoint_last.pt"
    target = "train@baseline-1"  # the stage and its upstream: enough to see the resume
    proc = subprocess.Popen(["dvc", "repro", target], cwd=ws, env=tool_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 600
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert last.exists(), "training never wrote a checkpoint"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole dvc process group, training included
    proc.wait()
    assert not (ws / f"runs/{EXP}/baseline/seed1/model.pt").exists()

    rerun = check(run_tool(["dvc", "repro", target], ws))
    for done in ("download", "prepare", "binarize"):
        assert f"Stage '{done}' didn't change, skipping" in rerun.stdout
    log = (ws / f"runs/{EXP}/baseline/seed1/checkpoints/train.log").read_text()
    resumed_at = re.findall(
        r"Loaded checkpoint \S+checkpoint_last\.pt \(epoch \d+ @ (\d+) updates\)", log
    )
    assert resumed_at and int(resumed_at[-1]) > 0, log[-2000:]
    summary = json.loads((ws / f"metrics/{EXP}/baseline/seed1/train.json").read_text())
    assert summary["resumed"] is True and summary["updates"] == 60
    assert (ws / f"runs/{EXP}/baseline/seed1/model.pt").is_file()


def test_changed_settings_never_resume_a_stale_checkpoint(dvc_workspace):
    ws = dvc_workspace
    work = ws / f"runs/{EXP}/mem4/seed1/checkpoints"
    work.mkdir(parents=True, exist_ok=True)
    (work / "fingerprint.txt").write_text("settings of another run\n")
    (work / "checkpoint_last.pt").write_bytes(b"not a checkpoint of this run")
    longer = lambda doc: doc["train"].update(max_update=UPDATES + 1)  # noqa: E731
    check(run_with_changed_params(ws, longer, ("dvc", "repro", "train@mem4-1")))
    stale = list(work.parent.glob("checkpoints.stale-*"))
    assert (
        len(stale) == 1
        and (stale[0] / "checkpoint_last.pt").read_bytes() == b"not a checkpoint of this run"
    )
    summary = json.loads((ws / f"metrics/{EXP}/mem4/seed1/train.json").read_text())
    assert summary["updates"] == UPDATES + 1

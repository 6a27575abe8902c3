"""The committed evidence is what the pipeline wrote: results/ agrees with metrics/ and with the
DVC lock that recorded the runs (results/<e>/dvc.lock). A campaign in progress (results/<e>/dvc.lock
and its finished runs in metrics/<e>/, no tables yet) is checked against its lock too. The
experiments are those git tracks: a run of the main job (the git-ignored results/demo/) is not
evidence and is never read here."""

import hashlib
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from evidence_helpers import committed_experiments, committed_files

from memtr.common.paths import REPO
from memtr.config.params import load_params
from memtr.reports.metrics import verdict_metrics

EXPERIMENTS = committed_experiments("params.yaml")
IN_PROGRESS = sorted(set(committed_experiments("dvc.lock")) - set(EXPERIMENTS))


def lock_of(experiment: str) -> Path:
    """The DVC lock that recorded this experiment's runs."""
    own = REPO / "results" / experiment / "dvc.lock"
    assert own.is_file(), f"results/{experiment}/ has no dvc.lock beside it"
    return own


def recorded_outs(experiment: str) -> list[dict]:
    """Every output the lock records under metrics/<e>/ or results/<e>/."""
    stages = yaml.safe_load(lock_of(experiment).read_text())["stages"].values()
    prefixes = (f"metrics/{experiment}/", f"results/{experiment}/")
    return [o for s in stages for o in s.get("outs", []) if o["path"].startswith(prefixes)]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def dvc_dir_md5(folder: Path) -> str:
    """DVC's hash of a directory output: md5 of the sorted JSON list of (file md5, relpath)."""
    entries = sorted(
        ({"md5": md5(p), "relpath": p.relative_to(folder).as_posix()} for p in folder.rglob("*")
         if p.is_file()),
        key=lambda entry: entry["relpath"],
    )  # fmt: skip
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def test_there_are_committed_experiments():
    assert {"cpu_replication", "cpu_replication_converged", "cpu_replication_lm"} <= set(
        EXPERIMENTS
    )


def test_the_main_job_writes_nothing_that_git_tracks():
    """The demo's outputs are the machine's own: git ignores them; the workspace lock is not
    committed (DVC refuses a git-ignored dvc.lock: the main job parks it under runs/)."""
    written = ("results/demo/results.md", "metrics/demo/baseline/seed1/eval.json",
               "metrics/pretrain/none/pretrain.json", "runs/main-job.dvc.lock")  # fmt: skip
    for path in written:
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
        assert ignored.returncode == 0, f"{path} is not git-ignored"
    assert committed_files("dvc.lock") == [] and "demo" not in EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS + IN_PROGRESS)
def test_committed_outputs_match_the_dvc_lock(experiment):
    outs = recorded_outs(experiment)
    files = [o for o in outs if not o["md5"].endswith(".dir")]
    assert files, f"the lock of {experiment} records no file under metrics/ or results/"
    for out in files:
        path = REPO / out["path"]
        assert path.is_file(), f"{out['path']} is in the lock but not committed"
        assert md5(path) == out["md5"], f"{out['path']} differs from the run the lock recorded"
    for out in (o for o in outs if o["md5"].endswith(".dir")):
        folder = REPO / out["path"]
        assert folder.is_dir(), f"{out['path']} is in the lock but not committed"
        assert dvc_dir_md5(folder) == out["md5"], (
            f"{out['path']}: its files differ from the run the lock recorded"
        )


@pytest.mark.parametrize("experiment", EXPERIMENTS + IN_PROGRESS)
def test_every_committed_run_is_recorded_by_the_lock(experiment):
    recorded = {o["path"] for o in recorded_outs(experiment)}
    for run in sorted((REPO / "metrics" / experiment).glob("*/seed*")):
        relative = run.relative_to(REPO).as_posix()
        for name in ("train.json", "eval.json", "outputs"):
            assert f"{relative}/{name}" in recorded, (
                f"{relative}/{name}: no run in the lock wrote it"
            )


def runs_from_metrics(experiment: str) -> pd.DataFrame:
    """One row per (variant, seed, test set, metric) from the per-run JSON files."""
    rows = []
    for eval_json in sorted((REPO / "metrics" / experiment).glob("*/seed*/eval.json")):
        scores = json.loads(eval_json.read_text())
        train = json.loads((eval_json.parent / "train.json").read_text())
        for label, values in scores.items():
            if not isinstance(values, dict):
                continue
            for metric, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    rows.append({
                        "variant": scores["variant"], "seed": scores["seed"], "split": label,
                        "metric": metric, "value": value, "updates": train["updates"],
                        "train_wall_s": train["train_wall_s"],
                    })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_runs_table_is_the_per_run_json(experiment):
    runs = pd.read_csv(REPO / "results" / experiment / "runs.csv")
    measured = runs_from_metrics(experiment).set_index(["variant", "seed", "split", "metric"])
    metrics = {"bleu", "ppl", "accuracy", "mcc", "f1", "pearson", "spearman"}
    score_columns = [c for c in runs.columns if c.split("_", 1)[0] in metrics]
    assert score_columns, f"runs.csv of {experiment} has no score column"
    for _, row in runs.iterrows():
        for column in score_columns:
            metric, split = column.split("_", 1)
            expected = measured.loc[(row["variant"], row["seed"], split, metric), "value"]
            assert row[column] == pytest.approx(expected, abs=1e-6), (row["variant"], column)
        train = measured.loc[(row["variant"], row["seed"])].iloc[0]
        assert row["train_wall_s"] == pytest.approx(train["train_wall_s"])
        assert row["updates"] == train["updates"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_results_means_are_the_means_over_seeds(experiment):
    params = yaml.safe_load((REPO / "results" / experiment / "params.yaml").read_text())
    seeds = params["experiment"]["seeds"]
    table = pd.read_csv(REPO / "results" / experiment / "results.csv")
    measured = runs_from_metrics(experiment)
    metric = next(c[: -len("_mean")] for c in table.columns if c.endswith("_mean"))
    for _, row in table.iterrows():
        values = measured[
            (measured.variant == row["variant"]) & (measured.split == row["split"])
            & (measured.metric == metric)
        ]["value"]  # fmt: skip
        assert len(values) == len(seeds) == row["seeds"], (row["variant"], row["split"])
        assert row[f"{metric}_mean"] == pytest.approx(values.mean(), abs=0.0051)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_verdicts_json_is_what_the_committed_tables_give(experiment):
    """The DVC metrics file of the tables stage holds the claims and results tables' numbers
    (it was written with them by the route of docs/pipeline.md, "Regenerating the tables")."""
    folder = REPO / "results" / experiment
    study = load_params(folder / "params.yaml").study()
    expected = verdict_metrics(
        pd.read_csv(folder / "results.csv"), pd.read_csv(folder / "claims.csv"), study
    )
    assert json.loads((folder / "verdicts.json").read_text()) == expected

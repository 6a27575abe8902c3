"""DVC the way its users work it (docs/pipeline.md, "The DVC-native route"), on one tiny
workspace committed to git: a malformed ``-S`` refused in one line, an experiment with ``-S``
in ``dvc exp show``, its changed verdict in ``dvc metrics diff``, ``dvc plots show``, the queue
and a preset queued as an experiment, and a campaign's runs pushed to a local-folder remote and
pulled into a second clone, which trains nothing again."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pipeline_helpers import check, make_workspace, run_tool, synthetic_params

from memtr.config.params import parse_params
from memtr.reports.verdicts import ONE_SEED

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

PARAMS = synthetic_params()
# keys that dvc.yaml names (the params of extra_test and evaluate): DVC refuses a missing one
PARAMS["eval"]["extra_test"] = []
PARAMS["train"]["tokens_per_sample"] = None
EXP = PARAMS["experiment"]["name"]
VERDICTS = f"results/{EXP}/verdicts.json"
COMPARISON = "test/mem4_vs_baseline"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def git(ws: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=ws, check=True, capture_output=True, text=True).stdout


def trained(proc: subprocess.CompletedProcess) -> list[str]:
    """The train stages a dvc command ran."""
    return [line for line in proc.stdout.splitlines() if line.startswith("Running stage 'train@")]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline (one seed) run with `dvc repro` and committed with its results, with
    a local folder as its default DVC remote (committed in .dvc/config)."""
    root = tmp_path_factory.mktemp("dvc_native")
    ws = make_workspace(root / "ws", PARAMS)
    check(run_tool(["dvc", "remote", "add", "-d", "shared", str(root / "remote")], ws))
    check(run_tool(["dvc", "repro"], ws))
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "one seed")
    return ws


def test_a_malformed_set_param_is_refused_in_one_line_before_any_stage(ws: Path):
    proc = run_tool(["dvc", "exp", "run", "-S", "train.max_update=ten"], ws)
    try:
        assert proc.returncode != 0
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith("error: train.max_update"), proc.stderr
        assert "Running stage 'check_params'" in proc.stdout and not trained(proc)
    finally:
        git(ws, "checkout", "--", "params.yaml")


def experiments(shown: list[dict]) -> dict[str, dict]:
    """name -> data of every experiment in `dvc exp show --json` (the baseline as ``HEAD``)."""
    found = {}
    for commit in shown:
        if commit["rev"] != "workspace":
            found["HEAD"] = commit["data"]
        for experiment in commit.get("experiments") or []:
            for rev in experiment["revs"]:
                found[rev["name"]] = {**rev["data"], "rev": rev["rev"]}
    return found


@pytest.fixture(scope="module")
def two_seeds(ws: Path) -> subprocess.CompletedProcess:
    """`dvc exp run -S 'experiment.seeds=[1,2]'` in the workspace: trains the second seed only."""
    return check(
        run_tool(["dvc", "exp", "run", "-n", "two-seeds", "-S", "experiment.seeds=[1,2]"], ws)
    )


def test_an_experiment_with_set_param_trains_only_what_changed(two_seeds):
    assert sorted(trained(two_seeds)) == [
        "Running stage 'train@baseline-2':", "Running stage 'train@mem4-2':"
    ]  # fmt: skip


def test_dvc_exp_show_lists_the_experiment_and_its_headline_numbers(ws: Path, two_seeds):
    shown = check(run_tool(["dvc", "exp", "show", "--json"], ws))
    found = experiments(json.loads(shown.stdout))
    assert {"HEAD", "two-seeds"} <= set(found)
    for name, seeds in (("HEAD", [1]), ("two-seeds", [1, 2])):
        data = found[name]
        assert data["params"]["params.yaml"]["data"]["experiment"]["seeds"] == seeds
        metrics = data["metrics"]
        verdicts = metrics[VERDICTS]["data"]
        assert set(verdicts["bleu_mean"]) == {"test/baseline", "test/mem4"}
        shown = {"delta", "verdict"} | ({"ci95_low", "ci95_high", "p_adj"} if seeds[1:] else set())
        assert shown <= set(verdicts[COMPARISON])  # DVC leaves out a null (one seed: no interval)
        for seed in seeds:
            run = f"metrics/{EXP}/mem4/seed{seed}"
            assert metrics[f"{run}/eval.json"]["data"]["test"]["bleu"] >= 0
            assert metrics[f"{run}/train.json"]["data"]["updates"] > 0
    assert found["HEAD"]["metrics"][VERDICTS]["data"][COMPARISON]["verdict"] == ONE_SEED
    table = check(run_tool(["dvc", "exp", "show", "--md"], ws)).stdout
    assert "two-seeds" in table and f"{COMPARISON}.verdict" in table
    print(table)


def test_dvc_metrics_diff_shows_the_verdict_that_changed(ws: Path, two_seeds):
    shown = json.loads(check(run_tool(["dvc", "exp", "show", "--json"], ws)).stdout)
    rev = experiments(shown)["two-seeds"]["rev"]
    diff = check(run_tool(["dvc", "metrics", "diff", "HEAD", rev, "--json"], ws))
    changed = json.loads(diff.stdout)[VERDICTS][f"{COMPARISON}.verdict"]
    assert changed["old"] == ONE_SEED and changed["new"] not in (None, ONE_SEED), changed
    text = check(run_tool(["dvc", "metrics", "diff", "HEAD", rev, "--md"], ws)).stdout
    assert f"{COMPARISON}.verdict" in text and ONE_SEED in text


def test_dvc_plots_show_renders_the_curves_per_variant_and_the_comparisons(ws: Path):
    out = ws.parent / "plots"
    check(run_tool(["dvc", "plots", "show", "-o", str(out)], ws))
    page = (out / "index.html").read_text()
    shown = json.loads(check(run_tool(["dvc", "plots", "show", "--json"], ws)).stdout)["data"]
    figures = ws / f"results/{EXP}/figures"
    with open(figures / "learning_curves.csv") as f:
        curves = list(csv.DictReader(f))
    with open(figures / "claims_forest.csv") as f:
        forest = list(csv.DictReader(f))
    for name, column, rows in (
        ("valid loss over updates", "valid_mean", curves),
        ("valid loss over wall time", "wall_s", curves),
        ("train loss over updates", "train_mean", curves),
        ("comparisons", "delta", forest),
    ):
        assert f"vegaEmbed('#{name.replace(' ', '_')}'" in page, name
        values = [row[column] for row in rows if row[column] != ""]
        assert values, (name, column)
        data = shown[name][0]["content"]["data"]["values"]
        assert [v[column] for v in data if v[column] != ""] == values, name
        for value in values:  # the series themselves are in the page
            assert f'"{column}": "{value}"' in page, (name, value)
    variants = {
        v["variant"] for v in shown["valid loss over updates"][0]["content"]["data"]["values"]
    }
    assert variants == {"baseline", "mem4"} and '"variant": "mem4"' in page


def queued(ws: Path) -> dict[str, dict]:
    return experiments(json.loads(check(run_tool(["dvc", "exp", "show", "--json"], ws)).stdout))


def test_a_queued_experiment_and_a_preset_leave_params_yaml_as_it_is(ws: Path, two_seeds):
    """Queued with -S, and a preset queued through use_preset.py --as-set: each holds its
    params, the working params.yaml is untouched, nothing runs; the queue is emptied after."""
    before = (ws / "params.yaml").read_bytes()
    try:
        check(
            run_tool(
                ["dvc", "exp", "run", "--queue", "-n", "longer", "-S", "train.max_update=12"], ws
            )
        )
        words = check(run_tool(
            ["python", "workflow/scripts/use_preset.py", "cpu_replication", "--as-set"], ws
        )).stdout.split()  # fmt: skip
        assert words[0] == "-S" and (ws / "params.yaml").read_bytes() == before
        check(run_tool(["dvc", "exp", "run", "--queue", "-n", "preset", *words], ws))
        assert (ws / "params.yaml").read_bytes() == before
        found = queued(ws)
        assert found["longer"]["params"]["params.yaml"]["data"]["train"]["max_update"] == 12
        preset = yaml.safe_load((ws / "workflow/presets/cpu_replication.yaml").read_text())
        params = found["preset"]["params"]["params.yaml"]["data"]
        assert parse_params(params, "exp") == parse_params(preset, "preset")
        status = check(run_tool(["dvc", "queue", "status"], ws)).stdout
        assert status.count("Queued") == 2, status
    finally:
        check(run_tool(["dvc", "queue", "remove", "--queued"], ws))


def test_a_second_clone_pulls_the_finished_runs_and_trains_nothing(ws: Path, two_seeds):
    check(run_tool(["dvc", "push"], ws))
    clone = ws.parent / "clone"
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(ws), str(clone)], check=True)
    check(run_tool(["dvc", "pull"], clone))
    for variant in ("baseline", "mem4"):
        model = f"runs/{EXP}/{variant}/seed1/model.pt"
        assert (clone / model).read_bytes() == (ws / model).read_bytes()
    status = json.loads(check(run_tool(["dvc", "status", "--json"], clone)).stdout)
    assert not [stage for stage in status if stage.startswith(("train@", "evaluate@"))], status
    again = check(run_tool(["dvc", "repro"], clone))
    assert not trained(again) and "Running stage 'evaluate@" not in again.stdout, again.stdout

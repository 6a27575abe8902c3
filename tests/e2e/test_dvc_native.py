"""DVC the way its users work it, on one tiny workspace committed to git: ``dvc plots show``
renders the learning curves per variant and the comparisons that dvc.yaml declares."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import check, make_workspace, run_tool, synthetic_params

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

PARAMS = synthetic_params()
# keys that dvc.yaml names (the params of extra_test and evaluate): DVC refuses a missing one
PARAMS["eval"]["extra_test"] = []
PARAMS["train"]["tokens_per_sample"] = None
EXP = PARAMS["experiment"]["name"]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def git(ws: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=ws, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline (one seed) run with `dvc repro` and committed with its results."""
    root = tmp_path_factory.mktemp("dvc_native")
    ws = make_workspace(root / "ws", PARAMS)
    check(run_tool(["dvc", "repro"], ws))
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "one seed")
    return ws


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

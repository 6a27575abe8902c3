"""The committed experiments' figures (results/<e>/figures/) and report pages
(results/<e>/report.html): drawn again from the committed tables and logs they are the same
files, and what the figures plot is the tables' numbers (read back from the CSV written
beside each figure). The pages in a real browser: tests/integration/test_report_page.py."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from PIL import Image

from memtr.common.paths import REPO
from memtr.config.params import load_params
from memtr.reports.figures import draw_all
from memtr.reports.page import page

COMMITTED = sorted(p.parent.parent.name for p in REPO.glob("results/*/figures/README.md"))


def test_every_committed_experiment_has_its_figures():
    experiments = sorted(p.parent.name for p in REPO.glob("results/*/claims.csv"))
    assert experiments == COMMITTED and "cpu_replication" in COMMITTED


@pytest.fixture(scope="module", params=COMMITTED)
def redrawn(request, tmp_path_factory):
    """(experiment, committed folder, the folder drawn again from the committed data)."""
    name = request.param
    results = REPO / "results" / name
    out = tmp_path_factory.mktemp(name)
    draw_all(load_params(results / "params.yaml"), results, REPO / "metrics" / name, out)
    return name, results / "figures", out


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_committed_figures_are_what_the_committed_data_draws(redrawn):
    _, committed, again = redrawn
    names = sorted(p.name for p in committed.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert sha(committed / name) == sha(again / name), name


def test_each_figure_is_a_real_image_of_a_sensible_size(redrawn):
    _, committed, _ = redrawn
    pngs = sorted(committed.glob("*.png"))
    assert {p.stem for p in pngs} >= {"claims_forest", "learning_curves"}
    for png in pngs:
        assert 10_000 < png.stat().st_size < 2_000_000, png.name
        width, height = Image.open(png).size
        assert width >= 600 and height >= 150, (png.name, width, height)
        assert (png.with_suffix(".csv")).is_file()


def test_the_forest_plot_draws_the_claims_table(redrawn):
    name, committed, _ = redrawn
    claims = pd.read_csv(REPO / "results" / name / "claims.csv")
    drawn = pd.read_csv(committed / "claims_forest.csv")
    metric = next(c for c in claims if c.startswith("delta_") and "ci95" not in c)
    assert list(drawn["delta"]) == list(claims[metric])
    assert drawn["ci95_low"].equals(claims["delta_ci95_low"])
    assert list(drawn["verdict"]) == list(claims["verdict"])
    paper = claims.get(f"paper_{metric}")
    if paper is not None:
        assert drawn["paper_delta"].fillna(-1e9).tolist() == paper.fillna(-1e9).tolist()


def test_the_memory_figures_draw_the_results_and_the_attention_tables(redrawn):
    name, committed, _ = redrawn
    results = pd.read_csv(REPO / "results" / name / "results.csv")
    if (committed / "memory_size.csv").is_file():
        sizes = pd.read_csv(committed / "memory_size.csv")
        metric = load_params(REPO / "results" / name / "params.yaml").task.metric
        for row in sizes.itertuples():
            match = results[(results["variant"] == row.variant)][f"{metric}_mean"]
            assert row.mean in set(match), row
    if not (committed / "memory_mass.csv").is_file():  # no attention measured (mem_roberta)
        assert pd.read_csv(REPO / "results" / name / "memory_mass.csv").empty
        return
    mass = pd.read_csv(REPO / "results" / name / "memory_mass.csv")
    drawn = pd.read_csv(committed / "memory_mass.csv")
    for row in drawn.itertuples():
        models = mass[mass["model"].str.replace(r"_seed\d+$", "", regex=True) == row.variant]
        expected = models[models["layer"] == row.layer]["seq_to_memory"].mean()
        assert row.seq_to_memory == pytest.approx(expected, abs=1e-6)


def test_the_committed_page_is_what_the_committed_tables_and_figures_make(redrawn):
    name, committed, _ = redrawn
    params = load_params(REPO / "results" / name / "params.yaml")
    results = REPO / "results" / name
    text = page(name, params.task.name, params.data.dataset, results, committed)
    assert (results / "report.html").read_text(encoding="utf-8") == text
    for png in committed.glob("*.png"):
        assert f'id="figure-{png.stem}"' in text


def test_the_learning_curves_draw_the_runs_logs(redrawn):
    name, committed, _ = redrawn
    params = load_params(REPO / "results" / name / "params.yaml")
    drawn = pd.read_csv(committed / "learning_curves.csv")
    for variant in params.experiment["variants"]:
        logs = [pd.read_csv(REPO / "metrics" / name / variant / f"seed{seed}" / "train_log.csv")
                for seed in params.experiment["seeds"]]  # fmt: skip
        last = logs[0]["update"].max()
        valid = [log.set_index("update")["valid_loss"].get(last) for log in logs]
        row = drawn[(drawn["variant"] == variant) & (drawn["update"] == last)].iloc[0]
        assert row["valid_mean"] == pytest.approx(sum(valid) / len(valid), abs=1e-4)
        assert (row["valid_min"], row["valid_max"]) == (min(valid), max(valid))
        assert row["seeds"] == len(params.experiment["seeds"])

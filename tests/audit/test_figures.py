"""The committed experiments' figures (results/<e>/figures/) and report pages
(results/<e>/report.html): drawn again from the committed tables and logs they are the same
files, and what the figures plot is the tables' numbers (read back from the CSV written
beside each figure): the forest plot's claims and paper values (arrows where off its scale),
one memory-size line per variant family, the memory mass beside its uniform reference, which
counts the keys the committed attention maps let each row see. The pages in a real browser:
tests/integration/test_report_page.py."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from evidence_helpers import committed_experiments
from PIL import Image

from memtr.attention.archive import load_npz
from memtr.attention.measures import blocks_of, uniform_shares
from memtr.common.paths import REPO
from memtr.config.params import load_params
from memtr.reports.claims_reading import verdict_kind
from memtr.reports.figures import draw_all
from memtr.reports.forest import interval_range
from memtr.reports.mass_figure import NO_REFERENCE, reading
from memtr.reports.page import page

COMMITTED = committed_experiments("figures/README.md")


def test_every_committed_experiment_has_its_figures():
    experiments = committed_experiments("claims.csv")
    assert experiments == COMMITTED and "cpu_replication" in COMMITTED


@pytest.fixture(scope="module", params=COMMITTED)
def redrawn(request, tmp_path_factory):
    """(experiment, committed folder, the folder drawn again from the committed data)."""
    name = request.param
    results = REPO / "results" / name
    out = tmp_path_factory.mktemp(name)
    params = load_params(results / "params.yaml")
    draw_all(
        params.experiment, params.spec, params.eval.splits, results, REPO / "metrics" / name, out
    )
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
    assert list(drawn["verdict_kind"]) == [verdict_kind(v).key for v in claims["verdict"]]
    paper = claims.get(f"paper_{metric}")
    if paper is not None:
        assert drawn["paper_delta"].fillna(-1e9).tolist() == paper.fillna(-1e9).tolist()
    low, high = interval_range(drawn)
    for row in drawn.itertuples():
        shown = "" if pd.isna(row.paper_shown) else row.paper_shown
        if pd.isna(row.paper_delta):
            assert shown == "", row
        elif low <= row.paper_delta <= high:
            assert shown == "marker", row
        else:  # off the intervals' scale: an arrow at the edge, labelled with the value
            assert f"paper: {row.paper_delta:+.2f}" in shown, row


def test_the_memory_size_figure_draws_one_line_per_variant_family(redrawn):
    name, committed, _ = redrawn
    if not (committed / "memory_size.csv").is_file():
        return
    results = pd.read_csv(REPO / "results" / name / "results.csv")
    sizes = pd.read_csv(committed / "memory_size.csv")
    metric = load_params(REPO / "results" / name / "params.yaml").spec.metric
    for row in sizes.itertuples():
        match = results[(results["variant"] == row.variant)]
        assert row.mean in set(match[f"{metric}_mean"]), row
        recurrent = "recurrent" in match and str(match["recurrent"].iloc[0]).lower() == "true"
        assert row.family == (f"{row.layout}, recurrent" if recurrent else row.layout), row
    for _, family in sizes.groupby("family"):  # one point per memory size on each line
        assert family["mem_tokens"].is_unique and len(family) > 1


def test_the_memory_mass_figure_draws_the_attention_table_and_its_uniform_reference(redrawn):
    name, committed, _ = redrawn
    mass = pd.read_csv(REPO / "results" / name / "memory_mass.csv")
    if not (committed / "memory_mass.csv").is_file():  # no attention measured (mem_roberta)
        assert mass.empty
        return
    assert {"uniform_seq_to_memory", "uniform_decoder_to_memory"} <= set(mass.columns)
    drawn = pd.read_csv(committed / "memory_mass.csv")
    for row in drawn.itertuples():
        models = mass[mass["model"].str.replace(r"_seed\d+$", "", regex=True) == row.variant]
        layer = models[models["layer"] == row.layer]
        for column in ("seq_to_memory", "uniform_seq_to_memory"):
            assert getattr(row, column) == pytest.approx(layer[column].mean(), abs=1e-6)
        assert row.seq_reading == reading(row.seq_to_memory, row.uniform_seq_to_memory)
        assert row.seq_reading != NO_REFERENCE


@pytest.mark.parametrize("name", COMMITTED)
def test_the_uniform_reference_counts_the_keys_the_attention_maps_let_a_row_see(name):
    """memory_mass.csv's uniform share is the committed archive's, and the keys it counts are
    the ones the recorded probabilities leave unmasked (> 0 in some layer and head)."""
    mass = pd.read_csv(REPO / "results" / name / "memory_mass.csv")
    for model, rows in mass.groupby("model"):
        info, samples = load_npz(REPO / "results" / name / "attention" / model / "attention.npz")
        expected = uniform_shares(samples, info)
        assert rows["uniform_seq_to_memory"].tolist() == pytest.approx(
            [expected["uniform_seq_to_memory"]] * len(rows), abs=1e-6
        )
        seen = []
        for sample in samples:
            blocks = blocks_of(info, len(sample.src_tokens))
            visible = (sample.self_attn[:, :, blocks.seq, :] > 0).any(axis=(0, 1))
            memory = visible[:, blocks.memory_keys].sum(1) / visible.sum(1)
            seen.append(memory.mean())
        assert expected["uniform_seq_to_memory"] == pytest.approx(np.mean(seen), abs=1e-9)


def test_the_committed_page_is_what_the_committed_tables_and_figures_make(redrawn):
    name, committed, _ = redrawn
    params = load_params(REPO / "results" / name / "params.yaml")
    results = REPO / "results" / name
    text = page(name, params.spec.name, params.data.dataset, results, committed,
                params.spec.metric_label)  # fmt: skip
    assert text.index('id="summary"') < text.index('id="results"')
    assert (results / "report.html").read_text(encoding="utf-8") == text
    for png in committed.glob("*.png"):
        assert f'id="figure-{png.stem}"' in text


def test_the_learning_curves_draw_the_runs_logs(redrawn):
    name, committed, _ = redrawn
    params = load_params(REPO / "results" / name / "params.yaml")
    drawn = pd.read_csv(committed / "learning_curves.csv")
    for variant in params.experiment.variants:
        logs = [pd.read_csv(REPO / "metrics" / name / variant / f"seed{seed}" / "train_log.csv")
                for seed in params.experiment.seeds]  # fmt: skip
        last = logs[0]["update"].max()
        valid = [log.set_index("update")["valid_loss"].get(last) for log in logs]
        row = drawn[(drawn["variant"] == variant) & (drawn["update"] == last)].iloc[0]
        assert row["valid_mean"] == pytest.approx(sum(valid) / len(valid), abs=1e-4)
        assert (row["valid_min"], row["valid_max"]) == (min(valid), max(valid))
        assert row["seeds"] == len(params.experiment.seeds)

"""The figures on small constructed tables: the forest plot's scale and arrows, its markers
keyed by the verdict's prefix, one memory-size line per variant family, the memory-mass
figure's uniform reference (and where it comes from: the sample sentences' lengths)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from memtr.attention.archive import save_npz
from memtr.attention.measures import uniform_seq_to_memory, uniform_shares
from memtr.attention.schema import COLUMNS, UNIFORM_COLUMNS, ModelInfo, SampleAttention
from memtr.attention.tables import merge_tables
from memtr.reports import figures
from memtr.reports.forest import forest_figure, interval_range
from memtr.reports.mass_figure import (
    ABOVE,
    AT_OR_BELOW,
    BY_CONSTRUCTION,
    HIDDEN,
    NO_REFERENCE,
    reading,
)


def claims_table(verdicts, deltas, lows, highs, paper) -> pd.DataFrame:
    n = len(verdicts)
    return pd.DataFrame({
        "split": ["test"] * n, "variant": [f"v{i}" for i in range(n)],
        "against": ["baseline"] * n, "budget": ["equal steps"] * n, "wall_ratio": [1.1] * n,
        "delta_bleu": deltas, "delta_ci95_low": lows, "delta_ci95_high": highs,
        "verdict": verdicts, "paper_delta_bleu": paper, "paper_dataset": ["wmt14"] * n,
    })  # fmt: skip


@pytest.fixture
def captured(monkeypatch, tmp_path):
    """Run a figure through ``figures.save`` and keep its axes before the figure closes."""
    kept = {}
    save = figures.save

    def keep(fig, data, out, name):
        kept[name] = (fig.axes, data)
        return save(fig, data, out, name)

    monkeypatch.setattr(figures, "save", keep)
    return kept


def test_the_forest_scale_leaves_out_a_far_paper_value_and_labels_its_arrow(captured, tmp_path):
    claims = claims_table(
        ["worse", "inconclusive (detectable: 2.31)"], [-4.5, -0.2], [-7.0, -1.5], [-2.0, 1.1],
        [-14.24, 0.4],
    )  # fmt: skip
    assert figures.claims_forest(claims, "BLEU", tmp_path) == tmp_path / "claims_forest.png"
    (ax,), data = captured["claims_forest"]
    low, high = ax.get_xlim()
    assert -14.24 < low < -7.0 and 1.1 < high < 3.0
    assert list(data["paper_shown"]) == ["← paper: -14.24", "marker"]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["← paper: -14.24"]
    assert all(interval_range(data)[0] <= t for t in ax.get_xticks())  # no tick in the band
    written = pd.read_csv(tmp_path / "claims_forest.csv", keep_default_na=False)
    assert list(written["paper_shown"]) == ["← paper: -14.24", "marker"]


def test_a_paper_value_beyond_the_right_edge_points_right():
    claims = claims_table(["better"], [1.0], [0.5], [1.5], [9.0])
    fig, data = forest_figure(claims, "BLEU")
    assert list(data["paper_shown"]) == ["paper: +9.00 →"]
    assert fig.axes[0].get_xlim()[1] < 9.0


def test_the_forest_markers_are_keyed_by_the_verdicts_prefix(captured, tmp_path):
    verdicts = ["better", "worse", "equivalent within ±1.00", "equivalent within ±0.50",
                "paper's effect ruled out", "inconclusive (detectable: 2.31)",
                "inconclusive (detectable: 0.94)", "uninformative (floor)"]  # fmt: skip
    n = len(verdicts)
    claims = claims_table(verdicts, [0.1] * n, [-0.1] * n, [0.3] * n, [math.nan] * n)
    figures.claims_forest(claims, "BLEU", tmp_path)
    (ax,), data = captured["claims_forest"]
    assert list(data["verdict_kind"]) == ["better", "worse", "equivalent", "equivalent",
        "ruled_out", "inconclusive", "inconclusive", "uninformative"]  # fmt: skip
    legend = [t.get_text() for t in ax.figure.legends[0].get_texts()]
    assert legend == ["better", "worse", "equivalent within ±δ", "paper's effect ruled out",
                      "inconclusive", "uninformative (floor)"]  # fmt: skip
    markers = [line for line in ax.get_lines() if line.get_marker() in {"o", "D", "s"}]
    fills = [(m.get_marker(), m.get_fillstyle()) for m in markers]
    assert fills[:3] == [("o", "full"), ("o", "full"), ("D", "full")]
    assert fills[4:6] == [("D", "left"), ("o", "none")]
    grey = [tick for tick in ax.get_yticklabels() if tick.get_text().startswith("v7 ")]
    assert grey[0].get_color() != "black" and markers[7].get_color() == "0.72"


def lm_results() -> pd.DataFrame:
    rows = [("baseline", "none", 0, False, 309.0), ("mem10", "prepend", 10, False, 317.3),
            ("mem20", "prepend", 20, False, 319.1), ("mem10_rec", "prepend", 10, True, 315.9),
            ("mem20_rec", "prepend", 20, True, 320.4), ("baseline_x105", "none", 0, False, 298.2)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["variant", "layout", "mem_tokens", "recurrent", "ppl_mean"])
    updates = [1260 if v == "baseline_x105" else 1200 for v in frame["variant"]]
    return frame.assign(split="test", ppl_std=2.0, updates=updates)


def test_memory_size_draws_one_line_per_variant_family(captured, tmp_path):
    assert figures.memory_size(lm_results(), "ppl", "perplexity", "test", tmp_path)
    (ax,), data = captured["memory_size"]
    lines = {c.get_label(): c.lines[0] for c in ax.containers}
    assert set(lines) == {"prepend", "prepend, recurrent"}
    assert list(lines["prepend"].get_ydata()) == [317.3, 319.1]
    assert list(lines["prepend, recurrent"].get_ydata()) == [315.9, 320.4]
    assert [line.get_label() for line in ax.get_lines() if line.get_linestyle() == "--"] == [
        "baseline (no memory)"
    ]
    written = pd.read_csv(tmp_path / "memory_size.csv")
    assert written.groupby("family", sort=False)["variant"].apply(list).to_dict() == {
        "prepend": ["mem10", "mem20"],
        "prepend, recurrent": ["mem10_rec", "mem20_rec"],
    }


def test_translation_keeps_one_line_per_layout():
    results = lm_results().drop(columns="recurrent")
    results = results[~results["variant"].str.endswith("_rec")]
    data = figures.memory_size_data(results, "ppl", "test")
    assert list(data["family"]) == ["prepend", "prepend"]


def mass_table(uniform: bool) -> pd.DataFrame:
    rows = [("mem10_seed1", "prepend", 10, 1, 0.49, 0.44), ("mem10_seed1", "prepend", 10, 2, 0.27, 0.16),
            ("bn_seed1", "bottleneck", 10, 1, 1.0, 1.0)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["model", "layout", "num_memory", "layer",
                                        "seq_to_memory", "decoder_to_memory"])  # fmt: skip
    frame["num_sentences"] = 4
    if uniform:
        frame["uniform_seq_to_memory"] = [0.34, 0.34, 1.0]
        frame["uniform_decoder_to_memory"] = [0.34, 0.34, 1.0]
    return frame


def test_the_memory_mass_csv_has_the_uniform_reference_and_its_reading(tmp_path):
    mass = tmp_path / "memory_mass.csv"
    mass_table(uniform=True).to_csv(mass, index=False)
    assert figures.memory_mass(mass, tmp_path / "figures")
    drawn = pd.read_csv(tmp_path / "figures" / "memory_mass.csv")
    assert list(drawn["uniform_seq_to_memory"]) == [0.34, 0.34, 1.0]
    assert list(drawn["seq_reading"]) == [ABOVE, AT_OR_BELOW, BY_CONSTRUCTION]
    assert list(drawn["decoder_reading"]) == [ABOVE, AT_OR_BELOW, BY_CONSTRUCTION]
    assert drawn["seq_ratio"].tolist() == pytest.approx([0.49 / 0.34, 0.27 / 0.34, 1.0], abs=1e-3)
    assert list(drawn["seeds"]) == [1, 1, 1] and list(drawn["sentences"]) == [4, 4, 4]
    assert reading(0.0, 0.0) == HIDDEN and reading(0.35, 0.34) == AT_OR_BELOW  # within 0.02


def test_a_memory_mass_table_without_the_reference_is_drawn_and_says_so(tmp_path):
    mass = tmp_path / "memory_mass.csv"
    mass_table(uniform=False).to_csv(mass, index=False)
    assert figures.memory_mass(mass, tmp_path / "figures")
    drawn = pd.read_csv(tmp_path / "figures" / "memory_mass.csv")
    assert set(drawn["seq_reading"]) == {NO_REFERENCE}
    assert drawn["uniform_seq_to_memory"].isna().all()


def sample(n: int, keys_memory: list[bool], lm: bool = False) -> SampleAttention:
    cross = np.zeros((0, 1, 0, 0)) if lm else np.zeros((1, 1, 2, len(keys_memory)))
    return SampleAttention([f"w{i}" for i in range(n)], [], np.zeros((1, 1, 1, 1)), cross,
                           np.array(keys_memory, dtype=bool))  # fmt: skip


def test_the_uniform_share_counts_the_keys_each_row_sees():
    mt, bottleneck = ModelInfo("a", "prepend", 2), ModelInfo("b", "bottleneck", 2)
    assert uniform_seq_to_memory(mt, 6) == pytest.approx(2 / 8)
    assert uniform_seq_to_memory(bottleneck, 6) == 1.0
    lm = ModelInfo("c", "lm_recurrent", 2)  # token i sees the 2 read slots and tokens 0..i
    assert uniform_seq_to_memory(lm, 3) == pytest.approx((2 / 3 + 2 / 4 + 2 / 5) / 3)
    shares = uniform_shares(
        [sample(6, [True] * 2 + [False] * 6), sample(2, [True] * 2 + [False] * 2)], mt
    )
    assert shares == pytest.approx({"uniform_seq_to_memory": (2 / 8 + 2 / 4) / 2,
                                    "uniform_decoder_to_memory": (2 / 8 + 2 / 4) / 2})  # fmt: skip
    assert math.isnan(uniform_shares([sample(3, [], lm=True)], lm)["uniform_decoder_to_memory"])


def test_the_merged_table_takes_the_uniform_share_from_the_archive_beside_it(tmp_path):
    info = ModelInfo("m_seed1", "prepend", 2)
    folder = tmp_path / "m_seed1"
    folder.mkdir()
    row = dict.fromkeys(COLUMNS, 0.5) | {"model": info.name, "layout": "prepend", "layer": 1}
    pd.DataFrame([row]).to_csv(folder / "memory_mass.csv", index=False)
    save_npz(folder / "attention.npz", [sample(6, [True] * 2 + [False] * 6)], info)
    merged = merge_tables([folder / "memory_mass.csv"])
    assert list(merged.columns) == [*COLUMNS, *UNIFORM_COLUMNS]
    assert merged["uniform_seq_to_memory"].tolist() == pytest.approx([0.25])
    (folder / "attention.npz").unlink()
    assert merge_tables([folder / "memory_mass.csv"])["uniform_seq_to_memory"].isna().all()

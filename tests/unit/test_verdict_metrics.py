"""results/<e>/verdicts.json, the tables stage's DVC metrics file: each comparison's effect,
interval, p's and verdict under a key `dvc metrics diff` names, the tallies and the means; the
same numbers as the claims and results tables, and declared as a metric by both tools."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml

from memtr.config.params import load_params
from memtr.reports.claims_reading import Tally
from memtr.reports.metrics import verdict_metrics, write_verdict_metrics
from memtr.reports.verdicts import ONE_SEED

REPO = Path(__file__).resolve().parents[2]
EXP = REPO / "results" / "cpu_replication"


def committed(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    study = load_params(folder / "params.yaml").study()
    return pd.read_csv(folder / "results.csv"), pd.read_csv(folder / "claims.csv"), study


def test_each_comparison_is_its_claims_row_under_a_readable_key():
    table, claims, study = committed(EXP)
    doc = verdict_metrics(table, claims, study)
    for _, row in claims.iterrows():
        entry = doc[f"{row['split']}/{row['variant']}_vs_{row['against']}"]
        assert entry["verdict"] == row["verdict"]
        assert entry["delta"] == row["delta_bleu"]
        assert (entry["ci95_low"], entry["ci95_high"]) == (
            row["delta_ci95_low"], row["delta_ci95_high"])  # fmt: skip
        assert (entry["p"], entry["p_adj"], entry["p_boot_adj"]) == (
            row["p"], row["p_adj"], row["p_boot_adj"])  # fmt: skip
    comparisons = [k for k, v in doc.items() if isinstance(v, dict) and "verdict" in v]
    assert len(comparisons) == len(claims)
    assert doc["test/mem10_vs_baseline_x125"]["verdict"] == "worse"  # equal compute


def test_the_tallies_count_each_family_as_the_reports_do():
    table, claims, study = committed(EXP)
    doc = verdict_metrics(table, claims, study)
    assert set(doc["tally"]) == {
        "test/equal_steps", "test/equal_compute", "newstest2014/equal_steps",
        "newstest2014/equal_compute"}  # fmt: skip
    family = claims[(claims["split"] == "test") & (claims["budget"] == "equal steps")]
    counts = doc["tally"]["test/equal_steps"]
    assert counts["text"] == Tally.of(family["verdict"]).words()
    assert counts["worse"] == (family["verdict"] == "worse").sum()
    assert sum(v for k, v in counts.items() if k != "text") == len(family)


def test_the_means_are_the_results_table():
    table, claims, study = committed(EXP)
    means = verdict_metrics(table, claims, study)["bleu_mean"]
    assert means == {f"{r.split}/{r.variant}": r.bleu_mean for r in table.itertuples()}


def test_a_single_seed_writes_null_for_what_it_cannot_give(tmp_path):
    _, _, study = committed(EXP)
    claims = pd.DataFrame([{
        "split": "test", "variant": "mem10", "against": "baseline", "budget": "equal steps",
        "delta_bleu": -0.19, "delta_ci95_low": math.nan, "delta_ci95_high": math.nan,
        "p": math.nan, "p_adj": math.nan, "p_boot": 0.21, "p_boot_adj": 0.21,
        "verdict": ONE_SEED,
    }])  # fmt: skip
    table = pd.DataFrame([{"split": "test", "variant": v, "bleu_mean": 20.0}
                          for v in ("baseline", "mem10")])  # fmt: skip
    write_verdict_metrics(table, claims, study, tmp_path / "verdicts.json")
    text = (tmp_path / "verdicts.json").read_text()
    assert "NaN" not in text and text.endswith("}\n")
    entry = json.loads(text)["test/mem10_vs_baseline"]
    assert entry["ci95_low"] is None and entry["p_adj"] is None and entry["p_boot"] == 0.21
    assert json.loads(text)["tally"]["test/equal_steps"]["undecided"] == 1


def test_both_tools_declare_verdicts_json_of_the_tables_stage():
    tables = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["tables"]
    metrics = dict(next(iter(m.items())) for m in tables["metrics"])
    assert metrics == {
        "results/${experiment.name}/verdicts.json": {"cache": False, "persist": True}
    }
    snakefile = (REPO / "workflow" / "Snakefile").read_text()
    assert '"verdicts.json")' in snakefile.split("TABLES = [")[1].split("]")[0]

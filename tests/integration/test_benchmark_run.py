"""The benchmark (benchmarks/run.py) run for real: a seconds-long ``--quick`` smoke run.

No timing is asserted: the smoke checks that every row and column is there and that
the numbers are usable (positive, finite), not how fast anything is. The FLOP counter and the
rows are checked by hand in ``tests/unit/test_benchmarks.py``.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import pytest
from benchmark_helpers import FAIRSEQ_MODELS, XT_MODELS
from conftest import REPO

from benchmarks.specs import XT_LAYOUT
from memspec import LAYOUTS


@pytest.mark.slow
def test_quick_benchmark_writes_every_row(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(tmp_path / "benchmarks.csv") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        columns = reader.fieldnames
    from benchmarks.report import CSV_COLUMNS

    assert columns == CSV_COLUMNS
    sections = {s: [r for r in rows if r["section"] == s] for s in ("train", "generate", "xt")}
    assert [r["model"] for r in sections["train"]] == FAIRSEQ_MODELS
    assert [r["model"] for r in sections["generate"]] == FAIRSEQ_MODELS
    assert [r["model"] for r in sections["xt"]] == XT_MODELS
    assert {r["layout"] for r in rows} == {*LAYOUTS, XT_LAYOUT}  # memspec's spelling
    for row in rows:
        if row["section"] == "xt" and row["model"].startswith("x-transformers"):
            assert row["status"] == "ok" or row["status"].startswith("not installed")
            if row["status"] != "ok":
                continue
        assert row["status"] == "ok", row
        for key in ("time_s", "throughput", "measured_ratio", "ratio_q1", "ratio_q3"):
            value = float(row[key])
            assert math.isfinite(value) and value > 0, (row["model"], key, value)
        if row["section"] != "xt" or not row["model"].startswith("x-transformers"):
            for key in ("predicted_ratio", "measured_over_predicted", "gflops"):
                value = float(row[key])
                assert math.isfinite(value) and value > 0, (row["model"], key, value)
    for section in ("train", "generate"):
        by_model = {r["model"]: r for r in sections[section]}
        assert float(by_model["transformer"]["measured_ratio"]) == 1.0
        assert float(by_model["transformer"]["predicted_ratio"]) == 1.0
        assert float(by_model["mem_transformer m=0"]["predicted_ratio"]) == 1.0
        # the equal-length reference has exactly MemTransformer's FLOPs
        assert (
            by_model["transformer, +20 source tokens (reference)"]["predicted_ratio"]
            == (by_model["mem_transformer m=20"]["predicted_ratio"])
        )
    report = (tmp_path / "benchmarks.md").read_text()
    for heading in ("## Machine and versions", "## Targets", "## Training", "## Beam-search"):
        assert heading in report
    assert "torch threads: 1 intra-op" in report


@pytest.mark.slow
def test_quick_busy_cpu_benchmark_writes_its_report(tmp_path):
    """benchmarks/busy_cpu.py --quick: the nine real trainings (3 updates of a tiny model, one
    thread, so that no timing explodes beside the other tests; one busy-loop process, or a
    one-thread torch loop, for the loaded ones) and the report; no timing is asserted."""
    proc = subprocess.run(
        [sys.executable, "benchmarks/busy_cpu.py", "--quick", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = (tmp_path / "busy_cpu.md").read_text()
    for heading in ("## Machine and versions", "## Targets", "## Setup", "## Results"):
        assert heading in report
    policies = ("| spinning", "| passive", "| pipeline")
    rows = [line for line in report.splitlines() if line.startswith(policies)]
    assert len(rows) == 3 and all(len(row.strip("|").split("|")) == 7 for row in rows)
    for row in rows:
        cells = [float(x) for x in row.strip("|").split("|")[1:]]
        assert all(math.isfinite(x) and x > 0 for x in cells), row
    assert report.count("round 1 ") == 9

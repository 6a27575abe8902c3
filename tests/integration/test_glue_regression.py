"""STS-B through the real stages: a regression head fine-tuned as fairseq's recipe does it.

A tiny generated task in STS-B's files (a local mirror: glue/STS-B/*.tsv, GLUE cannot be
downloaded here) goes through the stage scripts download, prepare, binarize, train and
evaluate for a baseline and a memory model (one seed), then the tables stage's code: the
train stage sets ``--regression-target --num-classes 1``, the evaluate stage writes float
predictions and Pearson and Spearman correlation, the tables bootstrap Pearson r. The metrics and the
bootstrap themselves: ``tests/unit/test_glue_metrics.py``.
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import in_parallel
from pipeline_helpers import TINY_PARAMS

from memtr.common.paths import REPO
from memtr.config.params import load_params
from memtr.reports.tables import Sources, build_tables, to_markdown

DATASET = "glue_stsb"
EXPERIMENT = "tiny_stsb"
VARIANTS = ("baseline", "mem4")
HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"


def write_stsb_mirror(root: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """STS-B's train/dev/test.tsv (10 columns, the score last; test without it): a pair's
    score is the level word of its first sentence plus a fraction."""
    rng = random.Random(seed)
    folder = root / "glue" / "STS-B"
    folder.mkdir(parents=True)
    for split, count in sizes.items():
        lines = [HEADER + ("" if split == "test" else "\tscore")]
        for i in range(count):
            level = rng.randint(0, 4)
            first = " ".join([f"level{level}", *rng.choices([f"w{k}" for k in range(20)], k=4)])
            second = " ".join(rng.choices([f"w{k}" for k in range(20)], k=5))
            score = "" if split == "test" else f"\t{level + rng.choice([0, 0.2, 0.4, 0.6]):g}"
            lines.append(f"{i}\tmain\tfile\t2012\t{i}\tnone\tnone\t{first}\t{second}{score}")
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def stsb_params(mirror: Path) -> dict:
    doc = copy.deepcopy(TINY_PARAMS)
    doc["data"].update(dataset=DATASET, mirror=str(mirror), bpe_vocab_size=100)
    doc["model"]["args"] = {
        "encoder_layers": 1, "encoder_embed_dim": 32, "encoder_ffn_embed_dim": 64,
        "encoder_attention_heads": 2,
    }  # fmt: skip
    doc["experiment"].update(name=EXPERIMENT, variants=list(VARIANTS), seeds=[1])
    doc["train"].update(label_smoothing=0.0, tokens_per_sample=32, validate_interval_updates=0,
                        max_update=30, warmup_updates=5, max_tokens=2048, threads=1)  # fmt: skip
    doc["eval"] = {"splits": ["valid"], "batch_size": 32, "bootstrap_resamples": 200}
    doc["attention"]["seeds"] = [1]
    return doc


def stage(script: str, *args: str, cwd: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "workflow" / "scripts" / script), "--quiet", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stages run in a folder of their own (data/, runs/, metrics/); the two variants
    side by side (one core each)."""
    ws = tmp_path_factory.mktemp("stsb")
    mirror = write_stsb_mirror(ws / "mirror", {"train": 240, "dev": 60, "test": 20})
    (ws / "params.yaml").write_text(yaml.safe_dump(stsb_params(mirror), sort_keys=False))
    for script in ("download.py", "prepare.py", "binarize.py"):
        stage(script, cwd=ws)

    def train_and_evaluate(variant: str) -> None:
        run, metrics = (f"{root}/{EXPERIMENT}/{variant}/seed1" for root in ("runs", "metrics"))
        common = ["--variant", variant, "--seed", "1", "--data", f"data/bin/{DATASET}",
                  "--metrics", metrics]  # fmt: skip
        stage("train.py", *common, "--out", run, cwd=ws)
        stage("evaluate.py", *common, "--model", f"{run}/model.pt", "--prep",
              f"data/prep/{DATASET}", cwd=ws)  # fmt: skip

    in_parallel(train_and_evaluate, VARIANTS)
    return ws


def tables(ws: Path) -> tuple[pd.DataFrame, str]:
    """The tables stage's results table and its Markdown (its script also wants the
    attention stage's outputs, which a classification model has none of)."""
    params = load_params(ws / "params.yaml")
    src = Sources(ws / "metrics" / EXPERIMENT, ws / "data" / "prep" / DATASET)
    table = build_tables(params.study(), src)[0]
    return table, to_markdown(table, params.study())


@pytest.mark.slow
def test_stsb_is_fine_tuned_as_a_regression_and_scored_by_correlation(workspace):
    dev = (workspace / "mirror/glue/STS-B/dev.tsv").read_text().splitlines()[1:]
    gold = [float(line.split("\t")[-1]) for line in dev]
    for variant in VARIANTS:
        log = (workspace / f"runs/{EXPERIMENT}/{variant}/seed1/checkpoints/train.log").read_text()
        for option in ("'regression_target': True", "'num_classes': 1",
                       "'best_checkpoint_metric': 'loss'"):  # fmt: skip
            assert option in log
        folder = workspace / f"metrics/{EXPERIMENT}/{variant}/seed1"
        scores = json.loads((folder / "eval.json").read_text())["valid"]
        assert set(scores) == {"pearson", "spearman", "examples"} and scores["examples"] == 60
        assert all(-100 <= scores[m] <= 100 for m in ("pearson", "spearman"))
        rows = [line.split("\t") for line in (folder / "outputs/predictions.valid.tsv").open()]
        predicted = [float(p) for p, _ in rows]  # floats on STS-B's 0-5 scale, as the gold
        assert [float(g) for _, g in rows] == pytest.approx(gold, abs=1e-6)
        assert len(set(predicted)) > 1
    table, page = tables(workspace)
    assert list(table["variant"]) == list(VARIANTS)
    assert {"pearson_mean", "spearman_mean"} <= set(table.columns)
    assert 0 < table["p_vs_reference"].iloc[1] <= 1  # the paired bootstrap of Pearson r
    assert "paired bootstrap over dev examples (200 resamples)" in page and "Pearson r" in page

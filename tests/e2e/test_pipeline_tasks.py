"""The pipeline's language-modelling and classification paths, run for real on tiny configs.

Language modelling: a slice of WikiText-2 declared as local files in params.yaml, `dvc
repro`, perplexity with fairseq-eval-lm, attention over the memory LM. Classification: a generated task in GLUE
SST-2's files declared as local TSV files, `snakemake --profile local`, the way of the paper's
claim 3: a masked LM pre-trained by the pipeline on the WikiText-2 slice (its GPT-2-format BPE
learned there), then fine-tuned from that checkpoint with and without memory; accuracy.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import (
    MIRROR,
    PIPELINE_PARAMS,
    Background,
    check,
    dvc_jobs,
    make_workspace,
    run_tool,
    snakemake_jobs,
    write_sst2_mirror,
)

from memtr.reports.replication import Claim, report

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

TASK_TRAIN = {"label_smoothing": 0.0, "tokens_per_sample": 32, "validate_interval_updates": 0}


# The LM's corpus: the first lines of WikiText-2's train and test (local mirror), declared in
# params.yaml as local files (data.datasets); valid is carved from the end of train. The
# registry's whole WikiText-2 goes through the data stages in
# tests/integration/test_data_binarize.py; here a slice proves the same stages, and keeps the
# vocabulary (each scored token writes a row of logits) and the scored test small.
LM_SLICE = {"train": ("wiki.train.tokens", 2000), "test": ("wiki.test.tokens", 300)}
LM_DATASET = "wiki_slice"
LM_DECLARATION = {
    "task": "language_modeling",
    "files": {split: f"corpus/{split}.txt" for split in LM_SLICE},
    "split": {"valid": 100},
}


def write_lm_slice(ws: Path) -> None:
    """The declared local files, cut from the mirror's WikiText-2."""
    (ws / "corpus").mkdir(exist_ok=True)
    for split, (name, lines) in LM_SLICE.items():
        text = (MIRROR / "wikitext-2" / name).read_text(encoding="utf-8").splitlines(True)
        (ws / "corpus" / f"{split}.txt").write_text("".join(text[:lines]), encoding="utf-8")


def lm_params() -> dict:
    doc = copy.deepcopy(PIPELINE_PARAMS)
    doc["data"].update(dataset=LM_DATASET, datasets={LM_DATASET: LM_DECLARATION})
    doc["model"]["args"] = {
        "decoder_layers": 1, "decoder_embed_dim": 32, "decoder_ffn_embed_dim": 64,
        "decoder_attention_heads": 2, "share_decoder_input_output_embed": True,
    }  # fmt: skip
    # non-recurrent memory LMs go through the same stages; tests/integration/test_attention.py covers them
    doc["variants"]["mem4_rec"] = {"layout": "prepend", "mem_tokens": 4, "recurrent": True}
    doc["experiment"].update(name="tiny_lm", variants=["baseline", "mem4_rec"])
    # Batches of 4 rows of 32 tokens keep the rows of logits in the cache. Scored: test. Left
    # to cheaper tiers: valid, which chose the checkpoints, is scored, reported and left out
    # of the claims in test_pipeline.py's translation workspace (the same tables code);
    # WikiText-103's eval sets in tests/integration/test_data_binarize.py (the extra_test
    # stage) and tests/unit/test_repeated_sets.py (their notes, on the committed LM
    # campaign). 60 updates get far below a uniform guess (asserted); fairseq's own
    # validation reads 1 batch of valid: the one validation, at the end, leaves one
    # checkpoint to choose, and nothing reads its loss.
    doc["train"].update(TASK_TRAIN, max_update=60, warmup_updates=10, max_tokens=1024,
                        threads=2, extra_args=["--max-valid-steps", "1"])  # fmt: skip
    doc["eval"] = {"splits": ["test"], "batch_size": 4, "bootstrap_resamples": 100}
    return doc


# The classification task: generated sentences in GLUE SST-2's files (GLUE cannot be
# downloaded here), declared in params.yaml as local TSV files with their header's column
# names; test is carved from train (scored on valid, as GLUE's tasks are). The registry's
# GLUE recipes: tests/unit/test_data_prepare.py; the sentencepiece path of classification:
# tests/integration/test_glue_regression.py. Here the inputs are encoded with the BPE of the
# pretrain stage (20 updates of a masked LM on the WikiText-2 slice), whose model both
# variants fine-tune (train.restore_file: pretrain).
PRETRAIN = {
    "name": "tiny_mlm", "corpus": LM_DATASET, "bpe_merges": 400, "tokens_per_sample": 32,
    "dropout": 0.1, "max_update": 20,
    "max_tokens": 1024, "lr": 0.001, "warmup_updates": 5, "weight_decay": 0.01,
    "mask_prob": 0.15, "validate_interval_updates": 20, "seed": 1, "extra_args": [],
}  # fmt: skip
GLUE_DATASET = "keyword_sst"
GLUE_DECLARATION = {
    "task": "classification", "format": "tsv", "header": True,
    "columns": {"inputs": ["sentence"], "label": "label"},
    "files": {"train": "corpus/glue/SST-2/train.tsv", "valid": "corpus/glue/SST-2/dev.tsv"},
    "split": {"test": 48, "seed": 0},
}  # fmt: skip


def glue_params() -> dict:
    doc = copy.deepcopy(PIPELINE_PARAMS)
    doc["data"].update(
        dataset=GLUE_DATASET,
        bpe="gpt2",
        gpt2_bpe="pretrain",
        datasets={GLUE_DATASET: GLUE_DECLARATION, LM_DATASET: LM_DECLARATION},
    )
    doc["pretrain"] = PRETRAIN
    doc["model"]["args"] = {
        "encoder_layers": 1, "encoder_embed_dim": 32, "encoder_ffn_embed_dim": 64,
        "encoder_attention_heads": 2,
    }  # fmt: skip
    doc["experiment"]["name"] = "tiny_glue"
    doc["train"].update(TASK_TRAIN, max_update=100, warmup_updates=10, max_tokens=2048,
                        restore_file="pretrain")  # fmt: skip
    doc["eval"] = {"splits": ["valid"], "batch_size": 32, "bootstrap_resamples": 200}
    return doc


@pytest.fixture(scope="module")
def glue_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Background, Path]]:
    """`snakemake --profile local` on the generated SST-2 task (declared local files),
    started at once: it runs beside the LM workspace's `dvc repro`, whose stages leave a core
    idle for much of the time, and test_classification_pipeline_with_snakemake collects it."""
    ws = make_workspace(tmp_path_factory.mktemp("glue"), glue_params())
    corpus = write_sst2_mirror(ws / "corpus")
    write_lm_slice(ws)  # the pretrain stage's corpus
    run = Background(["snakemake", "--profile", "local"], ws)
    yield run, corpus
    run.stop()


@pytest.fixture(scope="module")
def lm_workspace(tmp_path_factory: pytest.TempPathFactory, glue_run) -> Path:
    """The LM DAG with `dvc repro`, shared by every LM test (``glue_run``: started first, to
    run beside this one)."""
    ws = make_workspace(tmp_path_factory.mktemp("lm"), lm_params())
    write_lm_slice(ws)
    check(run_tool(["dvc", "repro"], ws, timeout=1800))
    return ws


def test_lm_pipeline_scores_every_variant_on_the_same_tokens(lm_workspace):
    ws = lm_workspace
    test_lines = (ws / f"data/prep/{LM_DATASET}/test.tokens").read_text().splitlines()
    assert test_lines == (ws / "corpus/test.txt").read_text().splitlines()  # given as a file
    train = (ws / "corpus/train.txt").read_text().splitlines()
    valid = (ws / f"data/prep/{LM_DATASET}/valid.tokens").read_text().splitlines()
    assert valid == train[-100:]  # carved: the end of the declared train text
    stream_tokens = sum(len(line.split()) + 1 for line in test_lines)  # + end of line
    vocabulary = len((ws / f"data/bin/{LM_DATASET}/dict.txt").read_text().splitlines())
    for variant in ("baseline", "mem4_rec"):
        scores = json.loads((ws / f"metrics/tiny_lm/{variant}/seed1/eval.json").read_text())
        assert scores["task"] == "language_modeling"
        assert scores["test"]["tokens"] == stream_tokens
        # 60 updates take a model far below a uniform guess over the vocabulary
        assert 1 < scores["test"]["ppl"] < vocabulary / 4
        log = ws / f"metrics/tiny_lm/{variant}/seed1/outputs/eval_lm.test.log"
        assert "Perplexity" in log.read_text() and " [-" not in log.read_text()  # no word lines
        # the per-segment scores of the paired bootstrap add up to fairseq's perplexity
        segments = (log.parent / "segment_nll.test.tsv").read_text().splitlines()
        rows = [(float(nll), int(n)) for _, nll, n in (x.split("\t") for x in segments)]
        assert sum(n for _, n in rows) == stream_tokens and max(n for _, n in rows) == 32
        ppl = math.exp(sum(nll for nll, _ in rows) / stream_tokens)
        assert ppl == pytest.approx(scores["test"]["ppl"], rel=1e-4)  # fairseq: base-2 loss
    table = pd.read_csv(ws / "results/tiny_lm/results.csv")
    table = table[table["split"] == "test"]
    assert list(table["variant"]) == ["baseline", "mem4_rec"]
    assert list(table["recurrent"]) == [False, True]
    assert table["params_total"].iloc[1] - table["params_total"].iloc[0] == 4 * 32
    assert 0 < table["p_vs_reference"].iloc[1] <= 1  # paired bootstrap over segments
    assert f"Language modelling: {LM_DATASET}" in (ws / "results/tiny_lm/results.md").read_text()


def test_lm_replication_report_claims_on_test(lm_workspace):
    """(What it says of sets without a claim: tests/audit/test_replication.py, on the
    committed LM campaign, whose WikiText-103 sets are WikiText-2's tokens.)"""
    text = report(lm_workspace / "results", (Claim(2, "tiny_lm", "memory helps the LM"),))
    assert f"on `{LM_DATASET}` (test sets: test)" in text
    assert "- `baseline` on test: perplexity" in text
    # one seed: no interval or seed std, said as n/a, not as a number; the bootstrap's p is
    assert re.search(r"\[n/a, n/a\] \| – \| n/a / [01]\.\d{4} \| n/a \| \*\*undecided \(1 seed\)\*\* \|",
                     text)  # fmt: skip
    assert "nan" not in text
    assert "smaller than the seed std" not in text


def test_lm_attention_is_measured_for_memory_models_only(lm_workspace):
    ws = lm_workspace
    mass = pd.read_csv(ws / "results/tiny_lm/memory_mass.csv")
    assert set(mass["model"]) == {"mem4_rec_seed1"}
    assert set(mass["layout"]) == {"lm_recurrent"}
    assert mass[["seq_to_memory", "seq_to_seq"]].sum(axis=1).round(6).eq(1).all()
    assert list((ws / "results/tiny_lm/attention/mem4_rec_seed1").glob("decoder_layer*.png"))
    baseline = json.loads(
        (ws / "results/tiny_lm/attention/baseline_seed1/memory_mass.json").read_text()
    )
    assert baseline["status"] == "no_memory"


def test_lm_rerun_is_a_no_op_and_both_tools_see_the_same_dag(lm_workspace):
    again = check(run_tool(["dvc", "repro"], lm_workspace))
    assert "Running stage" not in again.stdout
    assert dvc_jobs(lm_workspace) == snakemake_jobs(lm_workspace)


def test_classification_pipeline_with_snakemake(glue_run):
    run, corpus = glue_run
    ws = run.cwd
    check(run.wait())
    assert dvc_jobs(ws) == snakemake_jobs(ws)
    table = pd.read_csv(ws / "results/tiny_glue/results.csv")
    assert list(table["variant"]) == ["baseline", "mem4"]
    assert table["params_total"].iloc[1] - table["params_total"].iloc[0] == 4 * 32
    for variant in ("baseline", "mem4"):
        folder = ws / f"metrics/tiny_glue/{variant}/seed1"
        pairs = [line.split("\t") for line in (folder / "outputs/predictions.valid.tsv").open()]
        assert len(pairs) == 96  # every dev example, in order
        gold = [line.split("\t")[1].strip() for line in
                (corpus / "glue/SST-2/dev.tsv").read_text().splitlines()[1:]]  # fmt: skip
        assert [g.strip() for _, g in pairs] == gold
        accuracy = json.loads((folder / "eval.json").read_text())["valid"]["accuracy"]
        assert accuracy == pytest.approx(100 * sum(p == g.strip() for p, g in pairs) / 96, abs=0.01)
        assert accuracy >= 80  # a keyword decides the label: learnt in 100 updates
    assert 0 < table["p_vs_reference"].iloc[1] <= 1
    # the dev set is all GLUE has: it makes the claim although it also chose the checkpoint
    assert set(pd.read_csv(ws / "results/tiny_glue/claims.csv")["split"]) == {"valid"}
    status = json.loads(
        (ws / "results/tiny_glue/attention/mem4_seed1/memory_mass.json").read_text()
    )["status"]
    assert status == "not_supported"


def test_classification_fine_tunes_the_pretrain_stage_model(glue_run):
    run, _ = glue_run
    ws = run.cwd
    check(run.wait())
    model = ws / "pretrain/tiny_mlm/model"
    assert sorted(p.name for p in model.iterdir() if p.name != ".snakemake_timestamp") == [
        "dict.txt", "encoder.json", "model.pt", "vocab.bpe"]  # fmt: skip
    assert not (model.parent / "work" / "checkpoints").exists()  # cleaned after success
    summary = json.loads((ws / "metrics/pretrain/tiny_mlm/pretrain.json").read_text())
    assert summary["pretrained"] and summary["updates"] == 20 and summary["corpus"] == LM_DATASET
    # the task is encoded with the pre-trained model's BPE and dictionary, as a release's
    for name in ("encoder.json", "vocab.bpe", "dict.txt"):
        assert (ws / "data/prep/keyword_sst/gpt2" / name).read_bytes() == (
            model / name
        ).read_bytes()
    assert (ws / "data/bin/keyword_sst/input0/dict.txt").read_bytes() == (
        model / "dict.txt").read_bytes()  # fmt: skip
    for variant in ("baseline", "mem4"):
        log = (ws / f"runs/tiny_glue/{variant}/seed1/checkpoints/train.log").read_text()
        assert "Loaded checkpoint pretrain/tiny_mlm/model/model.pt (epoch 1 @ 0 updates)" in log
        fresh = "memory.vectors is not in the checkpoint: keeping its fresh init" in log
        assert fresh == (variant == "mem4")

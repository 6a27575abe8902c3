"""The pipeline's language-modelling and classification paths, run for real on tiny configs.

Language modelling: WikiText-2 from the local mirror, `dvc repro`, perplexity with
fairseq-eval-lm, attention over the memory LM. Classification: a generated task in GLUE
SST-2's files (GLUE cannot be downloaded here), `snakemake --profile local`, accuracy.
"""

from __future__ import annotations

import copy
import json
import math
import re

import pandas as pd
import pytest
from pipeline_helpers import (
    TINY_PARAMS,
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


def lm_params() -> dict:
    doc = copy.deepcopy(TINY_PARAMS)
    doc["data"]["dataset"] = "wikitext2"
    doc["model"]["args"] = {
        "decoder_layers": 1, "decoder_embed_dim": 32, "decoder_ffn_embed_dim": 64,
        "decoder_attention_heads": 2, "share_decoder_input_output_embed": True,
    }  # fmt: skip
    # non-recurrent memory LMs go through the same stages; tests/test_attention.py covers them
    doc["variants"]["mem4_rec"] = {"layout": "prepend", "mem_tokens": 4, "recurrent": True}
    doc["experiment"].update(name="tiny_lm", variants=["baseline", "mem4_rec"])
    doc["train"].update(TASK_TRAIN, max_tokens=1024)
    doc["eval"] = {"splits": ["valid", "test"], "batch_size": 16, "bootstrap_resamples": 100,
                   "extra_test": ["wikitext103_eval"]}  # fmt: skip
    return doc


def glue_params() -> dict:
    doc = copy.deepcopy(TINY_PARAMS)
    doc["data"]["dataset"] = "glue_sst2"
    doc["model"]["args"] = {
        "encoder_layers": 1, "encoder_embed_dim": 32, "encoder_ffn_embed_dim": 64,
        "encoder_attention_heads": 2,
    }  # fmt: skip
    doc["experiment"]["name"] = "tiny_glue"
    doc["train"].update(TASK_TRAIN, max_update=100, max_tokens=2048)
    doc["eval"] = {"splits": ["valid"], "batch_size": 32, "bootstrap_resamples": 200}
    return doc


@pytest.fixture(scope="module")
def lm_workspace(tmp_path_factory: pytest.TempPathFactory):
    ws = make_workspace(tmp_path_factory.mktemp("lm"), lm_params())
    check(run_tool(["dvc", "repro"], ws))
    return ws


def test_lm_pipeline_scores_every_variant_on_the_same_tokens(lm_workspace):
    ws = lm_workspace
    test_lines = (ws / "data/prep/wikitext2/test.tokens").read_text().splitlines()
    stream_tokens = sum(len(line.split()) + 1 for line in test_lines)  # + end of line
    vocabulary = len((ws / "data/bin/wikitext2/dict.txt").read_text().splitlines())
    for variant in ("baseline", "mem4_rec"):
        scores = json.loads((ws / f"metrics/tiny_lm/{variant}/seed1/eval.json").read_text())
        assert scores["task"] == "language_modeling"
        assert scores["test"]["tokens"] == stream_tokens
        # 30 updates take a model far below a uniform guess over the vocabulary
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
    assert "Language modelling: wikitext2" in (ws / "results/tiny_lm/results.md").read_text()


def test_lm_wikitext103_eval_sets_read_as_wikitext2_tokens(lm_workspace):
    """WikiText-103's valid/test are WikiText-2's articles; through WikiText-2's dictionary
    the words WikiText-103 keeps become the <unk> that WikiText-2 writes: same tokens, so the
    same perplexity to the last digit, for every model."""
    ws = lm_workspace
    stats = json.loads((ws / "data/extra/wikitext2/stats.json").read_text())["sets"]
    assert set(stats) == {"wikitext103_valid", "wikitext103_test"}
    assert stats["wikitext103_test"]["tokens"] == 245_569  # WikiText-103's published count
    assert stats["wikitext103_test"]["same_tokens_as"] == "test"
    assert stats["wikitext103_valid"]["same_tokens_as"] == "valid"
    assert 4.0 < stats["wikitext103_test"]["unk_percent"] < 6.0  # words outside WikiText-2
    for variant in ("baseline", "mem4_rec"):
        scores = json.loads((ws / f"metrics/tiny_lm/{variant}/seed1/eval.json").read_text())
        assert scores["wikitext103_test"] == scores["test"]
        assert scores["wikitext103_valid"]["tokens"] == 217_646  # published count, line ends in
    # the same tokens are one test set: the claims table does not count their verdicts twice;
    # and valid, which chose the checkpoint, is reported but makes no claim
    claims = pd.read_csv(ws / "results/tiny_lm/claims.csv")
    assert set(claims["split"]) == {"test"}
    assert set(pd.read_csv(ws / "results/tiny_lm/results.csv")["split"]) == {
        "valid",
        "test",
        "wikitext103_valid",
        "wikitext103_test",
    }
    for name in ("results.md", "claims.md"):
        note = (ws / "results/tiny_lm" / name).read_text()
        assert "`wikitext103_test` = `test`" in note and "`wikitext103_valid` = `valid`" in note
    assert "`valid` chose each run's checkpoint" in (ws / "results/tiny_lm/claims.md").read_text()


def test_lm_replication_report_claims_on_test_and_says_why_not_on_the_rest(lm_workspace):
    text = report(lm_workspace / "results", (Claim(2, "tiny_lm", "memory helps the LM"),))
    assert "on `wikitext2` (test sets: test)" in text
    assert "`valid` chose each run's checkpoint" in text
    for split in ("wikitext103_valid", "wikitext103_test"):
        assert f"`{split}` reads as exactly the tokens of one of the dataset's own splits" in text
    assert "- `baseline` on test: perplexity" in text and "`baseline` on valid" not in text
    # one seed: no interval or seed std, said as n/a, not as a number; the bootstrap's p is
    assert re.search(r"\[n/a, n/a\] \| n/a \| [01]\.\d{4} \| \*\*undecided \(1 seed\)\*\* \|", text)
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


def test_classification_pipeline_with_snakemake(tmp_path):
    mirror = write_sst2_mirror(tmp_path / "mirror")
    ws = make_workspace(tmp_path / "ws", glue_params())
    check(run_tool(["snakemake", "--profile", "local"], ws, MEMTR_DATA_MIRROR=str(mirror)))
    assert dvc_jobs(ws) == snakemake_jobs(ws)
    table = pd.read_csv(ws / "results/tiny_glue/results.csv")
    assert list(table["variant"]) == ["baseline", "mem4"]
    assert table["params_total"].iloc[1] - table["params_total"].iloc[0] == 4 * 32
    for variant in ("baseline", "mem4"):
        folder = ws / f"metrics/tiny_glue/{variant}/seed1"
        pairs = [line.split("\t") for line in (folder / "outputs/predictions.valid.tsv").open()]
        assert len(pairs) == 96  # every dev example, in order
        gold = [line.split("\t")[1].strip() for line in
                (mirror / "glue/SST-2/dev.tsv").read_text().splitlines()[1:]]  # fmt: skip
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

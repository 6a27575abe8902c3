"""GLUE's metrics per task: the metric functions against sklearn and scipy, the paired
bootstrap of a metric that is no mean over examples, and what the tables make of them.

The real STS-B fine-tuning (regression head, predictions as floats) is in
``tests/integration/test_glue_regression.py``.
"""

import copy
import json
import time

import numpy as np
import pytest
from pipeline_helpers import TINY_PARAMS
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from memtr.config.params import parse_params
from memtr.datasets.registry import get_dataset
from memtr.reports.tables import Sources, build_tables, to_markdown
from memtr.scoring import scorer_of
from memtr.scoring.classification import ClassificationScorer
from memtr.specs import SPECS, spec_for_dataset
from memtr.stats import f1, mcc, of_gold, paired_bootstrap, pearson, spearman, with_gold
from memtr.tasks import task_of

GLUE_DOC = {
    **TINY_PARAMS,
    "data": {**TINY_PARAMS["data"], "dataset": "glue_cola"},
    "experiment": {**TINY_PARAMS["experiment"], "seeds": [1, 2]},
    "train": {**TINY_PARAMS["train"], "label_smoothing": 0.0, "tokens_per_sample": 32},
    "eval": {"splits": ["valid"], "batch_size": 8, "bootstrap_resamples": 200},
}  # fmt: skip


def glue_params(dataset: str):
    doc = copy.deepcopy(GLUE_DOC)
    doc["data"]["dataset"] = dataset
    return parse_params(doc)


def noisy_labels(rng, gold: np.ndarray, right: float, classes: int = 2) -> np.ndarray:
    """``gold`` with a share ``1 - right`` of the labels replaced by random ones."""
    return np.where(rng.random(gold.shape) < right, gold, rng.integers(0, classes, gold.shape))


# --------------------------------------------------------------------------------------------
# The metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("classes", [2, 3])
def test_mcc_is_sklearns(seed, classes):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, classes, 300)
    pred = noisy_labels(rng, gold, 0.6, classes)
    assert mcc(pred, gold) == pytest.approx(matthews_corrcoef(gold, pred), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f1_of_the_positive_class_is_sklearns(seed):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, 300)
    pred = noisy_labels(rng, gold, 0.5)
    assert f1(pred, gold) == pytest.approx(f1_score(gold, pred), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pearson_and_spearman_are_scipys(seed):
    rng = np.random.default_rng(seed)
    gold = rng.uniform(0, 5, 300)
    pred = gold + rng.normal(0, 2, 300)
    assert pearson(pred, gold) == pytest.approx(pearsonr(pred, gold)[0], abs=1e-12)
    ties = np.round(gold)  # STS-B's scores repeat: ties take their mean rank
    assert spearman(pred, ties) == pytest.approx(spearmanr(pred, ties)[0], abs=1e-12)


def test_undefined_scores_are_zero():
    gold = np.array([0, 1, 1, 0, 1])
    constant = np.ones(5, dtype=int)
    assert mcc(constant, gold) == matthews_corrcoef(gold, constant) == 0.0
    negatives = np.zeros(5, dtype=int)
    assert f1(negatives, negatives) == f1_score(negatives, negatives, zero_division=0) == 0.0
    assert pearson(np.full(5, 0.7), gold) == 0.0  # scipy: NaN (and a warning)
    assert spearman(np.full(5, 0.7), gold) == 0.0


def test_the_metrics_score_every_row_of_a_batch_of_resamples():
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 2, (6, 40))
    pred = noisy_labels(rng, gold, 0.7)
    for metric in (mcc, f1, pearson, spearman):
        rows = [float(metric(p, g)) for p, g in zip(pred, gold, strict=True)]
        assert metric(pred, gold) == pytest.approx(rows, abs=1e-12), metric.__name__


# --------------------------------------------------------------------------------------------
# The paired bootstrap of a metric over examples, seeds paired


def seed_runs(rng, gold: np.ndarray, right: float, seeds: int = 3) -> np.ndarray:
    return np.stack([noisy_labels(rng, gold, right) for _ in range(seeds)])  # (seeds, examples)


def boot_p(metric, system, baseline, gold, resamples: int) -> float:
    return paired_bootstrap(of_gold(metric), with_gold(system, gold), with_gold(baseline, gold),
                            resamples)["p"]  # fmt: skip


def test_bootstrap_p_is_small_for_a_clearly_better_system_and_large_for_an_equal_one():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, 1000)
    good, bad, also_good = (seed_runs(rng, gold, r) for r in (0.9, 0.6, 0.9))
    assert boot_p(mcc, good, bad, gold, 500) < 0.01
    assert boot_p(mcc, bad, good, gold, 500) < 0.01  # two-sided
    assert boot_p(mcc, good, also_good, gold, 500) > 0.05
    assert boot_p(f1, good, good, gold, 100) == 1.0


def test_bootstrap_of_a_correlation_over_three_seeds_is_fast():
    rng = np.random.default_rng(1)
    gold = rng.uniform(0, 5, 1000)
    better = gold + rng.normal(0, 1.0, (3, 1000))
    worse = gold + rng.normal(0, 1.5, (3, 1000))
    start = time.perf_counter()
    p = boot_p(pearson, better, worse, gold, 1000)
    assert time.perf_counter() - start < 2.0
    assert p < 0.01


def test_bootstrap_refuses_unpaired_predictions():
    gold = np.zeros(10)
    with pytest.raises(ValueError, match="do not pair"):
        boot_p(pearson, np.zeros((2, 10)), np.zeros((1, 10)), gold, 10)
    with pytest.raises(ValueError, match="differ in examples"):
        with_gold(np.zeros((2, 10)), np.zeros(9))


# --------------------------------------------------------------------------------------------
# The task's metric per dataset


@pytest.mark.parametrize(
    ("dataset", "metrics"),
    [("glue_cola", ("mcc", "accuracy")), ("glue_mrpc", ("f1", "accuracy")),
     ("glue_qqp", ("f1", "accuracy")), ("glue_stsb", ("pearson", "spearman")),
     ("glue_rte", ("accuracy",)), ("glue_mnli", ("accuracy",))],
)  # fmt: skip
def test_each_glue_task_is_scored_by_the_metrics_glue_reports(dataset, metrics):
    task = glue_params(dataset).spec
    assert task.scoring.metrics == metrics and task.metric == metrics[0]
    assert (task is SPECS["classification"]) == (metrics == ("accuracy",))


def test_a_declared_classification_dataset_keeps_accuracy():
    doc = copy.deepcopy(GLUE_DOC)
    declared = {"task": "classification", "format": "tsv", "columns": {"inputs": [0], "label": 1},
                "files": {"train": "https://example.org/t.tsv"}, "split": {"valid": 10, "test": 10}}  # fmt: skip
    doc["data"].update(dataset="my_cola", datasets={"my_cola": declared})
    assert parse_params(doc).spec.metric == "accuracy"


def test_stsb_trains_a_regression_head_chosen_by_loss(tmp_path):
    params = glue_params("glue_stsb")
    args = task_of(params.spec).fairseq_args(params.train, tmp_path, None)  # no label dict read
    assert args[args.index("--num-classes") + 1] == "1" and "--regression-target" in args
    assert args[args.index("--best-checkpoint-metric") + 1] == "loss"
    assert "--maximize-best-checkpoint-metric" not in args
    rte = glue_params("glue_rte")
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "dict.txt").write_text("entailment 10\nnot_entailment 9\n")
    args = task_of(rte.spec).fairseq_args(rte.train, tmp_path, None)
    assert args[args.index("--num-classes") + 1] == "2" and "--regression-target" not in args


def test_scores_are_every_metric_in_percent():
    cola = scorer_of(spec_for_dataset(get_dataset("glue_cola")))
    pairs = [("1", "1"), ("0", "1"), ("1", "0"), ("0", "0"), ("1", "1")]
    pred, gold = [int(p) for p, _ in pairs], [int(g) for _, g in pairs]
    assert cola.scores(pairs) == {
        "mcc": round(100 * matthews_corrcoef(gold, pred), 2), "accuracy": 60.0}  # fmt: skip
    mnli = ClassificationScorer()
    assert mnli.scores([("entailment", "entailment"), ("neutral", "contradiction")]) == {
        "accuracy": 50.0}  # fmt: skip
    stsb = scorer_of(spec_for_dataset(get_dataset("glue_stsb")))
    scores = stsb.scores([("1.5", "1"), ("2.5", "2.2"), ("4", "4.8")])
    assert scores["pearson"] == round(100 * pearsonr([1.5, 2.5, 4], [1, 2.2, 4.8])[0], 2)
    assert scores["spearman"] == 100.0


# --------------------------------------------------------------------------------------------
# The tables of a GLUE experiment


def write_runs(metrics, rng, gold: list[int], right: dict[str, float]) -> None:
    """eval.json, train.json and predictions.valid.tsv of each variant and seed."""
    task = scorer_of(spec_for_dataset(get_dataset("glue_cola")))
    for variant, share in right.items():
        for seed in (1, 2):
            folder = metrics / variant / f"seed{seed}"
            (folder / "outputs").mkdir(parents=True)
            pairs = [(str(p), str(g)) for p, g in zip(noisy_labels(rng, np.array(gold), share),
                                                       gold, strict=True)]  # fmt: skip
            lines = "".join(f"{p}\t{g}\n" for p, g in pairs)
            (folder / "outputs" / "predictions.valid.tsv").write_text(lines)
            scores = {"valid": {**task.scores(pairs), "examples": len(pairs)}}
            (folder / "eval.json").write_text(json.dumps(scores))
            train = {"params": {"total": 10}, "updates": 5, "train_wall_s": 1.0}
            (folder / "train.json").write_text(json.dumps(train))


def test_a_cola_table_reports_mcc_with_its_bootstrap_and_accuracy_beside(tmp_path):
    params = glue_params("glue_cola")
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, 400).tolist()
    write_runs(tmp_path, rng, gold, {"baseline": 0.3, "mem4": 0.95})
    table, claims, runs = build_tables(params.study(), Sources(tmp_path, tmp_path))
    assert {"mcc_mean", "mcc_ci95_low", "accuracy_mean"} <= set(table.columns)
    assert table["mcc_mean"].iloc[1] > table["mcc_mean"].iloc[0] + 40  # MCC ~ 30 against ~ 95
    assert claims["delta_mcc"].iloc[0] > 40 and claims["p_boot"].iloc[0] < 0.01
    assert "mcc_valid" in runs.columns
    page = to_markdown(table, params.study())
    assert "mcc: Matthews correlation (MCC) x 100" in page
    assert "paired bootstrap over dev examples (200 resamples)" in page
    (tmp_path / "mem4" / "seed2" / "outputs" / "predictions.valid.tsv").write_text("1\t0\n" * 400)
    with pytest.raises(ValueError, match="mem4 seed 2: predictions.valid.tsv lists other gold"):
        scorer_of(params.spec).paired_bootstrap(
            params.study(), Sources(tmp_path, tmp_path), "mem4", "baseline", "valid"
        )

"""The tables stage: one row per variant with mean, std and 95% CI over seeds, the paired
bootstrap p-value against the reference variant, parameter counts, training time, and
the paper's number beside ours (labelled as the paper's)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml
from scipy import stats

from memtr.evaluation import paired_bootstrap, paired_bootstrap_accuracy, read_lines
from memtr.params import Params
from memtr.registry import get_dataset

PAPER_REFERENCE = Path(__file__).resolve().parents[1] / "workflow" / "paper_reference.yaml"


def mean_std_ci(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, sample std and the two ends of the 95% t-interval (NaN std/CI for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


# task -> (metric in eval.json, its table name, section of paper_reference.yaml)
METRICS = {
    "translation": ("bleu", "BLEU", "mt"),
    "language_modeling": ("ppl", "perplexity", "lm"),
    "classification": ("accuracy", "accuracy", "glue"),
}


def load_run(metrics: Path, variant: str, seed: int) -> tuple[dict, dict]:
    """train.json and eval.json of one run; a missing file is an error naming it."""
    folder = metrics / variant / f"seed{seed}"
    for name in ("train.json", "eval.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"missing {folder / name}: run the train/evaluate stages first")
    return (
        json.loads((folder / "train.json").read_text()),
        json.loads((folder / "eval.json").read_text()),
    )


def paper_numbers(task: str, dataset: str) -> dict[str, float]:
    """The paper's number per variant name for ``dataset`` (empty if none)."""
    if not PAPER_REFERENCE.is_file():
        return {}
    metric, _, section = METRICS[task]
    doc = yaml.safe_load(PAPER_REFERENCE.read_text()) or {}
    return {
        row["variant"]: row[metric]
        for row in doc.get(section) or []
        if row.get("dataset") == dataset and metric in row
    }


def outputs_of(params: Params, metrics: Path, variant: str, name: str) -> list[str]:
    """Per-example output lines of ``variant``, all seeds concatenated in seed order."""
    lines: list[str] = []
    for seed in params.experiment["seeds"]:
        lines += read_lines(metrics / variant / f"seed{seed}" / "outputs" / name)
    return lines


def pooled_p_value(params: Params, metrics: Path, prep: Path, variant: str, split: str) -> float:
    """Paired test of ``variant`` against the reference variant.

    Translation and classification: a paired bootstrap over test examples, seed s of the
    variant paired with seed s of the reference and all seeds' examples pooled, so the test
    sees the seed-to-seed variation of both systems (sacrebleu's test for BLEU, the same
    resampling on per-example correctness for accuracy). Language modelling: Welch's t-test
    of the per-seed perplexities (NaN below 2 seeds).
    """
    reference, ev = params.experiment["reference"], params.eval
    if params.task == "translation":
        name = f"hyps.{split}.txt"
        tgt = get_dataset(params.data.dataset).tgt
        refs = read_lines(prep / f"{split}.ref.{tgt}") * len(params.experiment["seeds"])
        system, baseline = (outputs_of(params, metrics, v, name) for v in (variant, reference))
        return paired_bootstrap(
            system, baseline, refs, ev["sacrebleu_tokenize"], ev["bootstrap_resamples"]
        )
    if params.task == "classification":
        name = f"predictions.{split}.tsv"
        correct = [
            [p == g for p, g in (line.split("\t") for line in outputs_of(params, metrics, v, name))]
            for v in (variant, reference)
        ]
        return paired_bootstrap_accuracy(*correct, ev["bootstrap_resamples"])
    seeds = params.experiment["seeds"]
    if len(seeds) < 2:
        return math.nan
    a, b = ([load_run(metrics, v, s)[1][split]["ppl"] for s in seeds] for v in (variant, reference))
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def results_table(params: Params, metrics: Path, prep: Path) -> pd.DataFrame:
    """One row per (split, variant) of the experiment."""
    metric, _, _ = METRICS[params.task]
    paper = paper_numbers(params.task, params.data.dataset)
    rows = []
    for split in params.eval["splits"]:
        for variant in params.run_variants():
            runs = [load_run(metrics, variant.name, s) for s in params.experiment["seeds"]]
            values = [ev[split][metric] for _, ev in runs]
            mean, std, lo, hi = mean_std_ci(values)
            is_ref = variant.name == params.experiment["reference"]
            p = math.nan if is_ref else pooled_p_value(params, metrics, prep, variant.name, split)
            row = {
                "split": split, "variant": variant.name, "layout": variant.layout,
                "mem_tokens": variant.mem_tokens, "seeds": len(runs),
                f"{metric}_mean": round(mean, 2), f"{metric}_std": round(std, 2),
                f"{metric}_ci95_low": round(lo, 2), f"{metric}_ci95_high": round(hi, 2),
            }  # fmt: skip
            if params.task == "translation":
                row["chrf_mean"] = round(sum(ev[split]["chrf"] for _, ev in runs) / len(runs), 2)
            if params.task == "language_modeling":
                row["recurrent"] = variant.recurrent
            row.update({
                "p_vs_reference": round(p, 4),
                "params_total": runs[0][0]["params"]["total"],
                "train_wall_s_mean": round(sum(tr["train_wall_s"] for tr, _ in runs) / len(runs), 1),
                "updates": runs[0][0]["updates"],
                f"paper_{metric}": paper.get(variant.name, math.nan),
            })  # fmt: skip
            if params.task == "translation":
                row["bleu_signature"] = runs[0][1][split]["bleu_signature"]
            rows.append(row)
    return pd.DataFrame(rows)


TITLES = {
    "translation": "Machine translation",
    "language_modeling": "Language modelling",
    "classification": "Sentence classification",
}


def legend(table: pd.DataFrame, params: Params) -> list[str]:
    """The notes under the Markdown table: how each column was measured."""
    _, label, _ = METRICS[params.task]
    resamples, reference = params.eval["bootstrap_resamples"], params.experiment["reference"]
    if params.task == "translation":
        notes = [
            "BLEU/chrF: sacrebleu on detokenized output, signature "
            f"`{table['bleu_signature'].iloc[0]}`.",
            f"p_vs_reference: sacrebleu's paired bootstrap ({resamples} resamples) against "
            f"`{reference}`, seeds paired and pooled.",
        ]
    elif params.task == "language_modeling":
        notes = [
            "perplexity: `fairseq-eval-lm` over the whole split in segments of "
            f"{params.train['tokens_per_sample']} tokens (lower is better); every variant is "
            "scored on the same tokens.",
            f"p_vs_reference: Welch's t-test of the per-seed perplexities against `{reference}` "
            "(n/a below 2 seeds).",
        ]
    else:
        notes = [
            "accuracy (%) on the task's dev set (GLUE test labels are not public).",
            f"p_vs_reference: paired bootstrap ({resamples} resamples) of per-example "
            f"correctness against `{reference}`, seeds paired and pooled.",
        ]
    return [
        *notes,
        f"mean, sample std and 95% t-interval over {len(params.experiment['seeds'])} seed(s) "
        "(std and CI need at least 2 seeds).",
        f"paper's {label}: typed in from the paper (workflow/paper_reference.yaml); n/a where "
        "the paper has no number for this setting or it is not transcribed yet.",
    ]


def to_markdown(table: pd.DataFrame, params: Params) -> str:
    """The Markdown version of the table, with a legend."""
    metric, label, _ = METRICS[params.task]
    shown = table.drop(columns=["bleu_signature"], errors="ignore").copy()
    shown = shown.astype(object).where(shown.notna(), "n/a")  # e.g. std of a single seed
    shown = shown.rename(columns={f"paper_{metric}": f"paper's {label} (reference, not ours)"})
    notes = "".join(f"- {line}\n" for line in legend(table, params))
    return (
        f"# {TITLES[params.task]}: {params.data.dataset} (experiment "
        f"`{params.experiment['name']}`)\n\n"
        f"Generated by `workflow/scripts/tables.py` from the pipeline's runs; do not edit.\n\n"
        f"{shown.to_markdown(index=False)}\n\n{notes}"
    )

"""The tables stage: one row per variant with mean, std and 95% CI over seeds, the paired
bootstrap p-value against the reference variant, parameter counts, training time, and
the paper's number beside ours (labelled as the paper's)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from memtr.common.errors import DataError
from memtr.common.markdown import aligned_table
from memtr.config.study import Study
from memtr.datasets.extra_sets import names_of
from memtr.reports.convergence import CONVERGED_SLOPE, WINDOW, converged_share, run_convergence
from memtr.reports.folders import run_folder
from memtr.reports.paper import paper_deltas, paper_numbers
from memtr.reports.verdicts import Family, claims_notes, family_rows
from memtr.scoring import scorer_of
from memtr.scoring.base import Sources
from memtr.stats import mean_std_ci

__all__ = ["Sources", "Study", "build_tables", "claims_markdown", "repeated_sets", "to_markdown"]


def read_json(path: Path) -> dict:
    """A JSON object written by an earlier stage; one that is not is a DataError naming it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"cannot read {path}: not JSON ({exc})") from None
    except UnicodeDecodeError:
        raise DataError(f"cannot read {path}: not UTF-8 text") from None
    if not isinstance(doc, dict):
        raise DataError(f"cannot read {path}: a JSON {type(doc).__name__}, not an object")
    return doc


def load_run(metrics: Path, variant: str, seed: int) -> tuple[dict, dict]:
    """train.json and eval.json of one run; a missing or unreadable file is an error naming it."""
    folder = run_folder(metrics, variant, seed)
    for name in ("train.json", "eval.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"missing {folder / name}: run the train/evaluate stages first")
    train = read_json(folder / "train.json")
    if missing := [k for k in ("updates", "train_wall_s", "params") if k not in train]:
        raise DataError(f"cannot read {folder / 'train.json'}: no {missing[0]!r}")
    return train, read_json(folder / "eval.json")


EQUAL_STEPS, EQUAL_COMPUTE, AT_CONVERGENCE = "equal steps", "equal compute", "at convergence"
BUDGETS = (EQUAL_STEPS, AT_CONVERGENCE, EQUAL_COMPUTE)  # how a variant meets its baseline


def reference_budget(study: Study) -> str:
    """How every variant meets the reference: at equal steps (the same ``train.max_update``)
    or, when each run trains until its patience stops it (``train.patience``), at convergence."""
    return AT_CONVERGENCE if study.train.patience else EQUAL_STEPS


def budget_phrase(budget: str) -> str:
    """``at equal steps``, ``at convergence``: a budget after a comparison."""
    return budget if budget.startswith("at ") else f"at {budget}"


def updates_of(runs: list[tuple[dict, dict]]) -> int:
    """The updates of a variant's runs: their number when all seeds trained as long (a fixed
    budget), else the mean (runs stopped by a patience), rounded."""
    updates = [train["updates"] for train, _ in runs]
    return updates[0] if len(set(updates)) == 1 else round(sum(updates) / len(updates))


def per_seed(runs: list[tuple[dict, dict]], label: str, metric: str) -> list[float]:
    return [ev[label][metric] for _, ev in runs]


def wall_mean(runs: list[tuple[dict, dict]]) -> float:
    return sum(tr["train_wall_s"] for tr, _ in runs) / len(runs)


def comparison(study: Study, src: Sources, runs: dict, variant: str, against: str,
               label: str) -> dict:  # fmt: skip
    """``variant`` against ``against`` on ``label``: the mean difference over seeds, the
    example-level paired bootstrap's p, and the ratio of their training wall times."""
    metric = study.spec.metric
    a, b = per_seed(runs[variant], label, metric), per_seed(runs[against], label, metric)
    boot = scorer_of(study.spec).paired_bootstrap(study, src, variant, against, label)
    return {
        "delta": sum(a) / len(a) - sum(b) / len(b),
        "p": boot["p"],
        "wall_ratio": wall_mean(runs[variant]) / wall_mean(runs[against]),
    }


def load_runs(study: Study, metrics: Path) -> dict[str, list[tuple[dict, dict]]]:
    """Every run of the experiment: variant -> [(train.json, eval.json) per seed]; an eval.json
    without a score the tables report is an error naming it."""
    runs = {}
    for v in study.experiment.variants:
        runs[v] = [load_run(metrics, v, s) for s in study.experiment.seeds]
        for seed, (_, scores) in zip(study.experiment.seeds, runs[v], strict=True):
            for label in study.eval_labels():
                if study.spec.metric not in (scores.get(label) or {}):
                    path = run_folder(metrics, v, seed) / "eval.json"
                    raise DataError(f"cannot read {path}: no {study.spec.metric} on {label!r}")
    return runs


def compare_all(study: Study, src: Sources, runs: dict) -> dict[tuple[str, str, str], dict]:
    """Every comparison the tables report: (label, variant, against) -> :func:`comparison`.

    Each variant against the reference (equal steps) and, where ``experiment.equal_compute``
    pairs it, against its equal-compute baseline.
    """
    reference = study.experiment.reference
    pairs = [(v, reference) for v in study.experiment.variants if v != reference]
    pairs += list((study.experiment.equal_compute or {}).items())
    return {
        (label, v, against): comparison(study, src, runs, v, against, label)
        for label in study.eval_labels()
        for v, against in pairs
    }


def families(study: Study) -> dict[str, list[str]]:
    """The families of claims: each reference (the experiment's, and every equal-compute
    baseline) -> the memory variants compared with it, in the experiment's order."""
    reference = study.experiment.reference
    equal_compute = study.experiment.equal_compute or {}
    baselines = set(equal_compute.values())
    found = {reference: [v for v in study.experiment.variants
                         if v != reference and v not in baselines]}  # fmt: skip
    for variant, baseline in equal_compute.items():
        found.setdefault(baseline, []).append(variant)
    return found


def _rounded(found: dict | None, key: str, digits: int) -> float:
    return round(found[key], digits) if found else math.nan


def results_table(
    study: Study, src: Sources, runs: dict, compared: dict, converged: dict[str, list[dict]]
) -> pd.DataFrame:
    """One row per (test set, variant) of the experiment."""
    task, scorer = study.spec, scorer_of(study.spec)
    metric = task.metric
    paper = paper_numbers(task, study.dataset)
    reference = study.experiment.reference
    equal_compute = study.experiment.equal_compute or {}
    rows = []
    for label in study.eval_labels():
        for variant in study.run_variants():
            own = runs[variant.name]
            mean, std, lo, hi = mean_std_ci(per_seed(own, label, metric))
            vs_ref = compared.get((label, variant.name, reference))
            row = {
                "split": label, "variant": variant.name, "layout": variant.layout,
                "mem_tokens": variant.mem_tokens, "seeds": len(own),
                f"{metric}_mean": round(mean, 2), f"{metric}_std": round(std, 2),
                f"{metric}_ci95_low": round(lo, 2), f"{metric}_ci95_high": round(hi, 2),
                **scorer.result_columns(variant, own, label),
            }  # fmt: skip
            row["delta_vs_reference"] = _rounded(vs_ref, "delta", 2)
            row["p_vs_reference"] = _rounded(vs_ref, "p", 4)
            if equal_compute:
                against = equal_compute.get(variant.name, "")
                vs = compared.get((label, variant.name, against))
                row.update({
                    "compute_reference": against,
                    "delta_vs_compute_reference": _rounded(vs, "delta", 2),
                    "p_vs_compute_reference": _rounded(vs, "p", 4),
                    "wall_ratio_vs_compute_reference": _rounded(vs, "wall_ratio", 2),
                })  # fmt: skip
            row.update({
                "params_total": own[0][0]["params"]["total"],
                "train_wall_s_mean": round(wall_mean(own), 1),
                "updates": updates_of(own),
                "converged": converged_share([c["convergence"] for c in converged[variant.name]]),
                "valid_slope_per_1k_mean": mean_slope(converged[variant.name]),
                f"paper_{metric}": paper.get(variant.name, math.nan),
                **scorer.run_details(own, label),
            })  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows)


# fairseq's --valid-subset: training keeps each run's best checkpoint on it
SELECTION_SPLIT = "valid"


def selection_left_out(labels: set[str], repeats: dict[str, str] | None = None) -> set[str]:
    """``{SELECTION_SPLIT}`` when it is among the evaluated ``labels`` beside an independent test
    set: it chose the checkpoint, so its scores are optimistic and make no claim. Alone (GLUE,
    whose test labels are not public) it stays: it is all there is."""
    independent = labels - {SELECTION_SPLIT} - set(repeats or {})
    return {SELECTION_SPLIT} if SELECTION_SPLIT in labels and independent else set()


def claims_table(study: Study, src: Sources, runs: dict, compared: dict,
                 repeats: dict[str, str] | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per comparison of a memory variant, family by family
    (:mod:`memtr.reports.verdicts`): effect, intervals, tests, power, verdict.

    A test set in ``repeats`` (the same tokens as another split, see :func:`repeated_sets`)
    has no rows: it would repeat that split's verdicts and count them twice. Nor has the
    split that chose the checkpoint when there is an independent one
    (:func:`selection_left_out`).
    """
    task, reference = study.spec, study.experiment.reference
    scorer = scorer_of(task)
    metric = task.metric
    paper = paper_deltas(task, reference)
    left_out = set(repeats or {}) | selection_left_out({label for label, _, _ in compared}, repeats)
    rows = []
    for label in (x for x in study.eval_labels() if x not in left_out):
        for against, members in families(study).items():
            equal_steps = against == reference
            family = Family(
                against, tuple(members),
                {v: per_seed(runs[v], label, metric) for v in (against, *members)},
                task.higher_is_better, scorer.floor(study, src, label),
                task.equivalence_margin(study.eval.equivalence_margin),
                {v: paper.get(v, (math.nan, ""))[0] for v in members} if equal_steps else {},
            )  # fmt: skip
            found = family_rows(family, {v: compared[(label, v, against)] for v in members})
            for variant in members:
                delta, source = (
                    paper.get(variant, (math.nan, "")) if equal_steps else (math.nan, "")
                )
                rows.append({
                    "split": label, "variant": variant, "against": against,
                    "budget": reference_budget(study) if equal_steps else EQUAL_COMPUTE,
                    "wall_ratio": round(compared[(label, variant, against)]["wall_ratio"], 2),
                    f"delta_{metric}": round(compared[(label, variant, against)]["delta"], 2),
                    **rounded_statistics(found[variant]),
                    f"paper_delta_{metric}": delta, "paper_dataset": source,
                })  # fmt: skip
    return pd.DataFrame(rows)


STATISTICS = {  # claims column -> decimals (verdicts.family_rows' names)
    "delta_ci95_low": 2, "delta_ci95_high": 2, "seed_deltas": None, "residual_std": 2,
    "df": None, "p": 4, "p_adj": 4, "p_boot": 4, "p_boot_adj": 4, "detectable": 2,
    "seeds_for_paper": None, "margin": 2, "p_equivalent_adj": 4, "p_paper_adj": 4,
    "floor": 2, "reference_mean": 2, "pooling_p": 4, "verdict": None,
}  # fmt: skip


def rounded_statistics(found: dict) -> dict:
    """The claims columns of one comparison, rounded; missing ones (one seed) NaN."""
    return {
        key: (round(found[key], digits) if digits is not None else found[key])
        if key in found and found[key] is not None
        else math.nan
        for key, digits in STATISTICS.items()
    }


def runs_table(study: Study, runs: dict, converged: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per training run: its budget, cost, convergence and score on every test set."""
    metric = study.spec.metric
    rows = []
    for variant, per_seed_runs in runs.items():
        seeds = zip(study.experiment.seeds, per_seed_runs, converged[variant], strict=True)
        for seed, (train, scores), conv in seeds:
            rows.append({
                "variant": variant, "seed": seed, "updates": train["updates"],
                "train_wall_s": train["train_wall_s"], "resumed": train.get("resumed", False),
                "params_total": train["params"]["total"],
                **{f"{metric}_{label}": scores[label][metric] for label in study.eval_labels()},
                "stopped_by": train.get("stopped_by", "max_update"), **conv,
            })  # fmt: skip
    return pd.DataFrame(rows)


def runs_convergence(study: Study, metrics: Path) -> dict[str, list[dict]]:
    """The convergence of every run (memtr.reports.convergence), per variant in seed order."""
    return {
        variant.name: [
            run_convergence(run_folder(metrics, variant.name, seed))
            for seed in study.experiment.seeds
        ]
        for variant in study.run_variants()
    }


def mean_slope(converged: list[dict]) -> float:
    """The variant's valid-loss slope at the end of its budget, mean over its runs."""
    slopes = [c["valid_slope_per_1k"] for c in converged if not math.isnan(c["valid_slope_per_1k"])]
    return round(sum(slopes) / len(slopes), 3) if slopes else math.nan


def repeated_sets(extra: Path | None) -> dict[str, str]:
    """Extra test sets that read as exactly the tokens of one of the dataset's own splits:
    label -> that split (``same_tokens_as`` in ``<extra>/stats.json``, written by the
    extra_test stage); empty without one."""
    if extra is None or not (Path(extra) / "stats.json").is_file():
        return {}
    sets = read_json(Path(extra) / "stats.json").get("sets", {})
    return {label: s["same_tokens_as"] for label, s in sets.items() if "same_tokens_as" in s}


def build_tables(study: Study, src: Sources,
                 repeats: dict[str, str] | None = None) -> tuple[pd.DataFrame, ...]:  # fmt: skip
    """An experiment's results, claims and run tables (``repeats``: of ``src.extra`` if None)."""
    runs = load_runs(study, src.metrics)
    compared = compare_all(study, src, runs)
    converged = runs_convergence(study, src.metrics)
    repeats = repeated_sets(src.extra) if repeats is None else repeats
    return (
        results_table(study, src, runs, compared, converged),
        claims_table(study, src, runs, compared, repeats),
        runs_table(study, runs, converged),
    )


def repeats_note(repeats: dict[str, str] | None, claims: bool) -> list[str]:
    """A note naming the test sets that are another split's tokens, if any."""
    if not repeats:
        return []
    same = ", ".join(f"`{label}` = `{split}`" for label, split in repeats.items())
    where = (
        "left out of this table: their rows would repeat those splits' verdicts"
        if claims
        else "so they score the same; the claims table leaves them out"
    )
    return [
        f"same tokens ({same}): the pipeline found these test sets to be exactly the tokens "
        f"of the dataset's own splits (`same_tokens_as` in the extra sets' stats.json), {where}."
    ]


def legend(table: pd.DataFrame, study: Study, repeats: dict[str, str] | None = None) -> list[str]:
    """The notes under the Markdown table: how each column was measured."""
    label, reference = study.spec.metric_label, study.experiment.reference
    notes = scorer_of(study.spec).legend(study, table)
    if study.eval.extra_test:
        notes.append(
            "split: the dataset's own valid/test, or an extra out-of-domain test set "
            f"(eval.extra_test: {', '.join(names_of(list(study.eval.extra_test)))}) read with this "
            "experiment's BPE model and dictionary."
        )
    notes += repeats_note(repeats, claims=False)
    notes.append(delta_note(study, reference))
    notes.append(scorer_of(study.spec).bootstrap_note(study))
    if study.experiment.equal_compute:
        notes.append(
            "compute_reference: the baseline trained for about the same compute "
            "(experiment.equal_compute, more updates); delta/p_vs_compute_reference compare "
            "with it as above; wall_ratio_vs_compute_reference: mean training wall time of the "
            "variant / of that baseline (near 1: a fair pairing)."
        )
    return [
        *notes,
        f"converged: the variant's runs whose validation loss had stopped falling when the "
        f"budget ended (slope over the last {WINDOW:.0%} of updates above "
        f"-{CONVERGED_SLOPE} bits per 1,000 updates, or no new best there; "
        "memtr/reports/convergence.py); valid_slope_per_1k_mean: that slope, mean over seeds "
        "(per run: runs.csv).",
        f"mean, sample std and 95% t-interval over {len(study.experiment.seeds)} seed(s) "
        "(std and CI need at least 2 seeds).",
        f"paper's {label}: typed in from workflow/paper_reference.yaml, which states each "
        "number's source (rows with `checked: false` come from a secondary source quoting the "
        "paper); n/a where the paper has no number for this dataset or none was found.",
    ]


def delta_note(study: Study, reference: str) -> str:
    """How ``delta_vs_reference`` compares: at equal steps, or each run at its convergence."""
    if reference_budget(study) == EQUAL_STEPS:
        return (
            f"delta_vs_reference: mean difference from `{reference}` at equal training steps "
            "(the paper's budget)."
        )
    return (
        f"delta_vs_reference: mean difference from `{reference}`, every run trained "
        f"{stopping_rule(study)} and scored with its best checkpoint; updates: mean over seeds "
        "of where the runs stopped (per run: runs.csv, `stopped_by`)."
    )


def stopping_rule(study: Study) -> str:
    """When a run trained to convergence stops: its patience ran out, or it reached the cap."""
    t = study.train
    return (
        f"until {t.patience} validations of {t.validate_interval_updates} updates brought "
        f"no new best validation loss (train.patience) or it reached the cap of {t.max_update} "
        "updates (train.max_update), whichever came first"
    )


def to_markdown(table: pd.DataFrame, study: Study, repeats: dict[str, str] | None = None) -> str:
    """The Markdown version of the table, with a legend."""
    metric, label = study.spec.metric, study.spec.metric_label
    shown = table.drop(columns=list(study.spec.hidden_columns))
    shown = shown.rename(columns={f"paper_{metric}": f"paper's {label} (reference, not ours)"})
    notes = "".join(f"- {line}\n" for line in legend(table, study, repeats))
    return (
        f"# {study.spec.title}: {study.dataset} (experiment "
        f"`{study.experiment.name}`)\n\n"
        f"Generated by `workflow/scripts/tables.py` from the pipeline's runs; do not edit.\n\n"
        f"{aligned_table(shown)}\n\n{notes}"
    )


def selection_note(claims: pd.DataFrame, study: Study) -> list[str]:
    """A note when the checkpoint-selection split was evaluated but left out of the claims."""
    evaluated = SELECTION_SPLIT in study.eval.splits
    if claims.empty or not evaluated or SELECTION_SPLIT in set(claims["split"]):
        return []
    return [
        f"`{SELECTION_SPLIT}` chose each run's checkpoint (best validation loss), so its scores "
        "are optimistic: it is in the results table but makes no claim here."
    ]


def budget_note(study: Study) -> str:
    """What the ``budget`` column of the claims table means for this experiment."""
    if reference_budget(study) == AT_CONVERGENCE:
        return (
            "budget: `at convergence` compares with the reference, each run trained "
            f"{stopping_rule(study)}, so the runs can differ in updates and cost "
            "(wall_ratio = variant / against)."
        )
    return (
        "budget: `equal steps` compares with the reference trained for the same number of "
        "updates (the paper's setting); `equal compute` with a baseline trained longer, for "
        "about the same training wall time (wall_ratio = variant / against)."
    )


def claims_markdown(
    claims: pd.DataFrame, study: Study, repeats: dict[str, str] | None = None
) -> str:
    """The claims table in Markdown, with how the verdicts are decided."""
    notes = [
        *claims_notes(study.spec, len(study.experiment.seeds)),
        budget_note(study),
        *repeats_note(repeats, claims=True),
        *selection_note(claims, study),
    ]
    return (
        f"# Claims: {study.spec.title.lower()}, {study.dataset} (experiment "
        f"`{study.experiment.name}`)\n\n"
        "Generated by `workflow/scripts/tables.py` from the pipeline's runs; do not edit.\n\n"
        f"{aligned_table(claims)}\n\n" + "".join(f"- {n}\n" for n in notes)
    )

"""``results/REPLICATION.md``: the verdicts on the paper's claims, written from the generated
tables of the replication experiments (``results/<experiment>/{results,claims}.csv``).

Nothing here is typed in: every number is read from those tables, which the pipeline wrote,
and the verdict of each comparison is the one of the claims table (see
:func:`memtr.reports.tables.verdict`). An experiment whose tables do not exist yet is reported as
not run, so the report can be regenerated while a campaign is under way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from memtr.campaigns import (
    pending_runs,
    recorded_stages,
    run_costs,
    runs_text,
    variant_rates,
)
from memtr.common.markdown import rows_table
from memtr.common.paths import PRESETS
from memtr.config.params import load_params
from memtr.config.study import Study
from memtr.reports.claims_reading import Tally
from memtr.reports.convergence_report import (
    STILL_IMPROVING,
    budget_text,
    convergence_lines,
    early_budget_lines,
    finished_run_lines,
    improving_variants,
    number_text,
)
from memtr.reports.folders import metrics_of, run_folder
from memtr.reports.inference import ALPHA
from memtr.reports.tables import BUDGETS, EQUAL_COMPUTE, SELECTION_SPLIT
from memtr.reports.verdicts import UNINFORMATIVE, verdict_kind
from memtr.scoring import scorer_of
from memtr.settings import ModelSettings, PretrainSettings
from memtr.specs.classification import METRIC_LABELS


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims (or one task of it) and the experiment that tests it at CPU
    scale; ``preset``: the preset that experiment runs (default: its own name); ``early``: an
    experiment testing the same claim at a fixed budget, shown beside this one's verdicts."""

    number: int | str
    experiment: str
    statement: str
    preset: str | None = None
    early: str | None = None

    @property
    def preset_name(self) -> str:
        return self.preset or self.experiment


GLUE_STATEMENT = (
    "memory tokens added to a pre-trained masked LM help after fine-tuning on GLUE "
    "(the paper: mixed results): {task}, memory 10/20 vs the same pre-trained model without "
    "memory"
)
CLAIM3_TASKS = {"sst2": "SST-2", "cola": "CoLA", "mrpc": "MRPC", "rte": "RTE"}

CLAIMS = (
    Claim(1, "cpu_replication", "memory tokens improve machine translation (MemTransformer 10/20, "
          "MemCtrl and MemCtrl-shared 20, MemBottleneck 10/20 vs the Transformer baseline)"),
    Claim("1, at convergence", "cpu_replication_converged", "memory tokens improve machine "
          "translation, every model trained to convergence (its patience or the update cap) "
          "(MemTransformer 10/20, MemCtrl-shared 20, MemBottleneck 20 vs the Transformer "
          "baseline; the model of claim 1)", early="cpu_replication"),
    Claim(2, "cpu_replication_lm", "memory tokens improve language modelling (memory LM with "
          "10/20 tokens, with and without recurrent memory, vs the baseline LM)"),
    *(Claim(f"3 ({name})", f"cpu_replication_glue_{key}", GLUE_STATEMENT.format(task=name),
            "cpu_replication_glue") for key, name in CLAIM3_TASKS.items()),
)  # fmt: skip


def compute_summary(folder: Path, study: Study, model: ModelSettings) -> dict:
    """Scale and cost of one experiment: model, budget, seeds, runs, total training time."""
    table = pd.read_csv(folder / "results.csv")
    first = table[table["split"] == table["split"].iloc[0]]
    seeds = int(first["seeds"].iloc[0])
    return {
        "dataset": study.dataset,
        "model": model.args,
        "budget": budget_text(study, folder),
        "seeds": seeds,
        "runs": len(first) * seeds,
        "train_hours": float((first["train_wall_s_mean"] * seeds).sum() / 3600),
        "splits": list(dict.fromkeys(table["split"])),
    }


def comparison_cells(row: pd.Series, metric: str, improving: set[str] = frozenset()) -> list[str]:
    """One comparison in words, with its numbers from the claims table: a row's cells; the
    verdict says so when a run it rests on was still improving (``improving``: variants)."""
    paper = row.get(f"paper_delta_{metric}")
    paper_text = (
        f"; paper: {number_text(paper)} on {row['paper_dataset']}"
        if isinstance(paper, float) and not math.isnan(paper)
        else ""
    )
    shown = (
        f"**{row['verdict']}**"
        if verdict_kind(row["verdict"]) != UNINFORMATIVE
        else (f"{row['verdict']}")
    )
    return [
        row["split"], f"`{row['variant']}`",
        f"`{row['against']}` ({row['budget']}, wall ×{row['wall_ratio']:.2f})",
        f"{number_text(row[f'delta_{metric}'])} "
        f"[{number_text(row['delta_ci95_low'])}, {number_text(row['delta_ci95_high'])}]",
        str(row.get("seed_deltas", "")) if isinstance(row.get("seed_deltas"), str) else "–",
        f"{number_text(row.get('p_adj', math.nan), 4, sign='')} / "
        f"{number_text(row.get('p_boot_adj', math.nan), 4, sign='')}",
        f"{number_text(row.get('detectable', math.nan), sign='')}"
        f"{seeds_text(row.get('seeds_for_paper', math.nan), paper)}",
        f"{shown}{STILL_IMPROVING if {row['variant'], row['against']} & improving else ''}"
        f"{paper_text}",
    ]  # fmt: skip


def pooling_lines(claims: pd.DataFrame) -> list[str]:
    """The residual check behind pooling each family's variance (Brown-Forsythe's p, the
    claims table's ``pooling_p``): the families it flags, or its smallest p."""
    if "pooling_p" not in claims or claims["pooling_p"].isna().all():
        return []
    per_family = claims.groupby(["split", "budget", "against"], sort=False)["pooling_p"].first()
    flagged = [f"{split} against `{against}` (p {p:.4f})"
               for (split, _, against), p in per_family.items() if p < ALPHA]  # fmt: skip
    if flagged:
        return [f"- pooling doubtful (a variant's seeds spread unlike the others'): "
                f"{'; '.join(flagged)}.\n"]  # fmt: skip
    return [
        f"- pooling: no family's residual spread stands out (Brown-Forsythe, smallest p "
        f"{per_family.min():.2f}).\n"
    ]


def wall_note(part: pd.DataFrame, budget: str) -> str:
    """At equal compute: how much longer (or shorter) the baselines trained in wall time than
    the variants they face (wall_ratio = variant / baseline)."""
    if budget != EQUAL_COMPUTE:
        return ""
    longer = (1 / part["wall_ratio"] - 1) * 100
    return (
        f"; the equal-compute baselines took {longer.min():+.0f}% to {longer.max():+.0f}% more "
        "training wall time than the variants they face (wall ×: variant / baseline)"
    )


def seeds_text(seeds: float, paper: float | None) -> str:
    """`` (n seeds for the paper's)``: the seeds that would detect the paper's effect."""
    if paper is None or (isinstance(paper, float) and math.isnan(paper)):
        return ""
    if isinstance(seeds, float) and math.isnan(seeds):
        return " (paper's: > 200 seeds)"
    return f" (paper's: {int(seeds)} seeds)"


def finished_runs(metrics: Path) -> dict[str, list[int]]:
    """The seeds of each variant with an evaluated run under ``metrics`` (``<v>/seed<k>/``)."""
    seeds: dict[str, list[int]] = {}
    for eval_json in sorted(metrics.glob("*/seed*/eval.json")):
        seeds.setdefault(eval_json.parent.parent.name, []).append(int(eval_json.parent.name[4:]))
    return {variant: sorted(found) for variant, found in seeds.items()}


def in_progress_line(claim: Claim, finished: dict[str, list[int]], results: Path) -> str:
    """What a campaign without tables has committed so far, out of its preset's runs, and
    the compute its pending runs need."""
    experiment = claim.experiment
    done = sum(len(seeds) for seeds in finished.values())
    preset = PRESETS / f"{claim.preset_name}.yaml"
    planned = left = ""
    if preset.is_file():
        params = load_params(preset)
        exp = params.experiment
        planned = f" of {len(exp.variants) * len(exp.seeds)}"
        pending = pending_runs(
            exp, params.attention, recorded_stages(results / experiment / "dvc.lock")
        )
        left = left_text(pending, params.train.max_update, results / experiment,
                         early_metrics(claim, results))  # fmt: skip
    runs = "; ".join(
        f"`{v}` seed{'s' if len(k) > 1 else ''} {', '.join(map(str, k))}"
        for v, k in finished.items()
    )
    return (
        f"In progress: {done}{planned} runs finished and committed in `metrics/{experiment}/` "
        f"({runs}).{left} No verdict before the last run: the tables, and this section, are "
        f'written then (see docs/pipeline.md, "A campaign across sessions or machines").\n'
    )


def left_text(pending: list[list[str]], cap: int, folder: Path, early: Path | None) -> str:
    """`` Left: N runs, about H h ...``: the ``pending`` runs at the update ``cap``, at the
    seconds an update measured so far (memtr.campaigns); empty when nothing is pending."""
    if not pending:
        return ""
    costs = run_costs(pending, variant_rates(metrics_of(folder), early), cap)
    hours = sum(cost.minutes for cost in costs if cost.minutes is not None) / 60
    unpriced = sum(cost.minutes is None for cost in costs)
    scaled = (
        f" or, for a variant not run yet, in `{early.name}` times the ratio of the two"
        if early
        else ""
    )
    return (
        f" Left: {runs_text(len(costs))}"
        + (f", {unpriced} of them not priced yet (no run of their variant)" if unpriced else "")
        + f"; about {hours:.1f} h of training and evaluation for "
        + ("the others" if unpriced else "them")
        + f" (each at the update cap, at the seconds an update its variant's runs took so far{scaled}; "
        "`campaign.py pending --hours` plans a sitting)."
    )


def early_metrics(claim: Claim, results: Path) -> Path | None:
    """The metrics of the claim's early-budget experiment, if it has one."""
    return metrics_of(results / claim.early) if claim.early else None


def claim_section(claim: Claim, results: Path) -> str:
    """The section of one claim: scale, every comparison, and the tally of verdicts."""
    folder = results / claim.experiment
    head = f"## Claim {claim.number}: {claim.statement}\n\n"
    if not (folder / "claims.csv").is_file():
        metrics = metrics_of(folder)
        finished = finished_runs(metrics)
        if not finished:
            return head + (
                f"Not run yet: `results/{claim.experiment}/claims.csv` does not exist (run the "
                f"preset `{claim.preset_name}`, see docs/pipeline.md).\n"
            )
        return (
            head
            + in_progress_line(claim, finished, results)
            + "".join(finished_run_lines(metrics, finished, early_metrics(claim, results)))
        )
    params = load_params(folder / "params.yaml")
    study = params.study()
    summary = compute_summary(folder, study, params.model)
    claims = pd.read_csv(folder / "claims.csv")
    metric, label = study.spec.metric, study.spec.metric_label
    better = "higher" if study.spec.higher_is_better else "lower"
    claimed = list(dict.fromkeys(claims["split"]))
    improving = improving_variants(folder)
    lines = [
        head,
        f"Experiment `{claim.experiment}` on `{summary['dataset']}` "
        f"(test sets: {', '.join(claimed)}): model {summary['model']}, "
        f"{summary['budget']}, {summary['seeds']} seed(s), "
        f"{summary['runs']} training runs, {summary['train_hours']:.1f} h of training on "
        "2 CPU cores in all.\n\n",
        *unclaimed_lines(claim.experiment, summary["splits"], claimed),
        *convergence_lines(folder),
        f"Δ = {label} of the variant minus that of the comparison ({better} is better), "
        "mean over seeds, with its 95% interval from the block model (seeds as blocks, "
        "residual variance pooled over the family); per seed: the difference seed by seed; "
        "p: the block model's and the example-level bootstrap's, each Holm-adjusted over the "
        "family; detectable: the smallest effect the family detects with 80% power (and the "
        "seeds that would detect the paper's). Verdicts: docs/replication.md.\n\n",
        *(
            line + "\n"
            for line in rows_table(
                [
                    "test set",
                    "variant",
                    "against (budget, wall-time ratio)",
                    f"Δ {label} [95% CI]",
                    "per seed",
                    "p adj. (seeds / examples)",
                    "detectable",
                    "verdict",
                ],
                (comparison_cells(row, metric, improving) for _, row in claims.iterrows()),
            )
        ),  # fmt: skip
        "\n",
        *forest_lines(claim, folder),
    ]
    for budget in BUDGETS:
        part = claims[claims["budget"] == budget]
        if part.empty:
            continue
        families = part.groupby(["split", "against"]).ngroups
        lines.append(
            f"- {budget}: {len(part)} comparisons in {families} "
            f"{'family' if families == 1 else 'families'}: "
            f"{Tally.of(part['verdict']).words()}{wall_note(part, budget)}.\n"
        )
    lines += pooling_lines(claims)
    lines += reference_lines(folder, study, metric, label, claimed)
    lines += majority_lines(folder, study, claimed)
    lines += pretrain_lines(folder, params.pretrain)
    if claim.early:
        lines += early_budget_lines(folder, results / claim.early, metric, label)
    return "".join(lines)


def majority_lines(folder: Path, study: Study, claimed: list[str]) -> list[str]:
    """Classification: the score of always predicting the dev set's majority label (read
    from the reference's predictions), the floor a model must clear."""
    if study.spec.name != "classification" or study.spec.scoring.regression:
        return []
    reference, seed = study.experiment.reference, study.experiment.seeds[0]
    lines = []
    for split in claimed:
        found = run_folder(metrics_of(folder), reference, seed)
        predictions = found / "outputs" / f"predictions.{split}.tsv"
        if not predictions.is_file():
            continue
        gold = [line.split("\t")[1].strip() for line in predictions.read_text().splitlines()]
        majority = max(sorted(set(gold)), key=gold.count)
        scores = scorer_of(study.spec).scores([(majority, g) for g in gold])
        shown = ", ".join(f"{METRIC_LABELS[name]} {value:.2f}" for name, value in scores.items())
        lines.append(
            f"- always predicting the majority label (`{majority}`) on {split}: {shown} "
            "(the floor a model must clear).\n"
        )
    return lines


def pretrain_lines(folder: Path, pretrain: PretrainSettings) -> list[str]:
    """Fine-tuning from the pretrain stage's masked LM: that model's own quality, which bounds
    what fine-tuning can show (``metrics/pretrain/<name>/pretrain.json``)."""
    name = pretrain.name
    found = folder.parent.parent / "metrics" / "pretrain" / name / "pretrain.json"
    if name == "none" or not found.is_file():
        return []
    run = json.loads(found.read_text())
    return [
        f"- the pre-trained encoder (`pretrain/{name}`: a masked LM on {run['corpus']}, "
        f"{run['updates']} updates, {run['train_wall_s'] / 3600:.1f} h): validation perplexity "
        f"{run['ppl']:.1f} of the masked tokens (the model every run of this claim starts from).\n"
    ]


def forest_lines(claim: Claim, folder: Path) -> list[str]:
    """The claim's forest plot (the figures stage's), linked from results/REPLICATION.md."""
    if not (folder / "figures" / "claims_forest.png").is_file():
        return []
    return [
        f"![Claim {claim.number}: every comparison of the table above, its difference with the "
        f"95% interval over seeds; filled: decided; crosses: the paper]"
        f"({claim.experiment}/figures/claims_forest.png)\n\n"
    ]


def unclaimed_lines(experiment: str, evaluated: list[str], claimed: list[str]) -> list[str]:
    """Why the sets that were evaluated but make no claim are left out (none: no line)."""
    unclaimed = [split for split in evaluated if split not in claimed]
    if not unclaimed:
        return []
    reasons = [
        f"`{split}` chose each run's checkpoint, so its scores are optimistic"
        if split == SELECTION_SPLIT
        else f"`{split}` reads as exactly the tokens of one of the dataset's own splits"
        for split in unclaimed
    ]
    return [
        f"Evaluated too, without a claim (numbers in `results/{experiment}/results.md`, reasons "
        f"in its `claims.md`): {'; '.join(reasons)}.\n\n"
    ]


def reference_lines(
    folder: Path, study: Study, metric: str, label: str, claimed: list[str]
) -> list[str]:
    """The reference's own score per claimed test set, with the metric's floor there (the
    claims table's: a reference reaching it makes that test set's rows uninformative)."""
    table = pd.read_csv(folder / "results.csv")
    claims = pd.read_csv(folder / "claims.csv")
    floors = dict(zip(claims["split"], claims.get("floor", pd.Series(dtype=float)), strict=False))
    reference = table[
        (table["variant"] == study.experiment.reference) & table["split"].isin(claimed)
    ]
    lines = []
    for _, row in reference.iterrows():
        mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
        spread = "" if math.isnan(std) else f" ± {std:.2f} (seed std)"
        floor = floors.get(row["split"], math.nan)
        uninformative = claims[claims["split"] == row["split"]]["verdict"].eq(UNINFORMATIVE).all()
        note = (
            f"; the metric's floor here: {floor:.2f}"
            + (", which its interval reaches: every comparison on it is uninformative"
               if uninformative else "")
            if not (isinstance(floor, float) and math.isnan(floor))
            else ""
        )  # fmt: skip
        lines.append(f"- `{row['variant']}` on {row['split']}: {label} {mean:.2f}{spread}{note}.\n")
    return lines


def report(results: Path, claims: tuple[Claim, ...] = CLAIMS) -> str:
    """The whole ``REPLICATION.md``."""
    sections = "\n".join(claim_section(c, results) for c in claims)
    return (
        "# Replication of Memory Transformer's claims at CPU scale\n\n"
        "Generated by `python workflow/scripts/replication_report.py` from the tables in "
        "`results/<experiment>/` (themselves generated by the pipeline); do not edit. "
        f"{comparison_count(results, claims)} Each comparison belongs to a family (one "
        "experiment, one test set, one budget: a reference and the variants compared with it); "
        "the seeds are blocks (seed s of every variant shares the data order and the initial "
        "values of the shared parameters), so each family is read as score ~ variant + seed "
        "with the residual variance pooled, and every test that decides a verdict is "
        "Holm-adjusted over its family. A comparison is `better`/`worse` when both that "
        "block-model test and the example-level paired bootstrap reject no difference; "
        "otherwise `equivalent within ±δ` (TOST at the margin of `eval.equivalence_margin`), "
        "`paper's effect ruled out` (the paper's gain is excluded), or `inconclusive` with the "
        "smallest effect the runs could detect; a reference at its metric's floor (a BLEU "
        "level below which a test set cannot rank models, or the majority-class score) makes "
        "its rows `uninformative (floor)`, counted in no tally. Definitions: "
        "[docs/replication.md](../docs/replication.md#how-a-verdict-is-reached). Each claim is "
        "tested at equal training steps (the paper's budget) and at equal compute (the "
        "baseline trained longer, for about the memory model's training time; the wall-time "
        "ratio of each pairing is in its row); claim 1 also at convergence (every run trained "
        "until its patience ran out or the update cap, whichever came first). The paper's "
        "numbers are differences on its own, larger setting (labelled with their source), a "
        "direction to compare with.\n\n"
        f"{sections}"
    )


def comparison_count(results: Path, claims: tuple[Claim, ...]) -> str:
    """How many comparisons and families the claims make in all (the tables written so far)."""
    tables = [
        pd.read_csv(results / c.experiment / "claims.csv")
        for c in claims
        if (results / c.experiment / "claims.csv").is_file()
    ]
    if not tables:
        return "No claims table yet."
    found = pd.concat(tables, keys=range(len(tables)), names=["experiment"]).reset_index(0)
    families = found.groupby(["experiment", "split", "budget", "against"]).ngroups
    return (
        f"The {len(tables)} experiments make {len(found)} comparisons in {families} families: "
        f"{Tally.of(found['verdict']).words()}."
    )

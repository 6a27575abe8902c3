"""Predicted training cost of an experiment: FLOPs per update, updates, GPU-hours.

For every run (variant x seed) of a params file or preset: the matmul FLOPs of one update
from the benchmark's counter (:mod:`benchmarks.flops`, forward + backward), the number of
updates (the variant's budget), and the GPU-hours on a named card at a model FLOP
utilisation (MFU): ``FLOPs / (peak bf16 FLOP/s x MFU)``. The MFU is the one the GPU check
measured (``results/gpu_check/gpu_check.json``) or, when none was measured, 40%, and the
report says which.

An update holds ``train.max_tokens x --update-freq`` tokens (one GPU; fairseq's
``--max-tokens`` is per GPU), i.e. that many tokens over the mean example length:
sentences (translation, classification; ``--batch-size`` when given) or segments of
``train.tokens_per_sample`` (language modelling). Mean lengths and vocabularies are read
from the binarized data when it exists, else from the table below (labelled assumed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.flops import TRAIN_FACTOR, Dims, classifier_forward, forward_flops, lm_forward
from benchmarks.machine import GPU_PEAK_BF16
from memtr.datasets.params import DataParams
from memtr.settings import (
    ExperimentSettings,
    ModelSettings,
    PretrainSettings,
    TrainSettings,
    Variant,
    run_variants,
)
from memtr.specs.base import TaskSpec
from memtr.tasks import task_of
from memtr.tasks.base import Task

DEFAULT_MFU = 0.40
GPU_CHECK = Path("results/gpu_check/gpu_check.json")
# Mean tokens per example (source/target sentence, or classifier input) after the dataset's
# BPE, where no binarized data says: rounded from the corpora's published statistics.
MEAN_TOKENS = {"multi30k_de_en": 14, "wmt14_de_en": 30, "iwslt14_de_en": 25, "glue_rte": 70,
               "glue_mrpc": 50, "glue_sst2": 13, "glue_cola": 11, "glue_qqp": 30,
               "glue_qnli": 50, "glue_mnli": 40, "glue_stsb": 30, "glue_wnli": 40}  # fmt: skip
DEFAULT_MEAN_TOKENS = 25
WORD_VOCAB = {"wikitext103": 267_744, "wikitext2": 33_278}  # + fairseq's 4 special symbols


@dataclass(frozen=True)
class RunCost:
    """The predicted cost of one training run."""

    variant: str
    seed: int
    layout: str
    mem_tokens: int
    flops_per_update: float
    updates: int

    @property
    def flops(self) -> float:
        return self.flops_per_update * self.updates


def card_peak(card: str) -> float:
    """Dense bf16 peak FLOP/s of a card named like ``torch.cuda.get_device_name`` (H100...)."""
    for key, peak in GPU_PEAK_BF16:
        if key.lower() in card.lower():
            return peak
    known = ", ".join(key for key, _ in GPU_PEAK_BF16)
    raise ValueError(f"unknown card {card!r}; known: {known}")


def measured_mfu(path: Path = GPU_CHECK) -> float | None:
    """The MFU the GPU check measured on this repository's results, if any."""
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("training", {}).get("mfu")


def option(task: Task, model: ModelSettings, arch: str, key: str) -> Any:
    """A model option: ``model.args`` first, else the fairseq architecture's default."""
    from memtr.run.fairseq import arch_default

    args = task.model_options(model.args)  # as the train stage completes them
    args = {k.replace("-", "_"): v for k, v in args.items()}
    return args[key] if key in args else arch_default(arch, key)


def update_freq(train: TrainSettings) -> int:
    return int(_extra_arg(train, "--update-freq") or 1)


def _extra_arg(train: TrainSettings, flag: str) -> str | None:
    extra = list(train.extra_args)
    return extra[extra.index(flag) + 1] if flag in extra[:-1] else None


GPT2_RELEASED_DICT = 50_260  # lines of fairseq's gpt2_bpe/dict.txt (roberta.base's dictionary)


def binarized_vocab(data: DataParams, bin_root: Path) -> int | None:
    """The dictionary size of the binarized data (with fairseq's 4 specials), if it exists."""
    folder = bin_root / data.selected().name
    dicts = sorted(folder.glob("dict*.txt"))
    return 4 + len(dicts[0].read_text(encoding="utf-8").splitlines()) if dicts else None


def vocabulary(spec: TaskSpec, data: DataParams, pretrain: PretrainSettings,
               bin_root: Path) -> tuple[int, bool]:  # fmt: skip
    """(vocabulary size, assumed?) of the model's output layer."""
    found = binarized_vocab(data, bin_root)
    if found:
        return found, False
    if spec.name == "language_modeling":
        return WORD_VOCAB.get(data.dataset, 50_000) + 4, True
    if data.gpt2_from_pretrain:  # at most every learned token, bytes and <|endoftext|>
        assert pretrain.bpe_merges is not None  # the loader requires it with gpt2_bpe: pretrain
        return pretrain.bpe_merges + 257 + 4, True
    if data.bpe == "gpt2":
        return GPT2_RELEASED_DICT + 4, True
    return data.bpe_vocab_size + 4, True


def mean_tokens(data: DataParams) -> tuple[int, bool]:
    """(mean tokens per example, assumed?)."""
    if data.dataset == "synthetic":
        syn = data.synthetic
        return (syn.min_len + syn.max_len) // 2 + 1, False  # + end of sentence
    return MEAN_TOKENS.get(data.dataset, DEFAULT_MEAN_TOKENS), True


def forward_of(spec: TaskSpec, model: ModelSettings, train: TrainSettings, variant: Variant,
               vocab: int, n: int) -> tuple[float, float]:  # fmt: skip
    """(forward FLOPs of one example, examples per update) of ``variant``; ``vocab``: the
    output vocabulary, ``n``: the mean tokens per example (translation, classification)."""
    task, arch = task_of(spec), spec.arch(variant.layout, model.size)
    tokens = train.max_tokens * update_freq(train)
    m = variant.mem_tokens
    if spec.name == "language_modeling":
        t = train.tokens_per_sample
        assert t is not None  # the loader requires it of segment tasks
        d, ffn, layers = (option(task, model, arch, k) for k in
                          ("decoder_embed_dim", "decoder_ffn_embed_dim", "decoder_layers"))  # fmt: skip
        cutoff = option(task, model, arch, "adaptive_softmax_cutoff")  # e.g. "20000,60000"
        clusters = str(cutoff).split(",") if cutoff else []
        output = int(clusters[0]) + len(clusters) if clusters else vocab  # the softmax's head
        return lm_forward(d, ffn, layers, t, m, output), tokens / t
    if spec.name == "classification":
        assert train.tokens_per_sample is not None  # the loader requires it of segment tasks
        n = min(n, train.tokens_per_sample)
        d, ffn, layers = (option(task, model, arch, k) for k in
                          ("encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_layers"))  # fmt: skip
        batch = _extra_arg(train, "--batch-size")
        examples = int(batch) * update_freq(train) if batch else tokens / n
        return classifier_forward(d, ffn, layers, n, m), examples
    dims = Dims(*(option(task, model, arch, k) for k in ("encoder_embed_dim", "encoder_ffn_embed_dim",
                                                           "encoder_layers", "decoder_layers")), vocab)  # fmt: skip
    return forward_flops(dims, variant.layout, n, n, m), tokens / n


def run_costs(spec: TaskSpec, data: DataParams, model: ModelSettings, variants: dict[str, Variant],
              experiment: ExperimentSettings, pretrain: PretrainSettings, train: TrainSettings,
              bin_root: Path = Path("data/bin")) -> list[RunCost]:  # fmt: skip
    """The predicted cost of every run of the experiment, in DAG order."""
    vocab, _ = vocabulary(spec, data, pretrain, bin_root)
    n, _ = mean_tokens(data)
    costs = []
    for variant in run_variants(experiment, variants):
        forward, examples = forward_of(spec, model, train, variant, vocab, n)
        per_update = TRAIN_FACTOR * forward * examples
        for seed in experiment.seeds:
            costs.append(RunCost(variant.name, seed, variant.layout, variant.mem_tokens,
                                 per_update, train.budget(variant)))  # fmt: skip
    return costs


def gpu_hours(flops: float, peak: float, mfu: float) -> float:
    return flops / (peak * mfu) / 3600


def report(spec: TaskSpec, data: DataParams, model: ModelSettings, variants: dict[str, Variant],
           experiment: ExperimentSettings, pretrain: PretrainSettings, train: TrainSettings,
           card: str, mfu: float | None, bin_root: Path = Path("data/bin")) -> str:  # fmt: skip
    """The cost table of an experiment as Markdown, with its assumptions under it (the
    sections of params.yaml in the file's order, then the card and the MFU, None: measured by
    the GPU check, else the default)."""
    peak = card_peak(card)
    measured = measured_mfu() if mfu is None else None
    use = mfu if mfu is not None else measured or DEFAULT_MFU
    source = "given" if mfu is not None else "measured by the GPU check" if measured else (
        "assumed: no GPU check has measured it")  # fmt: skip
    costs = run_costs(spec, data, model, variants, experiment, pretrain, train, bin_root)
    lines = [
        f"Predicted training cost of `{experiment.name}` on one {card} "
        f"({peak / 1e12:.0f} TFLOP/s bf16 dense) at {100 * use:.0f}% MFU ({source}):",
        "",
        "| variant | seed | layout | m | TFLOPs / update | updates | PFLOPs | GPU-hours |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in costs:
        lines.append(
            f"| {c.variant} | {c.seed} | {c.layout} | {c.mem_tokens} | "
            f"{c.flops_per_update / 1e12:.2f} | {c.updates:,} | {c.flops / 1e15:,.1f} | "
            f"{gpu_hours(c.flops, peak, use):,.2f} |"
        )
    total = sum(c.flops for c in costs)
    lines.append(f"| **total** | | | | | | {total / 1e15:,.1f} | "
                 f"**{gpu_hours(total, peak, use):,.2f}** |")  # fmt: skip
    lines += ["", *assumptions(spec, data, pretrain, train, bin_root)]
    return "\n".join(lines) + "\n"


def assumptions(spec: TaskSpec, data: DataParams, pretrain: PretrainSettings,
                train: TrainSettings, bin_root: Path) -> list[str]:  # fmt: skip
    """What the prediction rests on, one line each."""
    tokens = train.max_tokens * update_freq(train)
    batch = _extra_arg(train, "--batch-size") if spec.name == "classification" else None
    per_update = (f"{int(batch) * update_freq(train)} examples per update (--batch-size x "
                  "--update-freq" if batch else
                  f"{tokens:,} tokens per update (train.max_tokens x --update-freq")  # fmt: skip
    lines = [f"- {per_update}, one GPU); matmul FLOPs only, training = 3 x forward"]
    if spec.name != "language_modeling":
        n, assumed = mean_tokens(data)
        lines.append(
            f"- {n} tokens per example ({'assumed' if assumed else 'from data.synthetic'})"
        )
    if spec.name != "classification":
        vocab, assumed = vocabulary(spec, data, pretrain, bin_root)
        lines.append(f"- output vocabulary {vocab:,} ({'assumed' if assumed else 'binarized data'});"
                     " an adaptive softmax counts its head only (its tails run on few tokens)")  # fmt: skip
    return lines

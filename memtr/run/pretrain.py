"""The pretrain stage: a masked LM (fairseq's ``roberta`` under ``masked_lm``) pre-trained on a
corpus, written as a release-shaped folder that classification fine-tunes like ``roberta.base``.

    pretrain/<name>/model/     encoder.json, vocab.bpe  GPT-2-format byte BPE learned on the corpus
                               dict.txt                 fairseq dictionary of the encoded corpus
                               model.pt                 best checkpoint (lowest valid MLM loss)
    metrics/pretrain/<name>/   pretrain.json, train_log.csv

Steps, as fairseq's RoBERTa pre-training recipe (``examples/roberta/README.pretraining.md``)
with its BPE learned here instead of downloaded: fetch and prepare the corpus with the data
stages' own code (registry or ``data.datasets``), learn ``bpe_merges`` byte-level merges on
its training split, encode every line (empty lines kept, as the recipe's ``--keep-empty``),
``fairseq-preprocess --only-source``, ``fairseq-train --task masked_lm`` on blocks of
``tokens_per_sample`` tokens across lines (``--sample-break-mode none``: the recipe's
``complete`` keeps a paragraph longer than a block whole, which fairseq then refuses; at
CPU scale blocks are short and WikiText's paragraphs long), with the experiment's model (``model.size``/``model.args``, no memory:
the paper adds memory to a pre-trained model, at fine-tuning) and ``pretrain.tokens_per_sample``
positions, which fine-tuning must share (``train.tokens_per_sample``): it loads every weight.
Work files stay in ``pretrain/<name>/work/`` until the run succeeds: a killed run resumes
from its last checkpoint, as training does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, NamedTuple

from memtr.common.textio import read_lines, write_lines
from memtr.data.binarize import drop_preprocess_logs, run_preprocess
from memtr.data.download import fetch_dataset
from memtr.data.gpt2_bpe import encode_gpt2, gpt2_encoder, learn_gpt2_bpe
from memtr.data.prepare import PrepareOptions, prepare
from memtr.datasets.params import CleanParams, named_dataset
from memtr.run.fairseq import precision_args
from memtr.run.fairseq_train import fairseq_train_command
from memtr.run.training import (
    fingerprint,
    logged_records,
    option_args,
    parameter_counts,
    prepare_checkpoint_dir,
    run_training,
    summarize,
    write_learning_curve,
)
from memtr.settings import ModelSettings, PretrainSettings, pretrain_dir
from memtr.specs.classification import ClassificationSpec

NONE_MARKER = "NO_PRETRAINING.md"  # the folder of pretrain.name: none


def write_no_pretraining(model_dir: Path, metrics: Path) -> dict:
    """The outputs of ``pretrain.name: none``: a marker folder, an empty learning curve."""
    for folder in (model_dir, metrics):
        folder.mkdir(parents=True, exist_ok=True)
    (model_dir / NONE_MARKER).write_text(
        "No pre-training: pretrain.name is none in params.yaml (docs/glue.md).\n"
    )
    write_learning_curve({"train_inner": [], "valid": []}, metrics / "train_log.csv")
    summary = {"pretrained": False}
    (metrics / "pretrain.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# a corpus of tokens (prepare_lm): no subword model of its own, no pair cleaning
TOKENS = PrepareOptions("sentencepiece", 0, CleanParams(), gpt2_from_pretrain=False)


def prepare_corpus(corpus: Corpus, work: Path, cache: Path, workers: int) -> Path:
    """Fetch and prepare ``pretrain.corpus`` as the data stages do; return its prep folder
    (``{train,valid}.tokens``)."""
    dataset = named_dataset(corpus.name, corpus.declared)
    raw, prep = work / "raw" / corpus.name, work / "prep" / corpus.name
    fetch_dataset(dataset, raw, cache, corpus.mirror, progressbar=False)
    prepare(dataset, raw, prep, TOKENS, workers)
    return prep


def encode_corpus(prep: Path, model_dir: Path, work: Path, merges: int, workers: int) -> dict:
    """Learn the BPE into ``model_dir``, encode and binarize the corpus into ``work/bin``;
    copy its dictionary to ``model_dir/dict.txt``. Returns the BPE's stats."""
    stats = learn_gpt2_bpe(read_lines(prep / "train.tokens"), merges, model_dir)
    encoder = gpt2_encoder(model_dir)
    encoded = work / "bpe"
    encoded.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid"):
        lines = read_lines(prep / f"{split}.tokens")
        stats[f"{split}_lines"] = write_lines(encoded / f"{split}.bpe", encode_gpt2(encoder, lines))
    bin_dir = work / "bin"
    shutil.rmtree(bin_dir, ignore_errors=True)
    run_preprocess(
        ["--only-source", "--trainpref", str(encoded / "train.bpe"),
         "--validpref", str(encoded / "valid.bpe"), "--destdir", str(bin_dir),
         "--workers", str(workers)],
        "pretrain corpus",
    )  # fmt: skip
    drop_preprocess_logs(bin_dir)
    shutil.copyfile(bin_dir / "dict.txt", model_dir / "dict.txt")
    return stats


def pretrain_command(p: PretrainSettings, model: ModelSettings, data: Path,
                     save_dir: Path) -> list[str]:  # fmt: skip
    """fairseq-train of the masked LM: fairseq's RoBERTa recipe at the model's size, without
    memory (the paper adds memory at fine-tuning)."""
    arch = ClassificationSpec().arch("none", model.size)
    options = [
        "--task", "masked_lm", "--criterion", "masked_lm", "--sample-break-mode", "none",
        "--tokens-per-sample", str(p.tokens_per_sample), "--mask-prob", str(p.mask_prob),
        "--arch", arch, *option_args(model.args),
    ]  # fmt: skip
    schedule = [
        "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--adam-eps", "1e-06",
        "--lr", str(p.lr), "--lr-scheduler", "polynomial_decay",
        "--warmup-updates", str(p.warmup_updates), "--total-num-update", str(p.max_update),
        "--weight-decay", str(p.weight_decay), "--clip-norm", "0.0",
        "--dropout", str(p.dropout), "--attention-dropout", str(p.dropout),
        "--max-tokens", str(p.max_tokens), "--max-update", str(p.max_update),
    ]  # fmt: skip
    return fairseq_train_command(
        data, save_dir, p.seed, options, schedule, max_update=p.max_update,
        validate_interval=p.validate_interval_updates, precision=p.precision,
        where="pretrain.precision", extra=p.extra_args or (),
    )  # fmt: skip


class Corpus(NamedTuple):
    """Where the pretrain corpus comes from: its name, the declared datasets (it may be one)
    and the data mirror."""

    name: str
    declared: dict[str, Any]
    mirror: str | None


def pretrain(p: PretrainSettings, model: ModelSettings, corpus: Corpus, threads: int,
             model_dir: Path, metrics: Path, cache: Path, workers: int) -> dict:  # fmt: skip
    """Run the pretrain stage into ``model_dir`` and ``metrics``; return pretrain.json's dict."""
    if pretrain_dir(p) is None:
        return write_no_pretraining(model_dir, metrics)
    precision_args(p.precision, "pretrain.precision")  # refused now
    work = model_dir.parent / "work"
    staging = work / "model"  # becomes model_dir once the run succeeded
    staging.mkdir(parents=True, exist_ok=True)
    prep = prepare_corpus(corpus, work, cache, workers)
    bpe = encode_corpus(prep, staging, work, p.bpe_merges, workers)
    save_dir = work / "checkpoints"
    command = pretrain_command(p, model, work / "bin", save_dir)
    resumed = prepare_checkpoint_dir(save_dir, fingerprint(command, work / "bin"))
    wall = run_training(command, save_dir / "train.log", threads)
    records = logged_records(save_dir / "train.log")
    shutil.copyfile(save_dir / "checkpoint_best.pt", staging / "model.pt")
    summary = {
        **summarize(records, wall, parameter_counts(staging / "model.pt"), resumed),
        "pretrained": True, "corpus": p.corpus, "bpe": bpe,
    }  # fmt: skip
    metrics.mkdir(parents=True, exist_ok=True)
    write_learning_curve(records, metrics / "train_log.csv")
    (metrics / "pretrain.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)
    for done in ("raw", "prep", "bpe", "bin", "checkpoints"):  # stale checkpoints stay
        shutil.rmtree(work / done)
    return summary

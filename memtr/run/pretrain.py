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
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from memtr.common.textio import read_lines, write_lines
from memtr.data.binarize import drop_preprocess_logs, run_preprocess
from memtr.data.download import fetch_dataset
from memtr.data.gpt2_bpe import encode_gpt2, gpt2_encoder, learn_gpt2_bpe
from memtr.data.prepare import prepare
from memtr.datasets.params import named_dataset
from memtr.run.fairseq import PLUGIN_DIR, device_args, precision_args
from memtr.run.training import (
    fingerprint,
    logged_records,
    parameter_counts,
    prepare_checkpoint_dir,
    run_training,
    size_args,
    summarize,
    write_learning_curve,
)

if TYPE_CHECKING:  # types only: the config layer sits above the run layer
    from memtr.config.params import Params

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


def prepare_corpus(params: Params, work: Path, cache: Path, workers: int) -> Path:
    """Fetch and prepare ``pretrain.corpus`` as the data stages do; return its prep folder
    (``{train,valid}.tokens``)."""
    name = params.pretrain["corpus"]
    corpus = named_dataset(name, params.data.datasets)
    raw, prep = work / "raw" / name, work / "prep" / name
    fetch_dataset(corpus, raw, cache, params.data.resolved_mirror(), progressbar=False)
    data = replace(params.data, dataset=name, bpe="sentencepiece", gpt2_bpe=None)
    prepare(corpus, raw, prep, data, workers)
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


def pretrain_command(params: Params, data: Path, save_dir: Path) -> list[str]:
    """fairseq-train of the masked LM (fairseq's RoBERTa recipe at the params' sizes)."""
    p, task = params.pretrain, params.task
    arch = task.arch_prefix["none"] + task.size_suffix(params.model["size"])  # no memory
    return [
        sys.executable, "-m", "fairseq_cli.train", str(data), "--user-dir", str(PLUGIN_DIR),
        "--task", "masked_lm", "--criterion", "masked_lm", "--sample-break-mode", "none",
        "--tokens-per-sample", str(p["tokens_per_sample"]), "--mask-prob", str(p["mask_prob"]),
        "--arch", arch, *size_args(params),
        "--seed", str(p["seed"]), "--save-dir", str(save_dir),
        "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--adam-eps", "1e-06",
        "--lr", str(p["lr"]), "--lr-scheduler", "polynomial_decay",
        "--warmup-updates", str(p["warmup_updates"]), "--total-num-update", str(p["max_update"]),
        "--weight-decay", str(p["weight_decay"]), "--clip-norm", "0.0",
        "--dropout", str(p["dropout"]), "--attention-dropout", str(p["dropout"]),
        "--max-tokens", str(p["max_tokens"]), "--max-update", str(p["max_update"]),
        "--validate-interval-updates", str(p["validate_interval_updates"]),
        "--save-interval-updates", str(p["validate_interval_updates"] or p["max_update"]),
        "--keep-interval-updates", "1", "--no-epoch-checkpoints", "--data-buffer-size", "0",
        "--log-format", "json", "--log-interval", "10",
        *device_args(), *precision_args(p.get("precision", "fp32"), "pretrain.precision"),
        *p["extra_args"],
    ]  # fmt: skip


def pretrain(params: Params, model_dir: Path, metrics: Path, cache: Path, workers: int) -> dict:
    """Run the pretrain stage into ``model_dir`` and ``metrics``; return pretrain.json's dict."""
    if params.pretrain_dir is None:
        return write_no_pretraining(model_dir, metrics)
    precision_args(params.pretrain.get("precision", "fp32"), "pretrain.precision")  # refused now
    work = model_dir.parent / "work"
    staging = work / "model"  # becomes model_dir once the run succeeded
    staging.mkdir(parents=True, exist_ok=True)
    prep = prepare_corpus(params, work, cache, workers)
    bpe = encode_corpus(prep, staging, work, params.pretrain["bpe_merges"], workers)
    save_dir = work / "checkpoints"
    command = pretrain_command(params, work / "bin", save_dir)
    resumed = prepare_checkpoint_dir(save_dir, fingerprint(command, work / "bin"))
    wall = run_training(command, save_dir / "train.log", params.train["threads"])
    records = logged_records(save_dir / "train.log")
    shutil.copyfile(save_dir / "checkpoint_best.pt", staging / "model.pt")
    summary = {
        **summarize(records, wall, parameter_counts(staging / "model.pt"), resumed),
        "pretrained": True, "corpus": params.pretrain["corpus"], "bpe": bpe,
    }  # fmt: skip
    metrics.mkdir(parents=True, exist_ok=True)
    write_learning_curve(records, metrics / "train_log.csv")
    (metrics / "pretrain.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)
    for done in ("raw", "prep", "bpe", "bin", "checkpoints"):  # stale checkpoints stay
        shutil.rmtree(work / done)
    return summary

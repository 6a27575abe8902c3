"""The training stage: one fairseq-train run of one variant and seed, resumable.

Checkpoints live in ``<run>/checkpoints/``, which neither DVC nor Snakemake declares as an
output (both delete declared outputs of a job before rerunning it), so a killed run
resumes from ``checkpoint_last.pt`` when the DAG is run again. After a successful run the
best checkpoint becomes ``<run>/model.pt`` and only the log stays in ``checkpoints/``. A fingerprint of the
command guards that folder: a checkpoint written with other settings is moved aside to
``checkpoints.stale-<time>/`` (never deleted, never resumed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from memtr.common.errors import ConfigError
from memtr.run.checkpoints import recover_last_checkpoint
from memtr.run.fairseq import PLUGIN_DIR, thread_env
from memtr.run.fairseq_train import fairseq_train_command
from memtr.settings import TrainSettings, Variant

logger = logging.getLogger(__name__)


def model_args(arch: str, variant: Variant, args: Mapping[str, Any]) -> list[str]:
    """fairseq model options of a variant: its architecture and memory, then ``args`` (the
    task's completion of ``model.args``, shared by every variant)."""
    options = ["--arch", arch]
    if variant.layout != "none":
        options += ["--mem-tokens", str(variant.mem_tokens)]
    if variant.recurrent:
        options.append("--mem-recurrent")
    return options + option_args(args)


def option_args(args: Mapping[str, Any]) -> list[str]:
    """``model.args`` as fairseq options: ``true`` a bare flag, ``false`` and null left out."""
    options = []
    for key, value in args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            options.append(flag)
        elif value is not False and value is not None:
            options += [flag, str(value)]
    return options


def train_command(
    train: TrainSettings, variant: Variant, model: Sequence[str], seed: int, data: Path,
    save_dir: Path,
) -> list[str]:  # fmt: skip
    """The full fairseq-train command line of one run of ``variant``; ``model``: the task's
    and the architecture's options. A ConfigError when this machine cannot train in
    ``train.precision``."""
    budget = train.budget(variant)
    schedule = [
        "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)",
        "--lr", str(train.lr), "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", str(train.warmup_updates), "--warmup-init-lr", "1e-07",
        "--weight-decay", str(train.weight_decay), "--clip-norm", str(train.clip_norm),
        "--dropout", str(train.dropout), "--max-update", str(budget),
    ]  # fmt: skip
    return fairseq_train_command(
        data, save_dir, seed, model, schedule, max_update=budget,
        validate_interval=train.validate_interval_updates, precision=train.precision,
        stopping=patience_args(train), extra=[*train.extra_args, *tensorboard_args(train, save_dir)],
    )  # fmt: skip


TENSORBOARD = "--tensorboard-logdir"
# what fairseq logs to TensorBoard with (fairseq/logging/progress_bar.py): torch's writer, which
# needs the tensorboard package, else tensorboardX; without either it warns and logs nothing
TENSORBOARD_PACKAGES = ("tensorboard", "tensorboardX")


def check_tensorboard(train: TrainSettings) -> None:
    """``train.tensorboard`` refused in one line where fairseq could not log to TensorBoard."""
    import importlib.util

    if train.tensorboard and not any(
        importlib.util.find_spec(name) for name in TENSORBOARD_PACKAGES
    ):
        raise ConfigError(
            "train.tensorboard is true, but neither tensorboard nor tensorboardX is installed "
            "(fairseq would log nothing): pip install tensorboard, or set it to false"
        )


def tensorboard_args(train: TrainSettings, save_dir: Path) -> list[str]:
    """fairseq's TensorBoard logging into the run's folder (``<run>/tensorboard/``, beside
    ``checkpoints/``) when ``train.tensorboard``; refused where it cannot log."""
    if not train.tensorboard:
        return []
    check_tensorboard(train)
    return [TENSORBOARD, str(save_dir.parent / "tensorboard")]


NEVER = "1000000"  # epochs: fairseq has no "never" for its per-epoch intervals


def patience_args(train: TrainSettings) -> list[str]:
    """fairseq's ``--patience`` for ``train.patience``. With an update interval, validation
    (and saving) at each epoch's end is turned off, so that the patience counts validations of
    ``validate_interval_updates`` updates each: a run stops after ``patience x interval``
    updates without a new best. Without an interval the patience counts epochs."""
    if not train.patience:
        return []
    args = ["--patience", str(train.patience)]
    if train.validate_interval_updates:
        args += ["--validate-interval", NEVER, "--save-interval", NEVER]
    return args


def dictionaries(data: Path) -> list[Path]:
    """The fairseq dictionaries of a binarized folder (``input0/``, ``label/`` for GLUE)."""
    return sorted([*data.glob("dict*.txt"), *data.glob("*/dict.txt")])


def has_input_dictionary(data: Path) -> bool:
    """True when ``data`` holds a source dictionary: ``dict*.txt`` or GLUE's ``input0/dict.txt``.

    A label dictionary alone (``label/dict.txt``) does not count: fairseq needs the input one.
    """
    return any(p.parent == data or p.parent.name == "input0" for p in dictionaries(data))


def fingerprint(command: list[str], data: Path) -> str:
    """Hash of everything that decides a run's result: its options, its dictionary and the
    checkpoint it starts from (``--restore-file``: a pre-trained model)."""
    if TENSORBOARD in command:  # where it logs decides nothing: a run resumes with or without
        at = command.index(TENSORBOARD)
        command = command[:at] + command[at + 2 :]
    relevant = [c for c in command if c not in (sys.executable, str(PLUGIN_DIR))]
    digest = hashlib.sha256(json.dumps(relevant).encode())
    for dict_file in dictionaries(data):
        digest.update(dict_file.read_bytes())
    if "--restore-file" in command:
        restored = Path(command[command.index("--restore-file") + 1])
        if restored.is_file():
            with open(restored, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def prepare_checkpoint_dir(save_dir: Path, print_: str) -> bool:
    """Make ``save_dir`` safe to resume from; return True when a matching run is resumed (from
    its ``checkpoint_last.pt``, or the newest good checkpoint when that one is unreadable)."""
    stamp = save_dir / "fingerprint.txt"
    if save_dir.exists() and (not stamp.is_file() or stamp.read_text().strip() != print_):
        stale = save_dir.with_name(f"{save_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
        logger.warning("checkpoints in %s come from other settings; moved to %s", save_dir, stale)
        save_dir.rename(stale)
    resumed = recover_last_checkpoint(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(print_ + "\n")
    return resumed


def run_training(command: list[str], log_path: Path, threads: int) -> float:
    """Run fairseq-train, teeing its log to ``log_path`` (appended); return wall seconds."""
    env = thread_env(threads)
    start = time.perf_counter()
    with open(log_path, "a", encoding="utf-8") as log:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if "| INFO |" in line and (
                "valid" in line or "train_inner" in line or "done training" in line
            ):
                print(line, end="", flush=True)
        if proc.wait() != 0:
            raise RuntimeError(
                f"fairseq-train failed with status {proc.returncode}; see {log_path}"
            )
    return time.perf_counter() - start


EARLY_STOP = "early stop since valid performance hasn't improved"  # fairseq_cli/train.py
JSON_RECORD = re.compile(r"\| INFO \| (train_inner|valid|train) \| (\{.*\})\s*$")


def parse_log(log_path: Path) -> dict[str, list[dict]]:
    """The JSON records of a fairseq log file (``--log-format json``), by kind."""
    return log_records(log_path.read_text(encoding="utf-8"))


def log_records(log: str) -> dict[str, list[dict]]:
    """The JSON records of fairseq-train's output (``--log-format json``), by kind:
    ``train_inner``, ``valid``, ``train``, and ``early_stop`` (the line, when ``--patience``
    stopped the run)."""
    records: dict[str, list[dict]] = {"train_inner": [], "valid": [], "train": [], "early_stop": []}
    for line in log.splitlines():
        if EARLY_STOP in line:
            records["early_stop"].append({"line": line})
        match = JSON_RECORD.search(line)
        if match:
            records[match.group(1)].append(json.loads(match.group(2)))
    return records


def logged_records(log_path: Path) -> dict[str, list[dict]]:
    """:func:`parse_log`, refusing a log with no validation record (no update count, no loss):
    a RuntimeError naming the log instead of a train.json of 0 updates and NaN losses."""
    records = parse_log(log_path)
    if not records["valid"]:
        raise RuntimeError(
            f"no validation record (updates, valid_loss) in {log_path}: fairseq-train logged "
            "none in --log-format json; model.pt and train.json not written"
        )
    return records


def write_learning_curve(records: dict[str, list[dict]], path: Path) -> None:
    """CSV of (update, train_loss, valid_loss) for DVC plots; one row per logged point."""
    rows = {}
    for rec in records["train_inner"]:
        rows.setdefault(int(rec["num_updates"]), {})["train_loss"] = float(rec["loss"])
    for rec in records["valid"]:
        rows.setdefault(int(rec["valid_num_updates"]), {})["valid_loss"] = float(rec["valid_loss"])
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["update", "train_loss", "valid_loss"])
        for update in sorted(rows):
            writer.writerow(
                [update, rows[update].get("train_loss", ""), rows[update].get("valid_loss", "")]
            )


def parameter_counts(checkpoint: Path) -> dict[str, int]:
    """Parameter counts of a saved model (total, memory vectors, memory layers)."""
    import torch

    import fairseq_plugins  # noqa: F401  (safe globals for loading)

    state = torch.load(checkpoint, map_location="cpu")["model"]
    total = sum(v.numel() for k, v in state.items() if not k.endswith("_float_tensor"))
    memory = sum(v.numel() for k, v in state.items() if k.endswith("memory.vectors"))
    layers = sum(v.numel() for k, v in state.items() if ".memory_layers." in f".{k}")
    return {"total": total, "memory_tokens": memory, "memory_layers": layers}


def early_stopped(records: dict[str, list[dict]]) -> bool:
    """True when fairseq stopped the run on ``--patience`` (before ``--max-update``)."""
    return bool(records.get("early_stop"))


def best_loss(records: dict[str, list[dict]]) -> float:
    """The lowest validation loss logged (fairseq logs its own best only when it selects
    checkpoints by loss and validated before)."""
    return min((float(r["valid_loss"]) for r in records["valid"]), default=float("nan"))


def summarize(
    records: dict[str, list[dict]], wall: float, counts: dict[str, int], resumed: bool
) -> dict:
    """The run's metrics for train.json."""
    last_valid = records["valid"][-1] if records["valid"] else {}
    inner = records["train_inner"]
    src_tgt_tokens_s = [float(r["wps"]) for r in inner[1:]] or [float(r["wps"]) for r in inner]
    return {
        "params": counts,
        "updates": int(last_valid.get("valid_num_updates", 0)),
        "valid_loss": float(last_valid.get("valid_loss", "nan")),
        "best_valid_loss": float(last_valid.get("valid_best_loss", best_loss(records))),
        **{
            key[len("valid_") :]: float(last_valid[key])
            for key in ("valid_ppl", "valid_accuracy")
            if key in last_valid
        },
        "stopped_by": "patience" if early_stopped(records) else "max_update",
        "train_wall_s": round(wall, 1),
        "target_words_per_s": round(sum(src_tgt_tokens_s) / max(len(src_tgt_tokens_s), 1), 1),
        "resumed": resumed,
    }


class Trained(NamedTuple):
    """What :func:`train` hands its stage: the run's metrics (train.json) and the records of
    its log (the learning curve), read once."""

    summary: dict
    records: dict[str, list[dict]]


def train(train: TrainSettings, variant: Variant, model: Sequence[str], seed: int, data: Path,
          out: Path) -> Trained:  # fmt: skip
    """Train one run of ``variant`` (``model``: its task's and architecture's options) into
    ``out``: ``out/model.pt``, the log in ``out/checkpoints/train.log`` (the other checkpoints
    removed once the run succeeded). Returns the run's metrics and the log's records; the
    stage writes them (train.json, train_log.csv)."""
    save_dir = out / "checkpoints"
    command = train_command(train, variant, model, seed, data, save_dir)
    resumed = prepare_checkpoint_dir(save_dir, fingerprint(command, data))
    logger.info("%s seed %s: %s", variant.name, seed, "resuming" if resumed else "starting")
    log_path = save_dir / "train.log"
    wall = run_training(command, log_path, train.threads)
    records = logged_records(log_path)
    tmp = out / "model.pt.tmp"
    shutil.copyfile(save_dir / "checkpoint_best.pt", tmp)
    tmp.replace(out / "model.pt")
    for finished in save_dir.glob("*.pt"):  # model.pt is the product; keep the log only
        finished.unlink()
    return Trained(summarize(records, wall, parameter_counts(out / "model.pt"), resumed), records)

"""Fine-tuning a released RoBERTa with memory: GPT-2 BPE files and a checkpoint that this test
builds itself, served over HTTP on 127.0.0.1 as fairseq's are, through the real stage scripts.

The "release" is what the pretrain stage writes (``pretrain/<name>/model``: encoder.json and
vocab.bpe in the GPT-2 format, dict.txt, model.pt of a tiny ``roberta`` trained for 10 updates
with ``fairseq-train --task masked_lm``); the params name its files by URL with their sha256
(``data.bpe: gpt2``, ``data.gpt2_bpe``) and the checkpoint by path (``train.restore_file``),
exactly as for ``roberta.base``. The end-to-end run of the pretrain path (``gpt2_bpe:
pretrain``) is tests/e2e/test_pipeline_tasks.py's classification pipeline.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from data_helpers import flip_byte, http_server
from pipeline_helpers import (
    MIRROR,
    PIPELINE_PARAMS,
    REPO,
    run_train_command,
    tool_env,
    write_sst2_mirror,
)

from memtr.config.params import load_params
from memtr.data.gpt2_bpe import encode_gpt2, gpt2_encoder

pytestmark = pytest.mark.slow

MODEL_ARGS = {"encoder_layers": 1, "encoder_embed_dim": 32, "encoder_ffn_embed_dim": 64,
              "encoder_attention_heads": 2}  # fmt: skip
PRETRAIN = {
    "name": "tiny_release", "corpus": "wiki_lines", "bpe_merges": 300, "tokens_per_sample": 32,
    "dropout": 0.1, "max_update": 10,
    "max_tokens": 1024, "lr": 0.001, "warmup_updates": 2, "weight_decay": 0.01,
    "mask_prob": 0.15, "validate_interval_updates": 10, "seed": 1, "extra_args": [],
}  # fmt: skip
TASK = "sst_words"
TASK_DECLARATION = {
    "task": "classification", "format": "tsv", "header": True,
    "columns": {"inputs": ["sentence"], "label": "label"},
    "files": {"train": "corpus/glue/SST-2/train.tsv", "valid": "corpus/glue/SST-2/dev.tsv"},
    "split": {"test": 16, "seed": 0},
}  # fmt: skip
CORPUS_DECLARATION = {
    "task": "language_modeling", "files": {"train": "corpus/wiki.txt", "test": "corpus/wiki.txt"},
    "split": {"valid": 50},
}  # fmt: skip
RELEASE_FILES = {"encoder_json": "encoder.json", "vocab_bpe": "vocab.bpe", "dict": "dict.txt"}


def base_params() -> dict:
    doc = copy.deepcopy(PIPELINE_PARAMS)
    doc["data"].update(
        dataset=TASK, datasets={TASK: TASK_DECLARATION, "wiki_lines": CORPUS_DECLARATION}
    )
    doc["model"]["args"] = MODEL_ARGS
    doc["experiment"]["name"] = "released"
    doc["train"].update(label_smoothing=0.0, tokens_per_sample=32, validate_interval_updates=0,
                        max_update=5, warmup_updates=2)  # fmt: skip
    doc["eval"] = {"splits": ["valid"], "batch_size": 32, "bootstrap_resamples": 100}
    return doc


def stage(ws: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "workflow/scripts" / script), "--quiet", *args],
        cwd=ws, env=tool_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def write_params(ws: Path, doc: dict) -> None:
    (ws / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release-shaped folder built by the pretrain stage on 600 lines of WikiText-2."""
    ws = tmp_path_factory.mktemp("pretrain")
    (ws / "corpus").mkdir()
    lines = (MIRROR / "wikitext-2/wiki.train.tokens").read_text(encoding="utf-8").splitlines(True)
    (ws / "corpus/wiki.txt").write_text("".join(lines[:600]), encoding="utf-8")
    write_sst2_mirror(ws / "corpus")
    doc = base_params()
    doc["pretrain"] = PRETRAIN
    write_params(ws, doc)
    out = Path("pretrain/tiny_release/model")
    done = stage(ws, "pretrain.py", "--out", str(out), "--metrics", "metrics/pretrain/tiny")
    assert done.returncode == 0, done.stderr[-2000:]
    return ws / out


@contextlib.contextmanager
def serve(release: Path, folder: Path) -> Iterator[tuple[Path, Path]]:
    """The release's files on 127.0.0.1 (a copy: a test may corrupt it) and a workspace whose
    params name them by URL and sha256, the checkpoint by path."""
    root = folder / "upstream"
    shutil.copytree(release, root)
    ws = folder / "ws"
    write_sst2_mirror(ws / "corpus")
    with http_server(root) as (base, _):
        doc = base_params()
        doc["data"].update(bpe="gpt2", gpt2_bpe={
            key: {"url": f"{base}/{name}",
                  "sha256": hashlib.sha256((release / name).read_bytes()).hexdigest()}
            for key, name in RELEASE_FILES.items()
        })  # fmt: skip
        doc["train"]["restore_file"] = str(release / "model.pt")
        write_params(ws, doc)
        yield ws, root


@pytest.fixture(scope="module")
def prepared(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace whose data stages ran on the served release (shared: read only)."""
    with serve(release, tmp_path_factory.mktemp("released")) as (ws, _):
        data_stages(ws)
        yield ws


@pytest.fixture()
def served(release: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A fresh served release and workspace, for a test that breaks one of them."""
    with serve(release, tmp_path) as found:
        yield found


def data_stages(ws: Path) -> None:
    for script, args in (("check_params.py", ()), ("download.py", ()), ("prepare.py", ()),
                         ("binarize.py", ())):  # fmt: skip
        done = stage(ws, script, *args)
        assert done.returncode == 0, (script, done.stderr[-2000:])


def restored_model(ws: Path, variant: str):
    """The fine-tuning model of ``variant`` after fairseq's own ``--restore-file`` loading:
    the pipeline's command line parsed by fairseq-train's parser, its Trainer's
    load_checkpoint (upgrade_state_dict, strict loading)."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    params = load_params(ws / "params.yaml")
    command = run_train_command(params, variant, 1, ws / "data/bin" / TASK, ws / "unused")
    argv = command[command.index("fairseq_cli.train") + 1 :]
    cfg = convert_namespace_to_omegaconf(
        options.parse_args_and_arch(options.get_training_parser(), argv)
    )
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    trainer.load_checkpoint(params.restore_file(), reset_optimizer=True, reset_meters=True)
    return model


def test_released_checkpoint_loads_bit_for_bit_and_only_the_memory_is_new(prepared, release):
    ws = prepared
    # the task's text is encoded with the released BPE, exactly as fairseq's recipe encodes it
    raw = (ws / f"data/prep/{TASK}/valid.raw.input0").read_text(encoding="utf-8").splitlines()
    encoded = (ws / f"data/prep/{TASK}/valid.input0").read_text(encoding="utf-8").splitlines()
    assert encoded == list(encode_gpt2(gpt2_encoder(release), raw))
    assert (ws / f"data/bin/{TASK}/input0/dict.txt").read_bytes() == (
        release / "dict.txt").read_bytes()  # fmt: skip
    pretrained = torch.load(release / "model.pt", map_location="cpu", weights_only=False)["model"]
    for variant, memory in (("baseline", 0), ("mem4", 4)):
        state = restored_model(ws, variant).state_dict()
        for key, weight in pretrained.items():
            assert torch.equal(state[key], weight), (variant, key)  # every weight, unchanged
        new = set(state) - set(pretrained)
        heads = {
            k for k in new if k.startswith("classification_heads.sentence_classification_head.")
        }
        assert new - heads == ({"encoder.sentence_encoder.memory.vectors"} if memory else set())
        if memory:
            assert state["encoder.sentence_encoder.memory.vectors"].shape == (4, 32)
    done = stage(ws, "train.py", "--variant", "mem4", "--seed", "1", "--data",
                 f"data/bin/{TASK}", "--out", "runs/mem4", "--metrics", "metrics/mem4")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    log = (ws / "runs/mem4/checkpoints/train.log").read_text()
    assert f"Loaded checkpoint {release / 'model.pt'} (epoch 1 @ 0 updates)" in log
    assert json.loads((ws / "metrics/mem4/train.json").read_text())["stopped_by"] == "max_update"


def test_a_corrupted_released_file_is_refused_before_anything_is_prepared(served):
    ws, root = served
    flip_byte(root / "dict.txt")
    assert stage(ws, "check_params.py").returncode == 0
    done = stage(ws, "download.py")
    assert done.returncode == 1
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: checksum mismatch for dict.txt"), error
    assert not (ws / "data/prep").exists()


def test_a_missing_released_checkpoint_or_file_is_one_line_before_any_work(served, tmp_path):
    ws, _ = served
    good = yaml.safe_load((ws / "params.yaml").read_text())
    missing = str(tmp_path / "roberta.base/model.pt")
    for change, error in (
        (("train", "restore_file", missing), f"train.restore_file {missing!r} does not exist"),
        (("data", "gpt2_bpe", {**good["data"]["gpt2_bpe"], "dict": "roberta.base/dict.txt"}),
         "data.gpt2_bpe.dict: no such file roberta.base/dict.txt"),
    ):  # fmt: skip
        doc = copy.deepcopy(good)
        section, key, value = change
        doc[section][key] = value
        write_params(ws, doc)
        done = stage(ws, "check_params.py")
        assert (done.returncode, done.stderr.strip()) == (2, f"error: {error}")
    assert not (ws / "data").exists()


def test_patience_stops_a_run_that_no_longer_improves_and_says_so(prepared, tmp_path):
    """train.patience is fairseq's --patience: validations without a new best (here the dev
    accuracy of a model that barely moves) before the run stops, under the max_update cap."""
    doc = yaml.safe_load((prepared / "params.yaml").read_text())
    doc["train"].update(patience=2, lr=1e-9, max_update=60, validate_interval_updates=2)
    write_params(tmp_path, doc)  # the shared workspace's data, these params
    done = stage(prepared, "train.py", "--params", str(tmp_path / "params.yaml"),
                 "--variant", "baseline", "--seed", "1", "--data", f"data/bin/{TASK}",
                 "--out", str(tmp_path / "run"), "--metrics", str(tmp_path / "metrics"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "metrics/train.json").read_text())
    assert summary["stopped_by"] == "patience"
    assert summary["updates"] < 60  # a few validations (every 2 updates and epoch) after the best

"""Masked LM with memory (``mem_roberta``) on fairseq's ``sentence_prediction`` task."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import NO_PREFETCH, run_cli
from fairseq import checkpoint_utils, options, tasks
from fairseq.data import Dictionary
from lm_helpers import ROBERTA_TINY, write_glue_task

from memtr.common.paths import PLUGIN_DIR

D_MODEL = 64
HEAD = "sentence_classification_head"  # fairseq's default head name


@pytest.fixture(scope="module")
def dicts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dictionaries in the recipe's layout (input0/, label/) for models built in process."""
    root = tmp_path_factory.mktemp("glue_dicts")
    for column, symbols in (("input0", [f"w{i}" for i in range(20)]), ("label", ["0", "1"])):
        vocab = Dictionary()
        for symbol in symbols:
            vocab.add_symbol(symbol)
        (root / column).mkdir()
        vocab.save(str(root / column / "dict.txt"))
    return root


def build(data: Path, *extra: str, seed: int = 0) -> tuple[Any, Any]:
    """A model on ``sentence_prediction`` (2 classes, its head registered), seeded."""
    parser = options.get_training_parser()
    argv = [
        str(data), "--user-dir", str(PLUGIN_DIR), "--task", "sentence_prediction",
        "--num-classes", "2", "--criterion", "sentence_prediction", "--max-positions", "32",
        *extra,
    ]  # fmt: skip
    args = options.parse_args_and_arch(parser, argv)
    task = tasks.setup_task(args)
    torch.manual_seed(seed)
    return task.build_model(args), task


def memory_roberta(data: Path, mem_tokens: int, seed: int = 0) -> tuple[Any, Any]:
    return build(data, "--arch", "mem_roberta_tiny", "--mem-tokens", str(mem_tokens), seed=seed)


def sentences(task: Any, lengths: list[int], seed: int = 0) -> torch.Tensor:
    """Right-padded (B, n) batch ``<s> w .. w </s>`` as sentence_prediction builds it."""
    vocab = task.source_dictionary
    gen = torch.Generator().manual_seed(seed)
    batch = torch.full((len(lengths), max(lengths)), vocab.pad())
    for row, n in enumerate(lengths):
        batch[row, :n] = torch.randint(vocab.nspecial, len(vocab) - 1, (n,), generator=gen)
        batch[row, 0], batch[row, n - 1] = vocab.bos(), vocab.eos()
    return batch


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_zero_memory_is_exactly_fairseq_roberta(dicts):
    baseline, task = build(dicts, "--arch", "roberta", *ROBERTA_TINY, seed=3)
    ours, _ = memory_roberta(dicts, 0, seed=3)
    base_state, our_state = baseline.state_dict(), ours.state_dict()
    assert base_state.keys() == our_state.keys()
    for key in base_state:
        assert torch.equal(base_state[key], our_state[key]), key
    tokens = sentences(task, [9, 5])
    baseline.eval(), ours.eval()
    with torch.no_grad():
        assert torch.equal(baseline(tokens)[0], ours(tokens)[0])  # masked-LM logits
        expected = baseline(tokens, classification_head_name=HEAD)[0]
        assert torch.equal(ours(tokens, classification_head_name=HEAD)[0], expected)


def test_parameter_count_grows_by_exactly_m_times_d(dicts):
    base, _ = memory_roberta(dicts, 0)
    model, _ = memory_roberta(dicts, 7)
    assert n_params(model) - n_params(base) == 7 * D_MODEL
    assert model.encoder.sentence_encoder.memory.vectors.std().item() == pytest.approx(1.0, 0.2)


def test_features_are_real_tokens_and_the_head_reads_the_first_one(dicts):
    m = 4
    model, task = memory_roberta(dicts, m)
    model.eval()
    tokens = sentences(task, [9, 6])
    with torch.no_grad():
        features, _ = model(tokens, features_only=True)
        everything, *_ = model.encoder.sentence_encoder.encode_all(tokens)  # (m + n, B, C)
        logits, _ = model(tokens, classification_head_name=HEAD)
        head = model.classification_heads[HEAD]
        reading_real = head(everything[m:].transpose(0, 1))  # position m: <s>
        reading_memory = head(everything.transpose(0, 1))  # position 0: memory slot 0
    assert features.shape == (2, 9, D_MODEL)
    assert torch.equal(features, everything[m:].transpose(0, 1))
    torch.testing.assert_close(logits, reading_real)
    assert not torch.allclose(logits, reading_memory)
    masked_lm_logits, _ = model(tokens)
    assert masked_lm_logits.shape == (2, 9, len(task.source_dictionary))


def test_the_memory_reaches_the_classification(dicts):
    model, task = memory_roberta(dicts, 4)
    model.eval()
    tokens = sentences(task, [8, 8])
    memory = model.encoder.sentence_encoder.memory.vectors
    with torch.no_grad():
        before = model(tokens, classification_head_name=HEAD)[0]
        memory.add_(torch.randn_like(memory))
        after = model(tokens, classification_head_name=HEAD)[0]
    assert not torch.allclose(before, after)


def test_right_padding_changes_nothing_for_real_tokens(dicts):
    model, task = memory_roberta(dicts, 4)
    model.eval()
    tokens = sentences(task, [9, 5])
    with torch.no_grad():
        together = model(tokens, classification_head_name=HEAD)[0]
        alone = model(tokens[1:, :5], classification_head_name=HEAD)[0]
    torch.testing.assert_close(together[1:], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mem-tokens", "-2"], "--mem-tokens must be between 0 and 1024, got -2"),
        (["--mem-init-std", "nan?"], "expected a number, got 'nan?'"),
    ],
)
def test_bad_memory_options_are_rejected_by_the_parser(dicts, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        build(dicts, "--arch", "mem_roberta_tiny", *argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# ---- from a pre-trained RoBERTa checkpoint, through the fairseq CLI ------------------------


@pytest.fixture(scope="module")
def glue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated task binarized as in fairseq's GLUE recipe: 2000 train, 200 dev rows."""
    return write_glue_task(tmp_path_factory.mktemp("glue"), {"train": 2000, "dev": 200})


@pytest.fixture(scope="module")
def pretrained(glue: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny, (almost) randomly initialised RoBERTa saved by fairseq-train (2 updates)."""
    save = tmp_path_factory.mktemp("roberta")
    run_cli(
        "train", str(glue / "input0"), "--task", "masked_lm", "--criterion", "masked_lm",
        "--arch", "roberta", *ROBERTA_TINY, "--tokens-per-sample", "32", "--batch-size", "16",
        "--optimizer", "adam", "--lr", "1e-4", "--max-update", "2", "--disable-validation",
        "--no-epoch-checkpoints", "--num-workers", "0", "--cpu", "--save-dir", str(save),
        *NO_PREFETCH,
    )  # fmt: skip
    return save / "checkpoint_last.pt"


@pytest.mark.slow
def test_pretrained_roberta_loads_unchanged_and_only_the_memory_is_new(glue, pretrained):
    model, _ = memory_roberta(glue, 4, seed=5)
    fresh_memory = model.encoder.sentence_encoder.memory.vectors.detach().clone()
    state = checkpoint_utils.load_checkpoint_to_cpu(str(pretrained))
    weights = {k: v.clone() for k, v in state["model"].items()}
    model.load_state_dict(state["model"], strict=True)  # what --restore-file does
    loaded = model.state_dict()
    for key, value in weights.items():
        assert torch.equal(loaded[key], value), key
    new = set(loaded) - set(weights)
    assert "encoder.sentence_encoder.memory.vectors" in new
    assert all(key.startswith(f"classification_heads.{HEAD}.") for key in new - {
        "encoder.sentence_encoder.memory.vectors"})  # fmt: skip
    assert torch.equal(loaded["encoder.sentence_encoder.memory.vectors"], fresh_memory)


@pytest.mark.slow
def test_finetuning_memory_roberta_from_a_checkpoint_beats_chance(glue, pretrained, tmp_path):
    proc = run_cli(
        "train", str(glue), "--user-dir", str(PLUGIN_DIR), "--restore-file", str(pretrained),
        "--reset-optimizer", "--reset-dataloader", "--reset-meters",
        "--task", "sentence_prediction", "--num-classes", "2", "--init-token", "0",
        "--separator-token", "2", "--max-positions", "32", "--criterion", "sentence_prediction",
        "--arch", "mem_roberta_tiny", "--mem-tokens", "4", "--batch-size", "32",
        "--optimizer", "adam", "--lr", "1e-3", "--lr-scheduler", "polynomial_decay",
        "--warmup-updates", "20", "--total-num-update", "200", "--max-update", "200",
        "--best-checkpoint-metric", "accuracy", "--maximize-best-checkpoint-metric",
        "--no-epoch-checkpoints", "--num-workers", "0", "--seed", "1", "--cpu",
        "--log-format", "simple", "--save-dir", str(tmp_path / "ft"), *NO_PREFETCH,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    assert "memory.vectors is not in the checkpoint: keeping its fresh init" in log
    accuracy = float(re.findall(r"valid on 'valid' subset .*?\| accuracy ([\d.]+)", log)[-1])
    print(f"memtr mem_roberta_tiny (4 memory tokens) dev accuracy: {accuracy}")
    assert accuracy > 80.0  # chance: 50

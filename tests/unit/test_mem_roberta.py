"""Masked LM with memory (``mem_roberta``) on fairseq's ``sentence_prediction`` task, in
process: real fairseq models built through fairseq's own option parsing. Loading a pre-trained
RoBERTa checkpoint and fine-tuning through the fairseq CLI are in
``tests/integration/test_mem_roberta_finetuning.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from fairseq.data import Dictionary
from lm_helpers import ROBERTA_HEAD, ROBERTA_TINY, build_roberta, memory_roberta
from model_helpers import n_params

D_MODEL = 64


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


def sentences(task: Any, lengths: list[int], seed: int = 0) -> torch.Tensor:
    """Right-padded (B, n) batch ``<s> w .. w </s>`` as sentence_prediction builds it."""
    vocab = task.source_dictionary
    gen = torch.Generator().manual_seed(seed)
    batch = torch.full((len(lengths), max(lengths)), vocab.pad())
    for row, n in enumerate(lengths):
        batch[row, :n] = torch.randint(vocab.nspecial, len(vocab) - 1, (n,), generator=gen)
        batch[row, 0], batch[row, n - 1] = vocab.bos(), vocab.eos()
    return batch


def test_zero_memory_is_exactly_fairseq_roberta(dicts):
    baseline, task = build_roberta(dicts, "--arch", "roberta", *ROBERTA_TINY, seed=3)
    ours, _ = memory_roberta(dicts, 0, seed=3)
    base_state, our_state = baseline.state_dict(), ours.state_dict()
    assert base_state.keys() == our_state.keys()
    for key in base_state:
        assert torch.equal(base_state[key], our_state[key]), key
    tokens = sentences(task, [9, 5])
    baseline.eval(), ours.eval()
    with torch.no_grad():
        assert torch.equal(baseline(tokens)[0], ours(tokens)[0])  # masked-LM logits
        expected = baseline(tokens, classification_head_name=ROBERTA_HEAD)[0]
        assert torch.equal(ours(tokens, classification_head_name=ROBERTA_HEAD)[0], expected)


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
        logits, _ = model(tokens, classification_head_name=ROBERTA_HEAD)
        head = model.classification_heads[ROBERTA_HEAD]
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
        before = model(tokens, classification_head_name=ROBERTA_HEAD)[0]
        memory.add_(torch.randn_like(memory))
        after = model(tokens, classification_head_name=ROBERTA_HEAD)[0]
    assert not torch.allclose(before, after)


def test_right_padding_changes_nothing_for_real_tokens(dicts):
    model, task = memory_roberta(dicts, 4)
    model.eval()
    tokens = sentences(task, [9, 5])
    with torch.no_grad():
        together = model(tokens, classification_head_name=ROBERTA_HEAD)[0]
        alone = model(tokens[1:, :5], classification_head_name=ROBERTA_HEAD)[0]
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
        build_roberta(dicts, "--arch", "mem_roberta_tiny", *argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err

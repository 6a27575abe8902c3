"""Memory language model (``mem_transformer_lm``) and the ``stream_lm`` task, in process.

Real fairseq models, built through fairseq's own option parsing, on a recall stream binarized
with the real fairseq-preprocess. Training through the fairseq CLI and ``fairseq-eval-lm`` are
in ``tests/integration/test_mem_lm_training.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from fairseq import tasks
from fairseq.sequence_generator import SequenceGenerator
from lm_helpers import (
    LM_SMALL,
    RECALL_SPLITS,
    build_lm,
    log_probs,
    memory_lm,
    other_token_at,
    parse_lm_args,
    random_tokens,
    write_recall_corpus,
)
from model_helpers import n_params

from fairseq_plugins.modules.mem_encoder import MemoryConfigError

D_MODEL = 32


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binarized recall stream: train 4096 lines, valid 256, test 512 (8 tokens each)."""
    return write_recall_corpus(tmp_path_factory.mktemp("recall"), RECALL_SPLITS)


def test_zero_memory_is_exactly_fairseq_transformer_lm(data):
    baseline, task = build_lm(data, "--arch", "transformer_lm", *LM_SMALL, seed=3)
    ours, _ = memory_lm(data, 0, seed=3)
    base_state, our_state = baseline.state_dict(), ours.state_dict()
    assert base_state.keys() == our_state.keys()
    for key in base_state:
        assert torch.equal(base_state[key], our_state[key]), key
    tokens = random_tokens(task, 3, 9)
    baseline.eval(), ours.eval()
    with torch.no_grad():
        assert torch.equal(baseline(tokens)[0], ours(tokens)[0])


def test_parameter_count_grows_by_exactly_m_times_d(data):
    base, _ = memory_lm(data, 0)
    for m in (1, 6):
        model, _ = memory_lm(data, m, "--mem-recurrent")
        assert n_params(model) - n_params(base) == m * D_MODEL


def test_attention_mask_layout(data):
    model, _ = memory_lm(data, 2)
    allowed = model.decoder.segment_mask(3, True, torch.zeros(1)) == 0  # rows attend to cols
    r, t, w = 1, 1, 1  # read, token, write
    expected = [
        # read read tok tok tok write write
        [r, r, 0, 0, 0, 0, 0],  # read memory: the memory only
        [r, r, 0, 0, 0, 0, 0],
        [r, r, t, 0, 0, 0, 0],  # tokens: all of the read memory, causal over tokens
        [r, r, t, t, 0, 0, 0],
        [r, r, t, t, t, 0, 0],
        [r, r, t, t, t, w, w],  # write memory: everything
        [r, r, t, t, t, w, w],
    ]
    assert allowed.tolist() == [[bool(v) for v in row] for row in expected]


@pytest.mark.parametrize("extra", [[], ["--mem-recurrent", "--mem-segment-len", "4"]])
def test_tokens_stay_causal_and_read_the_memory(data, extra):
    model, task = memory_lm(data, 3, *extra)
    model.eval()
    tokens = random_tokens(task, 2, 10)
    changed = other_token_at(tokens, 6, task)
    with torch.no_grad():
        before = log_probs(model, tokens)
        after = log_probs(model, changed)
        model.decoder.memory.vectors.add_(torch.randn_like(model.decoder.memory.vectors))
        moved = log_probs(model, tokens)
    torch.testing.assert_close(after[:, :6], before[:, :6], atol=1e-6, rtol=0)
    assert not torch.allclose(after[:, 6:], before[:, 6:])
    assert not torch.allclose(moved[:, 0], before[:, 0]), "the first token reads the memory"


@pytest.mark.parametrize("recurrent", [False, True])
def test_only_recurrent_memory_links_segments(data, recurrent):
    extra = ["--mem-recurrent"] if recurrent else []
    model, task = memory_lm(data, 3, "--mem-segment-len", "4", *extra)
    model.eval()
    tokens = random_tokens(task, 2, 8)
    changed = other_token_at(tokens, 2, task)
    with torch.no_grad():
        before, after = log_probs(model, tokens), log_probs(model, changed)
    # the second segment (columns 4..7) sees column 2 only through the written memory
    assert torch.allclose(after[:, 4:], before[:, 4:]) != recurrent


def test_loss_is_on_real_tokens_only(data):
    model, task = memory_lm(data, 5, "--mem-recurrent", "--mem-segment-len", "4")
    tokens = random_tokens(task, 2, 10)
    logits, extra = model(tokens)
    assert logits.shape == (2, 10, len(task.target_dictionary))
    assert all(state.shape == (10, 2, D_MODEL) for state in extra["inner_states"])


@pytest.mark.parametrize(("bptt", "reaches"), [(0, True), (1, False)])
def test_bptt_segments_cut_the_gradient(data, bptt, reaches):
    model, task = memory_lm(
        data, 3, "--mem-recurrent", "--mem-segment-len", "4", "--mem-bptt-segments", str(bptt)
    )
    logits, _ = model(random_tokens(task, 2, 8))
    logits[:, 4:].logsumexp(-1).sum().backward()  # a loss on the second segment only
    grad = model.decoder.memory.vectors.grad
    assert (grad is not None and grad.abs().sum() > 0) == reaches


def test_right_padding_changes_nothing_for_real_tokens(data):
    model, task = memory_lm(data, 3, "--mem-recurrent", "--mem-segment-len", "4")
    model.eval()
    tokens = random_tokens(task, 2, 10)
    tokens[1, 7:] = task.source_dictionary.pad()
    with torch.no_grad():
        together = log_probs(model, tokens)
        alone = log_probs(model, tokens[1:, :7])
    torch.testing.assert_close(together[1:, :7], alone, atol=1e-5, rtol=1e-5)


def test_memory_carried_across_batches_equals_one_long_pass(data):
    model, task = memory_lm(data, 3, "--mem-recurrent", "--mem-segment-len", "4")
    model.eval()
    tokens = random_tokens(task, 2, 12)
    with torch.no_grad():
        whole = log_probs(model, tokens)
        parts = [
            log_probs(model, tokens[:, s : s + 4], mem_stream={"key": "valid", "start": s})
            for s in (0, 4, 8)
        ]
        fresh = log_probs(model, tokens[:, 4:8])
        # a batch that does not continue the stream starts from the learned memory again
        restarted = log_probs(model, tokens[:, 4:8], mem_stream={"key": "valid", "start": 0})
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(restarted, fresh, atol=1e-6, rtol=0)
    assert not torch.allclose(parts[1], fresh)


@pytest.mark.parametrize(
    ("mem_tokens", "extra"),
    [
        (3, []),
        (3, ["--mem-segment-len", "4"]),
        (3, ["--mem-recurrent", "--mem-segment-len", "4"]),
        (0, ["--mem-segment-len", "4"]),
    ],
)
def test_incremental_decoding_matches_full_forward(data, mem_tokens, extra):
    model, task = memory_lm(data, mem_tokens, *extra)
    model.eval()
    tokens = random_tokens(task, 2, 11)
    with torch.no_grad():
        full = log_probs(model, tokens)
        state: dict = {}
        steps = [
            model.get_normalized_probs(
                model.decoder(tokens[:, : t + 1], incremental_state=state), log_probs=True
            )
            for t in range(tokens.size(1))
        ]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_beam_search_scores_equal_a_full_forward(data):
    model, task = memory_lm(data, 3, "--mem-recurrent", "--mem-segment-len", "4")
    model.eval()
    vocab = task.target_dictionary
    generator = SequenceGenerator([model], vocab, beam_size=3, max_len_b=10, min_len=10)
    sample = {"net_input": {"src_tokens": torch.full((2, 1), vocab.eos())}}
    hypos = generator.generate([model], sample, bos_token=vocab.eos())
    for hypo in (hypo for beam in hypos for hypo in beam):  # every beam: reordered states
        target = hypo["tokens"]  # 10 tokens and the closing </s>, across three segments
        source = torch.cat([target.new_tensor([vocab.eos()]), target[:-1]]).unsqueeze(0)
        with torch.no_grad():
            scores = log_probs(model, source)[0].gather(-1, target[:, None])[:, 0]
        torch.testing.assert_close(hypo["positional_scores"], scores, atol=1e-4, rtol=1e-4)


def stream_batches(data: Path, rows: int, width: int, *arch: str) -> tuple[Any, list[dict]]:
    """Build a model on the stream_lm task (T = width) and collate every test batch."""
    arch = arch or ("--arch", "mem_transformer_lm", *LM_SMALL, "--mem-tokens", "2")
    args = parse_lm_args(data, *arch, "--tokens-per-sample", str(width), task="stream_lm")
    task = tasks.setup_task(args)
    task.build_model(args)
    task.load_dataset("test")
    itr = task.get_batch_iterator(task.dataset("test"), max_sentences=rows)
    return task, list(itr.next_epoch_itr(shuffle=True))  # shuffling is never applied


def test_stream_batches_score_every_token_once_in_row_order(data):
    task, batches = stream_batches(data, rows=3, width=5)  # 4096 tokens: rows of 1366
    stream = task.dataset("test").tokens.long()
    pad, eos = task.source_dictionary.pad(), task.source_dictionary.eos()
    target = torch.cat([b["target"] for b in batches], dim=1)  # (3, 1366) rows in order
    source = torch.cat([b["net_input"]["src_tokens"] for b in batches], dim=1)
    assert target.shape == (3, 1366)
    assert torch.equal(target.flatten()[: stream.numel()], stream)
    assert target.flatten()[stream.numel() :].eq(pad).all()  # the last row's end is padding
    shifted = torch.cat([stream.new_tensor([eos]), stream[:-1]])
    assert torch.equal(source.flatten()[: stream.numel()], shifted)
    assert sum(b["ntokens"] for b in batches) == stream.numel()
    starts = [b["net_input"]["mem_stream"] for b in batches]
    assert starts[:2] == [{"key": "test", "start": 0}, {"key": "test", "start": 5}]


def test_stream_task_passes_the_stream_only_to_memory_models(data):
    _, batches = stream_batches(data, 2, 512, "--arch", "transformer_lm", *LM_SMALL)
    assert set(batches[0]["net_input"]) == {"src_tokens", "src_lengths"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mem-tokens", "-1"], "--mem-tokens must be between 0 and 1024, got -1"),
        (["--mem-segment-len", "-4"], "must be >= 0, got -4"),
        (["--mem-bptt-segments", "two"], "expected an integer, got 'two'"),
        (["--mem-init-std", "0"], "must be > 0, got 0"),
    ],
)
def test_bad_memory_options_are_rejected_by_the_parser(data, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        parse_lm_args(data, "--arch", "mem_transformer_lm_tiny", *argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mem-tokens", "0", "--mem-recurrent"], "--mem-recurrent needs --mem-tokens >= 1"),
        (["--mem-bptt-segments", "2"], "--mem-bptt-segments needs --mem-recurrent"),
    ],
)
def test_inconsistent_memory_options_are_rejected(data, argv, message):
    with pytest.raises(MemoryConfigError, match=re.escape(message)):
        build_lm(data, "--arch", "mem_transformer_lm_tiny", *argv)

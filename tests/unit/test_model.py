"""MemTransformer (prepend layout): unit tests on real fairseq models."""

from __future__ import annotations

import pytest
import torch
from model_helpers import SMALL, build_model, memory_model, n_params, parse_args, sample_batch

D_MODEL = 32


@pytest.fixture(scope="module")
def data(reverse_corpus):
    return reverse_corpus / "bin"


def test_parameter_count_grows_by_exactly_m_times_d(data):
    base, _ = memory_model(data, 0)
    for m in (1, 7, 20):
        model, _ = memory_model(data, m)
        assert n_params(model) - n_params(base) == m * D_MODEL
        assert model.encoder.memory.vectors.shape == (m, D_MODEL)


def test_zero_memory_is_exactly_fairseq_transformer(data):
    baseline, task = build_model(data, "--arch", "transformer", *SMALL, seed=3)
    ours, _ = memory_model(data, 0, seed=3)
    base_state, our_state = baseline.state_dict(), ours.state_dict()
    assert base_state.keys() == our_state.keys()
    for key in base_state:
        assert torch.equal(base_state[key], our_state[key]), key
    batch = sample_batch(task, [6, 4, 2])
    baseline.eval(), ours.eval()
    with torch.no_grad():
        expected, _ = baseline(**batch)
        got, _ = ours(**batch)
    assert torch.equal(expected, got)


def test_shapes_and_padding_mask(data):
    m = 4
    model, task = memory_model(data, m)
    batch = sample_batch(task, [7, 3])  # second row has 4 left pads
    out = model.encoder(batch["src_tokens"], batch["src_lengths"])
    (x,), (mask,) = out["encoder_out"], out["encoder_padding_mask"]
    assert x.shape == (m + 7, 2, D_MODEL)  # (T, B, C) with T = m + n
    assert mask.shape == (2, m + 7)
    assert not mask[:, :m].any(), "memory is never padding"
    assert torch.equal(mask[:, m:], batch["src_tokens"].eq(task.source_dictionary.pad()))
    assert out["encoder_embedding"][0].shape == (2, m + 7, D_MODEL)
    logits, _ = model(**batch)
    assert logits.shape == (2, 5, len(task.target_dictionary))


def test_padded_batch_gives_the_same_outputs_as_each_sentence_alone(data):
    model, task = memory_model(data, 4)
    model.eval()
    batch = sample_batch(task, [7, 3])
    with torch.no_grad():
        together, _ = model(**batch)
        alone, _ = model(
            src_tokens=batch["src_tokens"][1:, -3:],
            src_lengths=batch["src_lengths"][1:],
            prev_output_tokens=batch["prev_output_tokens"][1:],
        )
    torch.testing.assert_close(together[1:], alone, atol=1e-5, rtol=1e-5)


def test_memory_does_not_shift_source_positions(data):
    baseline, task = memory_model(data, 0, seed=1)
    ours, _ = memory_model(data, 5, seed=1)
    missing = ours.load_state_dict(baseline.state_dict(), strict=False)
    assert missing.missing_keys == ["encoder.memory.vectors"]
    baseline.eval(), ours.eval()
    batch = sample_batch(task, [6, 4])
    with torch.no_grad():
        expected = baseline.encoder(batch["src_tokens"])["encoder_embedding"][0]
        got = ours.encoder(batch["src_tokens"])["encoder_embedding"][0]
    assert torch.equal(got[:, 5:], expected)
    assert torch.equal(got[0, :5], ours.encoder.memory.vectors)


def test_gradients_reach_the_memory(data):
    model, task = memory_model(data, 4)
    logits, _ = model(**sample_batch(task, [5, 5]))
    logits.logsumexp(-1).sum().backward()
    grad = model.encoder.memory.vectors.grad
    assert grad is not None and grad.abs().sum() > 0
    assert (grad.abs().sum(dim=1) > 0).all(), "every memory slot receives gradient"


@pytest.mark.parametrize("hide", [False, True])
def test_incremental_decoding_matches_full_forward(data, hide):
    extra = ["--mem-hide-from-decoder"] if hide else []
    model, task = memory_model(data, 3, *extra)
    model.eval()
    batch = sample_batch(task, [6, 2])
    with torch.no_grad():
        enc = model.encoder(batch["src_tokens"], batch["src_lengths"])
        full, _ = model.decoder(batch["prev_output_tokens"], encoder_out=enc)
        state: dict = {}
        steps = [
            model.decoder(
                batch["prev_output_tokens"][:, : t + 1], encoder_out=enc, incremental_state=state
            )[0]
            for t in range(batch["prev_output_tokens"].size(1))
        ]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    assert enc["encoder_out"][0].size(0) == (6 if hide else 3 + 6)


def test_hidden_memory_changes_nothing_the_decoder_reads_but_the_memory(data):
    model, task = memory_model(data, 3, "--mem-hide-from-decoder")
    model.eval()
    batch = sample_batch(task, [6, 6])
    with torch.no_grad():
        enc = model.encoder(batch["src_tokens"])
        assert enc["encoder_out"][0].size(0) == 6
        assert not enc["encoder_padding_mask"][0].any()
        # the memory still shapes the sequence outputs through self-attention
        before = enc["encoder_out"][0].clone()
        model.encoder.memory.vectors.add_(1.0)
        after = model.encoder(batch["src_tokens"])["encoder_out"][0]
    assert not torch.allclose(before, after)


def test_default_memory_init_matches_token_embedding_scale(data):
    model, _ = memory_model(data, 200)
    assert model.encoder.memory.vectors.std().item() == pytest.approx(1.0, rel=0.1)
    model, _ = memory_model(data, 200, "--mem-init-std", "0.02")
    assert model.encoder.memory.vectors.std().item() == pytest.approx(0.02, rel=0.1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mem-tokens", "-3"], "--mem-tokens must be between 0 and 1024, got -3"),
        (["--mem-tokens", "100000"], "--mem-tokens must be between 0 and 1024, got 100000"),
        (["--mem-tokens", "ten"], "--mem-tokens must be an integer, got 'ten'"),
        (["--mem-layout", "sideways"], "invalid choice: 'sideways'"),
        (["--mem-init-std", "-1"], "must be > 0, got -1"),
    ],
)
def test_bad_memory_options_are_rejected_by_the_parser(data, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        parse_args(data, "--arch", "mem_transformer_tiny", *argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err

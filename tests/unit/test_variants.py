"""MemCtrl, MemCtrl-shared and MemBottleneck: behaviour of their attention and weights."""

from __future__ import annotations

import pytest
import torch
from model_helpers import SMALL, build_model, memory_model, n_params, sample_batch

from fairseq_plugins.modules.mem_encoder import MemoryConfigError


@pytest.fixture(scope="module")
def data(reverse_corpus):
    return reverse_corpus / "bin"


def variant(data, layout: str, m: int = 3, *extra: str, seed: int = 0):
    model, task = build_model(
        data, "--arch", f"mem_{layout}", *SMALL, "--mem-tokens", str(m), *extra, seed=seed
    )
    model.eval()
    return model, task


def record_attention(model, src_tokens):
    """Run the encoder and return its per-layer attention probabilities (B, H, T, T)."""
    model.encoder.recorded_attention = []
    try:
        with torch.no_grad():
            out = model.encoder(src_tokens)
        return out, model.encoder.recorded_attention
    finally:
        model.encoder.recorded_attention = None


def test_architecture_names_select_the_layout(data):
    for layout in ("transformer", "ctrl", "ctrl_shared", "bottleneck"):
        model, _ = variant(data, layout)
        assert model.encoder.layout == {"transformer": "prepend"}.get(layout, layout)


def test_memctrl_has_one_memory_layer_per_encoder_layer_and_shared_has_one(data):
    ctrl, _ = variant(data, "ctrl")
    shared, _ = variant(data, "ctrl_shared")
    plain, _ = variant(data, "transformer")
    assert len(ctrl.encoder.memory_layers) == len(ctrl.encoder.layers) == 2
    assert len(shared.encoder.memory_layers) == 1
    layer_size = n_params(plain.encoder.layers[0])
    assert n_params(ctrl) - n_params(plain) == 2 * layer_size
    assert n_params(shared) - n_params(plain) == layer_size
    # a memory layer is a separate module with its own weights
    assert (
        ctrl.encoder.memory_layers[0].fc1.weight.data_ptr()
        != ctrl.encoder.layers[0].fc1.weight.data_ptr()
    )


def test_bottleneck_adds_only_the_memory(data):
    bottleneck, _ = variant(data, "bottleneck")
    plain, _ = variant(data, "transformer")
    assert n_params(bottleneck) == n_params(plain)


@pytest.mark.parametrize("layout", ["transformer", "ctrl", "ctrl_shared", "bottleneck"])
def test_recorded_attention_is_a_distribution_and_recording_changes_nothing(data, layout):
    model, task = variant(data, layout, 3)
    batch = sample_batch(task, [6, 4])
    with torch.no_grad():
        plain = model.encoder(batch["src_tokens"])["encoder_out"][0]
    out, probs = record_attention(model, batch["src_tokens"])
    torch.testing.assert_close(out["encoder_out"][0], plain, atol=1e-5, rtol=1e-5)
    assert len(probs) == 2
    for p in probs:
        assert p.shape == (2, 4, 3 + 6, 3 + 6)  # (B, H, T, T)
        torch.testing.assert_close(p.sum(-1), torch.ones(2, 4, 9))
        # nobody attends to padding: row 1 has 2 left pads at positions m..m+1
        assert p[1, :, :, 3:5].abs().max() == 0


def test_bottleneck_sequence_never_attends_to_the_sequence(data):
    model, task = variant(data, "bottleneck", 3)
    batch = sample_batch(task, [6, 6])
    out, probs = record_attention(model, batch["src_tokens"])
    for p in probs:
        assert torch.equal(p[:, :, 3:, 3:], torch.zeros_like(p[:, :, 3:, 3:]))
        assert (p[:, :, :3, 3:] > 0).all(), "memory reads the sequence"
    # the decoder sees only the memory: its cross-attention has exactly m keys
    assert out["encoder_out"][0].size(0) == 3
    assert out["encoder_padding_mask"][0].shape == (2, 3)


def test_bottleneck_decoder_reads_the_source_only_through_memory(data):
    model, task = variant(data, "bottleneck", 3)
    batch = sample_batch(task, [6, 6])
    with torch.no_grad():
        logits, extra = model(**batch)
    attn = extra["attn"][0]  # (B, tgt, src keys) averaged over heads
    assert attn.shape[-1] == 3
    torch.testing.assert_close(attn.sum(-1), torch.ones_like(attn.sum(-1)))


def sequence_jacobian_offdiag(model, src_tokens, cut_memory_keys: bool) -> torch.Tensor:
    """Largest |d seq_out_i / d emb_j| over i != j for the final sequence states.

    With ``cut_memory_keys`` the sequence's attention keys/values over the memory are
    detached from the graph (forward hooks on k_proj/v_proj when their input is the
    memory alone), which leaves no path from token j to token i in a bottleneck.
    """
    m = model.encoder.num_memory
    handles = []
    if cut_memory_keys:

        def detach_memory_only(_module, inputs):
            (x,) = inputs
            return (x.detach(),) if x.size(0) == m else None

        for layer in model.encoder.layers:
            for proj in (layer.self_attn.k_proj, layer.self_attn.v_proj):
                handles.append(proj.register_forward_pre_hook(detach_memory_only))
    emb = model.encoder.embed_tokens(src_tokens).detach().requires_grad_(True)  # (B, n, C)
    try:
        x = model.encoder.encode_all(src_tokens, emb)[0]  # (T, B, C)
    finally:
        for h in handles:
            h.remove()
    seq = x[m:, 0]  # (n, C) for sentence 0
    # a fixed random read-out: a plain sum of a LayerNorm output is constant
    readout = torch.randn(seq.size(-1), generator=torch.Generator().manual_seed(0))
    worst = torch.zeros(())
    for i in range(seq.size(0)):
        (grad,) = torch.autograd.grad(seq[i] @ readout, emb, retain_graph=True)
        others = torch.cat([grad[0, :i], grad[0, i + 1 :]])
        worst = torch.maximum(worst, others.abs().max())
    return worst


def test_bottleneck_tokens_see_each_other_only_through_memory(data):
    model, task = variant(data, "bottleneck", 3)
    src = sample_batch(task, [6])["src_tokens"]
    assert sequence_jacobian_offdiag(model, src, cut_memory_keys=False) > 1e-4
    assert sequence_jacobian_offdiag(model, src, cut_memory_keys=True) == 0
    # in MemTransformer tokens also see each other directly: the same cut leaves a path
    plain, _ = variant(data, "transformer", 3)
    assert sequence_jacobian_offdiag(plain, src, cut_memory_keys=True) > 1e-4


@pytest.mark.parametrize("layout", ["ctrl", "ctrl_shared"])
def test_memctrl_memory_rows_come_from_the_memory_layer(data, layout):
    model, task = variant(data, layout, 3)
    src = sample_batch(task, [6, 6])["src_tokens"]
    with torch.no_grad():
        before = model.encoder.encode_all(src)[0].clone()  # (T, B, C)
        last = model.encoder.memory_layers[-1]
        last.fc2.bias.add_(
            torch.randn_like(last.fc2.bias)
        )  # not a constant: LayerNorm would remove it
        after = model.encoder.encode_all(src)[0]
    changed = (after - before).abs().amax(dim=(1, 2))  # per position
    if layout == "ctrl":  # the last memory layer feeds only the final memory rows
        assert (changed[:3] > 1e-3).all() and (changed[3:] == 0).all()
    else:  # the shared layer runs at every depth: memory, then the sequence change
        assert (changed > 1e-3).all()


def test_memctrl_sequence_rows_come_from_the_ordinary_layer(data):
    model, task = variant(data, "ctrl", 3)
    src = sample_batch(task, [6, 6])["src_tokens"]
    with torch.no_grad():
        before = model.encoder.encode_all(src)[0].clone()
        model.encoder.layers[-1].fc2.bias.add_(torch.randn_like(model.encoder.layers[-1].fc2.bias))
        after = model.encoder.encode_all(src)[0]
    changed = (after - before).abs().amax(dim=(1, 2))
    assert (changed[:3] == 0).all() and (changed[3:] > 1e-3).all()


@pytest.mark.parametrize("layout", ["ctrl", "ctrl_shared", "bottleneck"])
def test_variants_that_need_memory_refuse_zero_tokens(data, layout):
    with pytest.raises(MemoryConfigError, match=f"--mem-layout {layout} needs --mem-tokens >= 1"):
        variant(data, layout, 0)


def test_bottleneck_refuses_hiding_memory_from_decoder(data):
    with pytest.raises(MemoryConfigError, match="its decoder sees only the memory"):
        variant(data, "bottleneck", 3, "--mem-hide-from-decoder")


def test_prepend_with_zero_memory_is_allowed(data):
    model, _ = memory_model(data, 0)
    assert model.encoder.memory is None

"""Memory interventions at inference (fairseq_plugins/modules/intervention.py) on real fairseq
models, on constructed cases whose answer is known."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from fairseq import tasks
from model_helpers import SMALL, build_model, parse_args, sample_batch

from fairseq_plugins.modules.intervention import (
    Intervention,
    InterventionError,
    defined_interventions,
    from_model_options,
)
from fairseq_plugins.modules.memory import MemoryTokens
from memspec import TRANSLATION_ARCH

LAYOUTS = tuple(TRANSLATION_ARCH)
M = 3


@pytest.fixture(scope="module")
def data(reverse_corpus):
    return reverse_corpus / "bin"


def variant(data, layout: str, m: int = M, *extra: str):
    model, task = build_model(
        data, "--arch", TRANSLATION_ARCH[layout], *SMALL, "--mem-tokens", str(m), *extra
    )
    return model.eval(), task


def run(model, batch, intervention: Intervention | None):
    """Encoder output, its padding mask and the decoder's logits under ``intervention``."""
    model.encoder.set_intervention(intervention)
    try:
        with torch.no_grad():
            enc = model.encoder(batch["src_tokens"], batch["src_lengths"])
            logits, _ = model.decoder(batch["prev_output_tokens"], encoder_out=enc)
    finally:
        model.encoder.set_intervention(None)
    return enc["encoder_out"][0], enc["encoder_padding_mask"][0], logits


def every_intervention(model) -> list[Intervention]:
    """Every intervention ``model`` defines, each slot's knockout, mean vectors at random."""
    encoder = model.encoder
    m, layout, hidden = encoder.num_memory, encoder.layout, encoder.hide_memory_from_decoder
    mean = torch.randn(m, encoder.embed_tokens.embedding_dim)
    every = []
    for name in defined_interventions(layout, m, hidden):
        slots = range(m) if name == "knockout" else [None]
        every.extend(Intervention(name, slot, mean if name == "mean" else None) for slot in slots)
    return every


def identical_sentences(task, count: int, size: int = 6) -> dict:
    one = sample_batch(task, [size])
    return {k: v.expand(count, *v.shape[1:]).contiguous() for k, v in one.items()}


def test_removal_on_a_model_without_memory_changes_nothing_bit_for_bit(data):
    model, task = variant(data, "prepend", 0)
    assert [str(i) for i in every_intervention(model)] == ["none", "remove"]
    batch = sample_batch(task, [7, 4, 2])
    intact, removed = run(model, batch, None), run(model, batch, Intervention("remove"))
    for a, b in zip(intact, removed, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_swapping_in_a_batch_of_identical_sentences_changes_nothing_bit_for_bit(data, layout):
    model, task = variant(data, layout)
    batch = identical_sentences(task, 4)
    intact, swapped = run(model, batch, None), run(model, batch, Intervention("swap"))
    for a, b in zip(intact, swapped, strict=True):
        assert torch.equal(a, b)
    different = sample_batch(task, [6, 6, 6, 6])  # the swap does act on different sentences
    assert not torch.equal(
        run(model, different, None)[2], run(model, different, Intervention("swap"))[2]
    )


@pytest.mark.parametrize("layout", ["prepend", "ctrl", "ctrl_shared"])
def test_memory_hidden_from_everything_reads_the_same_under_every_intervention(
    data, layout, monkeypatch
):
    """Memory marked as padding: no token and no decoder step attends to it, so no
    intervention on it changes what the model computes for the source."""
    original = MemoryTokens.prepend

    def prepend_as_padding(self, x, padding_mask):
        out, mask = original(self, x, padding_mask)
        mask[:, : self.num_tokens] = True  # (B, m + n): the memory is hidden from every row
        return out, mask

    monkeypatch.setattr(MemoryTokens, "prepend", prepend_as_padding)
    model, task = variant(data, layout)
    batch = sample_batch(task, [7, 5, 3])
    _, _, intact = run(model, batch, None)
    interventions = every_intervention(model)
    # none, zero, swap, mean, hide, a knockout per slot; prepend's remove
    assert len(interventions) == 5 + M + (layout == "prepend")
    for intervention in interventions:
        _, _, logits = run(model, batch, intervention)
        if intervention.removes_memory:  # m fewer keys: the sums run in another order
            torch.testing.assert_close(logits, intact, rtol=1e-5, atol=1e-5)
        else:
            assert torch.equal(logits, intact), intervention


def test_each_intervention_changes_only_what_it_names(data):
    model, task = variant(data, "prepend")
    batch = sample_batch(task, [7, 5, 3])  # (B, n) = (3, 7)
    out, mask, _ = run(model, batch, None)  # (m + n, B, C), (B, m + n)
    mem, seq = slice(0, M), slice(M, None)
    mean = torch.randn(M, out.size(-1))
    expected = {
        "zero": torch.cat([torch.zeros_like(out[mem]), out[seq]]),
        "swap": torch.cat([out[mem].roll(1, dims=1), out[seq]]),
        "mean": torch.cat([mean.unsqueeze(1).expand(-1, 3, -1), out[seq]]),
        "knockout=1": torch.cat([out[:1], torch.zeros_like(out[1:2]), out[2:]]),
        "hide": out,
    }
    for spec, want in expected.items():
        got, got_mask, _ = run(
            model, batch, Intervention.parse(spec, mean if spec == "mean" else None)
        )
        assert torch.equal(got, want), spec
        assert torch.equal(got_mask[:, seq], mask[:, seq]), spec
        assert got_mask[:, mem].all() == (spec == "hide"), spec
    removed, removed_mask, _ = run(model, batch, Intervention("remove"))
    assert removed.size(0) == 7 and torch.equal(removed_mask, mask[:, seq])


def test_each_layout_defines_its_interventions():
    at_decoder = ("zero", "swap", "mean", "hide", "knockout")
    assert defined_interventions("prepend", 4, False) == ("none", *at_decoder, "remove")
    assert defined_interventions("prepend", 4, True) == ("none", "remove")
    assert defined_interventions("prepend", 0, False) == ("none", "remove")
    for layout in ("ctrl", "ctrl_shared"):
        assert defined_interventions(layout, 4, False) == ("none", *at_decoder)
        assert defined_interventions(layout, 4, True) == ("none",)
    assert defined_interventions("bottleneck", 4, False) == (
        "none",
        "zero",
        "swap",
        "mean",
        "knockout",
    )
    assert defined_interventions("none", 0, False) == ("none",)  # fairseq's transformer


@pytest.mark.parametrize(
    ("layout", "extra", "spec", "message"),
    [
        ("bottleneck", [], "hide", "its decoder reads the memory alone"),
        ("ctrl", [], "remove", "removal is defined for prepend only"),
        ("prepend", ["--mem-hide-from-decoder"], "zero", "does not read the memory"),
        ("prepend", [], "knockout=3", "the memory has slots 0 to 2"),
    ],
)
def test_an_intervention_the_model_does_not_define_is_one_clear_error(
    data, layout, extra, spec, message
):
    model, _ = variant(data, layout, M, *extra)
    with pytest.raises(InterventionError, match=message):
        model.encoder.set_intervention(Intervention.parse(spec))
    assert model.encoder.intervention is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [("blur", "unknown memory intervention 'blur'"), ("knockout", "expected knockout=<slot>"),
     ("zero=1", "expected knockout=<slot>"), ("knockout=a", "must be an integer"),
     ("mean", "needs the vectors")],
)  # fmt: skip
def test_a_malformed_intervention_is_one_clear_error(spec, message):
    with pytest.raises(InterventionError, match=message):
        Intervention.parse(spec)


def test_mean_vectors_of_the_wrong_shape_are_refused(data):
    model, _ = variant(data, "prepend")
    with pytest.raises(InterventionError, match=r"expected \(m, C\) = \(3, 32\)"):
        model.encoder.set_intervention(Intervention.parse("mean", torch.zeros(2, 32)))


def test_model_options_ask_for_an_intervention_as_model_overrides_do(data, tmp_path):
    """fairseq-generate's --model-overrides set these options on the checkpoint's model args."""
    assert from_model_options(argparse.Namespace()) is None
    mean = np.arange(6, dtype=np.float32).reshape(M, 2)
    np.save(tmp_path / "mean.npy", mean)
    options = argparse.Namespace(
        mem_intervention="mean", mem_intervention_mean=str(tmp_path / "mean.npy")
    )
    got = from_model_options(options)
    assert got.name == "mean" and torch.equal(got.mean, torch.from_numpy(mean))
    assert (
        str(from_model_options(argparse.Namespace(mem_intervention="knockout=2"))) == "knockout=2"
    )
    args = parse_args(data, "--arch", "mem_transformer", *SMALL, "--mem-tokens", str(M))
    args.mem_intervention = "zero"  # as --model-overrides "{'mem_intervention': 'zero'}"
    model = tasks.setup_task(args).build_model(args)
    assert str(model.encoder.intervention) == "zero"
    args.mem_intervention = "knockout=7"
    with pytest.raises(InterventionError, match="knockout=7"):
        tasks.setup_task(args).build_model(args)

"""Attention sinks (memtr/analysis/sinks.py): key groups and uniform shares on hand-built
masks, and the shares of real (untrained) fairseq models over a split."""

from __future__ import annotations

import pytest
import torch
from model_helpers import SMALL, build_model

from memspec import TRANSLATION_ARCH
from memtr.analysis.sinks import GROUPS, group_shares, sink_table, source_key_groups, uniform_shares

PAD, EOS = 1, 2


@pytest.fixture(scope="module")
def data(reverse_corpus):
    return reverse_corpus / "bin"


def hand_built_source() -> torch.Tensor:
    """(B, n) = (3, 5), left-padded as fairseq pads sources: 2 pads, none, 4 pads."""
    return torch.tensor(
        [
            [PAD, PAD, 7, 8, EOS],
            [7, 8, 9, 10, EOS],
            [PAD, PAD, PAD, PAD, EOS],  # </s> alone: no first token
        ]
    )


def test_each_key_is_in_one_group_and_padding_in_none():
    groups = source_key_groups(hand_built_source(), 2, PAD, EOS)  # (B, m + n, G)
    memory, first, eos, rest = (GROUPS.index(g) for g in ("memory", "first", "eos", "rest"))
    assert groups.shape == (3, 7, 4)
    expected = torch.zeros(3, 7, dtype=torch.long)  # group per key, -1 at padding
    expected[:, :2] = memory
    expected[0, 2:] = torch.tensor([-1, -1, first, rest, eos])
    expected[1, 2:] = torch.tensor([first, rest, rest, rest, eos])
    expected[2, 2:] = torch.tensor([-1, -1, -1, -1, eos])
    got = torch.where(groups.sum(-1) > 0, groups.argmax(-1), -1)
    assert torch.equal(got, expected)
    assert (groups.sum(-1) <= 1).all()


def test_uniform_share_is_the_groups_keys_over_the_keys_seen():
    groups = source_key_groups(hand_built_source(), 2, PAD, EOS)
    got = uniform_shares(groups)  # (B, G): memory, first, eos, rest
    expected = torch.tensor(
        [[2 / 5, 1 / 5, 1 / 5, 1 / 5], [2 / 7, 1 / 7, 1 / 7, 3 / 7], [2 / 3, 0, 1 / 3, 0]]
    )
    torch.testing.assert_close(got, expected)
    no_memory = uniform_shares(source_key_groups(hand_built_source(), 0, PAD, EOS))
    torch.testing.assert_close(no_memory[:, 0], torch.zeros(3))


def attention_over(groups: torch.Tensor, heads: int, rows: int, seed: int = 0) -> torch.Tensor:
    """Random attention (B, H, rows, Tk) over the keys of ``groups``, none on padding."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(groups.size(0), heads, rows, groups.size(1), generator=gen)
    visible = groups.sum(-1) > 0  # (B, Tk)
    return scores.masked_fill(~visible[:, None, None, :], float("-inf")).softmax(-1)


def test_shares_sum_to_one_with_the_rest_and_uniform_attention_gives_the_uniform_share():
    groups = source_key_groups(hand_built_source(), 2, PAD, EOS)  # (3, 7, 4)
    rows = torch.tensor([[True] * 4, [True] * 4, [True, False, False, False]])  # (B, Tq)
    shares = group_shares(attention_over(groups, 4, 4), groups, rows)  # (B, H, G)
    torch.testing.assert_close(shares.sum(-1), torch.ones(3, 4))
    visible = groups.sum(-1, keepdim=True)  # (B, Tk, 1)
    even = (visible / visible.sum(1, keepdim=True)).transpose(1, 2)  # (B, 1, Tk)
    even = even[:, None].expand(-1, 4, 4, -1)  # (B, H, Tq, Tk)
    torch.testing.assert_close(
        group_shares(even, groups, rows), uniform_shares(groups)[:, None].expand(-1, 4, -1)
    )


def test_rows_that_do_not_count_do_not_count():
    groups = source_key_groups(hand_built_source(), 2, PAD, EOS)
    probs = attention_over(groups, 1, 2)
    eos = GROUPS.index("eos")
    probs[:, :, 1] = groups[:, :, eos][:, None]  # row 1 all on </s>
    only_first = group_shares(probs, groups, torch.tensor([[True, False]] * 3))
    both = group_shares(probs, groups, torch.tensor([[True, True]] * 3))
    torch.testing.assert_close(both, (only_first + torch.eye(4)[eos]) / 2)


def model_of(data, layout: str, *extra: str):
    arch = (
        ["--arch", "transformer"]
        if layout == "none"
        else ["--arch", TRANSLATION_ARCH[layout], "--mem-tokens", "3"]
    )
    model, task = build_model(data, *arch, *SMALL, *extra)
    return model.eval(), task


@pytest.mark.parametrize(
    ("layout", "extra"),
    [
        ("none", []),
        ("prepend", []),
        ("prepend", ["--mem-hide-from-decoder"]),
        ("ctrl_shared", []),
        ("bottleneck", []),
    ],
)
def test_a_whole_split_gives_shares_that_sum_to_one_per_layer_and_head(data, layout, extra):
    model, task = model_of(data, layout, *extra)
    table = sink_table(model, task, "valid", batch_size=64)  # 200 sentences, 4 batches
    assert (table["sentences"] == 200).all()
    assert len(table) == 2 * 2 * 4 * len(GROUPS)  # attention x layer x head x group
    sums = table.groupby(["attention", "layer", "head"])[["share", "uniform"]].sum()
    assert sums.to_numpy() == pytest.approx(1.0, abs=1e-6)
    memory = table[table["keys"] == "memory"].set_index("attention")
    if layout == "none":
        assert (memory[["share", "uniform"]] == 0).all().all()
    if layout == "bottleneck":  # its tokens and its decoder read the memory alone
        assert memory[["share", "uniform"]].to_numpy() == pytest.approx(1.0)
    if extra:  # the decoder does not see the memory
        assert (memory.loc["decoder", ["share", "uniform"]] == 0).all().all()


@pytest.mark.parametrize("layout", ["none", "prepend"])
def test_padding_changes_no_share(data, layout):
    """A sentence alone (no padding) and in batches of 64 (left- and right-padding) give
    the same table."""
    model, task = model_of(data, layout)
    alone = sink_table(model, task, "test", batch_size=1)
    batched = sink_table(model, task, "test", batch_size=64)
    assert batched[["share", "uniform"]].to_numpy() == pytest.approx(
        alone[["share", "uniform"]].to_numpy(), abs=1e-5
    )

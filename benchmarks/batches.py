"""The data every model runs on: fairseq batches, synthetic or fixed, and their shapes.

A batch is fairseq's translation sample: ``net_input`` holds ``src_tokens`` (B, n),
``src_lengths`` (B,) and ``prev_output_tokens`` (B, t); ``target`` is (B, t). n and t are
the padded lengths the models compute on (and the FLOP counter counts).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

Sample = dict[str, Any]  # one fairseq batch, as above


def write_dictionary(folder: Path, langs: tuple[str, str], size: int) -> None:
    """A fairseq dictionary of ``size`` words ``w0 ... w{size-1}`` for each language."""
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(f"w{i} {size - i}\n" for i in range(size))
    for lang in langs:
        (folder / f"dict.{lang}.txt").write_text(text)


def synthetic_dataset(vocab: Any, count: int, seed: int) -> Any:
    """Random sentence pairs whose lengths follow Multi30k's (about 16 +- 5 subwords)."""
    import torch
    from fairseq.data import LanguagePairDataset

    gen = torch.Generator().manual_seed(seed)
    first, last = vocab.nspecial, len(vocab)
    src_len = (torch.randn(count, generator=gen) * 5.4 + 16.7).round().clamp(4, 48).long()
    tgt_len = (src_len + (torch.randn(count, generator=gen) * 2).round()).clamp(4, 48).long()

    def sentence(length: int) -> Any:
        tokens = torch.randint(first, last, (length,), generator=gen)  # (length,)
        tokens[-1] = vocab.eos()
        return tokens

    src = [sentence(int(n)) for n in src_len]
    tgt = [sentence(int(n)) for n in tgt_len]
    return LanguagePairDataset(src, src_len.numpy(), vocab, tgt, tgt_len.numpy(), vocab)


def fixed_batch(vocab: Any, sentences: int, n: int, t: int, seed: int) -> Sample:
    """A batch without padding: ``sentences`` x ``n`` source and x ``t`` target tokens."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    first, last = vocab.nspecial, len(vocab)
    src = torch.randint(first, last, (sentences, n), generator=gen)  # (B, n)
    src[:, -1] = vocab.eos()
    target = torch.randint(first, last, (sentences, t), generator=gen)  # (B, t)
    target[:, -1] = vocab.eos()
    # teacher forcing: EOS, then the target shifted right by one  (B, t)
    prev = torch.cat([torch.full((sentences, 1), vocab.eos()), target[:, :-1]], dim=1)
    return {
        "id": torch.arange(sentences),
        "nsentences": sentences,
        "ntokens": sentences * t,
        "net_input": {
            "src_tokens": src,
            "src_lengths": torch.full((sentences,), n),
            "prev_output_tokens": prev,
        },
        "target": target,
    }


def with_extra_source(sample: Sample, m: int, vocab: Any, seed: int) -> Sample:
    """``sample`` with ``m`` random real tokens in front of every source (B, m + n).

    Same shapes and padding mask as ``[memory ; source]``: the equal-length reference.
    """
    import torch

    src = sample["net_input"]["src_tokens"]  # (B, n)
    gen = torch.Generator().manual_seed(seed)
    extra = torch.randint(vocab.nspecial, len(vocab), (src.size(0), m), generator=gen)  # (B, m)
    out = copy.copy(sample)
    out["net_input"] = {
        **sample["net_input"],
        "src_tokens": torch.cat([extra.to(src.device), src], dim=1),  # (B, m + n)
        "src_lengths": sample["net_input"]["src_lengths"] + m,
    }
    return out


def shapes_of(batches: list[Sample]) -> list[tuple[int, int, int]]:
    """(sentences, padded source length, padded target length) of each batch."""
    return [
        (
            b["net_input"]["src_tokens"].size(0),
            b["net_input"]["src_tokens"].size(1),
            b["target"].size(1),
        )
        for b in batches
    ]


def real_tokens(batches: list[Sample], pad: int) -> int:
    """Source plus target tokens that are not padding: the numerator of tokens/s."""
    return sum(
        int(b["net_input"]["src_tokens"].ne(pad).sum()) + int(b["target"].ne(pad).sum())
        for b in batches
    )

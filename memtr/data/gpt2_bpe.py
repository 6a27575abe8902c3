"""Byte-level BPE in the format of OpenAI's GPT-2 release (``encoder.json`` + ``vocab.bpe``).

The learner pre-tokenises with the regular expression of fairseq's GPT-2 ``Encoder`` and maps
bytes to symbols with its ``bytes_to_unicode``, so fairseq's own reader
(``fairseq.data.encoders.gpt2_bpe_utils.get_encoder``) loads the files and splits text into the
same pre-tokens the merges were learned on. Lines are stripped first, as fairseq's RoBERTa
encoder script (``examples/roberta/multiprocessing_bpe_encoder.py``) strips them.

Formats: ``vocab.bpe`` is ``#version: 0.2`` and then one merge ``a b`` a line, ending with a
newline; ``encoder.json`` maps token -> id: the 256 byte symbols in ``bytes_to_unicode`` order
(GPT-2's ids: printable bytes first), then each new merge result in merge order, then
``<|endoftext|>``. fairseq is imported only when needed (it loads torch).
"""

from __future__ import annotations

import functools
import heapq
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from memtr.common.textio import atomic_write_text

if TYPE_CHECKING:
    from fairseq.data.encoders.gpt2_bpe_utils import Encoder

ENCODER_JSON = "encoder.json"
VOCAB_BPE = "vocab.bpe"
END_OF_TEXT = "<|endoftext|>"
VERSION_LINE = "#version: 0.2"

Pair = tuple[str, str]


@functools.cache
def _utils() -> ModuleType:
    """fairseq's GPT-2 BPE module (imported on first use)."""
    from fairseq.data.encoders import gpt2_bpe_utils

    return gpt2_bpe_utils


def pretokens(lines: Iterable[str]) -> Counter[str]:
    """Count the byte-symbol pre-tokens of the stripped ``lines``, split as fairseq splits."""
    utils = _utils()
    pattern = utils.Encoder(encoder={}, bpe_merges=[]).pat  # the Encoder's own expression
    byte_map = utils.bytes_to_unicode()
    raw = Counter(tok for line in lines for tok in pattern.findall(line.strip()))
    return Counter({"".join(byte_map[b] for b in tok.encode("utf-8")): n for tok, n in raw.items()})


# --------------------------------------------------------------------------------------------
# learning


def _merge_word(word: tuple[str, ...], a: str, b: str) -> tuple[str, ...]:
    """``word`` with every ``a b`` merged, left to right (as fairseq's ``Encoder.bpe``)."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


class _PairStats:
    """Pair counts, the words that hold each pair, and a max-heap with lazy invalidation.

    The heap holds ``(-count, pair)``; an entry is stale when its count is no longer the pair's
    count (a fresh entry is pushed on every change). Equal counts pop the smallest pair first.
    """

    def __init__(self, words: list[tuple[str, ...]], freqs: list[int]) -> None:
        self.words, self.freqs = words, freqs
        self.counts: Counter[Pair] = Counter()
        self.where: dict[Pair, set[int]] = {}
        for wid, word in enumerate(words):
            self._add(wid, word, freqs[wid])
        self.heap = [(-n, pair) for pair, n in self.counts.items()]
        heapq.heapify(self.heap)

    def _add(self, wid: int, word: tuple[str, ...], freq: int) -> None:
        for pair in zip(word, word[1:], strict=False):
            self.counts[pair] += freq
            self.where.setdefault(pair, set()).add(wid)

    def best(self) -> tuple[Pair, int] | None:
        """The most frequent pair and its count (``None`` when no pair is left)."""
        while self.heap:
            neg, pair = self.heap[0]
            if self.counts.get(pair, 0) == -neg:
                return pair, -neg
            heapq.heappop(self.heap)
        return None

    def merge(self, pair: Pair) -> None:
        """Merge ``pair`` in the words that hold it and update the counts of their pairs."""
        a, b = pair
        changed: set[Pair] = set()
        for wid in self.where.pop(pair, set()):
            old = self.words[wid]
            new = _merge_word(old, a, b)
            if new == old:  # a stale index entry
                continue
            freq = self.freqs[wid]
            for p in zip(old, old[1:], strict=False):
                self.counts[p] -= freq
            self._add(wid, new, freq)
            changed.update(zip(old, old[1:], strict=False), zip(new, new[1:], strict=False))
            self.words[wid] = new
        self.counts.pop(pair, None)
        changed.discard(pair)
        for p in changed:
            if (n := self.counts[p]) > 0:
                heapq.heappush(self.heap, (-n, p))
            else:
                self.counts.pop(p, None)
                self.where.pop(p, None)


def learn_merges(counts: Counter[str], merges: int) -> list[Pair]:
    """Learn up to ``merges`` merges from pre-token counts; stop when no pair occurs twice.

    A pair that is already a merge (it can come back when two merges spell the same token)
    is merged again in the words but not listed twice.
    """
    stats = _PairStats([tuple(w) for w in counts], list(counts.values()))
    learned: list[Pair] = []
    seen: set[Pair] = set()
    while len(learned) < merges and (top := stats.best()) is not None and top[1] >= 2:
        pair = top[0]
        stats.merge(pair)
        if pair not in seen:
            seen.add(pair)
            learned.append(pair)
    return learned


def build_encoder(merges: list[Pair]) -> dict[str, int]:
    """Token -> id: the byte symbols, each new merge result, then ``<|endoftext|>``."""
    encoder = {sym: i for i, sym in enumerate(_utils().bytes_to_unicode().values())}
    for a, b in merges:
        encoder.setdefault(a + b, len(encoder))  # two merges may spell one token
    encoder[END_OF_TEXT] = len(encoder)
    return encoder


def write_gpt2_bpe(merges: list[Pair], out: Path) -> dict[str, int]:
    """Write ``out/encoder.json`` and ``out/vocab.bpe``; return the encoder."""
    encoder = build_encoder(merges)
    bpe = "".join(f"{a} {b}\n" for a, b in merges)
    atomic_write_text(out / VOCAB_BPE, f"{VERSION_LINE}\n{bpe}")
    atomic_write_text(out / ENCODER_JSON, json.dumps(encoder))  # ASCII: read in any locale
    return encoder


def learn_gpt2_bpe(lines: Iterable[str], merges: int, out: Path) -> dict:
    """Learn up to ``merges`` byte-level merges from ``lines`` and write them to ``out``.

    Returns ``{"merges": learned, "vocab_size": tokens in encoder.json, "pretokens": distinct
    pre-tokens}``.
    """
    counts = pretokens(lines)
    learned = learn_merges(counts, merges)
    encoder = write_gpt2_bpe(learned, Path(out))
    return {"merges": len(learned), "vocab_size": len(encoder), "pretokens": len(counts)}


# --------------------------------------------------------------------------------------------
# encoding


def gpt2_encoder(folder_or_paths: Path | str | tuple[Path | str, Path | str]) -> Encoder:
    """fairseq's GPT-2 ``Encoder`` of a folder, or of ``(encoder.json, vocab.bpe)`` paths."""
    if isinstance(folder_or_paths, tuple):
        encoder_json, vocab_bpe = map(Path, folder_or_paths)
    else:
        encoder_json = Path(folder_or_paths) / ENCODER_JSON
        vocab_bpe = Path(folder_or_paths) / VOCAB_BPE
    return _utils().get_encoder(str(encoder_json), str(vocab_bpe))


def encode_gpt2(encoder: Encoder, lines: Iterable[str], keep_empty: bool = True) -> Iterator[str]:
    """Yield each stripped line as space-separated token ids, as fairseq's RoBERTa script does.

    An empty line stays empty (the script's ``--keep-empty``); with ``keep_empty=False`` it
    is dropped, as the script does by default.
    """
    for line in lines:
        line = line.strip()
        if line or keep_empty:
            yield " ".join(map(str, encoder.encode(line)))

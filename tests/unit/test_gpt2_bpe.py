"""The GPT-2 byte-level BPE (memtr/data/gpt2_bpe.py): files in the format of OpenAI's release
that fairseq's own ``get_encoder`` reads, merges as a naive learner picks them, lossless
encoding, and the output format of fairseq's RoBERTa encoder script."""

from __future__ import annotations

import json
import random
from collections import Counter
from itertools import islice
from pathlib import Path

import pytest
from data_helpers import shared_data

from memtr.common.textio import read_lines
from memtr.data.gpt2_bpe import (
    END_OF_TEXT,
    encode_gpt2,
    gpt2_encoder,
    learn_gpt2_bpe,
    learn_merges,
    pretokens,
)

WORDS = ["the", "memory", "transformer", "tokens", "of", "a", "layer", "Zürich", "naïve", "東京"]
MERGES = 60  # the corpus has fewer than 100 pairs that occur twice
ODD_TEXT = [
    "  leading and trailing spaces  ",
    "digits 0123456789 and 3.14159, 2,000,000",
    "punctuation: (!?) [..] {;} -- 'quotes' \"double\" @-@ it's we're",
    "unicode: Ωμέγα, Привет, こんにちは, emoji 🦜🚀, combining é, tab\tinside",
    "words never seen: quixotic zephyr",
]


def corpus(lines: int = 400, seed: int = 0) -> list[str]:
    """Lines of Zipf-distributed words, with digits and punctuation."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    out = []
    for _ in range(lines):
        words = rng.choices(WORDS, weights, k=rng.randint(3, 12))
        out.append(" ".join(words) + rng.choice([" .", " ,", f" {rng.randint(0, 999)}", "!"]))
    return out


@pytest.fixture(scope="module")
def learned(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bpe")
    return out, learn_gpt2_bpe(corpus(), MERGES, out)


def naive_merges(lines: list[str], merges: int) -> list[tuple[str, str]]:
    """Recount every pair after each merge; the most frequent, the smallest on ties."""
    words = {tuple(w): n for w, n in pretokens(lines).items()}
    out = []
    while len(out) < merges:
        pairs = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:], strict=False):
                pairs[pair] += n
        if not pairs or max(pairs.values()) < 2:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        out.append(best)
        words = {merge(w, best): n for w, n in words.items()}
    return out


def merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(word):
        if word[i : i + 2] == pair:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def test_files_have_the_gpt2_format(learned):
    out, stats = learned
    bpe = (out / "vocab.bpe").read_text(encoding="utf-8")
    assert bpe.startswith("#version: 0.2\n") and bpe.endswith("\n")
    assert len(bpe.split("\n")[1:-1]) == stats["merges"] == MERGES
    assert all(len(line.split(" ")) == 2 for line in bpe.split("\n")[1:-1])
    encoder = json.loads((out / "encoder.json").read_text(encoding="utf-8"))
    assert sorted(encoder.values()) == list(range(stats["vocab_size"]))
    assert list(encoder)[-1] == END_OF_TEXT and list(encoder)[220] == "Ġ"  # GPT-2's ids
    assert (out / "encoder.json").read_bytes().isascii()


def test_fairseq_get_encoder_reads_the_files(learned):
    out, stats = learned
    for encoder in (gpt2_encoder(out), gpt2_encoder((out / "encoder.json", out / "vocab.bpe"))):
        assert len(encoder.encoder) == stats["vocab_size"] and len(encoder.bpe_ranks) == MERGES
        assert encoder.decode(encoder.encode(corpus()[0])) == corpus()[0]


def test_decode_inverts_encode_on_varied_text(learned):
    encoder = gpt2_encoder(learned[0])
    for text in [*ODD_TEXT, *corpus(20, seed=1), " x", "\n\n", ""]:
        assert encoder.decode(encoder.encode(text)) == text


def test_frequent_words_become_single_tokens(learned):
    encoder = gpt2_encoder(learned[0])
    for word in WORDS[:5]:
        assert len(encoder.encode(f"{word} {word}")) == 2, word
    assert len(encoder.encode("quixotic")) > 1


def test_learning_is_deterministic(learned, tmp_path):
    out, stats = learned
    assert learn_gpt2_bpe(corpus(), MERGES, tmp_path) == stats
    for name in ("encoder.json", "vocab.bpe"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()


def test_first_merges_are_the_most_frequent_pairs(tmp_path):
    # one word a line, so no "Ġ"; e s and s t both occur 9 times: the smaller pair wins
    lines = ["low"] * 5 + ["lower"] * 2 + ["newest"] * 6 + ["widest"] * 3
    learn_gpt2_bpe(lines, 3, tmp_path)
    bpe = (tmp_path / "vocab.bpe").read_text(encoding="utf-8").split("\n")[1:-1]
    assert bpe == ["e s", "es t", "l o"]


def babble(lines: int, seed: int = 0) -> list[str]:
    """Random words over four letters: many words share each pair, so counts shift a lot."""
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcd", k=rng.randint(1, 9))) for _ in range(lines * 4)]
    return [" ".join(rng.sample(words, rng.randint(1, 8))) for _ in range(lines)]


def test_the_heap_learner_picks_what_recounting_picks():
    lines = [*babble(300), *corpus(100, seed=2), *ODD_TEXT, "aaaa aaa aa abab"]
    assert learn_merges(pretokens(lines), 150) == naive_merges(lines, 150)


def test_merge_count_is_respected_and_learning_stops_when_no_pair_repeats(tmp_path):
    assert learn_gpt2_bpe(corpus(), 7, tmp_path / "seven")["merges"] == 7
    assert learn_gpt2_bpe(["abc"], 10, tmp_path / "none") == {
        "merges": 0,
        "vocab_size": 257,
        "pretokens": 1,
    }
    assert learn_gpt2_bpe(["abab"], 10, tmp_path / "one")["merges"] == 1  # then ab ab once


def test_encode_gpt2_writes_the_roberta_script_format(learned):
    encoder = gpt2_encoder(learned[0])
    lines = ["  the memory  ", "", "   ", "東京 42!"]
    expected = [" ".join(map(str, encoder.encode(line.strip()))) for line in lines]
    assert list(encode_gpt2(encoder, lines)) == expected
    assert expected[0] == " ".join(map(str, encoder.encode("the memory")))
    assert expected[1] == expected[2] == ""
    assert list(encode_gpt2(encoder, lines, keep_empty=False)) == [expected[0], expected[3]]


def test_wikitext2_lines_round_trip(tmp_path):
    train = shared_data() / "wikitext-2" / "wiki.train.tokens"
    lines = list(islice(read_lines(train), 300))
    stats = learn_gpt2_bpe(lines, 500, tmp_path)
    encoder = gpt2_encoder(tmp_path)
    encoded = list(encode_gpt2(encoder, lines))
    assert stats["merges"] == 500
    assert [encoder.decode(map(int, ids.split())) for ids in encoded] == [x.strip() for x in lines]
    assert sum(len(ids.split()) for ids in encoded) < sum(len(x.encode()) for x in lines) / 2

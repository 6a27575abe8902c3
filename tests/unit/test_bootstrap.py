"""The example-level paired bootstrap (memtr.stats.paired_bootstrap), the same for every task:
two-sided, centred, the mean over seeds of the differences; each task's wrapper is the generic
test on that task's per-example contributions; and how it differs from sacrebleu's test."""

from __future__ import annotations

import random

import numpy as np
import pytest

from memtr.scoring.language_modeling import paired_bootstrap_perplexity, perplexity_of
from memtr.scoring.translation import bleu_of, paired_bootstrap_bleu, sentence_statistics
from memtr.stats import accuracy, of_gold, paired_bootstrap, with_gold

RESAMPLES = 200
FLOOR = 1 / (RESAMPLES + 1)  # no resample as far from 0 as the observed difference


def sentences(n: int = 120, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(30)]
    return [" ".join(rng.choices(words, k=rng.randint(5, 12))) for _ in range(n)]


def garbled(lines: list[str], share: float, seed: int) -> list[str]:
    """``lines`` with about ``share`` of their words replaced."""
    rng = random.Random(seed)
    return [" ".join(w if rng.random() > share else "xx" for w in line.split()) for line in lines]


def test_identical_systems_give_p_one_and_a_large_shift_the_floor():
    rng = np.random.default_rng(0)
    right = (rng.random((3, 300, 1)) < 0.7).astype(float)  # (seeds, examples, 1)
    worse = right.copy()
    worse[:, :90] = 0
    score = lambda x: x[..., 0].mean(axis=-1)  # noqa: E731
    assert paired_bootstrap(score, right, right, RESAMPLES)["p"] == 1.0
    found = paired_bootstrap(score, right, worse, RESAMPLES)
    assert found["p"] == pytest.approx(FLOOR)
    assert found["delta"] == pytest.approx(np.mean(score(right) - score(worse)))
    assert paired_bootstrap(score, worse, right, RESAMPLES)["p"] == pytest.approx(FLOOR)


def test_translation_resamples_sentences_and_scores_corpus_bleu():
    refs = sentences()
    good = [refs, garbled(refs, 0.1, 1), garbled(refs, 0.1, 2)]
    bad = [garbled(refs, 0.5, s) for s in (3, 4, 5)]
    stats = sentence_statistics(good[1], refs, "13a")
    import sacrebleu

    exact = sacrebleu.metrics.BLEU(tokenize="13a").corpus_score(good[1], [refs]).score
    assert bleu_of(stats) == pytest.approx(exact)
    assert paired_bootstrap_bleu(good, good, refs, "13a", RESAMPLES)["p"] == 1.0
    found = paired_bootstrap_bleu(good, bad, refs, "13a", RESAMPLES)
    assert found["p"] == pytest.approx(FLOOR)
    per_seed = [bleu_of(sentence_statistics(h, refs, "13a")) for h in good + bad]
    assert found["delta"] == pytest.approx(np.mean(per_seed[:3]) - np.mean(per_seed[3:]))


def test_language_modelling_resamples_segments():
    rng = np.random.default_rng(0)
    tokens = rng.integers(20, 65, size=300)
    nll = tokens * rng.normal(5.0, 0.5, size=300)
    base = [[(i % 16, x + s, n) for i, (x, n) in enumerate(zip(nll, tokens, strict=True))]
            for s in range(3)]  # fmt: skip
    better = [[(r, x - 0.2 * n, n) for r, x, n in seed] for seed in base]
    assert paired_bootstrap_perplexity(base, base, RESAMPLES)["p"] == 1.0
    found = paired_bootstrap_perplexity(better, base, RESAMPLES)
    assert found["p"] == pytest.approx(FLOOR) and found["delta"] < 0
    pairs = np.stack([nll, tokens], axis=1)
    assert perplexity_of(pairs) == pytest.approx(np.exp(nll.sum() / tokens.sum()))
    with pytest.raises(ValueError, match="scored other segments"):
        paired_bootstrap_perplexity([s[1:] for s in base], [s[:-1] for s in base], 10)


def test_every_path_is_the_generic_test_on_the_same_resamples():
    """Accuracy as a mean of per-example correctness and as a metric of (prediction, gold)
    resample the same examples: one p, one Δ."""
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 2, 400)
    a = np.stack([np.where(rng.random(400) < 0.8, gold, 1 - gold) for _ in range(3)])
    b = np.stack([np.where(rng.random(400) < 0.75, gold, 1 - gold) for _ in range(3)])
    as_metric = paired_bootstrap(of_gold(accuracy), with_gold(a, gold), with_gold(b, gold), 300)
    right = lambda x: (x == gold).astype(float)[..., None]  # noqa: E731
    as_mean = paired_bootstrap(lambda x: x[..., 0].mean(axis=-1), right(a), right(b), 300)
    assert as_metric == pytest.approx(as_mean)


def test_two_sided_where_sacrebleus_test_behaves_one_sided(monkeypatch):
    """On one fixed pair of systems, sacrebleu's paired bootstrap centres the absolute
    differences and counts those strictly above |observed|: one tail. Ours counts both tails
    of the centred signed differences, so its p is about twice sacrebleu's."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    refs = sentences(300)
    system, baseline = garbled(refs, 0.30, 7), garbled(refs, 0.35, 8)
    monkeypatch.setenv("SACREBLEU_SEED", "12345")  # sacrebleu's own fixed seed, made explicit
    test = PairedTest([("baseline", baseline), ("system", system)], {"BLEU": BLEU()},
                      references=[refs], test_type="bs", n_samples=1000)  # fmt: skip
    _, scores = test()
    theirs = scores["BLEU"][1].p_value
    ours = paired_bootstrap_bleu([system], [baseline], refs, "13a", 1000)["p"]
    assert theirs < 0.1 < ours  # at 0.1, sacrebleu's reads significant, the two-sided not
    assert 1.3 < ours / theirs < 3.0

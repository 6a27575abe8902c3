"""Memory interventions decoded and scored as the evaluate stage does (memtr/analysis), on the
session's tiny trained translation models (conftest.tiny_models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairseq_plugins.modules.memory import MemoryTokens
from memtr.analysis.interventions import (
    MEAN_FILE,
    TABLE_FILE,
    hyps_file,
    paired_effects,
    read_hypotheses,
    run_interventions,
)
from memtr.common.textio import read_lines
from memtr.specs.translation import TranslationEval
from memtr.tasks.translation import generate

pytestmark = pytest.mark.slow

# The evaluate stage's search, in batches of 32 sentences (the swap has neighbours to swap).
EV = TranslationEval(
    splits=("test",), batch_size=32, bootstrap_resamples=200, beam=3, lenpen=1.0,
    max_len_a=1.0, max_len_b=5, sacrebleu_tokenize="none",
)  # fmt: skip


@pytest.fixture(scope="module")
def corpus(reverse_corpus: Path) -> tuple[Path, list[str]]:
    """The binarized reversal task and the references of its test split."""
    return reverse_corpus / "bin", list(read_lines(reverse_corpus / "raw" / "test.tgt"))


def interventions(checkpoint: Path, corpus, out: Path, specs=None):
    data, refs = corpus
    return run_interventions(checkpoint, data, "test", refs, EV, out, specs, bpe=False)


def test_zeroing_the_memory_of_a_trained_model_changes_its_output(tiny_models, corpus, tmp_path):
    """The intact model's hypotheses are the evaluate stage's; zeroed memory changes them and
    costs BLEU, which the paired bootstrap over sentences finds."""
    checkpoint = tiny_models("prepend")["prepend"].checkpoint
    table = interventions(checkpoint, corpus, tmp_path, ["none", "zero"]).set_index("intervention")
    intact, zeroed = read_hypotheses(tmp_path, "none"), read_hypotheses(tmp_path, "zero")
    data, refs = corpus
    assert intact == generate(checkpoint, data, "test", EV, bpe=False, threads=1)
    assert len(intact) == len(zeroed) == len(refs) == table.loc["zero", "sentences"] == 100
    assert intact != zeroed
    assert table.loc["zero", "bleu"] < table.loc["none", "bleu"] - 5
    effects = paired_effects({"none": [intact], "zero": [zeroed]}, refs, "none", 200)
    assert effects["intervention"].tolist() == ["zero"]
    assert effects["delta"].iloc[0] < -5 and effects["p"].iloc[0] < 0.05
    assert (tmp_path / TABLE_FILE).is_file() and not (tmp_path / MEAN_FILE).exists()


def test_removing_the_memory_of_a_model_without_memory_changes_nothing(
    tiny_models, corpus, tmp_path
):
    table = interventions(tiny_models("nomem")["nomem"].checkpoint, corpus, tmp_path)
    assert table["intervention"].tolist() == ["none", "remove"]  # all that m = 0 defines
    assert read_hypotheses(tmp_path, "remove") == read_hypotheses(tmp_path, "none")
    assert table["bleu"].nunique() == 1


def test_memory_hidden_from_everything_scores_the_same_under_every_intervention(
    tiny_models, corpus, tmp_path, monkeypatch
):
    """The trained prepend model with its memory marked as padding (no token and no decoder
    step attends to it; fairseq-generate runs in this process): every intervention decodes
    the same hypotheses."""
    original = MemoryTokens.prepend

    def prepend_as_padding(self, x, padding_mask):
        out, mask = original(self, x, padding_mask)
        mask[:, : self.num_tokens] = True  # (B, m + n): hidden from every row
        return out, mask

    monkeypatch.setattr(MemoryTokens, "prepend", prepend_as_padding)
    model = tiny_models("prepend")["prepend"]
    last = f"knockout={model.mem_tokens - 1}"  # the first and last slots (all: unit tests)
    specs = ["none", "zero", "swap", "mean", "hide", "knockout=0", last, "remove"]
    table = interventions(model.checkpoint, corpus, tmp_path, specs)
    assert table["intervention"].tolist() == specs
    intact = read_hypotheses(tmp_path, "none")
    for spec in specs:
        assert read_hypotheses(tmp_path, spec) == intact, spec
    assert table["bleu"].nunique() == 1 and table["chrf"].nunique() == 1
    assert hyps_file(tmp_path, last).name == f"hyps.knockout{model.mem_tokens - 1}.txt"
    assert (tmp_path / MEAN_FILE).is_file()


def test_an_intervention_the_layout_does_not_define_fails_before_decoding(
    tiny_models, corpus, tmp_path
):
    from fairseq_plugins.modules.intervention import InterventionError

    checkpoint = tiny_models("bottleneck")["bottleneck"].checkpoint
    with pytest.raises(InterventionError, match="hide is not defined for layout bottleneck"):
        interventions(checkpoint, corpus, tmp_path, ["none", "hide"])
    assert not list(tmp_path.iterdir())

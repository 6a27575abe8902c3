"""Translation's declaration: fairseq's translation architectures, sacrebleu BLEU, beam search
settings."""

from __future__ import annotations

from memspec import TRANSLATION_ARCH
from memtr.common.errors import ConfigError
from memtr.settings import EvalSettings, Number
from memtr.specs.base import TaskSpec


class TranslationEval(EvalSettings):
    """``eval`` of translation: beam search and sacrebleu's tokenizer."""

    beam: int
    """Beam size of fairseq-generate."""
    lenpen: Number
    """Length penalty of the beam search."""
    max_len_a: Number
    """Hypotheses are at most max_len_a * source length + max_len_b subwords."""
    max_len_b: int
    """See max_len_a."""
    sacrebleu_tokenize: str
    """sacrebleu's tokenizer (13a, intl, zh, ...)."""


class TranslationSpec(TaskSpec):
    name = "translation"
    noun = "translation"
    title = "Machine translation"
    dataset_kinds = ("mt", "synthetic")
    sizes = ("base", "tiny", "iwslt_de_en", "wmt_en_de", "vaswani_wmt_en_de_big")
    arch_prefix = {"none": "transformer", **TRANSLATION_ARCH}
    metric, metric_label, paper_section = "bleu", "BLEU", "mt"
    examples = "test sentences"
    # ±1 BLEU: below it, system rankings by BLEU often disagree with human judgement
    # (Kocmi et al., 2021, "To Ship or Not to Ship"); a smaller gain is no claim of the paper.
    default_margin = 1.0
    eval_settings = TranslationEval
    uses_segments = False
    label_smoothing = True
    hidden_columns = ("bleu_signature",)

    def splits_error(self, splits: list) -> str:
        return f"eval.splits must list valid and/or test, got {splits!r}"

    def check_eval(self, ev: TranslationEval) -> None:
        from sacrebleu.metrics.bleu import _TOKENIZERS

        if ev.beam <= 0:
            raise ConfigError(f"eval.beam must be > 0, got {ev.beam}")
        for key in ("max_len_a", "max_len_b"):
            if getattr(ev, key) < 0:
                raise ConfigError(f"eval.{key} must be >= 0, got {getattr(ev, key)}")
        if ev.sacrebleu_tokenize not in _TOKENIZERS:
            raise ConfigError(
                f"eval.sacrebleu_tokenize must be one of {', '.join(_TOKENIZERS)}, "
                f"got {ev.sacrebleu_tokenize!r}"
            )

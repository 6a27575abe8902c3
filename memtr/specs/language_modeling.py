"""Language modelling's declaration: the plugin's memory LM, perplexity (lower is better)."""

from __future__ import annotations

from memspec import LM_MODEL
from memtr.specs.base import TaskSpec


class LanguageModelingSpec(TaskSpec):
    name = "language_modeling"
    noun = "language models"
    title = "Language modelling"
    dataset_kinds = ("lm",)
    sizes = ("base", "tiny", "big", "wiki103")
    arch_prefix = {"none": "transformer_lm", "prepend": LM_MODEL}
    metric, metric_label, paper_section = "ppl", "perplexity", "lm"
    examples = "test segments"
    # ±3 perplexity points: about 1% of the CPU-scale WikiText-2 models' test perplexity
    # (about 300); a model of another scale wants its own eval.equivalence_margin.
    default_margin = 3.0
    higher_is_better = False
    recurrent_memory = True

"""The sections of ``params.yaml`` as frozen, typed settings: one model per section.

Types only: the checks that a file's values make sense together live in ``memtr/config/``,
which parses the YAML once into these models (the ``data`` section is
:class:`memtr.datasets.params.DataParams`). A function takes the sections it reads, e.g.
``train_command(train: TrainSettings, model: ModelSettings, ...)``, never the whole file.
The JSON Schema of ``params.yaml`` (``params.schema.json``) is generated from these models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from memtr.common.paths import PRETRAIN_ROOT
from memtr.datasets.subwords import FROM_PRETRAIN  # train.restore_file: pretrain too

NO_PRETRAIN = "none"  # pretrain.name of an experiment without the pretrain stage
Number = int | float  # a YAML number: an integer stays an integer (fairseq prints it so)


class Section(BaseModel):
    """A section of ``params.yaml``: frozen, no unknown keys, each field documented."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class ModelSettings(Section):
    """``model``: the fairseq size preset and the options every variant shares."""

    size: str
    """fairseq size preset: the task's sizes (e.g. base | iwslt_de_en | wmt_en_de for translation)."""
    args: dict[str, Any]
    """fairseq model options of every variant, e.g. encoder_layers: 2 (override the preset)."""


class Variant(Section):
    """One model of the study: a name, a memory layout, its size and per-variant budget."""

    name: str
    """The variant's key under ``variants``."""
    layout: str
    """Memory layout: none (the baseline) | prepend | ctrl | ctrl_shared | bottleneck."""
    mem_tokens: int
    """Number of memory tokens (0 for the baseline)."""
    recurrent: bool = False
    """Language models: carry the memory from one segment to the next."""
    max_update: int | None = None
    """This variant's training updates, replacing ``train.max_update`` (equal compute)."""


class ExperimentSettings(Section):
    """``experiment``: what is trained and compared."""

    name: str
    """Outputs go to runs/<name>/, metrics/<name>/, results/<name>/."""
    variants: tuple[str, ...]
    """The variants trained and compared (names under ``variants``)."""
    seeds: tuple[int, ...]
    """Training seeds; seed s of one variant is paired with seed s of another."""
    reference: str
    """The variant the others are tested against."""
    equal_compute: dict[str, str] | None = None
    """variant -> the baseline trained with the same compute (a longer max_update)."""


class PretrainSettings(Section):
    """``pretrain``: a masked LM the pipeline pre-trains for classification (``name: none``:
    no pre-training, and no other key)."""

    name: str = NO_PRETRAIN
    """Folder pretrain/<name>/ that experiments share; none: no pre-training."""
    corpus: str | None = None
    """A language-modelling dataset (registry or data.datasets) to pre-train on."""
    bpe_merges: int | None = None
    """Byte-level BPE merges learned on the corpus."""
    tokens_per_sample: int | None = None
    """Tokens per training sample (the model's positions)."""
    dropout: Number | None = None
    """Dropout of the masked LM."""
    max_update: int | None = None
    """Pre-training updates."""
    max_tokens: int | None = None
    """Tokens per batch."""
    lr: Number | None = None
    """Peak learning rate."""
    warmup_updates: int | None = None
    """Linear warm-up updates (below max_update)."""
    weight_decay: Number | None = None
    """AdamW weight decay."""
    mask_prob: Number | None = None
    """Share of tokens masked, in (0, 1)."""
    validate_interval_updates: int | None = None
    """Validate every this many updates (0: once per epoch)."""
    seed: int | None = None
    """Pre-training seed."""
    extra_args: tuple[str, ...] | None = None
    """More fairseq-train options."""
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    """fp32 | fp16 (loss scaling) | bf16; refused where the machine cannot run it."""


class TrainSettings(Section):
    """``train``: how each variant is trained (the same for all, except a variant's own
    ``max_update``)."""

    max_update: int
    """Training updates (a variant's max_update replaces it)."""
    max_tokens: int
    """Tokens per batch."""
    lr: Number
    """Peak learning rate (inverse square root schedule)."""
    warmup_updates: int
    """Linear warm-up updates; must be below max_update."""
    dropout: Number
    """Dropout, in [0, 1)."""
    label_smoothing: Number
    """Label smoothing, in [0, 1) (translation; 0 for the other tasks)."""
    weight_decay: Number
    """Adam weight decay."""
    clip_norm: Number
    """Gradient clipping norm (0: none)."""
    validate_interval_updates: int
    """Validate (and save checkpoint_best.pt) every this many updates (0: per epoch)."""
    threads: int
    """OpenMP threads of one training job (warned when above the cores the process may use)."""
    extra_args: tuple[str, ...]
    """More fairseq-train options, e.g. ["--update-freq", "2"]."""
    tokens_per_sample: int | None = None
    """Language modelling and classification: tokens per sample (positions)."""
    restore_file: str | None = None
    """Classification: a pre-trained checkpoint to fine-tune, or pretrain (the pretrain stage's)."""
    patience: int | None = None
    """Stop after this many validations without improvement (none: train to max_update)."""
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    """fp32 | fp16 (loss scaling) | bf16; refused where the machine cannot run it."""
    tensorboard: bool = False
    """Also log to TensorBoard (fairseq's --tensorboard-logdir): runs/<e>/<v>/seed<k>/tensorboard/;
    needs the tensorboard package (refused in one line without it)."""

    def budget(self, variant: Variant) -> int:
        """Training updates of ``variant``: its own budget, else ``max_update``."""
        return variant.max_update or self.max_update


class EvalSettings(Section):
    """``eval``: how trained models are scored and compared (keys common to every task; a
    task's spec may add its own, e.g. translation's beam)."""

    splits: tuple[str, ...]
    """Splits scored: valid and/or test (classification: valid, GLUE's test labels are private)."""
    batch_size: int
    """Sentences (segments, examples) per evaluation batch."""
    bootstrap_resamples: int
    """Resamples of the paired bootstrap over test examples."""
    extra_test: tuple[str | dict[str, Any], ...] | None = None
    """More test sets: registry names or declarations (docs/own-data.md)."""
    equivalence_margin: Number | None = None
    """±δ of the equivalence test in the metric's units; none: the task's default."""


class AttentionSettings(Section):
    """``attention``: which models' attention over memory is recorded and drawn."""

    num_sentences: int
    """Sample sentences from the test split."""
    seeds: tuple[int, ...]
    """Which seeds' models are plotted (a subset of experiment.seeds)."""


def run_variants(experiment: ExperimentSettings, variants: dict[str, Variant]) -> list[Variant]:
    """The variants ``experiment`` trains, in its order."""
    return [variants[name] for name in experiment.variants]


def eval_labels(ev: EvalSettings) -> list[str]:
    """What the evaluate stage scores: ``eval.splits``, then the extra test sets' labels."""
    from memtr.datasets.extra_sets import extra_labels

    return [*ev.splits, *extra_labels(list(ev.extra_test or []))]


def pretrain_dir(pretrain: PretrainSettings) -> Path | None:
    """The pretrain stage's release-shaped folder (encoder.json, vocab.bpe, dict.txt,
    model.pt), or None without pre-training."""
    return None if pretrain.name == NO_PRETRAIN else PRETRAIN_ROOT / pretrain.name / "model"


def restore_file(train: TrainSettings, pretrain: PretrainSettings) -> str | None:
    """The checkpoint fine-tuning starts from: ``train.restore_file`` with ``pretrain`` read
    as the pretrain stage's model."""
    if train.restore_file == FROM_PRETRAIN:
        folder = pretrain_dir(pretrain)
        assert folder is not None  # the loader refuses it otherwise
        return str(folder / "model.pt")
    return train.restore_file

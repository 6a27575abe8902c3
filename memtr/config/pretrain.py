"""The ``pretrain`` section: a masked LM that the pipeline pre-trains for classification.

``name: none`` turns the stage off (it then writes an empty marker folder); any other name
is the folder ``pretrain/<name>/`` that experiments share, and every key is required.
"""

from __future__ import annotations

from typing import Any

from memtr.common.errors import ConfigError
from memtr.config.schema import check_extra_args, check_precision, field_kinds, positive, require
from memtr.datasets.params import DataParams, named_dataset
from memtr.datasets.registry import DATASETS
from memtr.settings import FROM_PRETRAIN, NO_PRETRAIN, PretrainSettings
from memtr.specs import allowed_for
from memtr.specs.base import TaskSpec

# every key of a pre-training (all required unless name is none) and the optional ones
_, PRETRAIN_KEYS = field_kinds(PretrainSettings, "name", "precision")
_, PRETRAIN_OPTIONAL = field_kinds(PretrainSettings, *PRETRAIN_KEYS, "name")


def parse_pretrain(section: Any, data: DataParams, task: TaskSpec) -> dict:
    """The ``pretrain`` section: ``name: none``, or a masked LM to pre-train (every key)."""
    optional = {**PRETRAIN_KEYS, **PRETRAIN_OPTIONAL}
    name = require(section, "pretrain", {"name": str}, optional)["name"]
    if name == NO_PRETRAIN:
        return section
    if not name.replace("_", "").isalnum():
        raise ConfigError(f"pretrain.name {name!r} must use letters, digits and _ only")
    if not task.restores_encoder:
        raise ConfigError(
            f"pretrain (a masked LM) applies to {allowed_for('restores_encoder')}; "
            f"set pretrain.name: {NO_PRETRAIN} for {task.name}"
        )
    pretrain = require(section, "pretrain", {"name": str, **PRETRAIN_KEYS}, PRETRAIN_OPTIONAL)
    positive(pretrain, "pretrain", "bpe_merges", "tokens_per_sample", "max_update", "max_tokens",
             "lr")  # fmt: skip
    if not 0 <= pretrain["dropout"] < 1:
        raise ConfigError(f"pretrain.dropout must be in [0, 1), got {pretrain['dropout']}")
    positive(pretrain, "pretrain", "warmup_updates", "weight_decay", "validate_interval_updates",
              "seed", allow_zero=True)  # fmt: skip
    if not 0 < pretrain["mask_prob"] < 1:
        raise ConfigError(f"pretrain.mask_prob must be in (0, 1), got {pretrain['mask_prob']}")
    if pretrain["warmup_updates"] >= pretrain["max_update"]:
        raise ConfigError("pretrain.warmup_updates must be below pretrain.max_update")
    corpus = pretrain["corpus"]
    kind = named_kind(corpus, data)
    if kind != "lm":
        raise ConfigError(
            f"pretrain.corpus {corpus!r} must be a language-modelling corpus (registry "
            f"wikitext2, wikitext103, or a data.datasets entry of task language_modeling)"
            + ("" if kind is None else f"; it is of kind {kind}")
        )
    if not all(isinstance(a, str) for a in pretrain["extra_args"]):
        raise ConfigError("pretrain.extra_args must be a list of strings")
    check_extra_args(pretrain["extra_args"], "pretrain.extra_args")
    check_precision(pretrain, "pretrain")
    return pretrain


def named_kind(name: str, data: DataParams) -> str | None:
    """The registry kind of dataset ``name`` (declared or registry), None if unknown."""
    if name not in DATASETS and name not in data.datasets:
        return None
    return named_dataset(name, data.datasets).kind


def check_pretrained_inputs(data: DataParams, pretrain: dict, train: dict) -> None:
    """``gpt2_bpe: pretrain`` and ``restore_file: pretrain`` need the stage; fine-tuning
    the pre-trained model needs its dictionary."""
    none = pretrain["name"] == NO_PRETRAIN
    if data.gpt2_from_pretrain and none:
        raise ConfigError(
            f"data.gpt2_bpe: {FROM_PRETRAIN} needs the pretrain stage; set pretrain.name "
            "(and its keys) or give the files"
        )
    if train.get("restore_file") == FROM_PRETRAIN:
        if none:
            raise ConfigError(
                f"train.restore_file: {FROM_PRETRAIN} needs the pretrain stage; set "
                "pretrain.name (and its keys)"
            )
        if train.get("tokens_per_sample") != pretrain["tokens_per_sample"]:
            raise ConfigError(
                f"train.tokens_per_sample ({train.get('tokens_per_sample')}) must equal "
                f"pretrain.tokens_per_sample ({pretrain['tokens_per_sample']}): the positions of "
                "the pre-trained model"
            )
        if not data.gpt2_from_pretrain:
            raise ConfigError(
                f"train.restore_file: {FROM_PRETRAIN} needs data.bpe: gpt2 and data.gpt2_bpe: "
                f"{FROM_PRETRAIN} (the pre-trained model's dictionary)"
            )

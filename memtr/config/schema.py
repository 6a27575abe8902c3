"""The building blocks of params validation: typed keys, ranges, fairseq options that the
pipeline sets itself. Shared by every section's parser (:mod:`memtr.config.params`,
:mod:`memtr.config.pretrain`)."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from memtr.common.errors import ConfigError

# fairseq options the pipeline sets itself: params must not set them through model.args
RESERVED_ARGS = {"arch", "seed", "save-dir", "user-dir", "mem-tokens", "mem-layout", "cpu",
                 "mem-recurrent", "task", "criterion", "num-classes", "tokens-per-sample",
                 "max-positions", "restore-file"}  # fmt: skip

Kinds = dict[str, type | tuple[type, ...]]


def require(section: Any, where: str, keys: Kinds, optional: Kinds | None = None) -> dict:
    """Check that ``section`` is a mapping with ``keys`` (and maybe ``optional``) of their types.

    An optional key may be left out or set to null.
    """
    optional = optional or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - set(keys) - set(optional))
    if unknown:
        allowed = ", ".join([*keys, *optional])
        raise ConfigError(f"unknown key {where}.{unknown[0]}; allowed: {allowed}")
    missing = [k for k in keys if k not in section]
    if missing:
        raise ConfigError(f"missing key {where}.{missing[0]}")
    present = {k: v for k, v in optional.items() if section.get(k) is not None}
    for key, kind in {**keys, **present}.items():
        value = section[key]
        bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
        if bad_bool or not isinstance(value, kind):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise ConfigError(f"{where}.{key} must be {names}, got {value!r}")
    return section


def _kind(annotation: Any) -> type | tuple[type, ...]:
    """The YAML value kind a field's annotation accepts (``int | None`` -> int)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = {k for a in args for k in _flat(_kind(a))}
        return (
            NUMBER
            if kinds == {int, float}
            else next(iter(kinds))
            if len(kinds) == 1
            else (tuple(sorted(kinds, key=lambda k: k.__name__)))
        )
    if origin is typing.Literal:
        return type(args[0])
    if origin in (tuple, list):
        return list
    if origin is dict:
        return dict
    return annotation


def _flat(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def field_kinds(model: type[BaseModel], *left_out: str) -> tuple[Kinds, Kinds]:
    """The required and the optional keys of a settings section, with their YAML kinds, in
    the model's field order: the one definition :func:`require` checks against."""
    required, optional = {}, {}
    for name, info in model.model_fields.items():
        if name in left_out:
            continue
        (required if info.is_required() else optional)[name] = _kind(info.annotation)
    return required, optional


def build(model: type[BaseModel], section: dict, where: str, **extra: Any) -> Any:
    """The frozen settings ``model`` of a checked ``section`` (a value that slipped past the
    checks is still one line naming its field)."""
    try:
        return model(**section, **extra)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"{where}.{field}: {error['msg']}, got {error['input']!r}") from None


def positive(section: dict, where: str, *keys: str, allow_zero: bool = False) -> None:
    for key in keys:
        value = section[key]
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"{where}.{key} must be {bound}, got {value}")


NUMBER = (int, float)


# fairseq-train options that the pipeline sets from a params key: in train.extra_args they
# would silently override that key (fairseq keeps an option's last value).
TRAIN_KEY_OPTIONS = {
    "lr": "train.lr", "max-update": "train.max_update (or a variant's max_update)",
    "warmup-updates": "train.warmup_updates", "weight-decay": "train.weight_decay",
    "clip-norm": "train.clip_norm", "dropout": "train.dropout",
    "max-tokens": "train.max_tokens", "label-smoothing": "train.label_smoothing",
    "validate-interval-updates": "train.validate_interval_updates",
    "patience": "train.patience",
}  # fmt: skip
# fairseq's mixed-precision options: ``precision`` (of train or pretrain) chooses them, and the
# train stage refuses one the machine cannot run before any work (memtr.run.fairseq)
PRECISIONS = ("fp32", "fp16", "bf16")
PRECISION_OPTIONS = {"fp16", "bf16", "memory-efficient-fp16", "memory-efficient-bf16", "amp"}
# ... and those that checkpointing and resuming rely on
RUN_OPTIONS = {"save-interval-updates", "keep-interval-updates", "no-epoch-checkpoints",
               "data-buffer-size"}  # fmt: skip
# ... and those that break the pipeline's reading of a run's outputs, or its resuming
BREAKING_OPTIONS = {
    "log-format": "is set by the pipeline (json): the train stage reads the updates and losses "
    "from the log's JSON records",
    "no-save": "would save no checkpoint: the train stage keeps checkpoint_best.pt as model.pt, "
    "and a killed run resumes from checkpoint_last.pt",
    "disable-validation": "would validate nothing: no checkpoint_best.pt for model.pt and no "
    "validation loss for train.json",
    "no-last-checkpoints": "would write no checkpoint_last.pt: a killed run could not resume",
    "no-save-optimizer-state": "would leave the optimizer, learning-rate schedule and update "
    "count out of the checkpoints: a resumed run would start again from update 0",
    "reset-optimizer": "would restart the optimizer and the update count when a killed run "
    "resumes",
    "reset-lr-scheduler": "would restart the learning-rate schedule when a killed run resumes",
    "reset-dataloader": "would restart the data from the first epoch when a killed run resumes",
}  # fmt: skip


def check_extra_args(extra: list[str], where: str = "train.extra_args") -> None:
    """Refuse options in train.extra_args that the pipeline sets itself (e.g. ``--arch``,
    which would replace every variant's architecture), naming the params key to use."""
    for arg in extra:
        if not arg.startswith("--"):
            continue
        name = arg[2:].split("=", 1)[0].replace("_", "-")
        if name in TRAIN_KEY_OPTIONS:
            raise ConfigError(
                f"{where}: {arg} is set by the pipeline from {TRAIN_KEY_OPTIONS[name]}; "
                "set that instead"
            )
        if name in PRECISION_OPTIONS:
            section = where.split(".")[0]
            raise ConfigError(
                f"{where}: {arg} is set by the pipeline from {section}.precision "
                f"({' | '.join(PRECISIONS)}); set that instead"
            )
        if name in RESERVED_ARGS or name in RUN_OPTIONS:
            raise ConfigError(f"{where}: {arg} is set by the pipeline; remove it")
        if name in BREAKING_OPTIONS:
            raise ConfigError(f"{where}: {arg} {BREAKING_OPTIONS[name]}; remove it")


def check_precision(section: dict, where: str) -> None:
    """``<where>.precision``, optional: one of PRECISIONS; fp32 when left out (set here)."""
    section.setdefault("precision", "fp32")
    if section["precision"] not in PRECISIONS:
        raise ConfigError(
            f"{where}.precision must be one of {', '.join(PRECISIONS)}, "
            f"got {section['precision']!r}"
        )

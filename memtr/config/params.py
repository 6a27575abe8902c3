"""``params.yaml``: the one source of truth of the pipeline, loaded and validated.

Every stage script calls :func:`load_params` first, so a typo or an inconsistent value
is a one-line ``error: ...`` (exit status 2) before any long work starts. DVC and
Snakemake read the same file.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memspec import LAYOUTS, MAX_MEM_TOKENS
from memtr.common.errors import ConfigError
from memtr.common.yamlfile import read_yaml_file
from memtr.config.pretrain import check_pretrained_inputs, parse_pretrain
from memtr.config.schema import (
    RESERVED_ARGS,
    build,
    check_extra_args,
    check_precision,
    field_kinds,
    positive,
    require,
)
from memtr.config.study import Study
from memtr.datasets.params import DataParams, _build, validate
from memtr.settings import (
    NO_PRETRAIN,
    AttentionSettings,
    EvalSettings,
    ExperimentSettings,
    ModelSettings,
    PretrainSettings,
    TrainSettings,
    Variant,
    restore_file,
)
from memtr.specs import allowed_for, offered_by, spec_for_dataset
from memtr.specs.base import TaskSpec

DATA_KEYS = ("dataset", "bpe_vocab_size", "clean", "synthetic")  # data.bpe: sentencepiece if absent
TOP_LEVEL = ("data", "model", "variants", "experiment", "pretrain", "train", "eval", "attention")
OPTIONAL_TOP_LEVEL = {"pretrain": {"name": NO_PRETRAIN}}  # absent from campaigns' snapshots
NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class Params:
    """The validated ``params.yaml``: one typed, frozen section each, and the task of the
    selected dataset (resolved once). Only the loader and the stage scripts hold it whole;
    every other function takes the sections it reads."""

    data: DataParams
    model: ModelSettings
    variants: dict[str, Variant]
    experiment: ExperimentSettings
    pretrain: PretrainSettings
    train: TrainSettings
    eval: EvalSettings
    attention: AttentionSettings
    spec: TaskSpec  # the task as it trains on and scores the selected dataset

    def variant(self, name: str) -> Variant:
        """The variant ``name`` (a stage's ``--variant``); one line naming the defined ones."""
        if name not in self.variants:
            raise ConfigError(f"unknown variant {name!r}; defined: {', '.join(self.variants)}")
        return self.variants[name]

    def study(self) -> Study:
        """What the tables side reads: the experiment, its variants, their budgets, how the
        runs are scored (the dataset's name and its target language)."""
        return Study(
            self.experiment, self.variants, self.train, self.eval, self.spec,
            self.data.dataset, self.data.selected().tgt,
        )  # fmt: skip

    def restore_file(self) -> str | None:
        """The checkpoint fine-tuning starts from (train.restore_file, pretrain read as the
        pretrain stage's model)."""
        return restore_file(self.train, self.pretrain)


def _model(section: Any, task: TaskSpec) -> ModelSettings:
    model = require(section, "model", *field_kinds(ModelSettings))
    if model["size"] not in task.sizes:
        raise ConfigError(
            f"model.size must be one of {', '.join(task.sizes)} for {task.name}, "
            f"got {model['size']!r}"
        )
    for key in model["args"]:
        if key in RESERVED_ARGS or key.replace("_", "-") in RESERVED_ARGS:
            raise ConfigError(f"model.args.{key} is set by the pipeline; remove it")
    return build(ModelSettings, model, "model")


def _variants(section: Any) -> dict[str, Variant]:
    if not isinstance(section, dict) or not section:
        raise ConfigError("variants must be a non-empty mapping of name -> {layout, mem_tokens}")
    variants = {}
    for name, spec in section.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise ConfigError(f"variant name {name!r} must use letters, digits and _ only")
        where = f"variants.{name}"
        spec = require(spec, where, *field_kinds(Variant, "name"))
        if spec["layout"] not in LAYOUTS:
            raise ConfigError(
                f"{where}.layout must be one of {', '.join(LAYOUTS)}, got {spec['layout']!r}"
            )
        m = spec["mem_tokens"]
        if not 0 <= m <= MAX_MEM_TOKENS:
            raise ConfigError(f"{where}.mem_tokens must be between 0 and {MAX_MEM_TOKENS}, got {m}")
        if spec["layout"] == "none" and m != 0:
            raise ConfigError(f"{where}: layout none (the baseline) needs mem_tokens 0, got {m}")
        if spec["layout"] not in ("none", "prepend") and m == 0:
            raise ConfigError(f"{where}: layout {spec['layout']} needs mem_tokens >= 1")
        recurrent = bool(spec.get("recurrent"))
        if recurrent and m == 0:
            raise ConfigError(f"{where}: recurrent memory needs mem_tokens >= 1")
        budget = spec.get("max_update")
        if budget is not None and budget <= 0:
            raise ConfigError(f"{where}.max_update must be > 0, got {budget}")
        variants[name] = build(Variant, spec, where, name=name)
    return variants


def _experiment(section: Any, variants: dict[str, Variant]) -> ExperimentSettings:
    exp = require(section, "experiment", *field_kinds(ExperimentSettings))
    if not NAME.match(exp["name"]):
        raise ConfigError(f"experiment.name {exp['name']!r} must use letters, digits and _ only")
    if not exp["variants"]:
        raise ConfigError("experiment.variants must name at least one variant")
    for name in exp["variants"]:
        if name not in variants:
            raise ConfigError(f"experiment.variants names {name!r}, which is not under variants:")
    if len(set(exp["variants"])) != len(exp["variants"]):
        raise ConfigError("experiment.variants lists a variant twice")
    if exp["reference"] not in exp["variants"]:
        raise ConfigError(
            f"experiment.reference {exp['reference']!r} must be one of experiment.variants"
        )
    seeds = exp["seeds"]
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(
            f"experiment.seeds must be a non-empty list of integers >= 0, got {seeds!r}"
        )
    if len(set(seeds)) != len(seeds):
        raise ConfigError("experiment.seeds lists a seed twice")
    for name, against in (exp.get("equal_compute") or {}).items():
        for value in (name, against):
            if value not in exp["variants"]:
                raise ConfigError(
                    f"experiment.equal_compute names {value!r}, which is not in experiment.variants"
                )
        if name == against:
            raise ConfigError(f"experiment.equal_compute pairs {name!r} with itself")
    return build(ExperimentSettings, exp, "experiment")


SEGMENT_KEYS = ("tokens_per_sample", "restore_file")  # tasks that train on segments only


def _train(section: Any, task: TaskSpec) -> dict:
    train = require(section, "train", *field_kinds(TrainSettings))
    if train.get("patience") is not None and train["patience"] < 1:
        raise ConfigError(
            f"train.patience must be >= 1 (validations without improvement), got {train['patience']}"
        )
    if not task.uses_segments:
        for key in SEGMENT_KEYS:
            if train.get(key) is not None:
                raise ConfigError(f"train.{key} applies to {allowed_for('uses_segments')}")
    elif train.get("tokens_per_sample") is None:
        raise ConfigError(f"missing key train.tokens_per_sample (needed for {task.name})")
    elif train["tokens_per_sample"] <= 0:
        raise ConfigError(f"train.tokens_per_sample must be > 0, got {train['tokens_per_sample']}")
    if not task.label_smoothing and train["label_smoothing"] != 0:
        raise ConfigError(
            f"train.label_smoothing applies to {allowed_for('label_smoothing')} only; "
            f"set 0 for {task.name}"
        )
    if train.get("restore_file") is not None and not task.restores_encoder:
        raise ConfigError(
            f"train.restore_file (a pre-trained encoder) applies to {allowed_for('restores_encoder')}"
        )
    positive(train, "train", "max_update", "max_tokens", "lr", "threads")
    positive(train, "train", "warmup_updates", "weight_decay", "clip_norm",
              "validate_interval_updates", allow_zero=True)  # fmt: skip
    for key in ("dropout", "label_smoothing"):
        if not 0 <= train[key] < 1:
            raise ConfigError(f"train.{key} must be in [0, 1), got {train[key]}")
    if train["warmup_updates"] >= train["max_update"]:
        raise ConfigError(
            f"train.warmup_updates ({train['warmup_updates']}) must be below train.max_update "
            f"({train['max_update']}): the schedule would never leave warm-up"
        )
    if not all(isinstance(a, str) for a in train["extra_args"]):
        raise ConfigError("train.extra_args must be a list of strings")
    check_extra_args(train["extra_args"])
    check_precision(train, "train")
    return train  # the checks across sections read it before it is built


def _eval(section: Any, task: TaskSpec) -> EvalSettings:
    ev = require(section, "eval", *field_kinds(task.eval_settings))
    positive(ev, "eval", "batch_size", "bootstrap_resamples")
    margin = ev.get("equivalence_margin")
    if margin is not None and not margin > 0:
        raise ConfigError(f"eval.equivalence_margin must be above 0, got {margin}")
    if not ev["splits"] or any(s not in task.eval_splits for s in ev["splits"]):
        raise ConfigError(task.splits_error(ev["splits"]))
    if not all(isinstance(n, str | dict) for n in ev.get("extra_test") or []):
        raise ConfigError("eval.extra_test must be a list of test set names or declarations")
    typed = build(task.eval_settings, ev, "eval")
    task.check_eval(typed)
    return typed


def _check_extra_test(names: list, dataset) -> None:
    from memtr.datasets.extra_sets import check_extra_sets

    check_extra_sets(dataset, names)


def _attention(section: Any) -> AttentionSettings:
    att = require(section, "attention", *field_kinds(AttentionSettings))
    positive(att, "attention", "num_sentences")
    if not att["seeds"]:  # dvc.yaml's attention matrix would be empty, the tables' input missing
        raise ConfigError("attention.seeds must name a seed of experiment.seeds, got []")
    return build(AttentionSettings, att, "attention")


def parse_params(doc: Any, where: str = "params.yaml") -> Params:
    """Validate a loaded params document; raise ConfigError with a one-line message."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{where} must hold a mapping at top level")
    doc = copy.deepcopy(doc)  # the checks fill in defaults (train.precision): not the caller's
    unknown = sorted(set(doc) - set(TOP_LEVEL))
    if unknown:
        raise ConfigError(
            f"unknown section {unknown[0]!r} in {where}; allowed: {', '.join(TOP_LEVEL)}"
        )
    missing = [k for k in TOP_LEVEL if k not in doc and k not in OPTIONAL_TOP_LEVEL]
    if missing:
        raise ConfigError(f"missing section {missing[0]!r} in {where}")
    if not isinstance(doc["data"], dict):
        raise ConfigError(f"data must be a mapping, got {type(doc['data']).__name__}")
    data = validate(_build(DataParams, doc["data"], "data"))
    for key in DATA_KEYS:  # dvc.yaml names these keys: they must be written out
        if key not in doc["data"]:
            raise ConfigError(f"missing key data.{key}")
    dataset = data.selected()
    task = spec_for_dataset(dataset)
    task.check_dataset(dataset, data.dataset)
    model = _model(doc["model"], task)
    variants = _variants(doc["variants"])
    experiment = _experiment(doc["experiment"], variants)
    for name in experiment.variants:
        variant = variants[name]
        if variant.layout not in task.arch_prefix:
            raise ConfigError(
                f"variants.{name}.layout {variant.layout} is for {offered_by(variant.layout)}; "
                f"{task.name} offers {', '.join(task.arch_prefix)}"
            )
        task.arch(variant.layout, model.size)  # raises for an impossible combination
        if variant.recurrent and not task.recurrent_memory:
            raise ConfigError(
                f"variants.{name}.recurrent applies to {allowed_for('recurrent_memory')} only"
            )
    pretrain_section = parse_pretrain(
        doc.get("pretrain", OPTIONAL_TOP_LEVEL["pretrain"]), data, task
    )
    train_section = _train(doc["train"], task)
    check_pretrained_inputs(data, pretrain_section, train_section)
    pretrain = build(PretrainSettings, pretrain_section, "pretrain")
    train = build(TrainSettings, train_section, "train")
    ev = _eval(doc["eval"], task)
    attention = _attention(doc["attention"])
    if dataset.eval_only:
        raise ConfigError(
            f"data.dataset {data.dataset!r} is a test set only (no training data); "
            "list it under eval.extra_test"
        )
    _check_extra_test(list(ev.extra_test or []), dataset)
    for name in experiment.variants:
        if train.warmup_updates >= train.budget(variants[name]):
            raise ConfigError(
                f"variants.{name}.max_update ({train.budget(variants[name])}) must be "
                f"above train.warmup_updates ({train.warmup_updates})"
            )
    for seed in attention.seeds:
        if seed not in experiment.seeds:
            raise ConfigError(f"attention.seeds has {seed!r}, which is not in experiment.seeds")
    return Params(
        data=data, model=model, variants=variants, experiment=experiment, pretrain=pretrain,
        train=train, eval=ev, attention=attention, spec=task,
    )  # fmt: skip


# the keys dvc.yaml resolves itself (its ${...}), before any stage runs: DVC fails in its own
# words on one that is missing. parse_params requires each of them but pretrain, which a
# campaign's params snapshot (read by the tables alone) may lack.
DVC_RESOLVED = ("data.dataset", "experiment.name", "experiment.variants", "experiment.seeds",
                "attention.seeds", "attention.num_sentences", "pretrain.name")  # fmt: skip


def check_pipeline_keys(doc: dict, where: str = "params.yaml") -> None:
    """Refuse a file the pipeline cannot run although :func:`parse_params` takes it: one
    without the ``pretrain`` section, whose ``pretrain.name`` dvc.yaml reads."""
    if "pretrain" not in doc:
        raise ConfigError(
            f"missing section 'pretrain' in {where}: dvc.yaml reads pretrain.name; "
            f"write pretrain: {{name: {NO_PRETRAIN}}} for no pre-training"
        )


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate a params file, read as DVC and Snakemake both read it (a scalar
    whose meaning differs between YAML 1.1 and 1.2 is refused: memtr.common.yamlfile)."""
    return parse_params(read_yaml_file(path), str(path))

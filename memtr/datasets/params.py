"""The ``data:`` section of ``params.yaml``: defaults, loading and validation.

Errors are :class:`ConfigError` with a one-line message; the stage scripts print it as
``error: ...`` and exit with status 2 before any long work starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from memtr.common.errors import ConfigError
from memtr.common.yamlfile import read_yaml_file
from memtr.datasets.inline import inline_dataset
from memtr.datasets.registry import DATASETS, MIRROR_ENV, Dataset
from memtr.datasets.subwords import check_subwords, gpt2_files, with_gpt2_files
from memtr.datasets.synthetic import TASKS


@dataclass(frozen=True)
class CleanParams:
    """Training-pair filter of fairseq's recipes (``clean-corpus-n.perl``), on BPE tokens;
    the ratio applies from a longer side of ``ratio_min_len`` tokens (memtr.datasets.cleaning)."""

    min_len: int = 1
    max_len: int = 250
    ratio: float = 1.5
    ratio_min_len: int = 10


@dataclass(frozen=True)
class SyntheticParams:
    """Size and shape of the generated ``synthetic`` dataset."""

    task: str = "reverse"
    train: int = 20000
    valid: int = 500
    test: int = 500
    vocab_size: int = 20
    min_len: int = 3
    max_len: int = 12
    seed: int = 0


@dataclass(frozen=True)
class DataParams:
    """All data-stage parameters (``params.yaml``, section ``data``)."""

    dataset: str = "multi30k_de_en"  # a registry name or a key of ``datasets``
    datasets: dict = field(default_factory=dict)  # declarations (memtr.datasets.inline)
    mirror: str | None = None
    bpe: str = "sentencepiece"  # or gpt2 (memtr.datasets.subwords)
    gpt2_bpe: Any = None  # with bpe gpt2: the three files, or "pretrain"
    bpe_vocab_size: int = 8000
    clean: CleanParams = field(default_factory=CleanParams)
    synthetic: SyntheticParams = field(default_factory=SyntheticParams)

    def resolved_mirror(self) -> str | None:
        """The mirror to use: ``$MEMTR_DATA_MIRROR`` wins over the ``mirror`` param."""
        return os.environ.get(MIRROR_ENV) or self.mirror or None

    def selected(self) -> Dataset:
        """The dataset ``dataset`` names: a declaration of ``datasets``, else the registry's;
        with declared GPT-2 BPE files among its raw files."""
        dataset = named_dataset(self.dataset, self.datasets)
        files = gpt2_files(self.gpt2_bpe) if self.bpe == "gpt2" else None
        return with_gpt2_files(dataset, files) if files else dataset

    @property
    def gpt2_from_pretrain(self) -> bool:
        """True when the GPT-2 BPE files come from the pretrain stage."""
        return self.bpe == "gpt2" and gpt2_files(self.gpt2_bpe) is None

    def check_local_files(self, *also: str) -> None:
        """Refuse the local files that do not exist of the selected declaration, of the
        declarations named in ``also`` (the pretrain corpus) and of ``gpt2_bpe`` (the
        check_params stage: the tables of a finished experiment are read without its data)."""
        for name in (self.dataset, *also):
            if name in self.datasets:
                inline_dataset(name, self.datasets[name], check_files=True)
        files = gpt2_files(self.gpt2_bpe) if self.bpe == "gpt2" else None
        for key, declared in (files or {}).items():
            if not declared.is_url and not Path(declared.location).expanduser().is_file():
                raise ConfigError(f"data.gpt2_bpe.{key}: no such file {declared.location}")


def named_dataset(name: str, declared: dict) -> Dataset:
    """The dataset ``name``: a declaration of ``declared``, else the registry's entry."""
    return inline_dataset(name, declared[name]) if name in declared else DATASETS[name]


def _build(cls: type, section: Any, where: str) -> Any:
    """Instantiate dataclass ``cls`` from a mapping, rejecting unknown keys and bad types."""
    if section is None:
        return cls()
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(section).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}; allowed: {', '.join(known)}")
    values = {}
    for name, value in section.items():
        default = getattr(cls(), name)
        if name == "datasets":
            values[name] = _check_mapping(value, f"{where}.{name}")
        elif name == "gpt2_bpe":
            values[name] = value  # a mapping of files or "pretrain": checked by validate()
        elif isinstance(default, CleanParams | SyntheticParams):
            values[name] = _build(type(default), value, f"{where}.{name}")
        else:
            values[name] = _check_type(value, default, f"{where}.{name}")
    return cls(**values)


def _check_mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping of name -> declaration, got {value!r}")
    return value


def _check_type(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool) or value is None and default is None:
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
    elif (isinstance(default, str) or default is None) and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def validate(params: DataParams) -> DataParams:
    """Check value ranges; return ``params`` unchanged or raise :class:`ConfigError`."""
    for name, section in params.datasets.items():
        inline_dataset(str(name), section)
    if params.dataset not in DATASETS and params.dataset not in params.datasets:
        declared = (
            f"; declared in data.datasets: {', '.join(params.datasets)}" if params.datasets else ""
        )
        raise ConfigError(
            f"data.dataset: unknown dataset {params.dataset!r}; known: "
            f"{', '.join(sorted(DATASETS))}{declared}"
        )
    check_subwords(params.bpe, params.gpt2_bpe, named_dataset(params.dataset, params.datasets))
    if params.bpe_vocab_size <= 0:
        raise ConfigError(f"data.bpe_vocab_size must be positive, got {params.bpe_vocab_size}")
    clean = params.clean
    _lengths(clean.min_len, clean.max_len, "data.clean")
    if clean.ratio < 1:
        raise ConfigError(f"data.clean.ratio must be >= 1, got {clean.ratio}")
    if clean.ratio_min_len < 1:
        raise ConfigError(
            f"data.clean.ratio_min_len must be >= 1 (1: the ratio applies to every pair), "
            f"got {clean.ratio_min_len}"
        )
    syn = params.synthetic
    if syn.task not in TASKS:
        raise ConfigError(
            f"data.synthetic.task must be one of {', '.join(TASKS)}, got {syn.task!r}"
        )
    for name in ("train", "valid", "test", "vocab_size"):
        if getattr(syn, name) <= 0:
            raise ConfigError(f"data.synthetic.{name} must be positive, got {getattr(syn, name)}")
    _lengths(syn.min_len, syn.max_len, "data.synthetic")
    return params


def _lengths(min_len: int, max_len: int, where: str) -> None:
    """``1 <= min_len <= max_len``, or one line naming the key that breaks it."""
    if min_len < 1:
        raise ConfigError(f"{where}.min_len must be >= 1, got {min_len}")
    if max_len < min_len:
        raise ConfigError(f"{where}.max_len ({max_len}) must be >= {where}.min_len ({min_len})")


def load_data_params(path: Path | str | None, dataset: str | None = None) -> DataParams:
    """Read and validate the ``data`` section of ``path``; ``dataset`` overrides its dataset.

    ``path=None`` or a missing default ``params.yaml`` gives the defaults.
    """
    section: Any = None
    if path is not None:
        path = Path(path)
        if path.exists():
            doc = read_yaml_file(path) or {}  # as DVC and Snakemake read it, or refused
            if not isinstance(doc, dict):
                raise ConfigError(f"{path} must hold a mapping at top level")
            section = doc.get("data")
        elif path.name != "params.yaml" or path.parent != Path():
            raise ConfigError(f"params file not found: {path}")
    params = _build(DataParams, section, "data")
    if dataset is not None:
        params = replace(params, dataset=dataset)
    return validate(params)

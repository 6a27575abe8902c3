"""``data.bpe`` and ``data.gpt2_bpe``: the subword model that encodes a dataset.

* ``sentencepiece`` (default): a BPE model learned by the prepare stage on the training
  split (``data.bpe_vocab_size``), for every task.
* ``gpt2``: GPT-2's byte-level BPE as fairseq's RoBERTa uses it (classification only), so
  that a released checkpoint (``roberta.base``) can be fine-tuned unchanged. ``data.gpt2_bpe``
  names its three files, each a URL or a path, plain or ``{url, member, sha256}``::

      gpt2_bpe:
        encoder_json: https://dl.fbaipublicfiles.com/fairseq/gpt2_bpe/encoder.json
        vocab_bpe: https://dl.fbaipublicfiles.com/fairseq/gpt2_bpe/vocab.bpe
        dict: https://dl.fbaipublicfiles.com/fairseq/gpt2_bpe/dict.txt

  The download stage fetches them with the task's files (checksums given or recorded on
  first fetch). ``gpt2_bpe: pretrain`` takes them from the ``pretrain`` stage instead
  (``pretrain/<name>/model/``: the BPE it learned and the dictionary of its corpus).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from memtr.common.errors import ConfigError
from memtr.datasets.inline import InlineFile, parse_file
from memtr.datasets.registry import Dataset, RawFile

BPE_KINDS = ("sentencepiece", "gpt2")
GPT2_DIR = "gpt2"  # in data/prep/<ds>/ and data/bin/<ds>/: the files under their release names
FROM_PRETRAIN = "pretrain"
# data.gpt2_bpe key -> (name in a release folder such as pretrain/<name>/model/, raw file name)
GPT2_FILES = {
    "encoder_json": ("encoder.json", "gpt2.encoder.json"),
    "vocab_bpe": ("vocab.bpe", "gpt2.vocab.bpe"),
    "dict": ("dict.txt", "gpt2.dict.txt"),
}


def gpt2_files(value: Any, where: str = "data.gpt2_bpe") -> dict[str, InlineFile] | None:
    """The declared GPT-2 BPE files by key, or None for ``pretrain`` (the stage's own)."""
    if value == FROM_PRETRAIN:
        return None
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where} must map encoder_json, vocab_bpe and dict to files, or be "
            f"'{FROM_PRETRAIN}'; got {value!r}"
        )
    unknown = sorted(set(value) - set(GPT2_FILES))
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}; allowed: {', '.join(GPT2_FILES)}")
    missing = [key for key in GPT2_FILES if key not in value]
    if missing:
        raise ConfigError(f"{where} needs {missing[0]} (the file {GPT2_FILES[missing[0]][0]})")
    return {key: parse_file(value[key], f"{where}.{key}") for key in GPT2_FILES}


def check_subwords(bpe: str, gpt2_bpe: Any, dataset: Dataset) -> None:
    """Refuse an unknown ``data.bpe``, GPT-2 BPE for a task other than classification, and
    ``data.gpt2_bpe`` without ``data.bpe: gpt2``."""
    if bpe not in BPE_KINDS:
        raise ConfigError(f"data.bpe must be one of {', '.join(BPE_KINDS)}, got {bpe!r}")
    if bpe == "sentencepiece":
        if gpt2_bpe is not None:
            raise ConfigError("data.gpt2_bpe is read with data.bpe: gpt2 only; remove it")
        return
    if dataset.kind != "glue":
        raise ConfigError(
            f"data.bpe gpt2 applies to classification (GLUE) datasets, not {dataset.name!r} "
            f"(kind {dataset.kind}); use sentencepiece"
        )
    if gpt2_bpe is None:
        raise ConfigError(
            "data.bpe gpt2 needs data.gpt2_bpe: the files encoder_json, vocab_bpe and dict "
            f"(URLs or paths), or '{FROM_PRETRAIN}'"
        )
    gpt2_files(gpt2_bpe)


def with_gpt2_files(dataset: Dataset, files: dict[str, InlineFile]) -> Dataset:
    """``dataset`` whose raw files include the declared GPT-2 BPE files (``gpt2.*``)."""
    raws = tuple(RawFile(GPT2_FILES[k][1], f.location, f.member) for k, f in files.items())
    hashes = {f.location: f.sha256 for f in files.values() if f.sha256}
    options = dict(dataset.options)
    options["download_hashes"] = {**options.get("download_hashes", {}), **hashes}
    return replace(dataset, files=dataset.files + raws, options=options)

"""Datasets declared in ``params.yaml`` (``data.datasets``) instead of the Python registry.

A declaration names a task, a file format, the files of each split (URLs or local paths,
each with an optional checksum) and how the missing splits are carved from ``train``::

    data:
      dataset: my_pairs                 # a registry name or a key of data.datasets
      datasets:
        my_pairs:
          task: translation             # translation | language_modeling | classification
          langs: [de, en]               # translation: source, target
          format: tsv                   # text | tsv | csv
          columns: {source: 1, target: 0}
          files:
            train: {url: https://example.org/pairs.zip, member: pairs.tsv, sha256: null}
          split: {valid: 500, test: 0.05, seed: 1}

:func:`inline_dataset` turns a declaration into a registry-shaped :class:`Dataset` whose
``options["inline"]`` is the :class:`InlineSpec` the prepare stage reads
(:mod:`memtr.data.inline`). Errors are one-line :class:`ConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memtr.common.errors import ConfigError
from memtr.datasets.registry import DATASETS, Dataset, GlueTask, RawFile, basename

# task (as params and memtr.tasks name it) -> the registry's Dataset.kind it trains on
TASK_KINDS = {"translation": "mt", "language_modeling": "lm", "classification": "glue"}
FORMATS = ("text", "tsv", "csv")
SPLITS = ("train", "valid", "test")
ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
KEYS = ("task", "langs", "format", "columns", "header", "files", "split",
        "dedup_test_from_train")  # fmt: skip


@dataclass(frozen=True)
class InlineFile:
    """One declared file: a URL (http/https) or a local path, maybe a member of an archive."""

    location: str
    member: str | None = None
    sha256: str | None = None

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


@dataclass(frozen=True)
class InlineSpec:
    """What the prepare stage needs to turn the raw files into the task's splits.

    ``columns`` maps each role of a row (``source``/``target``, ``text``, ``input0``..,
    ``label``) to a 0-based column index or a header name (``tsv``/``csv`` only).
    ``carve`` maps each split not given as files to its size (rows) or fraction of train.
    """

    task: str
    format: str
    roles: tuple[str, ...]
    columns: Mapping[str, int | str]
    header: bool
    given: tuple[str, ...]
    carve: Mapping[str, int | float]
    seed: int
    dedup_test_from_train: bool


def roles_of(task: str, columns: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The fields of one example of ``task``, in the order the prepare stage writes them."""
    if task == "translation":
        return ("source", "target")
    if task == "language_modeling":
        return ("text",)
    inputs = columns.get("inputs", [])
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= 2:
        raise ConfigError(f"{where}.columns.inputs must list 1 or 2 columns, got {inputs!r}")
    return (*(f"input{i}" for i in range(len(inputs))), "label")


def _columns(section: Any, task: str, fmt: str, where: str) -> tuple[tuple, dict]:
    """Roles and their columns; ``text`` format has no columns."""
    if fmt == "text":
        if section is not None:
            raise ConfigError(f"{where}.columns applies to tsv and csv files, not text")
        if task == "classification":
            raise ConfigError(f"{where}: classification needs format tsv or csv (inputs and label)")
        return roles_of(task, {}, where), {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}.columns must be a mapping of role -> column, got {section!r}")
    roles = roles_of(task, section, where)
    flat = dict(section)
    if task == "classification":
        flat.update({f"input{i}": col for i, col in enumerate(flat.pop("inputs", []))})
    unknown = sorted(set(flat) - set(roles))
    if unknown:
        shown = "inputs, label" if task == "classification" else ", ".join(roles)
        raise ConfigError(f"unknown key {where}.columns.{unknown[0]}; {task} reads: {shown}")
    for role in roles:
        if flat.get(role) is None:
            raise ConfigError(f"{where}.columns needs a column for {role!r}")
        check_column(flat[role], f"{where}.columns.{role}")
    columns = {role: flat[role] for role in roles}
    check_distinct_columns(columns, f"{where}.columns", ConfigError)
    return roles, columns


def check_column(col: Any, where: str) -> None:
    if isinstance(col, bool) or not isinstance(col, int | str) or isinstance(col, int) and col < 0:
        raise ConfigError(f"{where} must be a 0-based index or a header name, got {col!r}")


def check_distinct_columns(columns: Mapping[str, int | str], where: str, error: type) -> None:
    """Refuse two roles read from one column (e.g. source and target): the prepared data
    would hold one language on both sides."""
    seen: dict[int | str, str] = {}
    for role, col in columns.items():
        if col in seen:
            raise error(f"{where}: {seen[col]} and {role} are the same column ({col!r})")
        seen[col] = role


def parse_file(value: Any, where: str) -> InlineFile:
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a URL, a path or a mapping with url, got {value!r}")
    unknown = sorted(set(value) - {"url", "member", "sha256"})
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}; allowed: url, member, sha256")
    location, member, sha = value.get("url"), value.get("member"), value.get("sha256")
    if not isinstance(location, str) or not location:
        raise ConfigError(f"{where}.url must be a URL or a path, got {location!r}")
    for key, text in (("member", member), ("sha256", sha)):
        if text is not None and not isinstance(text, str):
            raise ConfigError(f"{where}.{key} must be a string, got {text!r}")
    if sha is not None and not re.fullmatch(r"(sha256:)?[0-9a-fA-F]{64}", sha):
        raise ConfigError(f"{where}.sha256 must be 64 hex digits, got {sha!r}")
    archive = basename(location).endswith(ARCHIVES)
    if archive and member is None:
        raise ConfigError(f"{where}: {basename(location)} is an archive; name its member")
    if member is not None and not archive:
        raise ConfigError(
            f"{where}.member needs an archive ({', '.join(ARCHIVES)}), got {basename(location)}"
        )
    parts = member.replace("\\", "/").split("/") if member else []
    if member is not None and (not member.strip("/.") or member.startswith("/") or ".." in parts):
        raise ConfigError(
            f"{where}.member must be a path inside the archive (no leading /, no ..), "
            f"got {member!r}"
        )
    if sha is not None and not sha.startswith("sha256:"):
        sha = f"sha256:{sha}"
    return InlineFile(location, member, sha.lower() if sha else None)


def _split_files(section: Any, task: str, fmt: str, langs: tuple[str, str], where: str) -> dict:
    """``split -> {raw file name: InlineFile}`` of the splits given as files."""
    if not isinstance(section, dict):
        raise ConfigError(f"{where}.files must be a mapping of split -> file, got {section!r}")
    unknown = sorted(set(section) - set(SPLITS))
    if unknown:
        raise ConfigError(f"unknown split {where}.files.{unknown[0]}; allowed: {', '.join(SPLITS)}")
    if "train" not in section:
        raise ConfigError(f"{where}.files needs 'train' (valid and test may be carved from it)")
    result = {}
    for split, value in section.items():
        at = f"{where}.files.{split}"
        if fmt == "text" and task == "translation":
            if not isinstance(value, dict) or set(value) != set(langs):
                raise ConfigError(f"{at} must map each language ({', '.join(langs)}) to a file")
            result[split] = {
                f"{split}.{lang}": parse_file(value[lang], f"{at}.{lang}") for lang in langs
            }
            check_distinct_files(list(result[split].values()), langs, at)
        else:
            name = f"{split}.{'txt' if fmt == 'text' else fmt}"
            result[split] = {name: parse_file(value, at)}
    return result


def check_distinct_files(files: list[InlineFile], sides: tuple[str, ...], where: str) -> None:
    """Refuse one file (or archive member) declared for both sides of a translation."""
    first, second = files
    if (first.location, first.member) == (second.location, second.member):
        raise ConfigError(
            f"{where}: {sides[0]} and {sides[1]} are the same file ({describe(first)})"
        )


def describe(f: InlineFile) -> str:
    """A declared file as messages name it: ``pairs.zip member corpus/pairs.tsv``, a local
    path as declared, a URL by its file name."""
    name = basename(f.location) if f.is_url else f.location
    return f"{name} member {f.member}" if f.member else name


def _carve(section: Any, given: set[str], where: str) -> tuple[dict, int]:
    """Sizes of the splits carved from train, and the seed of the shuffle."""
    missing = [s for s in SPLITS if s not in given]
    if section is None:
        if missing:
            raise ConfigError(
                f"{where}: no file for {missing[0]} and no {where}.split to carve it from train"
            )
        return {}, 0
    if not isinstance(section, dict):
        raise ConfigError(f"{where}.split must be a mapping (valid, test, seed), got {section!r}")
    unknown = sorted(set(section) - {"valid", "test", "seed"})
    if unknown:
        raise ConfigError(f"unknown key {where}.split.{unknown[0]}; allowed: valid, test, seed")
    seed = section.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{where}.split.seed must be an integer, got {seed!r}")
    carve = {}
    for split in ("valid", "test"):
        size = section.get(split)
        if split in given:
            if size is not None:
                raise ConfigError(f"{where}: {split} is given as files and in {where}.split")
            continue
        if size is None:
            raise ConfigError(f"{where}.split needs a size for {split} (no file given)")
        if isinstance(size, bool) or not isinstance(size, int | float):
            raise ConfigError(f"{where}.split.{split} must be a count or a fraction, got {size!r}")
        if isinstance(size, float) and not 0 < size < 1 or isinstance(size, int) and size < 1:
            raise ConfigError(
                f"{where}.split.{split} must be a count >= 1 or a fraction in (0, 1), got {size!r}"
            )
        carve[split] = size
    return carve, seed


def inline_dataset(name: str, section: Any, check_files: bool = False) -> Dataset:
    """The :class:`Dataset` that ``data.datasets.<name>`` declares.

    ``check_files`` also refuses local files that do not exist (the selected dataset's).
    """
    where = f"data.datasets.{name}"
    if not NAME.match(name):
        raise ConfigError(f"{where}: a dataset name is letters, digits, '_', '.', '-'")
    if name in DATASETS:
        raise ConfigError(
            f"{where}: {name!r} is a registry dataset; give the declaration its own name"
        )
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}; allowed: {', '.join(KEYS)}")
    task = section.get("task")
    if task not in TASK_KINDS:
        raise ConfigError(f"{where}.task must be one of {', '.join(TASK_KINDS)}, got {task!r}")
    fmt = section.get("format", "text")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}.format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    langs = _langs(section.get("langs"), task, where)
    roles, columns = _columns(section.get("columns"), task, fmt, where)
    header = section.get("header", False)
    if not isinstance(header, bool) or header and fmt == "text":
        raise ConfigError(
            f"{where}.header must be true or false (tsv and csv only), got {header!r}"
        )
    if any(isinstance(c, str) for c in columns.values()) and not header:
        raise ConfigError(f"{where}.columns names a column by header: set {where}.header: true")
    files = _split_files(section.get("files"), task, fmt, langs, where)
    carve, seed = _carve(section.get("split"), set(files), where)
    dedup = section.get("dedup_test_from_train", False)
    if not isinstance(dedup, bool):
        raise ConfigError(f"{where}.dedup_test_from_train must be true or false, got {dedup!r}")
    declared = {raw: f for split in files.values() for raw, f in split.items()}
    _check_hashes(declared, where)
    if check_files:
        _check_local_files(declared, where)
    spec = InlineSpec(task, fmt, roles, columns, header, tuple(files), carve, seed, dedup)
    return declared_dataset(name, spec, declared, langs)


def _langs(value: Any, task: str, where: str) -> tuple[str, str]:
    if task != "translation":
        if value is not None:
            raise ConfigError(f"{where}.langs applies to translation only")
        return ("", "")
    if (not isinstance(value, list) or len(value) != 2 or len(set(value)) != 2
            or not all(isinstance(x, str) and NAME.match(x) for x in value)):  # fmt: skip
        raise ConfigError(
            f"{where}.langs must be [source, target], two language codes; got {value!r}"
        )
    return value[0], value[1]


def _check_hashes(declared: dict[str, InlineFile], where: str) -> None:
    """Files of one archive must not claim two different checksums for it."""
    seen: dict[str, str] = {}
    for f in declared.values():
        if f.sha256 and seen.setdefault(f.location, f.sha256) != f.sha256:
            raise ConfigError(f"{where}.files: two different sha256 for {f.location}")


def _check_local_files(declared: dict[str, InlineFile], where: str) -> None:
    for raw, f in declared.items():
        if not f.is_url and not Path(f.location).expanduser().is_file():
            raise ConfigError(f"{where}.files: no such file {f.location} (for {raw})")


def declared_dataset(
    name: str, spec: InlineSpec, declared: dict[str, InlineFile], langs
) -> Dataset:
    files = tuple(RawFile(raw, f.location, f.member) for raw, f in declared.items())
    hashes = {f.location: f.sha256 for f in declared.values() if f.sha256}
    options: dict[str, Any] = {"inline": spec, "download_hashes": hashes,
                               "splits": {s: s for s in SPLITS},
                               "split_files": {s: f"{s}.tokens" for s in SPLITS},
                               "declarations": {raw: declaration(f, spec) for raw, f in declared.items()},
                               "described": {raw: describe(f) for raw, f in declared.items()}}  # fmt: skip
    glue = None
    if spec.task == "classification":
        n_inputs = len(spec.roles) - 1
        inputs = tuple(range(n_inputs))
        glue = GlueTask(name, {"train": "train", "valid": "dev", "test": "test"}, inputs, inputs,
                        n_inputs)  # fmt: skip
    src, tgt = langs
    description = f"declared in params.yaml: {spec.task}, {spec.format} files"
    return Dataset(name, TASK_KINDS[spec.task], description, files, src, tgt, glue=glue,
                   options=options)  # fmt: skip


def declaration(f: InlineFile, spec: InlineSpec) -> dict[str, Any]:
    """What the download stage compares with the raw file's record in its lock: a change of
    any of it fetches (or takes from the download cache) and extracts the file again."""
    return {"url": f.location, "member": f.member, "sha256": f.sha256, "format": spec.format,
            "columns": dict(spec.columns), "header": spec.header}  # fmt: skip


def described(ds: Dataset, raw_name: str) -> str:
    """The declared file behind raw file ``raw_name`` of ``ds`` (the raw name itself for a
    registry dataset)."""
    return ds.options.get("described", {}).get(raw_name, raw_name)


def local_files(ds: Dataset) -> list[str]:
    """The local paths a declared dataset reads (Snakemake's inputs of the download rule)."""
    return list(dict.fromkeys(raw.url for raw in ds.files if not InlineFile(raw.url).is_url))


def is_inline(ds: Dataset) -> bool:
    """True for a dataset declared in ``params.yaml``."""
    return "inline" in ds.options

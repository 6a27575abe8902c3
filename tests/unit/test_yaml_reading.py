"""params.yaml means one thing to DVC, Snakemake and the stage scripts, or is refused.

DVC reads it with ruamel.yaml as YAML 1.2 (its params and dvc.yaml's ``${...}``), Snakemake's
``configfile:`` with PyYAML as YAML 1.1. Each difference below is read with the tools' own
loaders (DVC's params reader, Snakemake's configfile loader) before the project's reader is
shown to refuse it in one line naming the key.
"""

from __future__ import annotations

import copy
import io
import math
from pathlib import Path

import pytest
import yaml
from dvc.dependency.param import read_param_file
from dvc.fs import LocalFileSystem
from dvc.parsing.context import Context
from pipeline_helpers import TINY_PARAMS
from snakemake.common.configfile import load_configfile

from memtr.common.errors import ConfigError
from memtr.common.yamlfile import read_yaml
from memtr.config.params import load_params


def dvc_reads(path: Path):
    """What DVC reads: its params reader, and the context dvc.yaml's ${...} resolve in."""
    params = read_param_file(LocalFileSystem(), str(path))
    context = Context.load_from(LocalFileSystem(), str(path)).value
    assert params == context
    return params


def snakemake_reads(path: Path):
    return load_configfile(str(path))


# (plain scalar, YAML 1.1 value, YAML 1.2 value, the advice in the refusal)
DIFFERENT = [
    ("010", 8, 10, "write 10"),
    ("0_10", 8, 10, "write 10"),
    ("-010", -8, -10, "write -10"),
    ("0777", 511, 777, "write 777"),
    ("08", "08", 8, "write 8"),
    ("0o10", "0o10", 8, "write 8"),
    ("+.5", "+.5", 0.5, "write 0.5"),
    ("1e-3", "1e-3", 0.001, "write 0.001"),
    ("1e3", "1e3", 1000.0, "write 1000.0"),
    ("1.0e3", "1.0e3", 1000.0, "write 1000.0"),
    ("yes", True, "yes", "quote it ('yes') for the text, or write true"),
    ("No", False, "No", "quote it ('No') for the text, or write false"),
    ("on", True, "on", "quote it ('on') for the text, or write true"),
    ("OFF", False, "OFF", "quote it ('OFF') for the text, or write false"),
    ("1:30", 90, "1:30", "quote it ('1:30') for the text, or write 90"),
    ("1:3.5", 63.5, "1:3.5", "quote it ('1:3.5') for the text, or write 63.5"),
]
# read alike by both (ruamel.yaml, DVC's reader, keeps 1_000 and 0b101 as YAML 1.1 did)
ALIKE = [
    ("1_000", 1000), ("0x1F", 31), ("0b101", 5), ("1.5e-3", 0.0015), ("1.0e+3", 1000.0),
    ("true", True), ("'010'", "010"), ("y", "y"), ("null", None), (".inf", math.inf),
    ("0", 0), ("0.", 0.0),
]  # fmt: skip


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "old", "new", "advice"), DIFFERENT, ids=[d[0] for d in DIFFERENT])
def test_a_scalar_the_two_versions_read_differently_is_refused(tmp_path, text, old, new, advice):
    path = _write(tmp_path, f"train:\n  max_update: {text}\nseeds: [1, {text}]\n")
    dvc, snakemake = dvc_reads(path), snakemake_reads(path)
    assert (snakemake["train"]["max_update"], snakemake["seeds"][1]) == (old, old)
    assert (dvc["train"]["max_update"], dvc["seeds"][1]) == (new, new)
    assert yaml.safe_load(path.read_text()) == snakemake  # the stage scripts' old reading
    with pytest.raises(ConfigError) as err:
        read_yaml(path.read_text())
    message = str(err.value)
    assert message.startswith(f"train.max_update: {text} reads as ") and "\n" not in message
    assert "in YAML 1.1 (Snakemake, PyYAML)" in message and "in YAML 1.2 (DVC)" in message
    assert message.endswith(advice)
    with pytest.raises(ConfigError, match=r"^seeds\[1\]: "):
        read_yaml(f"seeds: [1, {text}]\n")


@pytest.mark.parametrize(("text", "value"), ALIKE, ids=[a[0] for a in ALIKE])
def test_a_scalar_both_read_alike_is_read_as_dvc_reads_it(tmp_path, text, value):
    path = _write(tmp_path, f"a:\n  b: {text}\n")
    dvc = dvc_reads(path)
    assert dvc == snakemake_reads(path) == read_yaml(path.read_text())
    if value is not None:
        assert dvc["a"]["b"] == value and type(read_yaml(path.read_text())["a"]["b"]) is type(value)


def test_a_date_which_dvc_cannot_interpolate_is_refused(tmp_path):
    """Both read 2020-01-01 as a date; DVC's ${...} context then fails with a TypeError."""
    path = _write(tmp_path, "experiment:\n  name: 2020-01-01\n")
    assert read_param_file(LocalFileSystem(), str(path)) == snakemake_reads(path)
    with pytest.raises(TypeError, match="Unsupported value of type 'date'"):
        Context.load_from(LocalFileSystem(), str(path))
    with pytest.raises(ConfigError) as err:
        read_yaml(path.read_text())
    assert str(err.value) == (
        "experiment.name: 2020-01-01 reads as a date, which DVC cannot read in params.yaml "
        "(text, numbers, true/false, null, lists, mappings); quote it ('2020-01-01')"
    )


def test_a_key_read_differently_is_refused(tmp_path):
    path = _write(tmp_path, "variants:\n  on: {layout: none}\n")
    assert list(dvc_reads(path)["variants"]) == ["on"]
    assert list(snakemake_reads(path)["variants"]) == [True]
    with pytest.raises(ConfigError, match=r"^variants: key on reads as true in YAML 1\.1"):
        read_yaml(path.read_text())


def test_a_repeated_key_is_refused_as_dvc_refuses_it(tmp_path):
    path = _write(tmp_path, "train:\n  lr: 0.1\n  dropout: 0.1\n  lr: 0.2\n")
    with pytest.raises(Exception, match="YAML file structure is corrupted"):
        dvc_reads(path)
    assert snakemake_reads(path)["train"]["lr"] == 0.2  # Snakemake takes the last
    with pytest.raises(ConfigError) as err:
        read_yaml(path.read_text())
    assert str(err.value) == (
        "train.lr: given twice in params.yaml (lines 2 and 4); DVC refuses a repeated key "
        "and Snakemake takes the last: keep one"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1,\n", "cannot parse params.yaml: while parsing a flow node: expected the node "
         "content, but found '<stream end>' (line 2, column 1)"),
        ("a:\n\tb: 1\n", "cannot parse params.yaml: while scanning for the next token: found "
         "character '\\t' that cannot start any token (line 2, column 1)"),
        ("a: 1\n---\nb: 2\n", "cannot parse params.yaml: expected a single document in the "
         "stream: but found another document (line 2, column 1)"),
        ("train:\n  lr: =\n", "train.lr: = is not a YAML value (!!value); quote it ('=') if it is text"),
        ("a: !!python/tuple [1, 2]\n", "a: the tag !!python/tuple is not YAML's; remove it"),
    ],
)  # fmt: skip
def test_text_either_version_cannot_read_is_one_line(text, message):
    with pytest.raises(ConfigError) as err:
        read_yaml(text)
    assert str(err.value) == message


def test_the_loader_refuses_a_seed_that_dvc_and_snakemake_would_read_apart(tmp_path):
    """experiment.seeds: [010] trained seed 8 under Snakemake and seed 10 under DVC."""
    text = yaml.safe_dump(TINY_PARAMS, sort_keys=False).replace(
        "seeds:\n  - 1\n", "seeds:\n  - 010\n", 1
    )
    path = _write(tmp_path, text)
    assert snakemake_reads(path)["experiment"]["seeds"] == [8]
    assert dvc_reads(path)["experiment"]["seeds"] == [10]
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert str(err.value) == (
        "experiment.seeds[0]: 010 reads as 8 in YAML 1.1 (Snakemake, PyYAML) and 10 in "
        "YAML 1.2 (DVC); write 10"
    )


def test_the_committed_params_files_read_alike(tmp_path):
    """Every params file the repository holds (params.yaml, presets, campaigns' snapshots)
    means the same to DVC and Snakemake."""
    repo = Path(__file__).resolve().parents[2]
    files = [repo / "params.yaml", *sorted((repo / "workflow/presets").glob("*.yaml")),
             *sorted((repo / "results").glob("*/params.yaml"))]  # fmt: skip
    assert len(files) > 10
    for path in files:
        assert read_yaml(path.read_text(), str(path)) == snakemake_reads(path) == dvc_reads(path)


def test_the_snakefile_reads_params_with_the_one_reader():
    """The Snakefile parses what read_yaml_file returns, never Snakemake's own reading."""
    snakefile = (Path(__file__).resolve().parents[2] / "workflow/Snakefile").read_text()
    assert "DOC = read_yaml_file(PARAMS_FILE)" in snakefile
    assert "parse_params(DOC" in snakefile and "parse_params(config" not in snakefile
    assert snakefile.index("read_yaml_file(PARAMS_FILE)") < snakefile.index("\nconfigfile:")
    doc = copy.deepcopy(TINY_PARAMS)
    assert load_configfile(io.StringIO(yaml.safe_dump(doc))) == read_yaml(yaml.safe_dump(doc))

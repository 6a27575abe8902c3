"""The JSON Schema of params.yaml is generated from the settings models and kept in step."""

import copy
import json

import jsonschema
import pytest
import yaml

from memtr.common.paths import PRESETS, REPO
from memtr.config.json_schema import SCHEMA_FILE, params_schema, schema_text
from memtr.settings import Section

SCHEMA = json.loads((REPO / SCHEMA_FILE).read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DEFAULT = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))


def test_the_committed_schema_is_the_generated_one():
    assert (REPO / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text(), (
        "regenerate: python -m memtr.config.json_schema > params.schema.json"
    )
    jsonschema.Draft202012Validator.check_schema(params_schema())


@pytest.mark.parametrize(
    "path",
    ["params.yaml", *sorted(p.relative_to(REPO).as_posix() for p in PRESETS.glob("*.yaml"))],
)
def test_every_shipped_params_file_validates(path):
    doc = yaml.safe_load((REPO / path).read_text(encoding="utf-8"))
    assert [e.message for e in VALIDATOR.iter_errors(doc)] == []


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("train", "lr", "fast"), ("train", "max_updates", 10), ("eval", "splits", "test"),
     ("experiment", "seeds", [1, "two"]), ("model", "size", 3), ("attention", "seeds", 1),
     ("variants", "mem10", {"layout": "prepend"}), ("train", "precision", "fp8")],
)  # fmt: skip
def test_the_schema_refuses_a_malformed_value(section, key, value):
    doc = copy.deepcopy(DEFAULT)
    doc[section][key] = value
    assert list(VALIDATOR.iter_errors(doc)), f"{section}.{key}: {value!r} accepted"


def test_the_params_file_names_the_schema_for_editors():
    first = (REPO / "params.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema={SCHEMA_FILE}"


def test_every_field_is_documented():
    for model in Section.__subclasses__() + [
        m for s in Section.__subclasses__() for m in s.__subclasses__()
    ]:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no docstring"

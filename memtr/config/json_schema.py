"""The JSON Schema of ``params.yaml``, generated from the settings models.

    python -m memtr.config.json_schema > params.schema.json

Editors that read ``# yaml-language-server: $schema=params.schema.json`` complete and check the
file; Snakemake checks its config against it (``validate`` in workflow/Snakefile). The schema
states each key's type and default; the checks across keys (a layout the task offers, seeds
that exist, ...) are the loader's (memtr.config.params), which runs before every stage.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from memtr.datasets.params import DataParams
from memtr.settings import (
    AttentionSettings,
    ExperimentSettings,
    ModelSettings,
    PretrainSettings,
    TrainSettings,
    Variant,
)
from memtr.specs import SPECS

SCHEMA_FILE = "params.schema.json"  # at the repository's root, beside params.yaml


def _section(model: Any, *left_out: str) -> dict:
    """A section's schema, its own definitions inlined into the shared ``$defs``."""
    schema = TypeAdapter(model).json_schema(ref_template="#/$defs/{model}")
    for name in left_out:
        schema["properties"].pop(name)
        if name in schema.get("required", []):
            schema["required"].remove(name)
    return schema


def params_schema() -> dict:
    """The schema of a whole ``params.yaml`` (the eval section: any task's)."""
    evals = {spec.eval_settings for spec in SPECS.values()}
    sections = {
        "data": _section(DataParams),
        "model": _section(ModelSettings),
        "variants": {
            "type": "object",
            "description": "name -> a memory layout and its size (the baseline: layout none)",
            "additionalProperties": _section(Variant, "name"),
            "minProperties": 1,
        },
        "experiment": _section(ExperimentSettings),
        "pretrain": _section(PretrainSettings),
        "train": _section(TrainSettings),
        "eval": {"anyOf": [_section(e) for e in sorted(evals, key=lambda e: e.__name__)]},
        "attention": _section(AttentionSettings),
    }
    defs: dict = {}
    for schema in _walk(sections):
        defs.update(schema.pop("$defs", {}))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "memtr params.yaml",
        "description": "Every setting of the memtr pipeline (generated from memtr/settings.py "
        "and the task specs; regenerate with `python -m memtr.config.json_schema`).",
        "type": "object",
        "properties": sections,
        "required": [k for k in sections if k != "pretrain"],
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }


def _walk(node: Any):
    """Every mapping in ``node`` that carries ``$defs``."""
    if isinstance(node, dict):
        if "$defs" in node:
            yield node
        for value in list(node.values()):
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def schema_text() -> str:
    """The committed file's text."""
    return json.dumps(params_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")

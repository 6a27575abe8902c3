"""Where the repository's fixed parts live: one definition of each path.

Light to import (no third-party module), so that any stage script can name a folder without
loading the code that reads it.
"""

import functools
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "fairseq_plugins"  # fairseq's --user-dir
PRESETS = REPO / "workflow" / "presets"  # one params.yaml per experiment: <name>.yaml
PAPER_REFERENCE = REPO / "workflow" / "paper_reference.yaml"  # the paper's numbers, typed in
DVC_YAML = REPO / "dvc.yaml"  # the DAG; its code deps are the one list of each stage's code
PRETRAIN_ROOT = Path("pretrain")  # the pretrain stage's outputs: pretrain/<name>/ (repo-relative)
CODE_ROOTS = ("workflow/scripts/", "memtr/", "memspec", "fairseq_plugins")


@functools.cache
def _stages() -> dict:
    import yaml

    return yaml.safe_load(DVC_YAML.read_text(encoding="utf-8"))["stages"]


def stage_code(stage: str) -> list[str]:
    """The code files of pipeline stage ``stage``: its code deps in dvc.yaml, folders expanded
    to their ``.py`` files (Snakemake's ``input:`` tracks files, not folders), repo-relative."""
    deps = _stages()[stage]["deps"]
    files = []
    for dep in (d for d in deps if d.startswith(CODE_ROOTS)):
        path = REPO / dep
        found = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        files += [p.relative_to(REPO).as_posix() for p in found]
    return files


def stage_params(stage: str, doc: dict, wildcards: Any = None) -> str:
    """The values in ``doc`` (params.yaml) of the keys that pipeline stage ``stage`` lists
    under ``params:`` in dvc.yaml (``${item.variant}``: the job's ``wildcards.variant``; a key
    left out: null), as one JSON text. A Snakemake rule holds it in its ``params:``, so that
    Snakemake's params trigger reruns a job exactly when DVC reruns its stage for a changed
    param (one text: Snakemake would flatten a mapping into its keys and compare those)."""
    import json

    values: dict[str, Any] = {}
    for key in _stages()[stage].get("params") or []:
        key = key.replace("${item.variant}", str(getattr(wildcards, "variant", "")))
        node: Any = doc
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        values[key] = node
    return json.dumps(values, sort_keys=True)

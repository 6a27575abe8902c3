"""A preset as ``dvc exp run -S`` arguments: the Hydra overrides that turn one params.yaml into
another, so that a preset runs as a DVC experiment without overwriting the working params.yaml::

    dvc exp run $(python workflow/scripts/use_preset.py cpu_replication --as-set)

DVC applies ``-S`` with Hydra's override grammar: ``++key=value`` sets a key whether or not it
exists, ``~key`` removes one. Only what differs is passed; a key whose value is null is the same
as a missing one to the settings (every optional key defaults to null), so it is never removed
(Hydra cannot remove a null key). What DVC would write wrongly is refused in one line (a
mapping emptied, a number such as 2e-05 that YAML 1.1 reads as text): such a preset is switched
to with ``use_preset.py NAME``.
"""

from __future__ import annotations

import re
from typing import Any

from memtr.common.errors import ConfigError

# what Hydra reads unquoted as a dictionary key
PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def set_param_overrides(current: dict, preset: dict, prefix: str = "") -> list[str]:
    """Hydra overrides that make ``current`` (a parsed params.yaml) read as ``preset``."""
    overrides = []
    for key, value in preset.items():
        path = f"{prefix}{key}"
        if value == {} and current.get(key):
            raise ConfigError(
                f"{path}: -S cannot empty a mapping (DVC's YAML writer breaks one with a comment "
                "after its key); switch params.yaml with use_preset.py instead"
            )
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            overrides += set_param_overrides(current[key], value, f"{path}.")
        elif key not in current or current[key] != value:
            overrides.append(f"++{path}={hydra_value(value, path)}")
    for key, value in current.items():
        if key not in preset and value is not None:
            overrides.append(f"~{prefix}{key}")
    return overrides


def hydra_value(value: Any, path: str) -> str:
    """``value`` in Hydra's override grammar, as one shell word (no whitespace: the words of
    ``$(...)`` are split on it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        if "e" in text and "." not in text:  # DVC writes 2e-05, which YAML 1.1 reads as text
            raise ConfigError(
                f"{path}: DVC would write {text}, text to YAML 1.1 (Snakemake); switch "
                "params.yaml with use_preset.py instead"
            )
        return text
    if isinstance(value, str):
        if re.search(r"\s", value) or "${" in value:
            raise ConfigError(
                f"{path}: {value!r} cannot pass through -S as one word; set it in params.yaml"
            )
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v, path) for v in value) + "]"
    if isinstance(value, dict):
        for key in value:
            if not PLAIN_KEY.fullmatch(str(key)):
                raise ConfigError(
                    f"{path}: key {key!r} cannot pass through -S; set it in params.yaml"
                )
        return (
            "{" + ",".join(f"{k}:{hydra_value(v, f'{path}.{k}')}" for k, v in value.items()) + "}"
        )
    raise ConfigError(f"{path}: a {type(value).__name__} cannot pass through -S")

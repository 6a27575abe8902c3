"""``params.yaml`` read one way for every tool: DVC's reading, or a one-line refusal.

DVC reads ``params.yaml`` (its ``params:`` and the ``${...}`` of ``dvc.yaml``) with
ruamel.yaml as YAML 1.2; Snakemake's ``configfile:`` and PyYAML's ``yaml.safe_load`` read it
as YAML 1.1. The two differ on plain scalars such as ``010`` (8 in YAML 1.1, 10 in YAML 1.2),
``0o10``, ``08``, ``+.5``, ``yes``/``no``/``on``/``off`` (booleans in 1.1, text in 1.2),
``1e-3`` (text in 1.1, a number in 1.2) and ``1:30`` (90 in 1.1, text in 1.2), and on a key
given twice (DVC refuses it, PyYAML keeps the last). :func:`read_yaml` reads the text both
ways and returns it only when they agree, so that the file means one thing to DVC, to
Snakemake and to the stage scripts; otherwise it raises a :class:`ConfigError` of one line
naming the key and saying what to write.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from memtr.common.errors import ConfigError

YAML_11 = "YAML 1.1 (Snakemake, PyYAML)"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: the same reading
YAML_12 = "YAML 1.2 (DVC)"


def read_yaml_file(path: Path | str) -> Any:
    """The document of the YAML file ``path`` (see :func:`read_yaml`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    return read_yaml(path.read_text(encoding="utf-8"), str(path))


def read_yaml(text: str, where: str = "params.yaml") -> Any:
    """The document of ``text`` as both YAML 1.1 and YAML 1.2 read it; a one-line
    ConfigError when it cannot be parsed, holds a key twice, or reads differently."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError as RuamelError

    try:
        node = yaml.compose(text, Loader=LOADER)
        if node is not None:
            _no_repeated_keys(node, "", where)
        old = None if node is None else yaml.SafeLoader("").construct_document(node)
    except yaml.constructor.ConstructorError as exc:  # a tag neither reader constructs
        found = _node_at(node, exc.problem_mark) if node is not None else None
        if found is None:
            raise ConfigError(f"cannot parse {where}: {_problem(exc)}") from None
        path, bad = found
        tag = bad.tag.replace("tag:yaml.org,2002:", "!!")
        if isinstance(bad, yaml.ScalarNode) and not bad.tag.startswith("!"):
            raise ConfigError(
                f"{path or 'the document'}: {bad.value} is not a YAML value ({tag}); "
                f"quote it ('{bad.value}') if it is text"
            ) from None
        raise ConfigError(
            f"{path or 'the document'}: the tag {tag} is not YAML's; remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse {where}: {_problem(_said_better(text, exc))}") from None
    try:
        new = YAML(typ="safe").load(text)  # dvc.utils.serialize.parse_yaml
    except RuamelError as exc:
        raise ConfigError(f"cannot parse {where} as {YAML_12}: {_problem(exc)}") from None
    difference = _first_difference(old, new, [])
    if difference is not None:
        raise ConfigError(_explain(node, *difference))
    odd = _first_odd(new, [])
    if odd is not None:  # DVC's ${...} context takes none of these (a TypeError, not a line)
        path, value = odd
        text = _source(node, path) or repr(value)
        raise ConfigError(
            f"{_dotted(path)}: {text} reads as a {type(value).__name__}, which DVC cannot read "
            f"in params.yaml (text, numbers, true/false, null, lists, mappings); quote it ('{text}')"
        )
    return new


def _said_better(text: str, exc: Exception) -> Exception:
    """PyYAML's own parser's error for ``text``, which says more than libyaml's (the
    character it found); ``exc`` if that parser reads it."""
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as better:
        return better
    return exc


def _problem(exc: Exception) -> str:
    """A YAML error's problem and where it is, on one line."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    text = f"{context}: {problem}" if context else problem
    text = " ".join(text.split())
    return f"{text} (line {mark.line + 1}, column {mark.column + 1})" if mark else text


def _node_at(node: yaml.Node, mark: Any, path: str = "") -> tuple[str, yaml.Node] | None:
    """(the dotted path, the node) of the node that starts at ``mark``."""
    if mark is None:
        return None
    if node.start_mark.index == mark.index:
        return path, node
    children = node.value if isinstance(node, yaml.SequenceNode) else []
    items = [(f"{path}[{i}]", child) for i, child in enumerate(children)]
    if isinstance(node, yaml.MappingNode):
        items = [(_join(path, _scalar_key(k)), v) for k, v in node.value]
    for child_path, child in items:
        found = _node_at(child, mark, child_path)
        if found is not None:
            return found
    return None


def _scalar_key(node: yaml.Node) -> Any:
    return node.value if isinstance(node, yaml.ScalarNode) else id(node)


def _no_repeated_keys(node: yaml.Node, path: str, where: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            name = _scalar_key(key)
            if name in seen and name != "<<":
                raise ConfigError(
                    f"{_join(path, name)}: given twice in {where} (lines {seen[name]} and "
                    f"{key.start_mark.line + 1}); DVC refuses a repeated key and Snakemake "
                    "takes the last: keep one"
                )
            seen[name] = key.start_mark.line + 1
            _no_repeated_keys(value, _join(path, name), where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _no_repeated_keys(item, f"{path}[{i}]", where)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _first_difference(old: Any, new: Any, path: list) -> tuple[list, Any, Any] | None:
    """(the path, the YAML 1.1 value, the YAML 1.2 value) of the first place where the two
    readings differ; a key that differs ends its path as ``("key", old, new)``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for (k_old, v_old), (k_new, v_new) in zip(old.items(), new.items(), strict=False):
            if not _same(k_old, k_new):
                return [*path, ("key", k_old, k_new)], k_old, k_new
            found = _first_difference(v_old, v_new, [*path, k_new])
            if found is not None:
                return found
        return None if len(old) == len(new) else (path, old, new)
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = _first_difference(a, b, [*path, i])
            if found is not None:
                return found
        return None
    return None if _same(old, new) else (path, old, new)


PLAIN = (str, int, float, bool, type(None))


def _first_odd(value: Any, path: list) -> tuple[list, Any] | None:
    """(the path, the value) of the first value that is no JSON-like value (a date, bytes)."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return None if isinstance(value, PLAIN) else (path, value)
    for key, item in items:
        if not isinstance(key, PLAIN):
            return [*path, ("key", key, key)], key
        found = _first_odd(item, [*path, key])
        if found is not None:
            return found
    return None


def _dotted(path: list) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, tuple):
            continue  # a key: named in the message
        else:
            text = _join(text, part)
    return text or "the document"


def _source(node: yaml.Node | None, path: list) -> str | None:
    """The text of the plain scalar at ``path`` as the file writes it."""
    for part in path:
        if isinstance(part, tuple):
            for key, _ in node.value if isinstance(node, yaml.MappingNode) else []:
                if isinstance(key, yaml.ScalarNode) and _construct(key) == part[1]:
                    return key.value
            return None
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if _construct(k) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            return None
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _construct(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return None
    return yaml.SafeLoader("").construct_object(node)


def _show(value: Any) -> str:
    """A value as a YAML reader that both versions agree on would write it."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float) and "e" in repr(value):  # 1e-05: text in YAML 1.1
        for digits in range(1, 18 if 1e-12 < abs(value) < 1e16 else 0):
            plain = f"{value:.{digits}f}"
            if float(plain) == value:
                return plain
        mantissa, exponent = repr(value).split("e")
        mantissa = mantissa if "." in mantissa else f"{mantissa}.0"
        return f"{mantissa}e{exponent}"
    if isinstance(value, int | float):
        return repr(value)
    return repr(value)


def _advice(text: str, old: Any, new: Any) -> str:
    if isinstance(new, int | float) and not isinstance(new, bool):
        return f"write {_show(new)}"
    if isinstance(new, str) and not isinstance(old, str):
        return f"quote it ('{text}') for the text, or write {_show(old)}"
    return f"write it as one of {_show(new)} or {_show(old)}"


def _explain(node: yaml.Node | None, path: list, old: Any, new: Any) -> str:
    where = _dotted(path)
    is_key = bool(path) and isinstance(path[-1], tuple)
    text = _source(node, path)
    if text is None:
        return f"{where}: reads as {old!r} in {YAML_11} and {new!r} in {YAML_12}; rewrite it"
    what = f"key {text}" if is_key else text
    return (
        f"{where}: {what} reads as {_show(old)} in {YAML_11} and {_show(new)} in {YAML_12}; "
        f"{_advice(text, old, new)}"
    )

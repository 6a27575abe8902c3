"""The repository's own import graph, read from the source (nothing is imported).

Every ``import`` counts, at module level or inside a function (a lazy import runs as soon
as the function does), except those under ``if TYPE_CHECKING:``, which never run. A module
that names ``PLUGIN_DIR`` hands the plugin to a fairseq subprocess (``--user-dir``), so it
depends on ``fairseq_plugins`` as if it imported it.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("memspec", "memtr", "fairseq_plugins", "benchmarks")  # the repository's own
SCRIPTS = REPO / "workflow" / "scripts"


def module_file(name: str, importer: Path | None = None) -> Path | None:
    """The file of module ``name`` in the repository (a package's ``__init__.py``); a script's
    ``_bootstrap`` is the one beside it (``workflow/scripts/`` or ``benchmarks/``)."""
    if name == "_bootstrap":
        beside = (importer.parent if importer else SCRIPTS) / "_bootstrap.py"
        return beside if beside.is_file() else None
    base = REPO.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_name(path: Path) -> str:
    """The dotted name of a repository file (stage scripts by their file name)."""
    if path.parent == SCRIPTS:
        return path.stem
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST, package: str, typed: bool = False) -> list[str]:
    """Every module name an import statement of ``tree`` may load (TYPE_CHECKING skipped,
    unless ``typed``: the imports a type checker follows too)."""
    names: list[str] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node) and not typed:
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y inside ``package``
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]  # submodules
        todo.extend(ast.iter_child_nodes(node))
    return names


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` runs ``a/__init__``, ``a/b/__init__`` and ``a.b.c`` itself."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@cache
def direct_imports(path: Path, typed: bool = False) -> frozenset[Path]:
    """The repository files that importing (or running) ``path`` loads directly (``typed``:
    and those its ``if TYPE_CHECKING:`` blocks name)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    source = path.read_text(encoding="utf-8")
    found = set()
    ancestors = set(_with_parents(name)[:-1])  # already running when this module is imported
    for imported in _imported_names(ast.parse(source), package, typed):
        for candidate in _with_parents(imported):
            if candidate in ancestors:
                continue
            target = module_file(candidate, path)
            if target is not None and target != path:
                found.add(target)
    if "PLUGIN_DIR" in source and module_name(path) != "memtr.common.paths":
        found.add(REPO / "fairseq_plugins" / "__init__.py")
    return frozenset(found)


def closure(path: Path, typed: bool = False) -> set[Path]:
    """Every repository file that running ``path`` may load (itself included; ``typed``: with
    the imports of ``if TYPE_CHECKING:`` blocks)."""
    seen, todo = {path}, [path]
    while todo:
        for dep in direct_imports(todo.pop(), typed):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def repository_modules() -> list[Path]:
    """Every Python file of the repository's own packages and the stage scripts."""
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    return sorted([*files, *SCRIPTS.glob("*.py")])

"""The design stays visible: imports point one way, no cycles, no module too long.

Layers from top to bottom: a module may import from its own layer and the layers below,
never from a layer above. Lazy imports inside functions count (``import_graph``).
"""

import re
import subprocess
import sys

import pytest
from import_graph import REPO, SCRIPTS, closure, direct_imports, module_name, repository_modules

LAYERS = [  # top -> bottom; a name stands for the module or the package of that name
    ("workflow/scripts", "benchmarks"),
    ("memtr.stage",),
    ("memtr.reports",),
    ("memtr.campaigns",),
    ("memtr.attention",),
    ("memtr.analysis",),
    ("memtr.tasks",),
    ("memtr.run",),
    ("memtr.scoring",),
    ("memtr.config",),
    ("memtr.specs",),
    ("memtr.settings",),
    ("memtr.data",),
    ("memtr.datasets",),
    ("memtr.stats",),
    ("memtr.common",),
    ("fairseq_plugins",),
    ("memspec",),
]
MAX_LINES = 450


def layer_of(path) -> int:
    if path.parent == SCRIPTS:
        return 0
    name = module_name(path)
    for depth, names in enumerate(LAYERS):
        if any(name == n or name.startswith(n + ".") for n in names):
            return depth
    if name == "memtr":  # the package's docstring
        return len(LAYERS)
    raise AssertionError(f"{name} is in no layer of tests/unit/test_architecture.py")


def upward_imports(modules) -> list[str]:
    return [
        f"{module_name(m)} -> {module_name(d)}"
        for m in modules
        for d in direct_imports(m, typed=True)
        if module_name(d) != "memtr" and layer_of(d) < layer_of(m)
    ]


def test_imports_point_down_the_layers():
    assert upward_imports(repository_modules()) == []


def test_the_layer_check_sees_an_import_that_points_up(tmp_path, monkeypatch):
    """A module of the config layer that imports a task's behaviour, even for types only,
    points up: the config reads the task's declaration (memtr.specs), never its behaviour."""
    config = REPO / "memtr" / "config" / "params.py"
    assert layer_of(config) > layer_of(REPO / "memtr" / "tasks" / "base.py")
    probe = REPO / "memtr" / "config" / "_probe_upward.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import memtr.tasks.base\n"
    )
    try:
        assert "memtr.config._probe_upward -> memtr.tasks.base" in upward_imports([probe])
    finally:
        probe.unlink()
        direct_imports.cache_clear()


def test_the_plugin_never_imports_memtr_and_memspec_imports_nothing_of_ours():
    for module in repository_modules():
        name = module_name(module)
        loaded = {module_name(p) for p in closure(module)} - {name}
        if name.startswith("fairseq_plugins"):
            assert not any(n.startswith("memtr") for n in loaded), name
        if name.startswith("memspec"):
            assert loaded == set(), name


def test_no_import_cycles():
    graph = {m: set(direct_imports(m, typed=True)) for m in repository_modules()}
    for module in graph:
        for dep in graph[module]:
            if dep != module and module in closure(dep, typed=True) and module_name(dep) != "memtr":
                pytest.fail(f"import cycle: {module_name(module)} <-> {module_name(dep)}")


def test_no_module_is_longer_than_the_limit():
    long = {
        p.relative_to(REPO).as_posix(): n
        for p in repository_modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"


@pytest.mark.parametrize(
    "module", ["memtr.config.params", "memtr.reports.tables", "memtr.attention.tables", "memspec"]
)
def test_config_and_reports_load_no_model_library(module):
    code = (
        f"import sys, {module}; print(sorted(m for m in ('torch', 'fairseq') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def documented_order() -> list[str]:
    """The layer order as docs/architecture.md writes it (``a`` -> ``b`` -> ...)."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    chain = text.split("Layers from top to bottom: ", 1)[1].split(". A module", 1)[0]
    return [re.sub(r"`|\s", "", part) for part in chain.split("->")]


def test_the_docs_and_the_package_state_this_layer_order():
    names = [n for layer in LAYERS for n in layer]
    docs = documented_order()
    assert docs[0] == "workflow/scriptsandbenchmarks" and docs[1:] == names[2:]
    package = (REPO / "memtr" / "__init__.py").read_text(encoding="utf-8")
    listed = re.findall(r"^- ``(\w+)/?``", package, re.M)
    assert [f"memtr.{n}" for n in listed] == [n for n in names if n.startswith("memtr.")]


def test_scripts_make_the_repository_importable_one_way():
    """Stage scripts and benchmarks reach the repository through the ``_bootstrap`` beside
    them, never through a ``sys.path`` edit of their own."""
    own_edits = [
        p.relative_to(REPO).as_posix()
        for folder in (SCRIPTS, REPO / "benchmarks")
        for p in sorted(folder.glob("*.py"))
        if p.name != "_bootstrap.py" and "sys.path" in p.read_text(encoding="utf-8")
    ]
    assert own_edits == []

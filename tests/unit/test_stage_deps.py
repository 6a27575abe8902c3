"""Each pipeline stage's code dependencies are complete by construction.

dvc.yaml names, per stage, the folders (or files) of the code its script runs; Snakemake's
rules take the same list (``stage_code``). These tests walk the imports of every stage script
(lazy imports inside functions count, see ``import_graph``) and fail when a stage's deps miss
a module it loads, or name code it does not load.
"""

import ast
import re
from pathlib import Path

import pytest
import yaml
from import_graph import REPO, closure

from memtr.common.paths import CODE_ROOTS, stage_code

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
SCRIPT = re.compile(r"python (workflow/scripts/\w+\.py)")


def script_of(stage: dict) -> Path:
    return REPO / SCRIPT.search(stage["cmd"]).group(1)


def code_deps(stage: dict) -> list[str]:
    return [d for d in stage["deps"] if d.startswith(CODE_ROOTS)]


def runs_code(path: Path) -> bool:
    """False for a module that holds nothing but its docstring (a package's __init__)."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return not (len(body) <= 1 and all(isinstance(n, ast.Expr) for n in body))


def covers(dep: str, path: Path) -> bool:
    target = REPO / dep
    return path == target or target in path.parents


def missing_and_unused(script: Path, deps: list[str]) -> tuple[list[str], list[str]]:
    """Files ``script`` loads that no dep covers; deps that cover nothing it loads."""
    loaded = [p for p in sorted(closure(script)) if runs_code(p)]
    missing = [
        p.relative_to(REPO).as_posix() for p in loaded if not any(covers(d, p) for d in deps)
    ]
    unused = [d for d in deps if not any(covers(d, p) for p in loaded)]
    return missing, unused


@pytest.mark.parametrize("name", sorted(DVC))
def test_dvc_stage_names_the_code_its_script_loads(name):
    missing, unused = missing_and_unused(script_of(DVC[name]), code_deps(DVC[name]))
    assert not missing, f"dvc.yaml stage {name}: deps miss {missing}"
    assert not unused, f"dvc.yaml stage {name}: deps name code its script never loads: {unused}"


def test_the_check_fails_when_a_dep_is_left_out():
    deps = code_deps(DVC["train"])
    missing, _ = missing_and_unused(
        script_of(DVC["train"]), [d for d in deps if d != "memtr/tasks"]
    )
    assert "memtr/tasks/translation.py" in missing
    missing, _ = missing_and_unused(script_of(DVC["train"]), [d for d in deps if d != "memtr/run"])
    assert "memtr/run/training.py" in missing


def test_report_code_does_not_retrain_or_re_evaluate_models():
    for stage in ("train", "evaluate"):
        deps = code_deps(DVC[stage])
        assert not any(d.startswith(("memtr/reports", "memtr/attention")) for d in deps), stage
    for stage in ("download", "prepare", "binarize"):
        assert not any(
            d.startswith(("memtr/tasks", "fairseq_plugins")) for d in code_deps(DVC[stage])
        )


def test_a_lazy_import_inside_a_function_counts():
    from import_graph import _imported_names

    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from memtr.config.params import Params\n"
        "def f():\n    from memtr.run.fairseq import thread_env\n"
    )
    names = _imported_names(tree, "memtr.tasks")
    assert "memtr.run.fairseq" in names and "memtr.config.params" not in names


SNAKE_RULES = {
    m.group(1): m.group(0)
    for f in sorted((REPO / "workflow" / "rules").glob("*.smk"))
    for m in re.finditer(r"^rule (\w+):\n(?:(?: {4}.*)?\n)+", f.read_text(), re.M)
}


@pytest.mark.parametrize("name", sorted(DVC))
def test_snakemake_rule_takes_the_same_code_as_its_dvc_stage(name):
    rule = SNAKE_RULES[name]
    inputs = rule.split("    input:\n", 1)[1].split("\n    output:", 1)[0]
    assert f'code=stage_code("{name}")' in inputs, f"rule {name}: input lacks its stage's code"
    files = stage_code(name)
    assert files and all((REPO / f).is_file() and f.endswith(".py") for f in files)
    loaded = {p.relative_to(REPO).as_posix() for p in closure(script_of(DVC[name])) if runs_code(p)}
    assert loaded <= set(files), f"rule {name}: stage_code misses {sorted(loaded - set(files))}"

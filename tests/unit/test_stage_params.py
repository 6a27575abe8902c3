"""Each stage's ``params:`` in dvc.yaml names exactly the keys its script reads.

The keys read are derived from the stage script: the settings it takes from the loaded
params file (``params.train`` -> ``train``, ``params.data.clean`` -> ``data.clean``,
``params.variants[args.variant]`` -> ``variants.${item.variant}``) and the few accessors
that stand for several keys (``ACCESSORS``). A key the stage's command already interpolates
(``${data.dataset}``) is tracked by DVC through the command and need not be listed again.
The whole params object is never passed to a function: each function takes its sections.
"""

import ast
import re
from pathlib import Path

import pytest
import yaml
from test_stage_deps import DVC, script_of

LOADERS = {"load_params", "load"}  # memtr.config.params.load_params, memtr.stage.load
DATA_LOADER = "load"  # returns the data section (and the dataset it selects)
# accessors standing for several keys; the dataset a stage works on is read from them
SELECTED = ("data.dataset", "data.datasets", "data.bpe", "data.gpt2_bpe")
ACCESSORS = {
    # the task follows from the dataset's kind: a stage that uses it reads the dataset's data
    # (a dep), so a change of the task reruns it through that dep, not through params
    "spec": (),
    # what the tables side reads (memtr.config.study.Study; the task and the target language
    # come with the dataset's data, as above)
    "study": ("experiment", "variants", "train", "eval", "data.dataset"),
    # the checkpoint fine-tuning starts from: train.restore_file, or the pretrain stage's
    "restore_file": ("train.restore_file", "pretrain.name"),
    "data.selected": SELECTED,
    "data.gpt2_from_pretrain": ("data.bpe", "data.gpt2_bpe"),
    # the mirror serves the same bytes as upstream (each file checked against its checksum
    # where one is known): where the data comes from is not what it is, so no rerun
    "data.resolved_mirror": (),
    "variant": ("variants.${item.variant}",),  # Params.variant(name): one variant's section
}
# read but not listed: how many threads a process uses changes its speed, not what it computes
# to the precision the tables report, so a change must not rerun a finished stage
RESOURCE_ONLY = {"train.threads"}
CHECK_STAGE = "check_params"  # validates the whole file: every section
ITEM = re.compile(r"\$\{(item\.\w+)\}")


def _chain(node: ast.AST, root: str) -> list[str] | None:
    """``root.a.b[args.x]`` -> ["a", "b", "${item.x}"]; None if not rooted at ``root``."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            key = node.slice
            if isinstance(key, ast.Attribute) and isinstance(key.value, ast.Name):
                parts.append(f"${{item.{key.attr}}}")
            else:
                parts.append("*")
            node = node.value
        elif isinstance(node, ast.Name):
            return list(reversed(parts)) if node.id == root else None
        else:
            return None


def loaded_names(tree: ast.Module) -> dict[str, str]:
    """Variables bound to a loader's result: name -> the section it holds ("" = all)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in LOADERS:
                continue
            target = node.targets[0]
            if isinstance(target, ast.Tuple):  # params, dataset = stage.load(args)
                target = target.elts[0]
            if isinstance(target, ast.Name):
                names[target.id] = "data" if called == DATA_LOADER else ""
    return names


def keys_read(script: Path) -> tuple[set[str], list[str]]:
    """(the params keys ``script`` reads, calls that pass the whole params object)."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    keys, whole = set(), []
    inner = {  # the a.b of a.b.c: only whole chains count
        id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute | ast.Subscript)
    }
    for root, section in loaded_names(tree).items():
        if section == "data":  # stage.load also returns the dataset the data section selects
            keys.update(SELECTED)
        chains = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                passed = [a for a in node.args if _chain(a, root) == []]
                if section:  # a section passed whole is read whole
                    keys.update([section] if passed else [])
                else:
                    whole += [ast.unparse(node) for _ in passed]
            if isinstance(node, ast.Attribute | ast.Subscript) and id(node) not in inner:
                chain = _chain(node, root)
                if chain:
                    chains.append([section, *chain] if section else chain)
        for chain in chains:
            dotted = ".".join(chain)
            accessor = next((a for a in ACCESSORS if dotted.startswith(a)), None)
            if accessor is not None:
                keys.update(ACCESSORS[accessor])
            else:
                keys.add(".".join(chain[:2]))
    return {k for k in keys if not any(k.startswith(f"{o}.") for o in keys)}, whole


def declared(stage: dict) -> tuple[set[str], set[str]]:
    """(the keys in the stage's ``params:``, the keys its command interpolates)."""
    params = set(stage.get("params") or [])
    in_cmd = set(re.findall(r"\$\{((?:data|experiment|pretrain|attention)\.\w+)\}", stage["cmd"]))
    return params, in_cmd


@pytest.mark.parametrize("name", sorted(DVC))
def test_the_stage_lists_exactly_the_params_its_script_reads(name):
    params, in_cmd = declared(DVC[name])
    if name == CHECK_STAGE:
        doc = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
        assert params == set(doc), f"{name} validates every section: {sorted(set(doc) - params)}"
        return
    read, whole = keys_read(script_of(DVC[name]))
    assert whole == [], f"stage {name} passes the whole params to {whole}"
    missing = sorted(read - params - in_cmd - RESOURCE_ONLY)
    assert not missing, f"dvc.yaml stage {name}: params miss {missing}"
    unread = sorted(params - read - in_cmd)
    assert not unread, f"dvc.yaml stage {name}: params name keys its script never reads: {unread}"


def test_the_derivation_sees_a_section_and_a_variant():
    tree = ast.parse(
        "params = load_params(p)\nrun(params.train, params.variants[args.variant])\n"
        "print(params.data.clean.min_len)\nuse(params)\n"
    )
    script = Path("/tmp") / "stage_params_probe.py"
    script.write_text(ast.unparse(tree))
    read, whole = keys_read(script)
    assert read == {"train", "variants.${item.variant}", "data.clean"}
    tree = ast.parse("params = load_params(p)\nrun(params.eval.splits, params.spec)\n")
    script.write_text(ast.unparse(tree))
    assert keys_read(script)[0] == {"eval.splits"}
    assert whole == ["use(params)"]

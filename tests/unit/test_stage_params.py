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

from memtr.common.paths import REPO as REPO_ROOT
from memtr.settings import EvalSettings, PretrainSettings, TrainSettings

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
    # model (pretrain.name: in the stage's deps, pretrain/${pretrain.name}/model)
    "restore_file": ("train.restore_file", "pretrain.name"),
    "data.selected": SELECTED,
    "data.gpt2_from_pretrain": ("data.bpe", "data.gpt2_bpe"),
    # the mirror serves the same bytes as upstream (each file checked against its checksum
    # where one is known): where the data comes from is not what it is, so no rerun
    "data.resolved_mirror": (),
    "variant": ("variants.${item.variant}",),  # Params.variant(name): one variant's section
}
# read but not listed, by stage: a setting that changes a stage's speed, not what it computes,
# must not rerun it. The evaluate stage's threads: one model scored with 1 and 2 threads gave
# byte-identical hypotheses. A training's threads are no such setting (1 and 2 threads trained
# different weights and BLEU: docs/pipeline.md#what-reruns-after-an-edit), so the train and
# pretrain stages list train.threads.
RESOURCE_ONLY = {"evaluate": {"train.threads"}}
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
    """(the keys in the stage's ``params:``, the keys its command and its deps interpolate:
    DVC tracks those through the command line and the paths)."""
    params = set(stage.get("params") or [])
    text = " ".join([stage["cmd"], *map(str, stage.get("deps") or [])])
    in_cmd = set(re.findall(r"\$\{((?:data|experiment|pretrain|attention)\.\w+)\}", text))
    return params, in_cmd


def optional_keys() -> set[str]:
    """``section.key`` of every settings field with a default: params.yaml may leave it out,
    and DVC fails on a listed key the file lacks, so a stage lists its section instead."""
    models = {"train": TrainSettings, "eval": EvalSettings, "pretrain": PretrainSettings}
    return {
        f"{section}.{name}"
        for section, model in models.items()
        for cls in (model, *model.__subclasses__())
        for name, info in cls.model_fields.items()
        if not info.is_required()
    }


def by_section(read: set[str]) -> set[str]:
    """``read`` with each optional key replaced by its section (see :func:`optional_keys`)."""
    optional = optional_keys()
    return {k.split(".")[0] if k in optional else k for k in read}


@pytest.mark.parametrize("name", sorted(DVC))
def test_the_stage_lists_exactly_the_params_its_script_reads(name):
    params, in_cmd = declared(DVC[name])
    if name == CHECK_STAGE:
        doc = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
        assert params == set(doc), f"{name} validates every section: {sorted(set(doc) - params)}"
        return
    read, whole = keys_read(script_of(DVC[name]))
    assert whole == [], f"stage {name} passes the whole params to {whole}"
    read = by_section(read - in_cmd)
    missing = sorted(read - params - in_cmd - RESOURCE_ONLY.get(name, set()))
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


@pytest.mark.parametrize("path", ["params.yaml", *sorted(
    p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "workflow" / "presets").glob("*.yaml")
)])  # fmt: skip
def test_every_key_a_stage_lists_is_in_the_shipped_params_files(path):
    """DVC refuses to run a stage whose listed param the file lacks ("Parameters ... are
    missing"): every key dvc.yaml lists is written out in params.yaml and every preset."""
    doc = yaml.safe_load((REPO_ROOT / path).read_text(encoding="utf-8"))
    missing = set()
    for stage in DVC.values():
        for key in stage.get("params") or []:
            section, _, name = key.partition(".")
            if "${" in name:
                continue  # variants.${item.variant}: each listed variant exists (the loader)
            if section not in doc or (name and name not in (doc[section] or {})):
                missing.add(key)
    assert not missing, f"{path} lacks keys dvc.yaml lists: {sorted(missing)}"


@pytest.mark.parametrize("name", ["train", "pretrain"])
def test_a_stage_that_trains_reruns_when_its_threads_change(name):
    """train.threads changes what a training computes (the order of its sums): a stage that
    trains lists it, itself or with its whole section."""
    params = declared(DVC[name])[0]
    assert params & {"train", "train.threads"}, f"{name} does not list train.threads"

"""Malformed params files through the tools themselves, on one shared tiny workspace.

DVC resolves the keys that dvc.yaml interpolates (data.dataset, experiment.name, variants and
seeds, attention.seeds and num_sentences, pretrain.name) before any stage runs, and offers no
hook to run the check first: `dvc repro` typed by hand gives DVC's own words for those
(docs/pipeline.md says to run the check script first). The entry script
`scripts/run_pipeline.sh` runs the check before DVC, and the Snakefile parses and runs the
check's fairseq parsers before any job: both give the project's one line. A sample of the
probe's malformed files (tests/unit/test_params_probe.py) goes through the tools here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from params_probe_helpers import CLASSES, cases
from pipeline_helpers import PIPELINE_PARAMS, REPO, make_workspace, run_tool

pytestmark = [pytest.mark.pipeline]

GOOD = yaml.safe_dump(PIPELINE_PARAMS, sort_keys=False)


def edited(path: str, value: object) -> str:
    doc = copy.deepcopy(PIPELINE_PARAMS)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    if value is None and last == "pretrain":
        del node[last]
    else:
        node[last] = value
    return yaml.safe_dump(doc, sort_keys=False)


# the keys DVC resolves itself: (text, the one line, what `dvc repro` says instead)
DVC_RESOLVED = [
    (edited("experiment.variants", 5), "error: experiment.variants must be list, got 5",
     "ERROR: unexpected error - 'Value' object is not iterable"),
    (edited("experiment.seeds", 1), "error: experiment.seeds must be list, got 1",
     "ERROR: unexpected error - 'Value' object is not iterable"),
    (edited("experiment.name", "../../etc"),
     "error: experiment.name '../../etc' must use letters, digits and _ only",
     "ERROR: Same item(s) are defined as both a dependency and an output in stage: tables."),
    ("", "error: params.yaml must hold a mapping at top level",
     "Could not find 'experiment.variants'"),
    (edited("pretrain", None),
     "error: missing section 'pretrain' in params.yaml: dvc.yaml reads pretrain.name; "
     "write pretrain: {name: none} for no pre-training",
     "Could not find 'pretrain.name'"),
    (GOOD.replace("  dataset: multi30k_de_en\n", ""), "error: missing key data.dataset",
     "Could not find 'data.dataset'"),
]  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A tiny workspace (never run: every file here is refused before any stage); the venv
    linked in, so that scripts/run_pipeline.sh finds it installed."""
    ws = make_workspace(tmp_path_factory.mktemp("probe"))
    (ws / ".venv").symlink_to(REPO / ".venv")
    yield ws
    (ws / "params.yaml").write_text(GOOD)


def tool(ws: Path, text: str, *args: str):
    (ws / "params.yaml").write_text(text)
    return run_tool(list(args), ws, timeout=300)


@pytest.mark.parametrize(("text", "line", "dvc_says"), DVC_RESOLVED,
                         ids=["variants", "seeds", "name", "empty", "pretrain", "dataset"])  # fmt: skip
def test_a_key_dvc_resolves_gets_one_line_from_the_entry_script_and_snakemake(
    workspace, text, line, dvc_says
):
    ws = workspace
    proc = tool(ws, text, "bash", "scripts/run_pipeline.sh")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).strip() == line  # nothing but the one line
    proc = tool(ws, text, "snakemake", "-n", "--cores", "1")
    assert proc.returncode == 1 and (proc.stdout + proc.stderr).strip() == line
    proc = tool(ws, text, "dvc", "repro", "check_params")  # typed by hand: DVC's own words
    assert proc.returncode != 0 and dvc_says in proc.stdout + proc.stderr
    assert not (ws / "build" / "params.ok").exists() and not (ws / "data").exists()


# two files of each class of the probe (tests/unit/test_params_probe.py runs all of them
# in-process): its first and its middle one
BY_CLASS = [[c for c in cases() if c.kind == kind] for kind in CLASSES]
SAMPLE = [c for of_class in BY_CLASS for c in (of_class[0], of_class[len(of_class) // 2])]


def dvc_reads_the_dag(ws: Path) -> bool:
    """Whether DVC resolves dvc.yaml with the workspace's params.yaml (its ${...} keys)."""
    from dvc.repo import Repo

    try:
        with Repo(str(ws)) as repo:
            repo.index.stages  # noqa: B018  (resolves every stage)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("case", SAMPLE, ids=[c.name for c in SAMPLE])
def test_a_sample_of_the_probe_gets_one_line_from_dvc_and_snakemake(workspace, case):
    """`snakemake -n` prints the one line alone; `dvc repro check_params` prints it among its
    own, or, for a key DVC resolves itself, the entry script prints it alone."""
    ws = workspace
    proc = tool(ws, case.text, "snakemake", "-n", "--cores", "1")
    line = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 1 and "\n" not in line and line.startswith("error: "), line
    assert case.field in line, line
    if dvc_reads_the_dag(ws):
        proc = tool(ws, case.text, "dvc", "repro", "check_params")
        assert proc.returncode != 0 and f"\n{line}\n" in f"\n{proc.stdout}{proc.stderr}", (
            proc.stdout + proc.stderr
        )
    else:
        proc = tool(ws, case.text, "bash", "scripts/run_pipeline.sh")
        assert proc.returncode == 2 and (proc.stdout + proc.stderr).strip() == line
    assert not (ws / "build" / "params.ok").exists() and not (ws / "data").exists()

"""A preset as `dvc exp run -S` arguments (use_preset.py --as-set): applied by DVC's own
override code, they turn params.yaml (and every preset) into the preset, or are refused in one
line where DVC would write the file wrongly; the working params.yaml is never written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dvc.utils.hydra import apply_overrides

from memtr.common.errors import ConfigError
from memtr.config.overrides import hydra_value, set_param_overrides
from memtr.config.params import parse_params

REPO = Path(__file__).resolve().parents[2]
PRESETS = sorted((REPO / "workflow" / "presets").glob("*.yaml"))
STARTS = [REPO / "params.yaml", *PRESETS]
# what -S cannot carry (DVC's YAML writer): model.args emptied (both), a 2e-05 (paper_glue)
REFUSED = {"paper_glue", "paper_wikitext103_lm"}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
@pytest.mark.parametrize("start", STARTS, ids=lambda p: f"from_{p.stem}")
def test_dvcs_overrides_turn_params_into_the_preset(start, preset, tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copyfile(start, params)
    target = yaml.safe_load(preset.read_text())
    try:
        overrides = set_param_overrides(yaml.safe_load(params.read_text()), target)
    except ConfigError as err:
        assert preset.stem in REFUSED and start.stem != preset.stem
        assert "\n" not in str(err) and "use_preset.py" in str(err)
        return
    if overrides:
        apply_overrides(params, overrides)  # what `dvc exp run -S` does
    assert parse_params(yaml.safe_load(params.read_text()), "exp") == parse_params(target, "want")
    if start == preset:
        assert overrides == []


def test_as_set_prints_s_arguments_and_leaves_params_yaml(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copyfile(REPO / "params.yaml", params)
    before = params.read_bytes()
    proc = subprocess.run(
        [sys.executable, "workflow/scripts/use_preset.py", "cpu_replication", "--as-set",
         "--params", str(params)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = proc.stdout.splitlines()
    assert lines and all(line.startswith("-S ") and len(line.split()) == 2 for line in lines)
    assert (
        "-S ++experiment.name='cpu_replication'" in lines
        and "-S ++experiment.seeds=[1,2,3]" in lines
    )
    assert params.read_bytes() == before and not list(tmp_path.glob("params.yaml.bak-*"))


def test_a_refused_preset_is_one_line_and_prints_no_argument(tmp_path):
    proc = subprocess.run(
        [sys.executable, "workflow/scripts/use_preset.py", "paper_glue", "--as-set"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr.startswith("error: model.args: ") and proc.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "null"), (True, "true"), (3, "3"), (0.0005, "0.0005"), ("a'b", r"'a\'b'"),
     ([1, "x"], "[1,'x']"), ({"layout": "none", "mem_tokens": 0}, "{layout:'none',mem_tokens:0}")],
)  # fmt: skip
def test_values_are_one_word_of_hydras_grammar(value, text):
    assert hydra_value(value, "k") == text


@pytest.mark.parametrize("value", ["two words", "${x}", 2e-05, {"a b": 1}])
def test_what_cannot_pass_through_s_is_refused(value):
    with pytest.raises(ConfigError, match="^k"):
        hydra_value(value, "k")

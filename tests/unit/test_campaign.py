"""A campaign's own lock (memtr.reports.campaign): from a workspace lock that other presets also
wrote, keep exactly the stages that recorded the campaign, with the committed locks as data."""

import copy
import subprocess
import sys

import pytest
import yaml

from memtr.common.paths import REPO
from memtr.config.params import load_params
from memtr.reports.campaign import (
    CampaignLockError,
    campaign_stages,
    pending_runs,
    recorded_stages,
    write_campaign_lock,
)

CAMPAIGN = yaml.safe_load((REPO / "results/cpu_replication/dvc.lock").read_text())
DEMO = yaml.safe_load((REPO / "dvc.lock").read_text())  # the demo: same dataset, stage names


def workspace_lock() -> dict:
    """The campaign's lock after the demo ran again in the same workspace."""
    lock = copy.deepcopy(CAMPAIGN)
    for name in ("train@baseline-1", "evaluate@mem10-1", "tables"):
        lock["stages"][name] = DEMO["stages"][name]
    return lock


def test_the_stages_another_experiment_rewrote_are_left_out():
    kept = campaign_stages(workspace_lock(), "cpu_replication", "multi30k_de_en")
    left_out = set(CAMPAIGN["stages"]) - set(kept)
    assert left_out == {"train@baseline-1", "evaluate@mem10-1", "tables"}
    assert kept["train@mem10-1"] == CAMPAIGN["stages"]["train@mem10-1"]
    assert {"download", "binarize", "extra_test"} <= set(kept)


def test_a_finished_campaign_lock_is_kept_whole():
    kept = campaign_stages(CAMPAIGN, "cpu_replication", "multi30k_de_en")
    assert kept == CAMPAIGN["stages"]


def test_data_stages_of_another_dataset_are_refused():
    with pytest.raises(CampaignLockError, match="stage download last ran on .*not on dataset"):
        campaign_stages(CAMPAIGN, "cpu_replication", "wikitext2")


def test_a_lock_without_a_run_of_the_experiment_is_refused(tmp_path):
    out = tmp_path / "dvc.lock"
    with pytest.raises(CampaignLockError, match="records no run of experiment 'cpu_replication'"):
        write_campaign_lock(REPO / "dvc.lock", "cpu_replication", "multi30k_de_en", out)
    assert not out.exists()


def test_the_written_lock_reads_back_as_the_kept_stages(tmp_path):
    source = tmp_path / "workspace.lock"
    source.write_text(yaml.safe_dump(workspace_lock()))
    out = tmp_path / "results/cpu_replication/dvc.lock"
    names = write_campaign_lock(source, "cpu_replication", "multi30k_de_en", out)
    written = yaml.safe_load(out.read_text())
    assert list(written["stages"]) == names
    assert written["schema"] == CAMPAIGN["schema"]
    assert written["stages"] == campaign_stages(
        workspace_lock(), "cpu_replication", "multi30k_de_en"
    )


def test_runs_the_campaign_lock_recorded_before_are_kept(tmp_path):
    out = tmp_path / "results/cpu_replication/dvc.lock"
    out.parent.mkdir(parents=True)
    out.write_text(yaml.safe_dump(CAMPAIGN))  # an earlier session recorded every run
    source = tmp_path / "workspace.lock"
    later = workspace_lock()  # this workspace's lock: the demo overwrote three of them
    later["stages"]["train@mem20-1"]["outs"][0]["size"] = 1  # and mem20-1 ran again
    source.write_text(yaml.safe_dump(later))
    write_campaign_lock(source, "cpu_replication", "multi30k_de_en", out)
    written = yaml.safe_load(out.read_text())["stages"]
    assert set(written) == set(CAMPAIGN["stages"])
    assert written["train@baseline-1"] == CAMPAIGN["stages"]["train@baseline-1"]
    assert written["train@mem20-1"]["outs"][0]["size"] == 1


LM_PRESET = load_params(REPO / "workflow/presets/cpu_replication_lm.yaml")


def test_pending_runs_come_seed_by_seed_with_attention_for_its_seeds():
    pending = pending_runs(LM_PRESET, set())
    assert len(pending) == 18
    assert pending[0] == ["evaluate@baseline-1", "attention@baseline-1"]
    assert pending[5] == ["evaluate@baseline_x105-1", "attention@baseline_x105-1"]
    assert pending[6] == ["evaluate@baseline-2"]
    assert pending[-1] == ["evaluate@baseline_x105-3"]


def test_a_run_is_pending_until_every_stage_it_needs_is_recorded():
    recorded = {"evaluate@baseline-1", "attention@baseline-1", "evaluate@mem10-1", "train@mem20-1"}
    pending = pending_runs(LM_PRESET, recorded)
    assert pending[:2] == [
        ["evaluate@mem10-1", "attention@mem10-1"],  # its attention is missing: the run again
        ["evaluate@mem20-1", "attention@mem20-1"],  # trained, not evaluated
    ]
    assert len(pending) == 17


def test_a_finished_campaign_has_nothing_pending():
    params = load_params(REPO / "results/cpu_replication/params.yaml")
    recorded = recorded_stages(REPO / "results/cpu_replication/dvc.lock")
    assert pending_runs(params, recorded) == []
    assert recorded_stages(REPO / "results/nowhere/dvc.lock") == set()


def test_pending_stops_quietly_when_its_reader_leaves(tmp_path):
    """``campaign.py pending | head -1``: no BrokenPipeError traceback once head has exited."""
    script = REPO / "workflow/scripts/campaign.py"
    cmd = [sys.executable, str(script), "pending", "--params", str(REPO / "params.yaml")]
    proc = subprocess.Popen(
        [*cmd, "--results", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader is gone before the first line is written
    stderr = proc.stderr.read().decode()
    assert proc.wait() == 1
    assert stderr == ""

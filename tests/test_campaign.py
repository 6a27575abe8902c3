"""A campaign's own lock (memtr.campaign): from a workspace lock that other presets also
wrote, keep exactly the stages that recorded the campaign, with the committed locks as data."""

import copy
from pathlib import Path

import pytest
import yaml

from memtr.campaign import CampaignLockError, campaign_stages, write_campaign_lock

REPO = Path(__file__).resolve().parents[1]
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

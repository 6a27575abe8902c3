"""A campaign's own lock (memtr.campaigns): from a workspace lock that other presets also
wrote, keep exactly the stages that recorded the campaign, with the committed locks as data."""

import copy
import json
import shutil
import subprocess
import sys

import pytest
import yaml

from memtr.campaigns import (
    CampaignLockError,
    RunCost,
    campaign_stages,
    fit_sitting,
    pending_runs,
    recorded_stages,
    run_costs,
    seconds_per_update,
    variant_rates,
    write_campaign_lock,
)
from memtr.common.paths import REPO
from memtr.config.params import load_params

CAMPAIGN = yaml.safe_load((REPO / "results/cpu_replication/dvc.lock").read_text())


def demo_lock() -> dict:
    """The lock a run of the demo writes in the same workspace: the campaign's stages, same
    names and dataset, its runs under runs/demo/, metrics/demo/ and results/demo/."""
    text = (REPO / "results/cpu_replication/dvc.lock").read_text()
    lock = yaml.safe_load(text.replace("/cpu_replication/", "/demo/"))
    for stage in lock["stages"].values():  # another run: other hashes
        for out in stage.get("outs", []):
            out["md5"] = "0" * 32 + (".dir" if out["md5"].endswith(".dir") else "")
    return lock


DEMO = demo_lock()


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
    source, out = tmp_path / "workspace.lock", tmp_path / "dvc.lock"
    source.write_text(yaml.safe_dump(DEMO))
    with pytest.raises(CampaignLockError, match="records no run of experiment 'cpu_replication'"):
        write_campaign_lock(source, "cpu_replication", "multi30k_de_en", out)
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
    pending = pending_runs(LM_PRESET.experiment, LM_PRESET.attention, set())
    assert len(pending) == 18
    assert pending[0] == ["evaluate@baseline-1", "attention@baseline-1"]
    assert pending[5] == ["evaluate@baseline_x105-1", "attention@baseline_x105-1"]
    assert pending[6] == ["evaluate@baseline-2"]
    assert pending[-1] == ["evaluate@baseline_x105-3"]


def test_a_run_is_pending_until_every_stage_it_needs_is_recorded():
    recorded = {"evaluate@baseline-1", "attention@baseline-1", "evaluate@mem10-1", "train@mem20-1"}
    pending = pending_runs(LM_PRESET.experiment, LM_PRESET.attention, recorded)
    assert pending[:2] == [
        ["evaluate@mem10-1", "attention@mem10-1"],  # its attention is missing: the run again
        ["evaluate@mem20-1", "attention@mem20-1"],  # trained, not evaluated
    ]
    assert len(pending) == 17


def test_a_finished_campaign_has_nothing_pending():
    params = load_params(REPO / "results/cpu_replication/params.yaml")
    recorded = recorded_stages(REPO / "results/cpu_replication/dvc.lock")
    assert pending_runs(params.experiment, params.attention, recorded) == []
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


# --------------------------------------------------------------------------------------------
# Planning a sitting (campaign.py pending --hours), from the committed runs of cpu_replication

EARLY = REPO / "metrics/cpu_replication"
SCRIPT = REPO / "workflow/scripts/campaign.py"


def copy_run(variant: str, seed: int, to, **changes) -> dict:
    """One committed run of cpu_replication copied under ``to``, its train.json changed."""
    folder = to / variant / f"seed{seed}"
    shutil.copytree(EARLY / variant / f"seed{seed}", folder)
    train = {**json.loads((folder / "train.json").read_text()), **changes}
    (folder / "train.json").write_text(json.dumps(train))
    return train


def test_seconds_per_update_are_each_runs_wall_time_over_its_updates(tmp_path):
    committed = seconds_per_update(EARLY)
    assert len(committed) == 9 and all(len(values) == 3 for values in committed.values())
    train = copy_run("mem10", 2, tmp_path)
    copy_run("mem10", 3, tmp_path, resumed=True)  # its wall time counts one attempt only
    assert seconds_per_update(tmp_path) == {"mem10": [train["train_wall_s"] / train["updates"]]}


def test_a_variant_not_run_yet_is_priced_by_the_early_ratio(tmp_path):
    for seed in (1, 2, 3):  # this machine: twice as slow as the early campaign's
        train = json.loads((EARLY / f"baseline/seed{seed}/train.json").read_text())
        copy_run("baseline", seed, tmp_path, train_wall_s=2 * train["train_wall_s"])
    rates = variant_rates(tmp_path, EARLY)
    assert rates["baseline"][1] == "measured: 3 runs"
    early_mem20 = sum(seconds_per_update(EARLY)["mem20"]) / 3
    assert rates["mem20"][0] == pytest.approx(2 * early_mem20)
    assert rates["mem20"][1] == "cpu_replication's x 2.00, the ratio over baseline"
    assert "mem20" not in variant_rates(tmp_path)  # no early experiment: no price


def test_runs_are_priced_at_the_cap_and_fitted_in_pending_order():
    rates = {"a": (0.6, "measured"), "b": (1.0, "measured"), "c": (0.3, "measured")}
    pending = [
        ["evaluate@a-1", "attention@a-1"],
        ["evaluate@b-1"],
        ["evaluate@x-1"],
        ["evaluate@c-2"],
    ]
    costs = run_costs(pending, rates, max_update=6000, evaluation_minutes=0)
    assert [(c.run, c.minutes) for c in costs] == [
        ("a-1", 60),
        ("b-1", 100),
        ("x-1", None),
        ("c-2", 30),
    ]
    chosen, later = fit_sitting(costs, hours=1.6)  # 96 min: a, then b would not end; c does
    assert [c.run for c in chosen] == ["a-1", "c-2"] and chosen[0].stages == pending[0]
    assert [c.run for c in later] == ["b-1", "x-1"]  # unknown cost: never started blind
    assert fit_sitting([RunCost("a-1", [], 61.0, "")], hours=1) == (
        [],
        [RunCost("a-1", [], 61.0, "")],
    )


def test_pending_hours_prints_the_runs_that_fit_and_the_plan(tmp_path):
    params = REPO / "results/cpu_replication/params.yaml"
    for variant in ("baseline", "mem10"):
        copy_run(variant, 1, tmp_path / "metrics/cpu_replication")
    args = [sys.executable, str(SCRIPT), "pending", "--params", str(params)]
    args += ["--results", str(tmp_path / "results"), "--metrics", str(tmp_path / "metrics")]
    done = subprocess.run([*args, "--hours", "0.5"], capture_output=True, text=True, check=True)
    planned = done.stdout.splitlines()
    assert planned and set(planned) < {
        " ".join(s)
        for s in pending_runs(load_params(params).experiment, load_params(params).attention, set())
    }
    assert done.stderr.startswith(f"fits 0.5 h: {len(planned)} run")
    assert all(f"evaluate@{v}-" in done.stdout for v in ("baseline", "mem10"))
    assert "later mem20-1: ? (no run of this variant measured yet)" in done.stderr
    bad = subprocess.run(
        [*args, "--early", "nowhere", "--hours", "1"], capture_output=True, text=True
    )
    assert bad.returncode == 1 and bad.stderr.strip().endswith(
        "no folder " + str(tmp_path / "metrics/nowhere")
    )
    bad = subprocess.run([*args, "--early", "cpu_replication"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--early is read with --hours only" in bad.stderr
    bad = subprocess.run([*args, "--hours", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a positive number of hours: '-1'" in bad.stderr

"""fairseq's own distributed training over 2 CPU processes (gloo) with a memory model; and
the several-GPU path as far as a CPU checks it: the Slurm profile's GPUs per training job,
and the pipeline's train command launched by fairseq on every GPU of the job."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import NO_PREFETCH, REPO

import fairseq_plugins  # noqa: F401  (safe globals to load the checkpoints)
from memtr.common.paths import PLUGIN_DIR

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_end_with_identical_parameters(reverse_corpus: Path, tmp_path: Path):
    port = free_port()
    common = [
        str(reverse_corpus / "bin"), "--user-dir", str(PLUGIN_DIR), "--task", "translation",
        "--arch", "mem_ctrl_tiny", "--mem-tokens", "4", "--share-all-embeddings",
        "--optimizer", "adam", "--lr", "1e-3", "--max-tokens", "500", "--max-update", "8",
        "--dropout", "0.1", "--seed", "3", "--cpu", "--no-epoch-checkpoints",
        "--save-interval-updates", "4", "--keep-interval-updates", "5",
        "--disable-validation", "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp",
        "--distributed-no-spawn", "--distributed-init-method", f"tcp://127.0.0.1:{port}",
        "--distributed-world-size", "2",
        *NO_PREFETCH,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for rank in (0, 1):  # fairseq creates the save dir on rank 0 only
        (tmp_path / f"rank{rank}").mkdir()
    ranks = [
        subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "dist_worker.py"),
                *common,
                "--distributed-rank",
                str(rank),
                "--save-dir",
                str(tmp_path / f"rank{rank}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    logs = [proc.communicate(timeout=600)[0] for proc in ranks]
    for proc, log in zip(ranks, logs, strict=True):
        assert proc.returncode == 0, log[-3000:]
    assert "training on 2 devices" in logs[0]
    memory = {}
    for update in (4, 8):
        zero, one = (
            torch.load(
                next((tmp_path / f"rank{r}").glob(f"checkpoint_*_{update}.pt")), map_location="cpu"
            )
            for r in (0, 1)
        )
        assert zero["optimizer_history"][-1]["num_updates"] == update
        assert zero["model"].keys() == one["model"].keys()
        for key in zero["model"]:
            assert torch.equal(zero["model"][key], one["model"][key]), (update, key)
        assert "encoder.memory_layers.0.fc1.weight" in zero["model"]
        memory[update] = zero["model"]["encoder.memory.vectors"]
    assert not torch.equal(memory[4], memory[8]), "the shared memory vectors were trained"


# ---- several GPUs: the Slurm profile asks for them, fairseq's own launch uses them all -------

# The Slurm environment of a one-task step of a job with 4 GPUs, as the jobstep executor runs a
# rule (``srun -n1 --gpus=N``); Slurm itself makes exactly those GPUs visible to the step.
SLURM_STEP = {"SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "gpu-node1", "SLURM_NNODES": "1",
              "SLURM_NTASKS": "1", "SLURM_NODEID": "0", "SLURM_LOCALID": "0", "SLURM_PROCID": "0"}  # fmt: skip
# A machine with ``gpus`` CUDA cards, as torch reports it *before* fairseq is imported (its
# default --distributed-world-size is the visible GPUs, read at import); then the pipeline's
# train command, parsed and launched as fairseq_cli.train.cli_main does, with the spawn of
# one process per GPU recorded instead of run.
FAKE_GPU_LAUNCH = """
import json, sys
from pathlib import Path
import torch
torch.cuda.is_available = lambda: True
gpus, doc, data, save = sys.argv[1:]
torch.cuda.device_count = lambda: int(gpus)
torch.cuda.is_bf16_supported = lambda *a, **k: True
from memtr.config.params import parse_params
from memtr.run.training import train_command
from memtr.tasks import task_of
params = parse_params(json.loads(doc))
mem4 = params.variants["mem4"]
options = task_of(params.spec).train_options(params.train, params.model, mem4, Path(data), None)
command = train_command(params.train, mem4, options, 1, Path(data), Path(save))
sys.argv = ["fairseq-train", *command[3:]]
from fairseq import options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.distributed import utils as distributed_utils
parser = options.get_training_parser()  # loads the plugin (--user-dir), as cli_main does
cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(parser))
launched = {}
torch.multiprocessing.spawn = lambda fn, args, nprocs, join: launched.update(spawned=nprocs)
distributed_utils.call_main(cfg, lambda cfg, **kwargs: launched.update(in_process=True))
d = cfg.distributed_training
print(json.dumps({"command": command, "tpu": cfg.common.tpu, "bf16": cfg.common.bf16,
                  "world_size": d.distributed_world_size, "rank": d.distributed_rank,
                  "init_method": d.distributed_init_method, **launched}))
"""


def test_the_slurm_profile_asks_for_the_gpus_of_every_training_job(monkeypatch):
    import yaml
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_executor_plugin_slurm_jobstep import get_gpu_setting

    profile = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())["set-resources"]
    monkeypatch.delenv("MEMTR_SLURM_GPUS", raising=False)
    assert eval(profile["train"]["gpu"]) == 1  # the default: one GPU a training job
    monkeypatch.setenv("MEMTR_SLURM_GPUS", "4")
    gpus = eval(profile["train"]["gpu"])  # what Snakemake evaluates for the rule's resources
    assert gpus == 4 and eval(profile["evaluate"]["gpu"]) == 4

    class Resources(dict):
        __getattr__ = dict.get

    job = type("Job", (), {"resources": Resources(gpu=gpus)})()
    assert set_gres_string(job).strip() == "--gpus=4"  # sbatch: the job's allocation
    assert get_gpu_setting(job) == "--gpus=4"  # srun -n1: the step that runs train.py


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_train_command_trains_on_every_gpu_of_a_job(reverse_corpus, tmp_path, precision):
    from pipeline_helpers import synthetic_params

    bin_dir = tmp_path / "bin"  # a scontrol that names the step's node, as Slurm's does
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho gpu-node1\n")
    (bin_dir / "scontrol").chmod(0o755)
    env = {**os.environ, **SLURM_STEP, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    doc = json.dumps(synthetic_params(precision=precision))
    proc = subprocess.run(
        [sys.executable, "-c", FAKE_GPU_LAUNCH, "4", doc, str(reverse_corpus / "bin"),
         str(tmp_path / "save")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    launch = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "--cpu" not in launch["command"]
    assert ("--bf16" in launch["command"]) == (precision == "bf16")
    assert (launch["tpu"], launch["bf16"]) == (False, precision == "bf16")
    # fairseq's own launch: one process per visible GPU, on this node, rank 0 first
    assert (launch["world_size"], launch["spawned"]) == (4, 4)
    assert "in_process" not in launch
    assert launch["init_method"].startswith("tcp://localhost:")

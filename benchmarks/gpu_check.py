"""GPU readiness check: one command that says whether the project runs right on a GPU.

    bash scripts/gpu_check.sh [--device auto|cuda|cpu] [--updates 300] [--out results/gpu_check]

On a CUDA machine (data from the local mirror, ``MEMTR_DATA_MIRROR``; at most 8 minutes on
one H100/H200):

* ``train``: every encoder layout and the memory LM train through the real
  ``fairseq-train --user-dir fairseq_plugins`` in bf16 (MemTransformer in fp16 too): the loss
  is finite and goes down, and the memory moved between two checkpoints (its gradients are
  not zero);
* ``decode``: beam search (``fairseq-generate``) of the MemTransformer in fp16 and bf16
  against fp32 on the test sentences: the share of hypotheses that differ;
* ``incremental``: incremental decoding equals the full forward pass, within
  :data:`TOLERANCE` (bf16 autocast on a GPU, fp32 on CPU);
* ``benchmark``: the benchmark's training table at the paper's base size, bf16, with the
  model FLOP utilisation (``benchmarks/run.py --paper-base``);
* ``pipeline``: ``snakemake --profile local`` on a tiny config: the train stage runs on
  the GPU by itself (no ``--cpu``).

Writes ``gpu_check.json`` and ``gpu_check.md`` (card, versions, every check) and exits 1 if
a check failed. With ``--device cpu`` the same code runs what a CPU can (tiny models, fp32,
a generated corpus); the GPU-only checks are reported as skipped, never faked.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if not __package__:  # `python benchmarks/gpu_check.py`: make the repository importable
    import _bootstrap  # noqa: F401

from memspec import BASELINE, TRANSLATION_ARCH  # noqa: E402
from memtr.common.paths import PLUGIN_DIR, REPO  # noqa: E402
from memtr.common.versions import fairseq_version  # noqa: E402
from memtr.run.fairseq_train import fairseq_train_command  # noqa: E402
from memtr.run.training import log_records  # noqa: E402

TOLERANCE = {"cuda": 5e-2, "cpu": 1e-4}  # max |log p| difference, incremental vs full
SIZES = {  # model sizes of the training checks: small enough for seconds per run
    "cuda": {"embed_dim": 256, "ffn_embed_dim": 1024, "layers": 3, "attention_heads": 4},
    "cpu": {"embed_dim": 32, "ffn_embed_dim": 64, "layers": 1, "attention_heads": 2},
}
MEM_TOKENS = 8
GPU_ONLY = "GPU only: needs CUDA"


@dataclass
class Check:
    """One check's outcome: ``pass``, ``fail`` or ``skipped``, and what it measured."""

    name: str
    status: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Data: the pipeline's own data stages


def binarized(name: str, work: Path, device: str) -> Path:
    """A binarized dataset through the pipeline's data code: on a GPU the registry's
    ``name`` from the mirror, on CPU the generated reversal task (tiny)."""
    from memtr.data.binarize import binarize
    from memtr.data.download import fetch_dataset, generate_synthetic
    from memtr.data.prepare import PrepareOptions, prepare
    from memtr.datasets.params import DataParams, SyntheticParams
    from memtr.datasets.registry import get_dataset

    if device == "cpu":
        name = "synthetic"
    ds, raw = get_dataset(name), work / "raw" / name
    data = DataParams(dataset=name, bpe_vocab_size=8000 if device == "cuda" else 100)
    if name == "synthetic":
        generate_synthetic(raw, SyntheticParams(train=2000, valid=50, test=50))
    else:
        mirror = os.environ.get("MEMTR_DATA_MIRROR")
        fetch_dataset(ds, raw, work / "downloads", mirror, progressbar=False)
    prepare(ds, raw, work / "prep" / name, PrepareOptions.of(data), workers=os.cpu_count() or 1)
    return binarize(ds, work / "prep" / name, work / "bin" / name)


def lm_corpus(work: Path, device: str) -> Path:
    """LM data: WikiText-2 from the mirror on a GPU; on CPU the reversal task's targets."""
    if device == "cuda":
        return binarized("wikitext2", work, device)
    from memtr.data.binarize import run_preprocess

    prep = work / "prep" / "synthetic"  # written by binarized() on CPU
    out = work / "bin" / "lm"
    run_preprocess(["--only-source", "--trainpref", str(prep / "train.tgt"), "--validpref",
                    str(prep / "valid.tgt"), "--destdir", str(out), "--workers", "1"], "lm")  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------
# Training through fairseq-train


def size_args(side: str, device: str) -> list[str]:
    return [
        x
        for key, value in SIZES[device].items()
        for x in (f"--{side}-{key.replace('_', '-')}", str(value))
    ]


def train_command(data: Path, save: Path, model: list[str], precision: str, updates: int,
                  lm: bool, device: str) -> list[str]:  # fmt: skip
    """The pipeline's fairseq-train command (``fairseq_train_command``) of one check: no
    validation, a checkpoint at half and at the end of ``updates`` (both kept, for
    :func:`memory_moved`), a loss logged every tenth of them (for :func:`loss_goes_down`).
    ``precision``: fp32 on CPU; ``device`` cpu trains on the CPU even beside a GPU."""
    task = (["--task", "language_modeling", "--tokens-per-sample", "64", "--sample-break-mode", "none"]
            if lm else ["--task", "translation"])  # fmt: skip
    schedule = ["--optimizer", "adam", "--lr", "1e-3", "--lr-scheduler", "inverse_sqrt",
                "--warmup-updates", "10", "--max-update", str(updates)]  # fmt: skip
    # after the builder's own options, so that these win (fairseq's parser keeps the last):
    # every interval checkpoint kept (the builder keeps one), the log interval of this run
    extra = ["--disable-validation", "--keep-interval-updates", "-1",
             "--log-interval", str(max(1, updates // 10))]  # fmt: skip
    command = fairseq_train_command(
        data, save, 1, [*task, "--max-tokens", "4096", "--criterion", "cross_entropy", *model],
        schedule, max_update=updates, validate_interval=max(1, updates // 2),
        precision=precision, where="the GPU check's precision", extra=extra,
    )  # fmt: skip
    if device == "cpu" and "--cpu" not in command:  # the builder's --cpu: only without CUDA
        command.append("--cpu")
    return command


def losses(log: str) -> list[float]:
    """The ``train_inner`` losses of a fairseq JSON log, in order (the train stage's reader)."""
    return [float(record["loss"]) for record in log_records(log)["train_inner"]]


def loss_goes_down(values: list[float]) -> bool:
    """Finite, and the last third lower on average than the first third."""
    if len(values) < 3 or not all(math.isfinite(v) for v in values):
        return False
    third = len(values) // 3
    return sum(values[-third:]) / third < sum(values[:third]) / third


def memory_moved(save: Path) -> bool | None:
    """Whether the memory differs between the first interval checkpoint and the last one
    (non-zero gradients reached it); None for a model without memory."""
    import torch

    interval = {int(m.group(1)): p for p in save.glob("checkpoint_*_*.pt")
                if (m := re.search(r"_(\d+)\.pt$", p.name))}  # fmt: skip
    if not interval:
        return False
    first = interval[min(interval)]
    states = [torch.load(p, map_location="cpu", weights_only=False)["model"]
              for p in (first, save / "checkpoint_last.pt")]  # fmt: skip
    keys = [k for k in states[0] if k.endswith("memory.vectors")]
    if not keys:
        return None
    return all(not torch.equal(states[0][k], states[1][k]) for k in keys)


def train_check(name: str, data: Path, model: list[str], precision: str, cfg: argparse.Namespace,
                work: Path, lm: bool = False) -> Check:  # fmt: skip
    save = work / "runs" / name
    command = train_command(data, save, model, precision, cfg.updates, lm, cfg.device)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        return Check(
            f"train {name}",
            "fail",
            f"fairseq-train exited {proc.returncode}: {last_line(log)}",
        )
    values, moved = losses(log), memory_moved(save)
    ok = loss_goes_down(values) and moved is not False
    detail = (f"loss {values[0]:.3f} -> {values[-1]:.3f} in {cfg.updates} updates ({seconds:.0f} s); "
              f"memory {'moved' if moved else 'n/a' if moved is None else 'did NOT move'}") if values else "no loss logged"  # fmt: skip
    return Check(f"train {name}", "pass" if ok else "fail", detail,
                 {"losses": values, "memory_moved": moved, "seconds": round(seconds, 1)})  # fmt: skip


def training_checks(mt: Path, lm: Path, cfg: argparse.Namespace, work: Path) -> list[Check]:
    # the pipeline's own precision options (train.precision): --bf16 trains on CUDA through the
    # plugin's fix of fairseq's TPU switch (fairseq_plugins/bf16.py)
    half = "bf16" if cfg.device == "cuda" else "fp32"
    sizes = size_args("encoder", cfg.device) + size_args("decoder", cfg.device)
    checks = []
    for layout, arch in {BASELINE: "transformer", **TRANSLATION_ARCH}.items():
        memory = [] if layout == BASELINE else ["--mem-tokens", str(MEM_TOKENS)]
        checks.append(train_check(layout, mt, ["--arch", arch, *sizes, *memory], half, cfg, work))
    if cfg.device == "cuda":
        model = ["--arch", "mem_transformer", *sizes, "--mem-tokens", str(MEM_TOKENS)]
        checks.append(train_check("prepend fp16", mt, model, "fp16", cfg, work))
    lm_model = ["--arch", "mem_transformer_lm", *size_args("decoder", cfg.device),
                "--decoder-input-dim", str(SIZES[cfg.device]["embed_dim"]),
                "--decoder-output-dim", str(SIZES[cfg.device]["embed_dim"]),
                "--mem-tokens", str(MEM_TOKENS), "--mem-recurrent"]  # fmt: skip
    checks.append(train_check("memory LM", lm, lm_model, half, cfg, work, lm=True))
    return checks


# --------------------------------------------------------------------------------------------
# Decoding


def hypotheses(model: Path, data: Path, precision: list[str]) -> list[str]:
    """fairseq-generate's hypotheses of the test split, in sentence order."""
    cmd = [sys.executable, "-m", "fairseq_cli.generate", str(data), "--user-dir", str(PLUGIN_DIR),
           "--path", str(model), "--gen-subset", "test", "--beam", "5", "--batch-size", "64",
           "--required-batch-size-multiple", "1", *precision]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = re.findall(r"^H-(\d+)\t\S+\t(.*)$", out, flags=re.M)
    return [text for _, text in sorted(rows, key=lambda row: int(row[0]))]


def decode_check(mt: Path, work: Path, device: str) -> Check:
    if device != "cuda":
        return Check("decode half vs fp32", "skipped", GPU_ONLY)
    model = work / "runs" / "prepend" / "checkpoint_last.pt"
    reference = hypotheses(model, mt, [])
    shares = {}
    for flag in ("--fp16", "--bf16"):
        ours = hypotheses(model, mt, [flag])
        shares[flag[2:]] = sum(a != b for a, b in zip(reference, ours, strict=True)) / len(
            reference
        )
    detail = ", ".join(
        f"{k}: {100 * v:.1f}% of {len(reference)} hypotheses differ" for k, v in shares.items()
    )
    return Check("decode half vs fp32", "pass", detail, shares)


def incremental_check(mt: Path, work: Path, device: str) -> Check:
    """The MemTransformer's decoder, step by step with its cache, against one full pass."""
    import torch

    from memtr.attention.loading import load_model

    model, task = load_model(work / "runs" / "prepend" / "checkpoint_last.pt", mt)
    model = model.to(device)
    gen = torch.Generator().manual_seed(0)
    vocab = len(task.target_dictionary)
    src = torch.randint(4, vocab, (4, 9), generator=gen).to(device)  # (B, n)
    prev = torch.randint(4, vocab, (4, 7), generator=gen).to(device)  # (B, t)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.no_grad()
    with torch.no_grad(), autocast:
        encoder_out = model.encoder(src, src_lengths=torch.full((4,), 9, device=device))
        full = model.decoder(prev, encoder_out)[0].float().log_softmax(-1)  # (B, t, V)
        state: dict = {}
        steps = [model.decoder(prev[:, : i + 1], encoder_out, incremental_state=state)[0][:, -1]
                 for i in range(prev.size(1))]  # fmt: skip
        incremental = torch.stack(steps, 1).float().log_softmax(-1)  # (B, t, V)
    diff = (full - incremental).abs().max().item()
    tol = TOLERANCE[device]
    status = "pass" if diff <= tol else "fail"
    precision = "bf16 autocast" if device == "cuda" else "fp32"
    return Check(
        "incremental decoding",
        status,
        f"max |log p| difference {diff:.2e} ({precision}, tolerance {tol:g})",
        {"max_diff": diff},
    )


# --------------------------------------------------------------------------------------------
# The benchmark and the pipeline on the GPU


def benchmark_check(device: str, out: Path) -> Check:
    if device != "cuda":
        return Check(
            "benchmark (paper base, bf16)",
            "skipped",
            GPU_ONLY + "; its CPU run is tests/integration/test_benchmark_run.py",
        )
    folder = out / "benchmark"
    cmd = [sys.executable, str(REPO / "benchmarks/run.py"), "--device", "cuda", "--paper-base",
           "--repeats", "3", "--no-memory", "--out", str(folder)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return Check(
            "benchmark (paper base, bf16)",
            "fail",
            last_line(proc.stderr or proc.stdout),
        )
    import csv

    rows = list(csv.DictReader((folder / "benchmarks.csv").open()))
    train = [r for r in rows if r["section"] == "train"]
    base = next(r for r in train if r["model"] == "transformer")
    mfu = float(base["mfu"]) if base.get("mfu") else None
    detail = (
        f"transformer {float(base['throughput']):,.0f} {base['unit']}, MFU {100 * mfu:.1f}%"
        if mfu
        else "no MFU (unknown card)"
    )
    return Check(
        "benchmark (paper base, bf16)",
        "pass",
        detail,
        {"mfu": mfu, "table": str(folder / "benchmarks.md")},
    )


def pipeline_check(device: str, work: Path) -> Check:
    if device != "cuda":
        return Check(
            "pipeline on the GPU", "skipped", GPU_ONLY + "; its CPU runs are the tests/e2e/ tier"
        )
    ws = work / "workspace"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    for rel in files:
        if (REPO / rel).is_file():
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, ws / rel)
    import yaml

    doc = yaml.safe_load((ws / "workflow/presets/demo.yaml").read_text())
    doc["data"]["dataset"] = "synthetic"
    doc["train"].update(max_update=50, warmup_updates=10, validate_interval_updates=50)
    doc["experiment"].update(name="gpu_check", variants=["baseline", "mem10"])
    (ws / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run(
        ["snakemake", "--profile", "local", "--cores", "4"], cwd=ws, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return Check("pipeline on the GPU", "fail", last_line(proc.stderr or proc.stdout))
    logs = [p.read_text() for p in ws.glob("runs/gpu_check/*/seed1/checkpoints/train.log")]
    on_gpu = bool(logs) and all("--cpu" not in log and "cuda" in log for log in logs)
    return Check("pipeline on the GPU", "pass" if on_gpu else "fail",
                 f"snakemake --profile local: {len(logs)} training runs {'on the GPU' if on_gpu else 'NOT on the GPU'}")  # fmt: skip


# --------------------------------------------------------------------------------------------
# Report


def versions() -> dict[str, str]:
    import torch

    info = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "fairseq": fairseq_version(),
    }
    if torch.cuda.is_available():
        info.update(card=torch.cuda.get_device_name(), cuda=str(torch.version.cuda))
    return info


def last_line(text: str) -> str:
    """The last non-empty line of an error output (what says why)."""
    return (text.strip().splitlines() or ["(no output)"])[-1]


def guarded(name: str, check, *args: Any) -> Check:
    """Run one check; an exception is that check's failure, and the others still run."""
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001  (any error of a check is its result)
        return Check(name, "fail", f"{type(exc).__name__}: {last_line(str(exc))}")


def exit_status(checks: list[Check]) -> int:
    """1 when any check failed (skipped ones do not count), else 0."""
    return int(any(c.status == "fail" for c in checks))


def write_report(out: Path, device: str, checks: list[Check], seconds: float) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    mfu = next((c.data.get("mfu") for c in checks if c.name.startswith("benchmark")), None)
    doc = {"device": device, "versions": versions(), "seconds": round(seconds, 1),
           "training": {"mfu": mfu}, "checks": [asdict(c) for c in checks]}  # fmt: skip
    (out / "gpu_check.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [f"# GPU check ({device})", "", *(f"- {k}: {v}" for k, v in doc["versions"].items()),
             f"- wall time: {seconds:.0f} s", "", "| check | status | detail |", "|---|---|---|",
             *(f"| {c.name} | {c.status} | {c.detail} |" for c in checks)]  # fmt: skip
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")
    return doc


def parse_cli(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    p.add_argument(
        "--updates", type=int, default=300, help="updates per training check (default 300)"
    )
    p.add_argument("--out", type=Path, default=REPO / "results" / "gpu_check")
    args = p.parse_args(argv)
    if args.updates < 6:
        p.error(
            f"--updates must be at least 6 (a loss curve of 3 points and 2 checkpoints), got {args.updates}"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    import torch

    cfg = parse_cli(argv)
    if cfg.device == "auto":
        cfg.device = "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        mt = binarized("multi30k_de_en", work, cfg.device)
        lm = lm_corpus(work, cfg.device)
        checks = training_checks(mt, lm, cfg, work)
        checks += [
            guarded("decode half vs fp32", decode_check, mt, work, cfg.device),
            guarded("incremental decoding", incremental_check, mt, work, cfg.device),
            guarded("benchmark (paper base, bf16)", benchmark_check, cfg.device, cfg.out),
            guarded("pipeline on the GPU", pipeline_check, cfg.device, work),
        ]
    write_report(cfg.out, cfg.device, checks, time.perf_counter() - start)
    for c in checks:
        print(f"{c.status:7s} {c.name}: {c.detail}")
    return exit_status(checks)


if __name__ == "__main__":
    sys.exit(main())

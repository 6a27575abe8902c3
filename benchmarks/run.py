#!/usr/bin/env python
"""Benchmark: what memory tokens cost, against fairseq's transformer, x-transformers and FLOPs.

One command (see benchmarks/README.md)::

    python benchmarks/run.py [--quick] [--threads N] [--repeats R] --out results/

Three sections, each timed round-robin (A B C ... A B C ...) on identical pre-built
batches, medians over the rounds after warm-up; every ratio is the median of the
per-round ratios against the baseline timed in the same round:

* ``train``: forward + backward + Adam step of fairseq's ``transformer`` and of every
  memory variant (m = 5, 10, 20, plus MemTransformer at m = 0) on fairseq batches of
  Multi30k (real data when ``data/bin/multi30k_de_en`` exists, else synthetic batches
  with Multi30k's lengths); FLOP-predicted ratio beside the measured one; peak memory.
  A reference row runs fairseq's own ``transformer`` on the same batches with m extra
  real source tokens: the cost of n + m positions without any memory code.
* ``generate``: beam search (fairseq's SequenceGenerator) with the decode length fixed
  to the batch's longest reference for every model, so untrained models do equal work.
* ``xt``: forward + backward on one 64 x 16 x 16 batch, ours against x-transformers'
  ``XTransformer`` with ``enc_num_memory_tokens`` at equal dims and tied embeddings.

On a GPU (detected) the same runs under bf16 autocast and the report adds the model
FLOPs utilisation. Writes ``benchmarks.md`` and ``benchmarks.csv`` into ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import io
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.flops import Dims, generate_flops, train_flops  # noqa: E402

PLUGIN_DIR = REPO / "fairseq_plugins"
MULTI30K = REPO / "data" / "bin" / "multi30k_de_en"
LAYOUT_ARCH = {
    "prepend": "mem_transformer",
    "ctrl": "mem_ctrl",
    "ctrl_shared": "mem_ctrl_shared",
    "bottleneck": "mem_bottleneck",
}
# Dense bf16 tensor-core peaks (FLOP/s) by device-name substring, first match wins.
GPU_PEAK_BF16 = [
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("A10G", 70e12),
    ("L4", 121e12),
]
CSV_COLUMNS = [
    "section",
    "model",
    "layout",
    "mem_tokens",
    "params",
    "device",
    "dtype",
    "threads",
    "rounds",
    "batches",
    "sentences",
    "tokens",
    "time_s",
    "throughput",
    "unit",
    "measured_ratio",
    "ratio_q1",
    "ratio_q3",
    "predicted_ratio",
    "measured_over_predicted",
    "gflops",
    "achieved_tflops",
    "mfu",
    "peak_mem_mib",
    "status",
]
BASELINE = "transformer"
Sample = dict[str, Any]


@dataclass
class Config:
    quick: bool = False
    threads: int = 2
    repeats: int = 7
    warmup: int = 1
    seed: int = 1
    d: int = 256
    ffn: int = 1024
    heads: int = 4
    enc_layers: int = 3
    dec_layers: int = 3
    mem_tokens: list[int] = field(default_factory=lambda: [5, 10, 20])
    data: str = ""  # binarized Multi30k folder, "" = synthetic Multi30k-like batches
    synthetic_vocab: int = 3996  # + fairseq's 4 specials: the pipeline's 4k joint vocabulary
    max_tokens: int = 2048
    train_batches: int = 3
    gen_batches: int = 2
    gen_sentences: int = 32
    beam: int = 5
    fixed_batch: tuple[int, int, int] = (64, 16, 16)  # sentences, source, target tokens
    memory_probe: bool = True
    device: str = "cpu"

    @classmethod
    def quick_config(cls, **overrides: Any) -> Config:
        """Seconds-long smoke: tiny dims and batches, the same rows as a full run."""
        base = cls(
            quick=True,
            threads=1,
            repeats=2,
            warmup=1,
            d=32,
            ffn=64,
            heads=4,
            enc_layers=1,
            dec_layers=1,
            synthetic_vocab=60,
            max_tokens=256,
            train_batches=1,
            gen_batches=1,
            gen_sentences=4,
            beam=2,
            fixed_batch=(8, 8, 8),
            memory_probe=False,
        )
        return replace(base, **overrides)

    @property
    def m_max(self) -> int:
        return max(self.mem_tokens)

    @property
    def dims_args(self) -> list[str]:
        d, f, h = str(self.d), str(self.ffn), str(self.heads)
        return [
            *("--encoder-embed-dim", d, "--encoder-ffn-embed-dim", f),
            *("--encoder-layers", str(self.enc_layers), "--encoder-attention-heads", h),
            *("--decoder-embed-dim", d, "--decoder-ffn-embed-dim", f),
            *("--decoder-layers", str(self.dec_layers), "--decoder-attention-heads", h),
        ]


@dataclass(frozen=True)
class Spec:
    """One model of the benchmark."""

    name: str
    layout: str  # baseline | prepend | ctrl | ctrl_shared | bottleneck | xt
    mem_tokens: int = 0
    hide: bool = False  # --mem-hide-from-decoder
    extra_src: int = 0  # baseline fed this many extra real source tokens (reference row)
    flash: bool = False  # x-transformers only: attn_flash=True

    @property
    def arch(self) -> str:
        return "transformer" if self.layout == "baseline" else LAYOUT_ARCH[self.layout]

    def train_flops(self, dims: Dims, shapes: list[tuple[int, int, int]]) -> int:
        return sum(
            train_flops(dims, self.layout, b, n + self.extra_src, t, self.mem_tokens, self.hide)
            for b, n, t in shapes
        )


def fairseq_specs(cfg: Config) -> list[Spec]:
    """The models of the train and generate sections, the baseline first."""
    specs = [Spec(BASELINE, "baseline"), Spec("mem_transformer m=0", "prepend", 0)]
    for layout, arch in LAYOUT_ARCH.items():
        specs += [Spec(f"{arch} m={m}", layout, m) for m in cfg.mem_tokens]
    m = cfg.m_max
    specs.append(Spec(f"transformer, +{m} source tokens (reference)", "baseline", extra_src=m))
    return specs


def xt_specs(cfg: Config) -> list[Spec]:
    m = cfg.m_max
    return [
        Spec(BASELINE, "baseline"),
        Spec(f"mem_transformer m={m}", "prepend", m),
        Spec(f"mem_transformer m={m} hide-from-decoder", "prepend", m, hide=True),
        Spec("x-transformers m=0", "xt", 0),
        Spec(f"x-transformers m={m}", "xt", m),
        Spec(f"x-transformers m={m} attn_flash", "xt", m, flash=True),
    ]


# --------------------------------------------------------------------------- environment


def quiet_logging() -> None:
    logging.basicConfig(level=logging.WARNING)
    for name in ("fairseq", "fairseq_plugins", "fairseq_cli"):
        logging.getLogger(name).setLevel(logging.WARNING)


def setup_torch(cfg: Config) -> Any:
    import warnings

    import torch

    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(cfg.threads)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel op
        torch.set_num_interop_threads(1)
    torch.set_flush_denormal(True)  # denormals can slow CPU kernels as weights drift
    return torch


def package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(cfg: Config) -> dict[str, str]:
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fairseq = package_version("fairseq-fixed")
    info = {
        "cpu": f"{cpu} ({os.cpu_count()} logical cores)",
        "device": cfg.device,
        "torch threads": (
            f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op"
        ),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "unset"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "fairseq": fairseq if fairseq != "not installed" else package_version("fairseq"),
        "x-transformers": package_version("x-transformers"),
        "numpy": package_version("numpy"),
        "platform": platform.platform(),
    }
    info["memtr plugin"] = plugin_revision()
    if cfg.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
        peak = peak_flops(cfg)
        info["MFU peak"] = f"{peak / 1e12:.0f} TFLOP/s bf16 dense" if peak else "unknown GPU"
    return info


def plugin_revision() -> str:
    """The commit the plugin was measured at, and whether its files differ from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "fairseq_plugins"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (" with uncommitted changes to fairseq_plugins/" if dirty else "")


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def peak_flops(cfg: Config) -> float | None:
    """The device's dense bf16 peak (FLOP/s) from GPU_PEAK_BF16, None on CPU or unknown."""
    if cfg.device != "cuda":
        return None
    import torch

    name = torch.cuda.get_device_name()
    return next((peak for key, peak in GPU_PEAK_BF16 if key in name), None)


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def autocast(cfg: Config) -> Any:
    import torch

    if cfg.device == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------- data and models


class Bench:
    """The task, the batches and the model builders shared by every section."""

    def __init__(self, cfg: Config, workdir: Path) -> None:
        import torch
        from fairseq import options, tasks

        self.cfg = cfg
        self.torch = torch
        self.options = options
        if cfg.data:
            self.data_dir, self.langs = Path(cfg.data), ("de", "en")
            self.data_note = f"Multi30k de-en as binarized by the pipeline ({cfg.data})"
        else:
            self.data_dir, self.langs = workdir / "synthetic", ("src", "tgt")
            write_dictionary(self.data_dir, self.langs, cfg.synthetic_vocab)
            self.data_note = "synthetic sentence pairs with Multi30k-like lengths (16 +- 5)"
        args = self.parse(Spec(BASELINE, "baseline"))
        self.task = tasks.setup_task(args)
        self.criterion = self.task.build_criterion(args)
        # plain cross-entropy, as XTransformer's loss, for the x-transformers section
        args.criterion = "cross_entropy"
        self.plain_criterion = self.task.build_criterion(args)
        self.vocab = self.task.source_dictionary
        self.dims = Dims(cfg.d, cfg.ffn, cfg.enc_layers, cfg.dec_layers, len(self.vocab))
        self.train_batches = self.batches("train", cfg.train_batches, max_tokens=cfg.max_tokens)
        self.gen_batches = self.batches(
            "valid", cfg.gen_batches, max_tokens=None, max_sentences=cfg.gen_sentences
        )
        self.fixed = [fixed_batch(self.vocab, *cfg.fixed_batch, seed=cfg.seed)]
        if cfg.device == "cuda":
            from fairseq import utils

            self.train_batches = [utils.move_to_cuda(b) for b in self.train_batches]
            self.gen_batches = [utils.move_to_cuda(b) for b in self.gen_batches]
            self.fixed = [utils.move_to_cuda(b) for b in self.fixed]

    def argv(self, spec: Spec) -> list[str]:
        src, tgt = self.langs
        argv = [
            str(self.data_dir),
            *("--user-dir", str(PLUGIN_DIR), "--task", "translation"),
            *("--source-lang", src, "--target-lang", tgt, "--arch", spec.arch),
            *self.cfg.dims_args,
            "--share-all-embeddings",
            *("--dropout", "0", "--attention-dropout", "0", "--activation-dropout", "0"),
            *("--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1"),
            *("--max-source-positions", "1024", "--max-target-positions", "1024"),
            *("--seed", str(self.cfg.seed)),
        ]
        if self.cfg.device == "cpu":
            argv.append("--cpu")
        if spec.layout != "baseline":
            argv += ["--mem-tokens", str(spec.mem_tokens)]
        if spec.hide:
            argv.append("--mem-hide-from-decoder")
        return argv

    def parse(self, spec: Spec) -> argparse.Namespace:
        with contextlib.redirect_stdout(io.StringIO()):
            return self.options.parse_args_and_arch(
                self.options.get_training_parser(), self.argv(spec)
            )

    def build(self, spec: Spec) -> Any:
        """A model of ``spec`` on the device, seeded, in training mode."""
        self.torch.manual_seed(self.cfg.seed)
        if spec.layout == "xt":
            model = build_xtransformer(self.cfg, len(self.vocab), spec, self.vocab.pad())
        else:
            model = self.task.build_model(self.parse(spec))
        return model.to(self.cfg.device).train()

    def batches(
        self, split: str, count: int, max_tokens: int | None, max_sentences: int | None = None
    ) -> list[Sample]:
        """``count`` fairseq batches of ``split`` (length-bucketed, shuffled, seeded)."""
        if self.cfg.data:
            self.task.load_dataset(split)
            dataset = self.task.dataset(split)
        else:
            size = 300 if self.cfg.quick else 4000
            dataset = synthetic_dataset(self.vocab, size, self.cfg.seed + (split == "valid"))
        iterator = self.task.get_batch_iterator(
            dataset,
            max_tokens=max_tokens,
            max_sentences=max_sentences,
            max_positions=(1024, 1024),
            ignore_invalid_inputs=True,
            required_batch_size_multiple=1 if max_sentences else 8,
            seed=self.cfg.seed,
        ).next_epoch_itr(shuffle=True)
        return [next(iterator) for _ in range(count)]

    def samples(self, spec: Spec, batches: list[Sample]) -> list[Sample]:
        """The batches ``spec`` runs on: as given, or with extra real source tokens in front."""
        if not spec.extra_src:
            return batches
        return [with_extra_source(b, spec.extra_src, self.vocab, self.cfg.seed) for b in batches]


def write_dictionary(folder: Path, langs: tuple[str, str], size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(f"w{i} {size - i}\n" for i in range(size))
    for lang in langs:
        (folder / f"dict.{lang}.txt").write_text(text)


def synthetic_dataset(vocab: Any, count: int, seed: int) -> Any:
    """Random sentence pairs whose lengths follow Multi30k's (about 16 +- 5 subwords)."""
    import torch
    from fairseq.data import LanguagePairDataset

    gen = torch.Generator().manual_seed(seed)
    first, last = vocab.nspecial, len(vocab)
    src_len = (torch.randn(count, generator=gen) * 5.4 + 16.7).round().clamp(4, 48).long()
    tgt_len = (src_len + (torch.randn(count, generator=gen) * 2).round()).clamp(4, 48).long()

    def sentence(length: int) -> Any:
        tokens = torch.randint(first, last, (length,), generator=gen)
        tokens[-1] = vocab.eos()
        return tokens

    src = [sentence(int(n)) for n in src_len]
    tgt = [sentence(int(n)) for n in tgt_len]
    return LanguagePairDataset(src, src_len.numpy(), vocab, tgt, tgt_len.numpy(), vocab)


def fixed_batch(vocab: Any, sentences: int, n: int, t: int, seed: int) -> Sample:
    """A batch without padding: ``sentences`` x ``n`` source and x ``t`` target tokens."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    first, last = vocab.nspecial, len(vocab)
    src = torch.randint(first, last, (sentences, n), generator=gen)
    src[:, -1] = vocab.eos()
    target = torch.randint(first, last, (sentences, t), generator=gen)
    target[:, -1] = vocab.eos()
    prev = torch.cat([torch.full((sentences, 1), vocab.eos()), target[:, :-1]], dim=1)
    return {
        "id": torch.arange(sentences),
        "nsentences": sentences,
        "ntokens": sentences * t,
        "net_input": {
            "src_tokens": src,
            "src_lengths": torch.full((sentences,), n),
            "prev_output_tokens": prev,
        },
        "target": target,
    }


def with_extra_source(sample: Sample, m: int, vocab: Any, seed: int) -> Sample:
    """``sample`` with ``m`` random real tokens in front of every source (B, m + n).

    Same shapes and padding mask as ``[memory ; source]``: the equal-length reference.
    """
    import torch

    src = sample["net_input"]["src_tokens"]
    gen = torch.Generator().manual_seed(seed)
    extra = torch.randint(vocab.nspecial, len(vocab), (src.size(0), m), generator=gen)
    out = copy.copy(sample)
    out["net_input"] = {
        **sample["net_input"],
        "src_tokens": torch.cat([extra.to(src.device), src], dim=1),
        "src_lengths": sample["net_input"]["src_lengths"] + m,
    }
    return out


def build_xtransformer(cfg: Config, vocab: int, spec: Spec, pad: int) -> Any:
    """x-transformers' encoder-decoder at our dims, every token embedding tied as ours.

    ``tie_token_emb`` shares the encoder's and decoder's input embeddings; XTransformer
    passes no ``tie_embedding`` to its decoder wrapper, so the output projection is tied
    here by hand, as fairseq's ``--share-all-embeddings`` does (no bias, no scale).
    """
    from x_transformers import XTransformer

    extra = {"enc_attn_flash": True, "dec_attn_flash": True} if spec.flash else {}
    model = XTransformer(
        dim=cfg.d,
        tie_token_emb=True,
        ignore_index=pad,
        pad_value=pad,
        enc_num_tokens=vocab,
        enc_depth=cfg.enc_layers,
        enc_heads=cfg.heads,
        enc_attn_dim_head=cfg.d // cfg.heads,
        enc_ff_mult=cfg.ffn / cfg.d,
        enc_max_seq_len=256,
        enc_num_memory_tokens=spec.mem_tokens or None,
        dec_num_tokens=vocab,
        dec_depth=cfg.dec_layers,
        dec_heads=cfg.heads,
        dec_attn_dim_head=cfg.d // cfg.heads,
        dec_ff_mult=cfg.ffn / cfg.d,
        dec_max_seq_len=256,
        **extra,
    )
    net = model.decoder.net
    del net.to_logits
    net.to_logits = lambda x: x @ net.token_emb.emb.weight.t()
    return model


def count_params(model: Any) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


# --------------------------------------------------------------------------- steps


def train_runner(
    bench: Bench, model: Any, samples: list[Sample], adam: bool, plain_loss: bool = False
) -> Callable:
    """Run one training step per sample: forward, backward and (``adam``) an Adam step.

    The loss is fairseq's label-smoothed cross-entropy, or (``plain_loss``) plain
    cross-entropy.
    """
    cfg = bench.cfg
    criterion = bench.plain_criterion if plain_loss else bench.criterion
    optimizer = bench.torch.optim.Adam(model.parameters(), lr=1e-4) if adam else None

    def run() -> None:
        for sample in samples:
            with autocast(cfg):
                loss, _, _ = criterion(model, sample)
            loss.backward()
            if optimizer is not None:
                optimizer.step()
            for p in model.parameters():
                p.grad = None

    return run


def xt_runner(bench: Bench, model: Any, samples: list[Sample]) -> Callable:
    """Forward + backward of XTransformer (its forward returns the cross-entropy loss).

    The decoder gets ``prev_output_tokens`` (t positions, as ours computes); its loss
    covers the t - 1 next-token targets inside them.
    """
    cfg, pad = bench.cfg, bench.vocab.pad()

    def run() -> None:
        for sample in samples:
            src, tgt = sample["net_input"]["src_tokens"], sample["net_input"]["prev_output_tokens"]
            mask = src.ne(pad)
            with autocast(cfg):
                loss = model(src, tgt, mask=None if bool(mask.all()) else mask)
            loss.backward()
            for p in model.parameters():
                p.grad = None

    return run


def decode_steps(sample: Sample, pad: int) -> int:
    """The forced output length of a generation batch: its longest reference."""
    return int(sample["target"].ne(pad).sum(1).max())


def generate_runner(bench: Bench, model: Any, samples: list[Sample]) -> Callable:
    """Beam search whose decode length is the batch's longest reference, for every model.

    EOS is banned until that length (``min_len``) and forced there (``max_len``), so
    untrained models that would stop at random decode exactly as many steps as each other.
    """
    from fairseq.sequence_generator import SequenceGenerator

    cfg, pad = bench.cfg, bench.vocab.pad()
    generators = []
    for sample in samples:
        steps = decode_steps(sample, pad)
        generators.append(
            SequenceGenerator(
                [model],
                bench.task.target_dictionary,
                beam_size=cfg.beam,
                max_len_a=0,
                max_len_b=steps,
                min_len=steps,
            )
        )

    def run() -> None:
        for generator, sample in zip(generators, samples, strict=True):
            with autocast(cfg):
                generator.generate([model], sample)

    return run


def round_robin(runners: dict[str, Callable], cfg: Config, label: str) -> dict[str, list[float]]:
    """Time every runner once per round, in an order rotated every round.

    Returns each runner's seconds per round, warm-up rounds dropped.
    """
    names = list(runners)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(cfg.warmup + cfg.repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            sync(cfg.device)
            start = time.perf_counter()
            runners[name]()
            sync(cfg.device)
            if r >= cfg.warmup:
                times[name].append(time.perf_counter() - start)
        state = "warm-up" if r < cfg.warmup else f"{r - cfg.warmup + 1}/{cfg.repeats}"
        print(f"  [{label}] round {state} done (load {load_average()})", flush=True)
    return times


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def paired_ratio(times: list[float], base: list[float]) -> tuple[float, float, float]:
    """Quartiles (q1, median, q3) of the per-round time ratios ``times / base``."""
    return quartiles([a / b for a, b in zip(times, base, strict=True)])


# --------------------------------------------------------------------------- peak memory


def proc_status_kib(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in KiB.

    Not ``ru_maxrss``: Linux carries it over ``exec`` from the parent, so a probe started
    by a big parent would report the parent's peak. ``VmHWM`` belongs to this process image.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def probe_memory(cfg: Config, spec: Spec, workdir: Path) -> float:
    """Peak training memory of one model in MiB (run in a fresh process, see --probe).

    CPU: growth of the peak resident set (``VmHWM``) over the resident set after the
    model and batches were built, while each training batch is trained on once
    (activations, gradients, Adam's moments, allocator slack). GPU: growth of
    ``torch.cuda.max_memory_allocated`` over the memory allocated before.
    """
    torch = setup_torch(cfg)
    bench = Bench(cfg, workdir)
    model = bench.build(spec)
    run = train_runner(bench, model, bench.samples(spec, bench.train_batches), adam=True)
    if cfg.device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    before = proc_status_kib("VmRSS")
    run()
    return (proc_status_kib("VmHWM") - before) / 1024


def probe_in_subprocess(cfg: Config, spec: Spec) -> float:
    cmd = [sys.executable, __file__, "--probe", json.dumps([asdict(cfg), asdict(spec)])]
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith("PEAK_MIB "):
            return float(line.split()[1])
    print(f"  memory probe of {spec.name} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
    return math.nan


def run_probe(payload: str) -> None:
    cfg_dict, spec_dict = json.loads(payload)
    cfg_dict["fixed_batch"] = tuple(cfg_dict["fixed_batch"])
    cfg, spec = Config(**cfg_dict), Spec(**spec_dict)
    quiet_logging()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"PEAK_MIB {probe_memory(cfg, spec, Path(tmp)):.1f}", flush=True)


# --------------------------------------------------------------------------- sections


def shapes_of(batches: list[Sample]) -> list[tuple[int, int, int]]:
    """(sentences, padded source length, padded target length) of each batch."""
    return [
        (
            b["net_input"]["src_tokens"].size(0),
            b["net_input"]["src_tokens"].size(1),
            b["target"].size(1),
        )
        for b in batches
    ]


def real_tokens(batches: list[Sample], pad: int) -> int:
    return sum(
        int(b["net_input"]["src_tokens"].ne(pad).sum()) + int(b["target"].ne(pad).sum())
        for b in batches
    )


def make_row(cfg: Config, section: str, spec: Spec, params: int | None) -> dict[str, Any]:
    return {
        "section": section,
        "model": spec.name,
        "layout": "xt" if spec.layout == "xt" else spec.layout,
        "mem_tokens": spec.mem_tokens,
        "params": params,
        "device": cfg.device,
        "dtype": "bf16-autocast" if cfg.device == "cuda" else "fp32",
        "threads": cfg.threads,
        "rounds": cfg.repeats,
        "status": "ok",
    }


def add_ratios(
    row: dict[str, Any], times: list[float], base: list[float], flops: int | None, base_flops: int
) -> None:
    q1, ratio, q3 = paired_ratio(times, base)
    row.update(measured_ratio=ratio, ratio_q1=q1, ratio_q3=q3)
    if flops is not None:
        predicted = flops / base_flops
        row.update(
            predicted_ratio=predicted,
            measured_over_predicted=ratio / predicted,
            gflops=flops / 1e9,
        )


def train_section(bench: Bench, specs: list[Spec], models: dict[str, Any]) -> list[dict]:
    cfg = bench.cfg
    runners = {
        s.name: train_runner(bench, models[s.name], bench.samples(s, bench.train_batches), True)
        for s in specs
    }
    times = round_robin(runners, cfg, "train")
    shapes = shapes_of(bench.train_batches)
    tokens = real_tokens(bench.train_batches, bench.vocab.pad())
    base_flops = specs[0].train_flops(bench.dims, shapes)
    peak = peak_flops(cfg)
    rows = []
    for spec in specs:
        flops = spec.train_flops(bench.dims, shapes)
        seconds = statistics.median(times[spec.name])
        row = make_row(cfg, "train", spec, count_params(models[spec.name]))
        row.update(
            batches=len(shapes),
            sentences=sum(b for b, _, _ in shapes),
            tokens=tokens,
            time_s=seconds,
            throughput=tokens / seconds,
            unit="src+tgt tokens/s",
            achieved_tflops=flops / seconds / 1e12,
            mfu=flops / seconds / peak if peak else None,
        )
        add_ratios(row, times[spec.name], times[BASELINE], flops, base_flops)
        rows.append(row)
    return rows


def generate_section(bench: Bench, specs: list[Spec], models: dict[str, Any]) -> list[dict]:
    cfg, pad = bench.cfg, bench.vocab.pad()
    for model in models.values():
        model.eval()
    runners = {
        s.name: generate_runner(bench, models[s.name], bench.samples(s, bench.gen_batches))
        for s in specs
    }
    times = round_robin(runners, cfg, "generate")
    shapes = shapes_of(bench.gen_batches)
    steps = [decode_steps(b, pad) + 1 for b in bench.gen_batches]  # + the EOS step
    sentences = sum(b for b, _, _ in shapes)

    def flops_of(spec: Spec) -> int:
        return sum(
            generate_flops(
                bench.dims, spec.layout, b, n + spec.extra_src, s, spec.mem_tokens, cfg.beam
            )
            for (b, n, _), s in zip(shapes, steps, strict=True)
        )

    base_flops = flops_of(specs[0])
    rows = []
    for spec in specs:
        flops = flops_of(spec)
        seconds = statistics.median(times[spec.name])
        row = make_row(cfg, "generate", spec, count_params(models[spec.name]))
        row.update(
            batches=len(shapes),
            sentences=sentences,
            tokens=sum(b * s for (b, _, _), s in zip(shapes, steps, strict=True)),
            time_s=seconds,
            throughput=sentences / seconds,
            unit=f"sentences/s (beam {cfg.beam})",
            achieved_tflops=flops / seconds / 1e12,
        )
        add_ratios(row, times[spec.name], times[BASELINE], flops, base_flops)
        rows.append(row)
    for model in models.values():
        model.train()
    return rows


def xt_section(bench: Bench, models: dict[str, Any]) -> list[dict]:
    cfg = bench.cfg
    specs = xt_specs(cfg)
    installed = package_version("x-transformers") != "not installed"
    runners, params, rows = {}, {}, []
    for spec in specs:
        if spec.layout == "xt" and not installed:
            continue
        model = models[spec.name] if spec.name in models else bench.build(spec)
        if spec.layout == "xt":
            runners[spec.name] = xt_runner(bench, model, bench.fixed)
        else:
            runners[spec.name] = train_runner(bench, model, bench.fixed, False, plain_loss=True)
        params[spec.name] = count_params(model)
    times = round_robin(runners, cfg, "xt")
    sentences, n, t = cfg.fixed_batch
    shapes = [(sentences, n, t)]
    base_flops = specs[0].train_flops(bench.dims, shapes)
    for spec in specs:
        row = make_row(cfg, "xt", spec, params.get(spec.name))
        if spec.name not in runners:
            row["status"] = "not installed (pip install -r benchmarks/requirements.txt)"
            rows.append(row)
            continue
        seconds = statistics.median(times[spec.name])
        row.update(
            batches=1,
            sentences=sentences,
            tokens=sentences * (n + t),
            time_s=seconds,
            throughput=sentences * (n + t) / seconds,
            unit="src+tgt tokens/s (fwd+bwd)",
        )
        flops = None if spec.layout == "xt" else spec.train_flops(bench.dims, shapes)
        add_ratios(row, times[spec.name], times[BASELINE], flops, base_flops)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- report


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int) and abs(value) >= 10000:
        return f"{value:,}"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def target_lines(rows: list[dict[str, Any]], cfg: Config) -> list[str]:
    """The issue's three targets, each with the number that decides it."""
    m = cfg.m_max
    by = {(r["section"], r["model"]): r for r in rows}
    ref_name = f"transformer, +{m} source tokens (reference)"
    out = []
    train = [
        r for r in rows if r["section"] == "train" and r["layout"] != "baseline" and r["mem_tokens"]
    ]
    worst = max(train, key=lambda r: r["measured_over_predicted"])
    ok = all(r["measured_over_predicted"] <= 1.03 for r in train)
    ref = by.get(("train", ref_name))
    pre = by.get(("train", f"mem_transformer m={m}"))
    out.append(
        f"1. Measured / FLOP-predicted cost <= 1.03 for every memory variant (training, "
        f"{cfg.device}): {verdict(ok)}; worst {worst['model']} "
        f"{worst['measured_over_predicted']:.3f}, best "
        f"{min(r['measured_over_predicted'] for r in train):.3f}."
    )
    if ref and pre:
        out.append(
            f"   Reference: fairseq's own `transformer` given {m} extra real source tokens "
            f"(the same shapes as [memory ; source], no memory code) scores "
            f"{ref['measured_over_predicted']:.3f}; MemTransformer m={m} costs "
            f"{pre['measured_ratio'] / ref['measured_ratio']:.3f}x that reference."
        )
    ours, theirs = by.get(("xt", f"mem_transformer m={m}")), by.get(("xt", f"x-transformers m={m}"))
    if ours and theirs and theirs["status"] == "ok":
        speed = ours["throughput"] / theirs["throughput"]
        hide = by[("xt", f"mem_transformer m={m} hide-from-decoder")]
        base0, xt0 = by[("xt", BASELINE)], by[("xt", "x-transformers m=0")]
        out.append(
            f"2. Our memory encoder-decoder >= 1.15x as fast as x-transformers' at m={m}: "
            f"{verdict(speed >= 1.15)}; {speed:.2f}x (with `--mem-hide-from-decoder`, which "
            f"like x-transformers keeps the memory from the decoder: "
            f"{hide['throughput'] / theirs['throughput']:.2f}x; at m=0: "
            f"{base0['throughput'] / xt0['throughput']:.2f}x)."
        )
    else:
        out.append(
            f"2. >= 1.15x x-transformers at m={m}: not measured (x-transformers not installed)."
        )
    gen = by.get(("generate", f"mem_transformer m={m}"))
    if gen:
        rel = 1 / gen["measured_ratio"]
        gref = by[("generate", ref_name)]
        others = ", ".join(
            f"{r['model']} {1 / r['measured_ratio']:.3f}x"
            for r in rows
            if r["section"] == "generate" and r["mem_tokens"] == m and r["model"] != gen["model"]
        )
        out.append(
            f"3. Beam search with m={m} at >= 0.95x the baseline's sentences/s: "
            f"{verdict(rel >= 0.95)}; MemTransformer {rel:.3f}x (FLOP bound "
            f"{1 / gen['predicted_ratio']:.3f}x; the equal-length reference "
            f"{1 / gref['measured_ratio']:.3f}x); {others}."
        )
    return out


def write_report(
    out: Path,
    cfg: Config,
    bench: Bench,
    rows: list[dict[str, Any]],
    info: dict[str, str],
    wall: float,
    loads: tuple[str, str],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "benchmarks.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    ratio_cols = [
        ("measured_ratio", "measured cost ratio"),
        ("ratio_q1", "q1"),
        ("ratio_q3", "q3"),
        ("predicted_ratio", "FLOP-predicted ratio"),
        ("measured_over_predicted", "measured / predicted"),
    ]
    train_cols = [("model", "model"), ("params", "params"), ("throughput", "tokens/s")]
    train_cols += ratio_cols + [("peak_mem_mib", "peak mem MiB")]
    if cfg.device == "cuda":
        train_cols += [("achieved_tflops", "TFLOP/s"), ("mfu", "MFU")]
    gen_cols = [("model", "model"), ("throughput", "sentences/s"), *ratio_cols]
    xt_cols = [
        ("model", "model"),
        ("params", "params"),
        ("throughput", "tokens/s"),
        ("measured_ratio", "cost vs fairseq transformer"),
        ("predicted_ratio", "FLOP-predicted"),
        ("status", "status"),
    ]
    by = {s: [r for r in rows if r["section"] == s] for s in ("train", "generate", "xt")}
    command = "python benchmarks/run.py" + (" --quick" if cfg.quick else "")
    command += f" --threads {cfg.threads} --repeats {cfg.repeats} --out {out}"
    precision = "bf16 autocast" if cfg.device == "cuda" else "fp32"
    memory_note = (
        "- Peak memory (CPU): growth of the peak resident set (`VmHWM`) over the resident "
        "set after building model and batches, in a fresh process per model that trains once "
        "on each training batch: activations, gradients, Adam's moments and allocator slack. "
        "(GPU: growth of `torch.cuda.max_memory_allocated`.)"
        if cfg.memory_probe
        else "- Peak memory: not measured in this run (`--no-memory` or `--quick`)."
    )
    text = [
        "# Benchmarks: the cost of memory tokens",
        "",
        f"Generated by `{command}`"
        + (" (quick smoke: tiny dims, the numbers mean nothing)" if cfg.quick else "")
        + f"; wall time {wall:.0f} s.",
        "",
        "## Machine and versions",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        f"- load average (1, 5, 15 min) at start: {loads[0]}; at end: {loads[1]}",
        "",
        "## Targets",
        "",
        *target_lines(rows, cfg),
        "",
        "## Setup",
        "",
        f"- Models: d={cfg.d}, ffn {cfg.ffn}, {cfg.heads} heads, {cfg.enc_layers}+"
        f"{cfg.dec_layers} layers, all embeddings shared (`--share-all-embeddings`), dropout 0, "
        f"vocabulary {len(bench.vocab)}; fairseq's `transformer` is the baseline.",
        f"- Data: {bench.data_note}. Training batches (sentences, padded source, padded "
        f"target): {shapes_of(bench.train_batches)}, fairseq's `--max-tokens {cfg.max_tokens}` "
        f"batching; generation batches: {shapes_of(bench.gen_batches)}.",
        f"- Timing: {cfg.warmup} warm-up round(s), then {cfg.repeats} rounds; in each round "
        "every model runs the same batches, in an order rotated every round. Times are medians "
        "over rounds; a *cost ratio* is the median of the per-round time ratios model / "
        "baseline (q1, q3: their quartiles, the spread of the measurement). Training = "
        "forward + backward + Adam step, fairseq's label-smoothed cross-entropy.",
        "- FLOP-predicted ratio: `benchmarks/flops.py`, matmul FLOPs of projections, attention "
        "and output layer at the padded lengths of these batches (training = 3x forward); "
        "measured / predicted > 1: memory costs more time than its share of FLOPs.",
        "- Reference row: fairseq's `transformer` on the same batches with m random real "
        "tokens in front of each source: the shapes of `[memory ; source]` without memory code.",
        f"- Generation: fairseq's SequenceGenerator, beam {cfg.beam}, output length forced to "
        "each batch's longest reference (EOS banned before it) so that untrained models do "
        "equal work; FLOPs counted for incremental decoding.",
        memory_note,
        "",
        f"## Training ({cfg.device}, {precision})",
        "",
        table(by["train"], train_cols),
        "",
        "## Beam-search generation",
        "",
        table(by["generate"], gen_cols),
        "",
        f"## Against x-transformers (one {'x'.join(map(str, cfg.fixed_batch))} batch, "
        "forward + backward)",
        "",
        "x-transformers' `XTransformer` at the same dims (pre-norm, GELU and learned positions "
        "are its defaults), `tie_token_emb=True` and its output projection tied to the "
        "embedding as ours. Its decoder cross-attends to the n source rows only (it drops the "
        "memory rows); ours to n + m unless `--mem-hide-from-decoder`. Both losses are plain "
        "cross-entropy here (fairseq's `cross_entropy` criterion).",
        "",
        table(by["xt"], xt_cols),
        "",
    ]
    (out / "benchmarks.md").write_text("\n".join(text))


# --------------------------------------------------------------------------- main


def parse_cli(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="seconds-long smoke: tiny dims, 1+2 rounds"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch intra-op threads (default 2; quick 1: tiny ops on busy cores only wait)",
    )
    parser.add_argument("--repeats", type=int, help="timed rounds after warm-up (default 7)")
    parser.add_argument("--warmup", type=int, help="untimed warm-up rounds (default 1)")
    parser.add_argument("--out", type=Path, default=REPO / "results", help="output folder")
    parser.add_argument(
        "--data",
        help="binarized Multi30k folder (default data/bin/multi30k_de_en if it exists, "
        "else 'synthetic': random pairs with Multi30k-like lengths)",
    )
    parser.add_argument("--max-tokens", type=int, help="training batch size (default 2048)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    import torch

    overrides: dict[str, Any] = {}
    for key in ("threads", "repeats", "warmup", "max_tokens"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    overrides["device"] = device
    data = args.data
    if data is None:
        data = "synthetic" if args.quick or not MULTI30K.exists() else str(MULTI30K)
    overrides["data"] = "" if data == "synthetic" else data
    if args.no_memory:
        overrides["memory_probe"] = False
    return Config.quick_config(**overrides) if args.quick else Config(**overrides)


def main(argv: list[str] | None = None) -> int:
    # Must be set before torch starts OpenMP. Spinning threads on a shared machine wait a
    # scheduler slice at every barrier (measured here, load ~4 on 2 cores, 2 threads: 8.0 s
    # per training step spinning, 0.80 s passive, 0.81 s with 1 thread).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = parse_cli(argv)
    if args.probe:
        run_probe(args.probe)
        return 0
    start, load_start = time.perf_counter(), load_average()
    quiet_logging()
    cfg = config_from(args)
    setup_torch(cfg)
    info = machine_info(cfg)
    print("\n".join(f"{k}: {v}" for k, v in info.items()))
    print(f"load average at start: {load_start}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(cfg, Path(tmp))
        specs = fairseq_specs(cfg)
        print(f"building {len(specs)} fairseq models ...", flush=True)
        models = {spec.name: bench.build(spec) for spec in specs}
        rows = train_section(bench, specs, models)
        rows += generate_section(bench, specs, models)
        rows += xt_section(bench, models)
        del models
        if cfg.memory_probe:
            print("peak memory: one fresh process per model ...", flush=True)
            for spec, row in zip(specs, rows, strict=False):
                row["peak_mem_mib"] = probe_in_subprocess(cfg, spec)
                print(f"  {spec.name}: {row['peak_mem_mib']:.1f} MiB", flush=True)
        wall = time.perf_counter() - start
        write_report(args.out, cfg, bench, rows, info, wall, (load_start, load_average()))
    print((args.out / "benchmarks.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

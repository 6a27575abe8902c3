"""What the benchmark measures: its settings (``Config``) and its models (``Spec`` rows).

Pure Python (no torch, no fairseq): the command line builds a ``Config``, every section
times the ``Spec`` rows listed here, and the memory probe receives both as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from benchmarks.flops import Dims, train_flops
from memspec import BASELINE, MEMORY_LAYOUTS, TRANSLATION_ARCH

BASELINE_MODEL = "transformer"  # fairseq's own architecture: every ratio is against it
XT_LAYOUT = "xt"  # x-transformers' XTransformer (not a layout of ours, a benchmark row)


@dataclass
class Config:
    """Sizes, batches and timing of one benchmark run (the defaults: a full CPU run)."""

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
        """The largest memory size: the one the targets and the x-transformers rows use."""
        return max(self.mem_tokens)


@dataclass(frozen=True)
class Spec:
    """One model of the benchmark: a row of every section it runs in."""

    name: str
    layout: str  # memspec.LAYOUTS (BASELINE = fairseq's transformer) or XT_LAYOUT
    mem_tokens: int = 0
    hide: bool = False  # --mem-hide-from-decoder
    extra_src: int = 0  # baseline fed this many extra real source tokens (reference row)
    flash: bool = False  # x-transformers only: attn_flash=True

    @property
    def arch(self) -> str:
        """The fairseq ``--arch`` of this row (x-transformers rows have none)."""
        return BASELINE_MODEL if self.layout == BASELINE else TRANSLATION_ARCH[self.layout]

    def train_flops(self, dims: Dims, shapes: list[tuple[int, int, int]]) -> int:
        """Predicted training FLOPs over batches of shape (sentences, source, target)."""
        return sum(
            train_flops(dims, self.layout, b, n + self.extra_src, t, self.mem_tokens, self.hide)
            for b, n, t in shapes
        )


def reference_name(m: int) -> str:
    """The row of fairseq's transformer given ``m`` extra real source tokens."""
    return f"{BASELINE_MODEL}, +{m} source tokens (reference)"


def fairseq_specs(cfg: Config) -> list[Spec]:
    """The models of the train and generate sections, the baseline first."""
    specs = [Spec(BASELINE_MODEL, BASELINE), Spec("mem_transformer m=0", "prepend", 0)]
    for layout in MEMORY_LAYOUTS:
        arch = TRANSLATION_ARCH[layout]
        specs += [Spec(f"{arch} m={m}", layout, m) for m in cfg.mem_tokens]
    m = cfg.m_max
    specs.append(Spec(reference_name(m), BASELINE, extra_src=m))
    return specs


def xt_specs(cfg: Config) -> list[Spec]:
    """The models of the x-transformers section: ours at m=0 and m_max against theirs."""
    m = cfg.m_max
    return [
        Spec(BASELINE_MODEL, BASELINE),
        Spec(f"mem_transformer m={m}", "prepend", m),
        Spec(f"mem_transformer m={m} hide-from-decoder", "prepend", m, hide=True),
        Spec("x-transformers m=0", XT_LAYOUT, 0),
        Spec(f"x-transformers m={m}", XT_LAYOUT, m),
        Spec(f"x-transformers m={m} attn_flash", XT_LAYOUT, m, flash=True),
    ]

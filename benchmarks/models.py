"""The benchmark's workbench: the fairseq task, its batches and the model builders.

One ``Bench`` is shared by every section, so that all models run on the very same batches
and are built from the same arguments (only ``--arch`` and the memory options differ).
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path
from typing import Any

from benchmarks.batches import (
    Sample,
    fixed_batch,
    synthetic_dataset,
    with_extra_source,
    write_dictionary,
)
from benchmarks.flops import Dims
from benchmarks.specs import BASELINE_MODEL, XT_LAYOUT, Config, Spec
from memspec import BASELINE
from memtr.common.paths import PLUGIN_DIR

MAX_POSITIONS = 1024  # fairseq's --max-source/target-positions: longer than any batch here


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
        args = self.parse(Spec(BASELINE_MODEL, BASELINE))
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
            self.move_batches_to_gpu()

    def move_batches_to_gpu(self) -> None:
        """Every batch onto the GPU once, before any timing."""
        from fairseq import utils

        self.train_batches = [utils.move_to_cuda(b) for b in self.train_batches]
        self.gen_batches = [utils.move_to_cuda(b) for b in self.gen_batches]
        self.fixed = [utils.move_to_cuda(b) for b in self.fixed]

    def argv(self, spec: Spec) -> list[str]:
        """The fairseq-train command line that builds ``spec`` (no training is run)."""
        src, tgt = self.langs
        positions = str(MAX_POSITIONS)
        argv = [
            str(self.data_dir),
            *("--user-dir", str(PLUGIN_DIR), "--task", "translation"),
            *("--source-lang", src, "--target-lang", tgt, "--arch", spec.arch),
            *dims_argv(self.cfg),
            "--share-all-embeddings",
            *("--dropout", "0", "--attention-dropout", "0", "--activation-dropout", "0"),
            *("--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1"),
            *("--max-source-positions", positions, "--max-target-positions", positions),
            *("--seed", str(self.cfg.seed)),
        ]
        if self.cfg.device == "cpu":
            argv.append("--cpu")
        if spec.layout != BASELINE:
            argv += ["--mem-tokens", str(spec.mem_tokens)]
        if spec.hide:
            argv.append("--mem-hide-from-decoder")
        return argv

    def parse(self, spec: Spec) -> argparse.Namespace:
        """fairseq's parsed arguments for ``spec`` (its argument dump to stdout swallowed)."""
        with contextlib.redirect_stdout(io.StringIO()):
            return self.options.parse_args_and_arch(
                self.options.get_training_parser(), self.argv(spec)
            )

    def build(self, spec: Spec) -> Any:
        """A model of ``spec`` on the device, seeded, in training mode."""
        self.torch.manual_seed(self.cfg.seed)
        if spec.layout == XT_LAYOUT:
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
            max_positions=(MAX_POSITIONS, MAX_POSITIONS),
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


def dims_argv(cfg: Config) -> list[str]:
    """fairseq's size options for ``cfg``: the same dims on both sides."""
    d, f, h = str(cfg.d), str(cfg.ffn), str(cfg.heads)
    return [
        *("--encoder-embed-dim", d, "--encoder-ffn-embed-dim", f),
        *("--encoder-layers", str(cfg.enc_layers), "--encoder-attention-heads", h),
        *("--decoder-embed-dim", d, "--decoder-ffn-embed-dim", f),
        *("--decoder-layers", str(cfg.dec_layers), "--decoder-attention-heads", h),
    ]


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
    # logits (B, t, vocab) = hidden (B, t, d) @ embedding^T (d, vocab)
    net.to_logits = lambda x: x @ net.token_emb.emb.weight.t()
    return model


def count_params(model: Any) -> int:
    """Parameters of ``model``, each shared (tied) tensor counted once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())

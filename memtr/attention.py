"""Attention over memory: extraction from a trained checkpoint, per-layer numbers, tables.

Translation models (``mem_transformer`` and its variants)
--------------------------------------------------------

The encoder's time axis is ``[memory ; sequence]`` (memory first, ``T = m + n``, the
sequence ending with ``</s>``). For each sample sentence (one at a time, so no padding) we
record:

* encoder self-attention (``self_attn``), every layer and head: ``(L, H, T, T)``, rows =
  queries. The four blocks are memory->memory ``[:m, :m]``, memory->sequence ``[:m, m:]``,
  sequence->memory ``[m:, :m]`` and sequence->sequence ``[m:, m:]``; the last is exactly
  zero for MemBottleneck (its tokens attend to the memory only);
* the decoder's cross-attention, every layer and head: ``(Ld, H, t, k)`` over its ``k`` keys,
  which are ``[mem ; seq]`` by default, ``seq`` with ``--mem-hide-from-decoder`` and ``mem``
  for MemBottleneck (``key_is_memory`` says which). The target is the model's own greedy
  translation, fed back teacher-forced: row ``i`` is the step that outputs token ``i``.

Numbers per layer (``memory_mass.csv``), each the mean over sentences, heads and rows of the
attention mass a row puts on a block of keys (a share in [0, 1]):

* ``memory_to_memory``, ``memory_to_seq``, ``seq_to_memory``, ``seq_to_seq``: encoder blocks;
* ``memory_entropy``: entropy (nats) of the memory rows over all ``T`` keys, and
  ``memory_entropy_norm``: the same divided by ``ln T`` (0 = one key, 1 = uniform);
* ``decoder_to_memory``: the share of the decoder's cross-attention on memory keys (0 when
  the memory is hidden from the decoder, 1 for MemBottleneck).

Encoder and decoder may have different depths: a column is empty where its side has no
such layer.

Language models (``mem_transformer_lm``, layouts ``lm`` and ``lm_recurrent``)
---------------------------------------------------------------------------

The decoder's self-attention over one segment ``[read (m) ; tokens (n) ; write (w)]``, every
layer and head: ``(L, H, T, T)`` with ``T = m + n + w``; ``w = m`` with ``--mem-recurrent``
(layout ``lm_recurrent``), else 0. Each sample line is one segment: ``</s>`` (as an LM input
starts after an end of sentence) then the line's tokens, cut to the model's segment length,
its positions and ``LM_MAX_TOKENS``. The read memory is the learned initial memory (for a
recurrent model, the read memory of a stream's first segment); the write block is what a
recurrent model passes to the next segment. The same columns then mean:

* ``seq_to_memory``, ``seq_to_seq``: token rows on the read memory and on the tokens (they sum
  to 1: tokens never see the write block, and are causal among themselves);
* ``memory_to_memory``, ``memory_to_seq``: the write rows on the read memory and on the tokens
  (the rest, ``1 -`` both, is write->write). A model without a write block has its read rows
  measured instead: they see only the read memory, so 1 and 0 by construction;
* ``memory_entropy`` over those memory rows, ``memory_entropy_norm`` divided by the log of
  the keys they may see (``T`` for write rows, ``m`` for read rows; empty when ``m = 1``);
* ``decoder_to_memory``: empty (NaN), a decoder-only LM has no cross-attention.

A model with ``m = 0`` (translation or LM) has no memory: nothing is extracted (see ``run``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

logger = logging.getLogger(__name__)

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "fairseq_plugins"
DEFAULT_NUM_SENTENCES = 8
BLOCKS = ("memory_to_memory", "memory_to_seq", "seq_to_memory", "seq_to_seq")
COLUMNS = (
    "model",
    "layout",
    "num_memory",
    "layer",
    *BLOCKS,
    "memory_entropy",
    "memory_entropy_norm",
    "decoder_to_memory",
    "num_sentences",
)
NO_MEMORY = "no memory to plot: {name} has 0 memory tokens"
LM_LAYOUTS = ("lm", "lm_recurrent")  # the layout column of a language model: without / with write
LM_MAX_TOKENS = 64  # tokens of an LM sample segment at most: heatmaps stay readable
LM_NOTES = {
    "decoder_to_memory": "not applicable: a decoder-only LM has no cross-attention",
    "memory_rows": "the write block (lm_recurrent), else the read block (sees only itself)",
}


@dataclass
class SampleAttention:
    """Attention probabilities of one sentence (float32, rows sum to 1)."""

    src_tokens: list[str]  # n sequence tokens: MT source (last </s>), LM input (first </s>)
    tgt_tokens: list[str]  # t output subwords (greedy), the last is </s> unless cut off; LM: []
    # (L, H, T, T): MT encoder over [memory (m) ; source (n)], LM decoder over
    # [read (m) ; tokens (n) ; write (w)]
    self_attn: np.ndarray
    cross: np.ndarray  # (Ld, H, t, k) over the decoder's k keys; LM: (0, H, 0, 0), none
    key_is_memory: np.ndarray  # (k,) bool: which decoder keys are memory slots


@dataclass
class ModelInfo:
    name: str
    layout: str  # MT: the encoder's memory layout; LM: one of LM_LAYOUTS
    num_memory: int

    @property
    def is_lm(self) -> bool:
        return self.layout in LM_LAYOUTS

    @property
    def num_write(self) -> int:
        """Write slots at the end of an LM segment (0 but for a recurrent memory)."""
        return self.num_memory if self.layout == "lm_recurrent" else 0


@dataclass(frozen=True)
class Blocks:
    """Where memory and sequence sit on the self-attention axes of one sample."""

    memory_rows: slice  # MT: the memory; LM: the write block, else the read block
    memory_keys: slice  # MT: the memory; LM: the read memory
    seq: slice  # the sequence, as rows and as keys
    memory_row_keys: int  # keys a memory row may attend to: the entropy's maximum is its log


def blocks_of(info: ModelInfo, n: int) -> Blocks:
    """The blocks of a sample with ``n`` sequence tokens (see module docstring)."""
    m, w = info.num_memory, info.num_write
    mem, seq = slice(0, m), slice(m, m + n)
    if not info.is_lm:
        return Blocks(mem, mem, seq, m + n)
    if w:
        return Blocks(slice(m + n, m + n + w), mem, seq, m + n + w)
    return Blocks(mem, mem, seq, m)


# --------------------------------------------------------------------------------------------
# Loading and reading sentences


def load_model(checkpoint: Path, data: Path) -> tuple[Any, Any]:
    """Load a memtr checkpoint with its plugin; return (model in eval mode, task)."""
    from fairseq import checkpoint_utils, utils

    utils.import_user_module(argparse.Namespace(user_dir=str(PLUGIN_DIR)))
    models, _cfg, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={"data": str(data)}
    )
    model = models[0].cpu().float().eval()
    return model, task


def is_language_model(model: Any) -> bool:
    """A decoder-only model (``transformer_lm``, ``mem_transformer_lm``), not a translation one."""
    from fairseq.models import FairseqLanguageModel

    return isinstance(model, FairseqLanguageModel)


def model_info(model: Any, name: str) -> ModelInfo:
    """Name, memory layout and memory size of a loaded model (0 for a plain transformer or
    transformer_lm)."""
    if is_language_model(model):
        decoder = model.decoder
        layout = "lm_recurrent" if getattr(decoder, "recurrent", False) else "lm"
        return ModelInfo(name, layout, getattr(decoder, "num_memory", 0))
    encoder = getattr(model.encoder, "sentence_encoder", model.encoder)  # RoBERTa: inside
    return ModelInfo(name, getattr(encoder, "layout", "none"), getattr(encoder, "num_memory", 0))


def sentence_source(
    path: Path, info: ModelInfo, spm_model: Path | None = None
) -> tuple[Path, Path | None]:
    """The sample file of ``--sentences`` and the sentencepiece model that encodes it.

    A file is taken as it is, with ``spm_model`` for a translation model. A prepared-data
    folder means its ``test.tokens`` for an LM (tokenized), else its one ``test.raw.<src>``
    with ``spm_model`` or, when none is given, the folder's own ``spm.model``. An LM never
    uses a sentencepiece model.
    """
    if info.is_lm:
        if spm_model is not None:
            logger.warning("%s is a language model: --spm is not used", info.name)
        if path.is_dir():
            if not (path / "test.tokens").is_file():
                raise ValueError(f"expected test.tokens in {path}")
            path = path / "test.tokens"
        return path, None
    if path.is_dir():
        found = sorted(path.glob("test.raw.*"))
        if len(found) != 1:
            raise ValueError(f"expected one test.raw.<src> file in {path}")
        if spm_model is None and (path / "spm.model").is_file():
            spm_model = path / "spm.model"
        path = found[0]
    if spm_model is not None and not spm_model.exists():
        raise ValueError(f"{spm_model} does not exist")
    return path, spm_model


def read_sentences(path: Path, count: int, spm_model: Path | None = None) -> list[str]:
    """The first ``count`` non-empty lines of ``path`` as space-separated subwords.

    With ``spm_model`` the lines are raw text, encoded as the prepare stage does; without,
    they are taken as already tokenized.
    """
    lines = []
    with open(path, encoding="utf-8", errors="replace", newline="\n") as fin:
        for line in fin:
            if line.strip():
                lines.append(line.strip())
            if len(lines) == count:
                break
    if spm_model is None:
        return lines
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    return [" ".join(pieces) for pieces in sp.encode(lines, out_type=str)]


# --------------------------------------------------------------------------------------------
# Recording attention


def encode_source(task: Any, line: str, max_tokens: int) -> Tensor:
    """Token ids (1, n) of a tokenized line, with </s>, cut to ``max_tokens``."""
    ids = task.source_dictionary.encode_line(line, add_if_not_exist=False, append_eos=True)
    if ids.numel() > max_tokens:
        ids = torch.cat([ids[: max_tokens - 1], ids[-1:]])
    return ids.long().unsqueeze(0)


def encode_lm_line(dictionary: Any, line: str, max_tokens: int) -> Tensor:
    """LM input ids (1, n): ``</s>`` then the line's tokens, cut to ``max_tokens``."""
    ids = dictionary.encode_line(line, add_if_not_exist=False, append_eos=False)
    ids = torch.cat([ids.new_tensor([dictionary.eos()]), ids])[:max_tokens]
    return ids.long().unsqueeze(0)


def lm_max_tokens(decoder: Any) -> int:
    """Tokens of one LM sample: one segment, within the learned positions and LM_MAX_TOKENS."""
    limits = [LM_MAX_TOKENS, decoder.max_positions()]
    if getattr(decoder, "segment_len", 0):
        limits.append(decoder.segment_len)
    return min(limits)


def record_decoder(model: Any, tokens: Tensor) -> np.ndarray:
    """Self-attention of an LM decoder on one segment ``tokens`` (1, n): (L, H, T, T)."""
    decoder = model.decoder
    decoder.recorded_attention = []
    try:
        model(tokens)
        probs = [p[0].float().numpy() for p in decoder.recorded_attention]  # each (H, T, T)
    finally:
        decoder.recorded_attention = None
    if len(probs) != len(decoder.layers):
        raise ValueError(f"expected one segment, recorded {len(probs)} layer maps")
    return np.stack(probs)


def record_encoder(model: Any, src: Tensor) -> tuple[dict, np.ndarray]:
    """Run the encoder on ``src`` (1, n); return its output and attention (L, H, T, T)."""
    encoder = model.encoder
    encoder.recorded_attention = []
    try:
        out = encoder(src, src_lengths=torch.tensor([src.size(1)]))
        probs = [p[0].float().numpy() for p in encoder.recorded_attention]  # each (H, T, T)
    finally:
        encoder.recorded_attention = None
    return out, np.stack(probs)


def greedy_decode(model: Any, encoder_out: dict, max_len: int) -> Tensor:
    """Greedy output tokens (1, t) ending with </s>, or cut at ``max_len``."""
    eos, pad = model.decoder.dictionary.eos(), model.decoder.dictionary.pad()
    out = torch.full((1, 1), eos, dtype=torch.long)  # (1, 1 + steps), starts with </s>
    for _ in range(max_len):
        logits, _ = model.decoder(out, encoder_out=encoder_out)  # (1, steps, V)
        scores = logits[0, -1]
        scores[pad] = -math.inf
        token = scores.argmax().view(1, 1)
        out = torch.cat([out, token], dim=1)
        if token.item() == eos:
            break
    return out[:, 1:]


def record_cross_attention(decoder: Any, prev_tokens: Tensor, encoder_out: dict) -> np.ndarray:
    """Per-head cross-attention of every decoder layer, teacher-forced: (Ld, H, t, k).

    fairseq returns head weights for one ``alignment_layer`` only, averaged; a pre-hook on
    each layer's ``encoder_attn`` asks it for per-head weights, a forward hook keeps them.
    """
    captured: list[Tensor] = []

    def ask_heads(_module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        return args, {**kwargs, "need_weights": True, "need_head_weights": True}

    def keep(_module: Any, _args: tuple, output: tuple) -> None:
        captured.append(output[1])  # (H, B, t, k)

    handles = []
    for layer in decoder.layers:
        handles.append(layer.encoder_attn.register_forward_pre_hook(ask_heads, with_kwargs=True))
        handles.append(layer.encoder_attn.register_forward_hook(keep))
    try:
        decoder(prev_tokens, encoder_out=encoder_out)
    finally:
        for handle in handles:
            handle.remove()
    return np.stack([a[:, 0].float().numpy() for a in captured])


def decoder_key_is_memory(encoder: Any, n: int) -> np.ndarray:
    """(k,) bool: which keys of the decoder's cross-attention are memory slots."""
    m = encoder.num_memory
    positions = np.arange(m + n)[encoder.decoder_positions()]  # positions on [mem ; seq]
    return positions < m


@torch.no_grad()
def extract_lm_sample(model: Any, task: Any, line: str) -> SampleAttention:
    """Decoder self-attention of one tokenized line, as one LM segment."""
    dictionary = task.source_dictionary
    tokens = encode_lm_line(dictionary, line, lm_max_tokens(model.decoder))  # (1, n)
    probs = record_decoder(model, tokens)  # (L, H, T, T)
    heads = probs.shape[1]
    return SampleAttention(
        src_tokens=[dictionary[i] for i in tokens[0].tolist()],
        tgt_tokens=[],
        self_attn=probs,
        cross=np.zeros((0, heads, 0, 0), dtype=np.float32),  # no cross-attention
        key_is_memory=np.zeros(0, dtype=bool),
    )


@torch.no_grad()
def extract_sample(model: Any, task: Any, line: str) -> SampleAttention:
    """Encoder and decoder attention of one tokenized source line."""
    max_src = min(model.encoder.max_positions(), 1024)
    src = encode_source(task, line, max_src)  # (1, n)
    n = src.size(1)
    encoder_out, enc_probs = record_encoder(model, src)
    max_len = min(2 * n + 10, model.decoder.max_positions() - 1)
    hyp = greedy_decode(model, encoder_out, max_len)  # (1, t)
    eos = model.decoder.dictionary.eos()
    prev = torch.cat([torch.full((1, 1), eos, dtype=torch.long), hyp[:, :-1]], dim=1)  # (1, t)
    cross = record_cross_attention(model.decoder, prev, encoder_out)
    return SampleAttention(
        src_tokens=[task.source_dictionary[i] for i in src[0].tolist()],
        tgt_tokens=[task.target_dictionary[i] for i in hyp[0].tolist()],
        self_attn=enc_probs,
        cross=cross,
        key_is_memory=decoder_key_is_memory(model.encoder, n),
    )


def extract(model: Any, task: Any, lines: Sequence[str]) -> list[SampleAttention]:
    """Attention of every sample line (one at a time: no padding in the recorded rows)."""
    one = extract_lm_sample if is_language_model(model) else extract_sample
    return [one(model, task, line) for line in lines]


# --------------------------------------------------------------------------------------------
# Numbers


def block_shares(probs: np.ndarray, blocks: Blocks) -> dict[str, np.ndarray]:
    """Mean attention mass each block of rows puts on each block of keys, per layer.

    Args:
        probs: (L, H, T, T) self-attention probabilities.
        blocks: where the memory and the sequence are on both axes.
    Returns:
        {block name: (L,)}, averaged over heads and the rows of the block.
    """
    mem_rows, mem_keys, seq = blocks.memory_rows, blocks.memory_keys, blocks.seq
    pairs = {
        "memory_to_memory": (mem_rows, mem_keys),
        "memory_to_seq": (mem_rows, seq),
        "seq_to_memory": (seq, mem_keys),
        "seq_to_seq": (seq, seq),
    }
    return {
        name: probs[:, :, rows, keys].sum(-1).mean(axis=(1, 2))  # (L,)
        for name, (rows, keys) in pairs.items()
    }


def row_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats over the last axis, with 0 log 0 = 0: (..., K) -> (...)."""
    safe = np.where(probs > 0, probs, 1.0)
    return -(probs * np.log(safe)).sum(-1)


def memory_entropy(probs: np.ndarray, blocks: Blocks) -> tuple[np.ndarray, np.ndarray]:
    """Mean entropy of the memory rows per layer, in nats and divided by the log of the keys
    they may see (NaN for one key): (L,), (L,)."""
    ent = row_entropy(probs[:, :, blocks.memory_rows, :]).mean(axis=(1, 2))  # (L,)
    keys = blocks.memory_row_keys
    norm = ent / math.log(keys) if keys > 1 else np.full_like(ent, np.nan)
    return ent, norm


def decoder_memory_share(cross: np.ndarray, key_is_memory: np.ndarray) -> np.ndarray:
    """Mean cross-attention mass on memory keys per decoder layer: (Ld, H, t, k) -> (Ld,)
    ((0,) for an LM: no cross-attention)."""
    if cross.shape[0] == 0:
        return np.zeros(0)
    return cross[..., key_is_memory].sum(-1).mean(axis=(1, 2))


def sample_numbers(sample: SampleAttention, info: ModelInfo) -> dict[str, np.ndarray]:
    """Per-layer numbers of one sentence: {column: (L,) or (Ld,); (0,) for an LM's
    ``decoder_to_memory``}."""
    blocks = blocks_of(info, len(sample.src_tokens))
    numbers = block_shares(sample.self_attn, blocks)
    numbers["memory_entropy"], numbers["memory_entropy_norm"] = memory_entropy(
        sample.self_attn, blocks
    )
    numbers["decoder_to_memory"] = decoder_memory_share(sample.cross, sample.key_is_memory)
    return numbers


def memory_mass_table(samples: Sequence[SampleAttention], info: ModelInfo) -> pd.DataFrame:
    """One row per layer (1-based): the numbers averaged over the sample sentences."""
    per_sample = [sample_numbers(s, info) for s in samples]
    depth = max(len(v) for v in per_sample[0].values())
    rows = []
    for layer in range(depth):
        row: dict[str, Any] = {"model": info.name, "layout": info.layout}
        row.update(num_memory=info.num_memory, layer=layer + 1)
        for key in per_sample[0]:
            values = [float(s[key][layer]) for s in per_sample if layer < len(s[key])]
            row[key] = float(np.mean(values)) if values else np.nan
        row["num_sentences"] = len(samples)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


# --------------------------------------------------------------------------------------------
# Outputs


def save_npz(path: Path, samples: Sequence[SampleAttention], info: ModelInfo) -> None:
    """Raw probabilities: ``s{i}_self_attn``, ``s{i}_cross``, ``s{i}_key_is_memory``,
    ``s{i}_src_tokens``, ``s{i}_tgt_tokens`` per sentence, plus ``model``, ``layout``,
    ``num_memory`` and ``num_sentences``; no pickled objects."""
    arrays: dict[str, np.ndarray] = {
        "model": np.array(info.name),
        "layout": np.array(info.layout),
        "num_memory": np.array(info.num_memory),
        "num_sentences": np.array(len(samples)),
    }
    for i, s in enumerate(samples):
        arrays[f"s{i}_self_attn"] = s.self_attn.astype(np.float32)
        arrays[f"s{i}_cross"] = s.cross.astype(np.float32)
        arrays[f"s{i}_key_is_memory"] = s.key_is_memory
        arrays[f"s{i}_src_tokens"] = np.array(s.src_tokens)
        arrays[f"s{i}_tgt_tokens"] = np.array(s.tgt_tokens, dtype=str)
    np.savez_compressed(path, **arrays)


def load_npz(path: Path) -> tuple[ModelInfo, list[SampleAttention]]:
    """Read back what ``save_npz`` wrote."""
    with np.load(path) as z:
        info = ModelInfo(str(z["model"]), str(z["layout"]), int(z["num_memory"]))
        samples = [
            SampleAttention(
                src_tokens=[str(x) for x in z[f"s{i}_src_tokens"]],
                tgt_tokens=[str(x) for x in z[f"s{i}_tgt_tokens"]],
                self_attn=z[f"s{i}_self_attn"],
                cross=z[f"s{i}_cross"],
                key_is_memory=z[f"s{i}_key_is_memory"],
            )
            for i in range(int(z["num_sentences"]))
        ]
    return info, samples


def table_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``table`` as JSON-ready dicts (NaN -> None)."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in table.astype(object).to_dict(orient="records")
    ]


def write_json(path: Path, info: ModelInfo, status: str, layers: list, **extra: Any) -> None:
    doc = {
        "model": info.name,
        "layout": info.layout,
        "num_memory": info.num_memory,
        "status": status,
        **extra,
        "layers": layers,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def write_numbers(out: Path, table: pd.DataFrame, info: ModelInfo, num_sentences: int) -> None:
    """``memory_mass.csv`` and ``memory_mass.json`` in ``out`` (an LM's JSON says which
    column does not apply and which rows are its memory rows)."""
    table.to_csv(out / "memory_mass.csv", index=False, float_format="%.6f")
    extra: dict[str, Any] = {"num_sentences": num_sentences}
    if info.is_lm:
        extra["notes"] = LM_NOTES
    write_json(out / "memory_mass.json", info, "ok", table_records(table), **extra)


def write_no_memory(out: Path, info: ModelInfo, status: str = "no_memory") -> str:
    """Outputs of a model with nothing to plot: a JSON saying why and a header-only CSV."""
    message = (NO_MEMORY if status == "no_memory" else NOT_SUPPORTED).format(name=info.name)
    pd.DataFrame(columns=list(COLUMNS)).to_csv(out / "memory_mass.csv", index=False)
    write_json(out / "memory_mass.json", info, status, [], message=message)
    return message


NOT_SUPPORTED = (
    "no attention plots for {name}: the stage covers translation models and language "
    "models; classification models (mem_roberta) are not supported yet"
)


def is_classifier(model: Any) -> bool:
    """True for a RoBERTa-style model with classification heads (GLUE fine-tuning)."""
    return hasattr(model, "classification_heads")


def format_table(table: pd.DataFrame) -> str:
    """A short fixed-width table of the main numbers, for the terminal."""
    cols = ["layer", "seq_to_memory", "memory_to_memory", "memory_entropy", "decoder_to_memory"]
    if table["layout"].isin(LM_LAYOUTS).all():  # no cross-attention, write rows on tokens
        cols = ["layer", "seq_to_memory", "memory_to_memory", "memory_to_seq", "memory_entropy"]
    return table[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep="-")


# --------------------------------------------------------------------------------------------
# Whole stage and comparison table


def run(
    checkpoint: Path,
    data: Path,
    sentences: Path,
    name: str,
    out: Path,
    spm_model: Path | None = None,
    num_sentences: int = DEFAULT_NUM_SENTENCES,
) -> tuple[str, pd.DataFrame | None]:
    """Extract, plot and write everything into ``out/<name>/``; return (message, table).

    ``sentences`` may be a prepared-data folder, and ``spm_model`` encodes raw source text for
    a translation model; an LM reads tokenized lines (see ``sentence_source``).
    A model without memory gets only ``memory_mass.json`` (``"status": "no_memory"``) and a
    header-only ``memory_mass.csv``; the message then says there is no memory to plot.
    """
    from memtr import attention_plots

    model, task = load_model(checkpoint, data)
    info = model_info(model, name)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if is_classifier(model):
        return write_no_memory(folder, info, status="not_supported"), None
    if info.num_memory == 0:
        return write_no_memory(folder, info), None
    sentences, spm_model = sentence_source(sentences, info, spm_model)
    lines = read_sentences(sentences, num_sentences, spm_model)
    if not lines:
        raise ValueError(f"no sentences in {sentences}")
    samples = extract(model, task, lines)
    table = memory_mass_table(samples, info)
    save_npz(folder / "attention.npz", samples, info)
    write_numbers(folder, table, info, len(samples))
    attention_plots.plot_model(folder, samples, table, info)
    return f"{name}: attention of {len(samples)} sentences written to {folder}", table


def merge_tables(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate several ``memory_mass.csv`` (header-only ones add no rows)."""
    frames = [pd.read_csv(p) for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]


def markdown_table(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table (floats rounded, NaN shown as '-')."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join([header, rule, *body]) + "\n"


def write_comparison(paths: Sequence[Path], out_csv: Path) -> pd.DataFrame:
    """Merge per-model tables into ``out_csv`` and a Markdown twin ``out_csv.with_suffix('.md')``."""
    table = merge_tables(paths)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6f")
    out_csv.with_suffix(".md").write_text(markdown_table(table), encoding="utf-8")
    return table

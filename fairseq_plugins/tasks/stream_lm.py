"""``stream_lm``: language-model batches in stream order, for a memory carried across batches.

After fairseq's ``examples/truncated_bptt`` task (Transformer-XL), kept small. A split is read
as one token stream, every line with its end-of-sentence, as ``language_modeling
--sample-break-mode none`` reads it; targets are the stream and sources the stream shifted
right by one after an end-of-sentence, also as ``language_modeling`` does::

    target  t0  t1  t2 ... t{N-1}
    source  </s> t0 t1 ... t{N-2}

The stream is cut into ``R = batch_size x shards`` rows of ``ceil(N / R)`` columns (the last
row is padded at its end), and batch ``i`` holds columns ``[i T, (i+1) T)`` of this shard's
rows, ``T = --tokens-per-sample``. Row ``r`` of batch ``i + 1`` therefore continues row ``r``
of batch ``i``, and every token of the split is scored exactly once: ``fairseq-eval-lm`` counts
the same tokens as with ``language_modeling``. Batches are never shuffled.

A model whose class sets ``takes_mem_stream`` (``mem_transformer_lm``) also receives
``net_input["mem_stream"] = {"key": split, "start": i T}``, from which it carries its
recurrent memory from one batch to the next of the same split.

No ``from __future__ import annotations`` here: fairseq reads the config's field types at run
time.
"""

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from fairseq import utils
from fairseq.data import Dictionary, data_utils, iterators
from fairseq.dataclass import FairseqDataclass
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II, MISSING

logger = logging.getLogger(__name__)


@dataclass
class StreamLMConfig(FairseqDataclass):
    data: str = field(default=MISSING, metadata={"help": "folder with dict.txt and the splits"})
    tokens_per_sample: int = field(
        default=512, metadata={"help": "columns per batch: tokens of a row in one forward pass"}
    )
    max_target_positions: Optional[int] = field(  # noqa: UP045 (fairseq reads typing.Optional)
        default=None, metadata={"help": "positions the model learns (default: the columns)"}
    )
    add_bos_token: bool = field(
        default=False, metadata={"help": "not supported (a stream has no sentence starts)"}
    )
    seed: int = II("common.seed")


class TokenStream(torch.utils.data.Dataset):
    """One split as a flat stream of N tokens, cut into rows on demand."""

    def __init__(self, split: str, tokens: torch.Tensor, eos: int, pad: int) -> None:
        self.split = split
        self.tokens = tokens  # (N,) int32
        self.eos, self.pad = eos, pad

    def __len__(self) -> int:
        return self.tokens.numel()

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.tokens[index]

    def columns(self, row_starts: torch.Tensor, start: int, end: int) -> tuple[torch.Tensor, ...]:
        """Source and target (B, end - start) of columns ``[start, end)`` of the given rows."""
        n = self.tokens.numel()
        where = row_starts[:, None] + torch.arange(start, end)[None, :]  # (B, w) stream index
        target = self.tokens[where.clamp(max=n - 1)].long()
        source = self.tokens[(where - 1).clamp(min=0, max=n - 1)].long()
        source = source.masked_fill(where == 0, self.eos)
        beyond = where >= n
        return source.masked_fill(beyond, self.pad), target.masked_fill(beyond, self.pad)


class StreamBatches(torch.utils.data.Dataset):
    """Item ``i`` is batch ``i``: columns ``[i T, (i+1) T)`` of this shard's rows."""

    def __init__(
        self, stream: TokenStream, rows: int, width: int, num_shards: int, shard_id: int
    ) -> None:
        self.stream, self.width = stream, width
        self.row_len = max(1, math.ceil(len(stream) / (rows * num_shards)))
        first = shard_id * rows
        self.row_starts = torch.arange(first, first + rows) * self.row_len  # (B,)

    def __len__(self) -> int:
        return math.ceil(self.row_len / self.width)

    def __getitem__(self, index: int) -> int:
        return index

    def collater(self, items: list[int]) -> dict[str, Any]:
        (index,) = items
        start = index * self.width
        end = min(start + self.width, self.row_len)
        source, target = self.stream.columns(self.row_starts, start, end)  # (B, w) each
        pad = self.stream.pad
        return {
            "id": torch.arange(len(self.row_starts)),
            "nsentences": len(self.row_starts),
            "ntokens": int(target.ne(pad).sum()),
            "net_input": {"src_tokens": source, "src_lengths": source.ne(pad).sum(dim=1)},
            "target": target,
            "stream_start": start,
        }


@register_task("stream_lm", dataclass=StreamLMConfig)
class StreamLanguageModelingTask(FairseqTask):
    """Language modelling over stream-ordered rows (see module docstring)."""

    streams_rows = True  # read by mem_transformer_lm: memory can be carried across batches

    def __init__(self, cfg: StreamLMConfig, dictionary: Dictionary) -> None:
        super().__init__(cfg)
        if cfg.add_bos_token:
            raise ValueError("--add-bos-token is not supported by stream_lm")
        self.dictionary = dictionary
        self.pass_mem_stream = False

    @classmethod
    def setup_task(cls, cfg: StreamLMConfig, **kwargs: Any) -> "StreamLanguageModelingTask":
        paths = utils.split_paths(cfg.data)
        dictionary = Dictionary.load(os.path.join(paths[0], "dict.txt"))
        logger.info(f"dictionary: {len(dictionary)} types")
        return cls(cfg, dictionary)

    def build_model(self, cfg: Any, from_checkpoint: bool = False) -> Any:
        model = super().build_model(cfg, from_checkpoint)
        self.pass_mem_stream = getattr(model, "takes_mem_stream", False)
        return model

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs: Any):
        paths = utils.split_paths(self.cfg.data)
        path = os.path.join(paths[(epoch - 1) % len(paths)], split)
        data = data_utils.load_indexed_dataset(path, self.dictionary, combine=combine)
        if data is None:
            raise FileNotFoundError(f"Dataset not found: {split} ({path})")
        tokens = torch.cat([data[i].to(torch.int32) for i in range(len(data))])  # (N,)
        self.datasets[split] = TokenStream(
            split, tokens, self.dictionary.eos(), self.dictionary.pad()
        )
        logger.info(f"{split}: one stream of {tokens.numel():,} tokens")

    def dataset(self, split: str) -> TokenStream:
        if split not in self.datasets:
            raise KeyError(f"Dataset not loaded: {split}")
        return self.datasets[split]

    def get_batch_iterator(
        self,
        dataset: TokenStream,
        max_tokens: int | None = None,
        max_sentences: int | None = None,
        num_shards: int = 1,
        shard_id: int = 0,
        num_workers: int = 0,
        epoch: int = 1,
        data_buffer_size: int = 0,
        skip_remainder_batch: bool = False,
        **unused: Any,
    ) -> iterators.EpochBatchIterator:
        """Batches in stream order; rows = ``--batch-size`` (else max tokens // columns)."""
        width = self.cfg.tokens_per_sample
        rows = max_sentences or (max_tokens or 0) // width
        if rows < 1:
            raise ValueError("stream_lm needs --batch-size (rows per batch) or --max-tokens >= T")
        batches = StreamBatches(dataset, rows, width, num_shards, shard_id)
        return iterators.EpochBatchIterator(
            dataset=batches,
            collate_fn=lambda items: self.collate(dataset, batches, items),
            batch_sampler=[[i] for i in range(len(batches))],
            num_workers=num_workers,
            epoch=epoch,
            buffer_size=data_buffer_size,
            disable_shuffling=True,
            skip_remainder_batch=skip_remainder_batch,
        )

    def collate(self, stream: TokenStream, batches: StreamBatches, items: list[int]) -> dict:
        sample = batches.collater(items)
        start = sample.pop("stream_start")
        if self.pass_mem_stream:
            sample["net_input"]["mem_stream"] = {"key": stream.split, "start": start}
        return sample

    def eval_lm_dataloader(
        self,
        dataset: TokenStream,
        max_tokens: int | None = 36000,
        batch_size: int | None = None,
        max_positions: Any = None,
        num_shards: int = 1,
        shard_id: int = 0,
        num_workers: int = 1,
        data_buffer_size: int = 10,
        context_window: int = 0,
    ) -> Any:
        if context_window > 0:
            raise ValueError("stream_lm does not use --context-window: rows are read in order")
        return self.get_batch_iterator(
            dataset,
            max_tokens=max_tokens,
            max_sentences=batch_size,
            num_shards=num_shards,
            shard_id=shard_id,
            num_workers=num_workers,
            data_buffer_size=data_buffer_size,
        ).next_epoch_itr(shuffle=False)

    @property
    def source_dictionary(self) -> Dictionary:
        return self.dictionary

    @property
    def target_dictionary(self) -> Dictionary:
        return self.dictionary

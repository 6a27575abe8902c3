"""Preprocessing stage: raw files -> cleaned, sentencepiece-encoded text in ``data/prep/<ds>/``.

* MT (``mt``, ``synthetic``): the splits are assembled from the raw files as fairseq's recipes
  do, a joint BPE model is trained with sentencepiece on the training split (``spm.model``),
  all splits are encoded, and training pairs are filtered like ``clean-corpus-n.perl`` (empty,
  longer than ``max_len`` or length ratio above ``ratio``, counted in BPE tokens). Valid and
  test keep their raw text: ``<split>.raw.<src>`` and the references ``<split>.ref.<tgt>``,
  for BLEU with sacrebleu on detokenized output.
* LM (``lm``): WikiText is already tokenized; its files are copied as ``<split>.tokens`` and
  binarized with fairseq's dictionary.
* GLUE (``glue``): columns are cut as in fairseq's ``preprocess_GLUE_tasks.sh`` into
  ``<split>.raw.input<i>`` and ``<split>.label``; the inputs are BPE-encoded with a
  sentencepiece model trained on the training inputs, or (``data.bpe: gpt2``) with GPT-2's
  byte BPE exactly as the recipe does (token ids; the files and the dictionary of a released
  RoBERTa, or of the pretrain stage, are kept in ``gpt2/`` for the binarize stage).

A dataset declared in ``params.yaml`` is first rewritten into the registry's raw layout
(:mod:`memtr.data.inline`: formats, columns, carved splits), then prepared as above.

The output folder is written elsewhere and moved into place only when complete.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm

from memtr.common.errors import DataError
from memtr.common.textio import (
    atomic_dir,
    atomic_write_text,
    check_aligned,
    read_lines,
    write_lines,
)
from memtr.data.gpt2_bpe import encode_gpt2, gpt2_encoder
from memtr.data.inline import normalize
from memtr.datasets.cleaning import count_pair, drop_reason, new_report
from memtr.datasets.inline import is_inline
from memtr.datasets.params import CleanParams, DataParams
from memtr.datasets.registry import IWSLT14_TEST_SETS, Dataset, GlueTask
from memtr.datasets.subwords import GPT2_DIR, GPT2_FILES

log = logging.getLogger(__name__)

SPM_MAX_SENTENCES = 5_000_000  # sentences sampled for BPE training on large corpora
ENCODE_CHUNK = 20_000
Splits = dict[str, tuple[Path, Path]]


# --------------------------------------------------------------------------------------------
# Assembling parallel splits from the raw files


def seg_lines(path: Path) -> Iterator[str]:
    """Segments of a WMT ``.sgm`` or IWSLT ``.xml`` file, extracted as sacrebleu does."""
    for line in read_lines(path):
        line = line.lstrip()
        if line.startswith("<seg "):
            text = re.sub(r"<seg.*?>(.*)</seg>.*?", r"\1", line)
            yield re.sub(r"\s+", " ", text.strip())


IWSLT_DROP = ("<url>", "<talkid>", "<keywords>")
IWSLT_STRIP = re.compile(r"</?(title|description)>")


def iwslt_train_lines(path: Path) -> Iterator[str]:
    """Training lines of IWSLT ``train.tags`` files, filtered as ``prepare-iwslt14.sh`` does."""
    for line in read_lines(path):
        if not any(tag in line for tag in IWSLT_DROP):
            yield IWSLT_STRIP.sub("", line)


def _pair(folder: Path, stem: str, ds: Dataset) -> tuple[Path, Path]:
    return folder / f"{stem}.{ds.src}", folder / f"{stem}.{ds.tgt}"


def _assemble_direct(ds: Dataset, raw: Path, work: Path) -> Splits:
    names = ds.options.get("splits", {"train": "train", "valid": "valid", "test": "test"})
    return {split: _pair(raw, stem, ds) for split, stem in names.items()}


def _assemble_wmt14(ds: Dataset, raw: Path, work: Path) -> Splits:
    for lang in (ds.src, ds.tgt):
        with open(work / f"train.{lang}", "w", encoding="utf-8", newline="\n") as out:
            for stem in ds.options["train"]:
                check_aligned(raw / f"{stem}.{ds.src}", raw / f"{stem}.{ds.tgt}")
                out.writelines(line + "\n" for line in read_lines(raw / f"{stem}.{lang}"))
    write_lines(work / f"test.{ds.src}", seg_lines(raw / f"newstest2014-deen-src.{ds.src}.sgm"))
    write_lines(work / f"test.{ds.tgt}", seg_lines(raw / f"newstest2014-deen-ref.{ds.tgt}.sgm"))
    return {
        "train": (work / f"train.{ds.src}", work / f"train.{ds.tgt}"),
        "valid": (raw / f"newstest2013.{ds.src}", raw / f"newstest2013.{ds.tgt}"),
        "test": (work / f"test.{ds.src}", work / f"test.{ds.tgt}"),
    }


def _assemble_iwslt14(ds: Dataset, raw: Path, work: Path) -> Splits:
    for lang in (ds.src, ds.tgt):
        lines = [line.lower() for line in iwslt_train_lines(raw / f"train.tags.de-en.{lang}")]
        write_lines(work / f"train.{lang}", (x for i, x in enumerate(lines, 1) if i % 23))
        write_lines(work / f"valid.{lang}", (x for i, x in enumerate(lines, 1) if not i % 23))
        test = (seg_lines(raw / f"{stem}.de-en.{lang}.xml") for stem in IWSLT14_TEST_SETS)
        write_lines(work / f"test.{lang}", (line.lower() for part in test for line in part))
    return {split: _pair(work, split, ds) for split in ("train", "valid", "test")}


ASSEMBLERS: dict[str, Callable[[Dataset, Path, Path], Splits]] = {
    "multi30k_de_en": _assemble_direct,
    "wmt14_de_en": _assemble_wmt14,
    "iwslt14_de_en": _assemble_iwslt14,
    "synthetic": _assemble_direct,
}


# --------------------------------------------------------------------------------------------
# BPE and cleaning


def train_spm(inputs: list[Path], prefix: Path, vocab_size: int, threads: int = 1):
    """Train a BPE sentencepiece model on ``inputs``; write ``<prefix>.model`` and
    ``<prefix>.vocab``; return the loaded processor.

    The vocabulary may come out smaller than ``vocab_size`` on tiny corpora. The model file
    is byte-identical for identical inputs on any machine: see :func:`portable_spm_model`.
    """
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        input=[str(p) for p in inputs],
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        character_coverage=1.0,
        hard_vocab_limit=False,
        input_sentence_size=SPM_MAX_SENTENCES,
        shuffle_input_sentence=True,
        bos_id=-1,
        eos_id=-1,
        num_threads=threads,
        minloglevel=2,
    )
    proto = portable_spm_model(model.getvalue())
    prefix.with_name(prefix.name + ".model").write_bytes(proto)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    vocab = (f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}" for i in range(sp.get_piece_size()))
    write_lines(prefix.with_name(prefix.name + ".vocab"), vocab)
    return sp


def portable_spm_model(proto: bytes) -> bytes:
    """``proto`` without the trainer settings that describe the machine, not the model.

    sentencepiece records its input paths (here temporary folders), output prefix and thread
    count in the model. They change nothing in the pieces or scores, but they would change
    the file's hash, and so every cached stage downstream of it, between two runs or two
    machines.
    """
    from sentencepiece import sentencepiece_model_pb2  # needs protobuf

    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(proto)
    for field in ("input", "model_prefix", "num_threads"):
        model.trainer_spec.ClearField(field)
    return model.SerializeToString(deterministic=True)


def _chunks(lines: Iterable[str], size: int = ENCODE_CHUNK) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def encode_lines(sp, lines: Iterable[str], threads: int = 1) -> Iterator[str]:
    """Encode ``lines`` into space-separated sentencepiece pieces."""
    for chunk in _chunks(lines):
        for pieces in sp.encode(chunk, out_type=str, num_threads=threads):
            yield " ".join(pieces)


def keep_pair(src_len: int, tgt_len: int, clean: CleanParams) -> bool:
    """``clean-corpus-n.perl``'s test on token counts: bounds and length ratio (the ratio
    spared to pairs whose longer side is under ``clean.ratio_min_len`` tokens)."""
    return drop_reason(src_len, tgt_len, clean) is None


def encode_clean(
    sp, src: Path, tgt: Path, out_src: Path, out_tgt: Path, clean: CleanParams, threads: int = 1
) -> dict:
    """Encode a training pair of files and drop pairs failing :func:`keep_pair`.

    Return the ``cleaning`` record: pairs, kept, dropped per filter and a few raw examples.
    """
    report = new_report()
    enc_src = encode_lines(sp, read_lines(src), threads)
    enc_tgt = encode_lines(sp, read_lines(tgt), threads)
    raw = zip(read_lines(src), read_lines(tgt), strict=True)
    with (
        open(out_src, "w", encoding="utf-8", newline="\n") as fs,
        open(out_tgt, "w", encoding="utf-8", newline="\n") as ft,
    ):
        for s, t, pair in zip(enc_src, enc_tgt, raw, strict=True):
            tokens = (len(s.split()), len(t.split()))
            reason = drop_reason(*tokens, clean)
            count_pair(report, reason, tokens, pair)
            if reason is None:
                fs.write(s + "\n")
                ft.write(t + "\n")
    return report


@dataclass(frozen=True)
class PrepareOptions:
    """What preparation reads of the ``data`` section: the subword model and the cleaning."""

    bpe: str  # sentencepiece | gpt2
    bpe_vocab_size: int  # sentencepiece's vocabulary
    clean: CleanParams  # translation's training-pair filter
    gpt2_from_pretrain: bool  # the GPT-2 BPE files come from the pretrain stage

    @classmethod
    def of(cls, data: DataParams) -> PrepareOptions:
        return cls(data.bpe, data.bpe_vocab_size, data.clean, data.gpt2_from_pretrain)


# --------------------------------------------------------------------------------------------
# Per kind


def prepare_mt(ds: Dataset, raw: Path, out: Path, options: PrepareOptions, workers: int) -> dict:
    """Assemble, BPE-encode and clean a translation dataset into ``out``."""
    src, tgt = ds.src, ds.tgt
    stats: dict = {"lines": {}}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".work-") as work:
        splits = ASSEMBLERS.get(ds.name, _assemble_direct)(ds, raw, Path(work))
        for split, (s, t) in splits.items():
            stats["lines"][f"{split}.raw"] = check_aligned(s, t)
        train_s, train_t = splits["train"]
        sp = train_spm([train_s, train_t], out / "spm", options.bpe_vocab_size, workers)
        stats["spm_vocab_size"] = sp.get_piece_size()
        cleaning = encode_clean(
            sp, train_s, train_t, out / f"train.{src}", out / f"train.{tgt}", options.clean, workers
        )
        stats["lines"]["train"] = cleaning["kept"]
        stats["dropped_train_pairs"] = sum(cleaning["dropped"].values())
        stats["cleaning"] = cleaning
        for split in ("valid", "test"):
            s, t = splits[split]
            write_lines(out / f"{split}.raw.{src}", read_lines(s))
            stats["lines"][split] = write_lines(out / f"{split}.ref.{tgt}", read_lines(t))
            write_lines(out / f"{split}.{src}", encode_lines(sp, read_lines(s), workers))
            write_lines(out / f"{split}.{tgt}", encode_lines(sp, read_lines(t), workers))
    return stats


def prepare_lm(ds: Dataset, raw: Path, out: Path, options: PrepareOptions, workers: int) -> dict:
    """Copy the (already tokenized) language-modelling splits as ``<split>.tokens``."""
    names = ds.options.get("split_files", {})
    lines = {}
    for split in ("train", "valid", "test"):
        source = raw / names.get(split, f"wiki.{split}.tokens")
        lines[split] = write_lines(out / f"{split}.tokens", read_lines(source))
    return {"lines": lines}


def _cut(row: list[str], col: int) -> str:
    return row[col] if col < len(row) else ""


def mrpc_tables(raw: Path) -> dict[str, list[list[str]]]:
    """Build MRPC's train/dev/test rows from the SentEval files (GLUE's download script)."""
    dev_ids = {tuple(line.strip().split("\t")) for line in read_lines(raw / "mrpc_dev_ids.tsv")}
    train, dev = [], []
    for line in list(read_lines(raw / "msr_paraphrase_train.txt"))[1:]:
        row = line.strip().split("\t")
        (dev if (row[1], row[2]) in dev_ids else train).append(row)
    test = [
        [str(i), *line.strip().split("\t")[1:]]
        for i, line in enumerate(list(read_lines(raw / "msr_paraphrase_test.txt"))[1:])
    ]
    return {"train": train, "dev": dev, "test": test}


def glue_tables(ds: Dataset, raw: Path) -> dict[str, list[list[str]]]:
    """Rows (header removed, malformed QQP rows dropped) per fairseq split name."""
    task = ds.glue
    assert task is not None
    tables = mrpc_tables(raw) if task.folder == "MRPC" else {}
    result = {}
    for split, tsv in task.splits.items():
        is_test = split.startswith("test")
        if task.folder == "MRPC":
            rows = tables[tsv]
        else:
            lines = list(read_lines(raw / f"{tsv}.tsv"))
            if task.header_in_train_dev or is_test:
                lines = lines[1:]
            rows = [line.split("\t") for line in lines]
        if task.num_fields and not is_test:
            rows = [row for row in rows if len(row) == task.num_fields]
        result[split] = rows
    return result


def prepare_glue(ds: Dataset, raw: Path, out: Path, options: PrepareOptions, workers: int) -> dict:
    """Cut GLUE columns into inputs and labels, then BPE-encode the inputs."""
    task: GlueTask = ds.glue  # type: ignore[assignment]
    tables = glue_tables(ds, raw)
    stats: dict = {"lines": {}}
    for split, rows in tables.items():
        is_test = split.startswith("test")
        for i, col in enumerate(task.test_inputs if is_test else task.inputs):
            write_lines(out / f"{split}.raw.input{i}", (_cut(row, col) for row in rows))
        if not is_test:
            col = task.dev_label if task.dev_label is not None and split != "train" else task.label
            write_lines(out / f"{split}.label", (_cut(row, col).strip() for row in rows))
        stats["lines"][split] = len(rows)
    n_inputs = len(task.inputs)
    if options.bpe == "gpt2":
        encoder = keep_gpt2_files(raw, out / GPT2_DIR)
        stats["gpt2_bpe_tokens"] = len(encoder.encoder)
        encode = lambda lines: encode_gpt2(encoder, lines)  # noqa: E731
    else:
        train_inputs = [out / f"train.raw.input{i}" for i in range(n_inputs)]
        sp = train_spm(train_inputs, out / "spm", options.bpe_vocab_size, workers)
        stats["spm_vocab_size"] = sp.get_piece_size()
        encode = lambda lines: encode_lines(sp, lines, workers)  # noqa: E731
    for split in tables:
        for i in range(n_inputs):
            lines = read_lines(out / f"{split}.raw.input{i}")
            write_lines(out / f"{split}.input{i}", encode(lines))
    return stats


def keep_gpt2_files(raw: Path, keep: Path):
    """Copy the raw ``gpt2.*`` files into ``keep`` under their release names; return fairseq's
    GPT-2 encoder of those files."""
    keep.mkdir()
    for release_name, raw_name in GPT2_FILES.values():
        shutil.copyfile(raw / raw_name, keep / release_name)
    return gpt2_encoder(keep)


def stage_pretrained_files(ds: Dataset, raw: Path, pretrain: Path | None, layout: Path) -> Path:
    """``raw``, or with ``data.gpt2_bpe: pretrain`` a ``layout`` folder holding links to the
    raw files and copies of the pretrain stage's BPE files under their raw names."""
    if pretrain is None:
        raise DataError(
            "data.gpt2_bpe is 'pretrain': give the pretrain stage's folder (--pretrain)"
        )
    for release_name, _ in GPT2_FILES.values():
        if not (pretrain / release_name).is_file():
            raise DataError(f"missing {pretrain / release_name}: run the pretrain stage first")
    layout.mkdir(parents=True, exist_ok=True)
    for item in raw.iterdir():
        if not (layout / item.name).exists():
            (layout / item.name).symlink_to(item.resolve())
    for release_name, raw_name in GPT2_FILES.values():
        shutil.copyfile(pretrain / release_name, layout / raw_name)
    return layout


PREPARERS = {"mt": prepare_mt, "synthetic": prepare_mt, "lm": prepare_lm, "glue": prepare_glue}


def required_raw_files(ds: Dataset, bpe: str) -> list[str]:
    """Names the download stage must have produced for ``ds``."""
    if ds.kind == "synthetic":
        return [
            f"{split}.{lang}" for split in ("train", "valid", "test") for lang in ("src", "tgt")
        ]
    gpt2 = [raw_name for _, raw_name in GPT2_FILES.values()] if bpe == "gpt2" else []
    return list(dict.fromkeys([*(raw.name for raw in ds.files), *gpt2]))


def prepare(
    ds: Dataset, raw: Path, out: Path, options: PrepareOptions, workers: int = 1,
    pretrain: Path | None = None,
) -> dict:  # fmt: skip
    """Run the preprocessing of ``ds`` from ``raw`` into ``out`` (atomically); return stats.

    ``pretrain``: the pretrain stage's folder, read with ``data.gpt2_bpe: pretrain``."""
    raw, out = Path(raw), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".layout-") as layout:
        if options.gpt2_from_pretrain:
            raw = stage_pretrained_files(ds, raw, pretrain, Path(layout, "with-gpt2"))
        missing = [
            name for name in required_raw_files(ds, options.bpe) if not (raw / name).is_file()
        ]
        if missing:
            raise DataError(f"missing raw file {raw / missing[0]}; run the download stage first")
        declared: dict = {}
        if is_inline(ds):  # a declared dataset: first into the registry's raw layout
            declared = {"held_out": normalize(ds, raw, Path(layout))}
            for _, raw_name in GPT2_FILES.values() if options.bpe == "gpt2" else ():
                shutil.copyfile(raw / raw_name, Path(layout, raw_name))  # beside the splits
            raw = Path(layout)
        with atomic_dir(out) as tmp:
            stats = PREPARERS[ds.kind](ds, raw, tmp, options, workers)
            stats = {"dataset": ds.name, "kind": ds.kind, **stats, **declared}  # deterministic
            atomic_write_text(tmp / "stats.json", json.dumps(stats, indent=2) + "\n")
    return stats

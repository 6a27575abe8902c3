"""Extra (out-of-domain) test sets, ``eval.extra_test``: evaluation-only registry entries,
sacrebleu's test sets (``sacrebleu:wmt14/full``) or declared ones (files as in
``data.datasets``, :mod:`memtr.datasets.extra_sets`), read through the experiment's own BPE model
and dictionaries, so that a trained model sees them exactly as it sees its own test split.

``data/extra/<dataset>/<label>/`` is a fairseq data folder with one split, ``test``:

* translation: ``test.raw.<src>`` and the references ``test.ref.<tgt>`` (raw text, for
  sacrebleu), the BPE-encoded ``test.<src>``/``test.<tgt>`` binarized with the training
  dictionaries, and ``spm.model``;
* language modelling: the tokens binarized with the training dictionary (words outside it
  become ``<unk>``, as fairseq does for the model's own test split).

``stats.json`` records per label the lines, tokens and the share of tokens replaced by
``<unk>`` (from fairseq-preprocess's report), which says how far out of vocabulary a set is,
and ``same_tokens_as`` when a set reads as exactly the tokens of one of the dataset's own
splits: WikiText-103's valid/test are WikiText-2's articles, and through WikiText-2's
dictionary their extra words become the ``<unk>`` that WikiText-2 already writes.
"""

from __future__ import annotations

import json
import re
import shutil
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
from memtr.data.binarize import run_preprocess
from memtr.data.download import fetch_dataset
from memtr.data.inline import write_test_sides
from memtr.data.prepare import encode_lines, seg_lines
from memtr.datasets.extra_sets import (
    check_extra_sets,
    declared_test_set,
    langpair,
    sacrebleu_label,
    sacrebleu_set,
)
from memtr.datasets.registry import Dataset, get_dataset

# fairseq-preprocess: "[de] path/test.de: 3003 sents, 91234 tokens, 1.23% replaced (by <unk>)"
PREPROCESS_REPORT = re.compile(r"\] \S+: (\d+) sents, (\d+) tokens, ([\d.]+)% replaced")


def preprocess_report(log: Path) -> dict:
    """Lines, tokens and the ``<unk>`` share of the first report in a fairseq-preprocess log."""
    lines, tokens, unk = PREPROCESS_REPORT.findall(log.read_text(encoding="utf-8"))[0]
    return {"lines": int(lines), "tokens": int(tokens), "unk_percent": float(unk)}


def build_mt_set(label: str, sources: tuple[Path, Path], prep: Path, bin_: Path, out: Path,
                 train: Dataset) -> dict:  # fmt: skip
    """One translation test set (source and reference files, ``.sgm`` or plain text): raw
    text, references, BPE, binarized with ``bin_``'s dictionaries."""
    src, tgt = train.src, train.tgt
    out.mkdir()
    texts = [list(seg_lines(p) if p.suffix == ".sgm" else read_lines(p)) for p in sources]
    if not texts[0]:
        raise DataError(f"test set {label}: no sentences in {sources[0]}")
    write_lines(out / f"test.raw.{src}", texts[0])
    write_lines(out / f"test.ref.{tgt}", texts[1])
    check_aligned(out / f"test.raw.{src}", out / f"test.ref.{tgt}")
    sp = spm.SentencePieceProcessor(model_file=str(prep / "spm.model"))
    for lang, lines in ((src, texts[0]), (tgt, texts[1])):
        write_lines(out / f"test.{lang}", encode_lines(sp, lines))
    run_preprocess(
        [
            "--source-lang", src, "--target-lang", tgt,
            "--srcdict", str(bin_ / f"dict.{src}.txt"), "--tgtdict", str(bin_ / f"dict.{tgt}.txt"),
            "--testpref", str(out / "test"), "--destdir", str(out), "--workers", "1",
        ],
        label,
    )  # fmt: skip
    shutil.copyfile(prep / "spm.model", out / "spm.model")
    report = preprocess_report(out / "preprocess.log")  # translation: the source side
    (out / "preprocess.log").unlink()  # timestamps: keep the output deterministic
    return report


def build_lm_set(label: str, file: str, raw: Path, bin_: Path, out: Path) -> dict:
    """One language-modelling test set, binarized with the training dictionary."""
    out.mkdir()
    write_lines(out / "test.tokens", read_lines(raw / file))
    run_preprocess(
        [
            "--only-source", "--srcdict", str(bin_ / "dict.txt"),
            "--testpref", str(out / "test.tokens"), "--destdir", str(out), "--workers", "1",
        ],
        label,
    )  # fmt: skip
    (out / "test.tokens").unlink()
    report = preprocess_report(out / "preprocess.log")
    (out / "preprocess.log").unlink()  # timestamps: keep the output deterministic
    for split in ("valid", "test"):  # e.g. WikiText-103's test read with WikiText-2's words
        if (bin_ / f"{split}.bin").read_bytes() == (out / "test.bin").read_bytes():
            report["same_tokens_as"] = split
    return report


def sacrebleu_files(test_set: str, pair: str) -> tuple[Path, Path]:
    """Source and (first) reference of a sacrebleu test set, as plain text, through sacrebleu's
    own registry, checksums and cache (``$SACREBLEU``, default ``~/.sacrebleu``)."""
    from sacrebleu.dataset import DATASETS as SACREBLEU_SETS
    from sacrebleu.utils import SACREBLEU_DIR

    try:
        files = SACREBLEU_SETS[test_set].get_files(pair)
    except (SystemExit, Exception) as exc:  # sacrebleu exits on a checksum mismatch
        reason = f"exit status {exc.code}" if isinstance(exc, SystemExit) else exc
        raise DataError(
            f"sacrebleu:{test_set} ({pair}) not available in the cache {SACREBLEU_DIR}: {reason}"
            " (offline: fill the cache on a networked machine, docs/own-data.md)"
        ) from None
    return Path(files[0]), Path(files[1])


def declared_set_files(train: Dataset, entry: dict, work: Path, cache: Path,
                       progressbar: bool) -> tuple[str, tuple[Path, Path]]:  # fmt: skip
    """A declared test set's label, and its source and reference as plain text in ``work``:
    fetched and checked as ``data.datasets``'s files are (never from the mirror)."""
    declared = declared_test_set(entry, train)
    raw = work / declared.name
    try:
        fetch_dataset(declared, raw, cache, None, progressbar)
        return declared.name, write_test_sides(declared, raw, work / f"{declared.name}.sides")
    except DataError as exc:
        raise DataError(f"eval.extra_test.{declared.name}: {exc}") from None


def build_extra_sets(train: Dataset, names: list, prep: Path, bin_: Path, out: Path,
                     cache: Path, mirror: str | None, progressbar: bool = True) -> dict:  # fmt: skip
    """Download the sets of ``names`` and write ``out`` (replaced atomically); return stats."""
    check_extra_sets(train, names)
    stats: dict = {"dataset": train.name, "sets": {}}
    with atomic_dir(Path(out)) as tmp:
        for name in names:
            if not isinstance(name, str):  # a declaration: the user's own test set
                work = tmp / ".raw" / ".declared"
                label, files = declared_set_files(train, name, work, cache, progressbar)
                found = build_mt_set(label, files, prep, bin_, tmp / label, train)
                stats["sets"][label] = {"source": "declared in eval.extra_test", **found}
                continue
            if (test_set := sacrebleu_set(name)) is not None:
                label, files = sacrebleu_label(test_set), sacrebleu_files(test_set, langpair(train))
                found = build_mt_set(label, files, prep, bin_, tmp / label, train)
                stats["sets"][label] = {"source": name, **found}
                continue
            extra = get_dataset(name)
            raw = tmp / ".raw" / name
            fetch_dataset(extra, raw, cache, mirror, progressbar)
            for label, files in extra.eval_sets.items():
                if train.kind == "lm":
                    found = build_lm_set(label, files, raw, bin_, tmp / label)
                else:
                    sources = (raw / files[0], raw / files[1])
                    found = build_mt_set(label, sources, prep, bin_, tmp / label, train)
                stats["sets"][label] = {"source": name, **found}
        shutil.rmtree(tmp / ".raw", ignore_errors=True)
        atomic_write_text(tmp / "stats.json", json.dumps(stats, indent=2) + "\n")
    return stats

"""The sample sentences of the attention stage: which file, and its lines as subwords.

Torch-free; sentencepiece is imported only when raw text is encoded.
"""

from __future__ import annotations

import logging
from pathlib import Path

from memtr.attention.schema import ModelInfo

logger = logging.getLogger(__name__)


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

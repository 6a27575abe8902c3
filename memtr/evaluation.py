"""The evaluation stage: beam search with fairseq-generate, BLEU and chrF with sacrebleu.

Hypotheses are decoded from subwords back to plain text (``--post-process
sentencepiece``) and scored against the raw, untokenized references that the data stage
keeps, so the scores are comparable with published sacrebleu numbers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import sacrebleu

from memtr.training import PLUGIN_DIR, device_args

HYPOTHESIS = re.compile(r"^D-(\d+)\t\S+\t(.*)$", re.M)


def generate(
    checkpoint: Path, data: Path, split: str, ev: dict, bpe: bool, threads: int
) -> list[str]:
    """Decode ``split`` with beam search; return hypotheses in corpus order."""
    command = [
        sys.executable, "-m", "fairseq_cli.generate", str(data),
        "--user-dir", str(PLUGIN_DIR), "--path", str(checkpoint), "--task", "translation",
        "--gen-subset", split, "--beam", str(ev["beam"]), "--lenpen", str(ev["lenpen"]),
        "--max-len-a", str(ev["max_len_a"]), "--max-len-b", str(ev["max_len_b"]),
        "--batch-size", str(ev["batch_size"]),
        # fairseq 0.12.x silently drops a last batch whose size is not a multiple of this
        # (8 by default), which would leave sentences unscored.
        "--required-batch-size-multiple", "1",
        *(["--post-process", "sentencepiece"] if bpe else []),
        *device_args(),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"fairseq-generate failed: {proc.stderr.strip().splitlines()[-1]}")
    hyps = {int(i): text for i, text in HYPOTHESIS.findall(proc.stdout)}
    return [hyps[i] for i in sorted(hyps)]


def score(hyps: list[str], refs: list[str], tokenize: str) -> dict:
    """Corpus BLEU and chrF with their sacrebleu signatures."""
    if len(hyps) != len(refs):
        raise RuntimeError(
            f"{len(hyps)} hypotheses for {len(refs)} references: sentences were lost"
        )
    bleu = sacrebleu.metrics.BLEU(tokenize=tokenize)
    chrf = sacrebleu.metrics.CHRF()
    b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
    return {
        "bleu": round(b.score, 2),
        "chrf": round(c.score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "sentences": len(hyps),
    }


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def paired_bootstrap(
    system: list[str], baseline: list[str], refs: list[str], tokenize: str, resamples: int
) -> float:
    """p-value of sacrebleu's paired bootstrap test (BLEU) of ``system`` against ``baseline``."""
    from sacrebleu.significance import PairedTest

    bleu = sacrebleu.metrics.BLEU(tokenize=tokenize)
    systems = [("baseline", baseline), ("system", system)]
    test = PairedTest(
        systems, {"BLEU": bleu}, references=[refs], test_type="bs", n_samples=resamples
    )
    _, scores = test()
    return float(scores[next(k for k in scores if k != "System")][1].p_value)

"""The README's recipe "Using the plugin directly" runs as written (bash, in an empty folder,
with the plugin beside it) and prints the lines the README shows (the other documentation
checks are in ``tests/audit/test_docs.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from doc_helpers import README, fenced, section

VOLATILE = ("syslen=",)  # integers that follow the trained weights (hypothesis length)


def masked(line: str) -> str:
    """A shown output line as a regex: ``...`` stands for anything, a decimal number (a loss, a
    score, a time) for any number; integers (sizes, counts, updates) must be as shown, except
    those after a ``VOLATILE`` key."""
    pieces = []
    for part in line.split("..."):
        tokens = re.split(r"(\d[\d.,]*)", part)  # the numbers at the odd places
        pieces.append(
            "".join(
                r"[\d.,]+"
                if i % 2 and ("." in token or tokens[i - 1].endswith(VOLATILE))
                else re.escape(token)
                for i, token in enumerate(tokens)
            )
        )
    return ".*".join(pieces)


@pytest.mark.slow
def test_the_readme_recipe_runs_as_written_and_prints_what_it_shows(tmp_path):
    body = section(README.read_text(encoding="utf-8"), "Using the plugin directly")
    (recipe,) = fenced(body, "bash")
    (shown,) = fenced(body, "text")
    (tmp_path / "fairseq_plugins").symlink_to(REPO / "fairseq_plugins")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", recipe],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    lines = [line for line in shown.splitlines() if line.strip()]
    memtr_line = next(line for line in lines if line.startswith("memtr: "))
    assert memtr_line in log, "the plugin's start-up line, parameter counts included"
    assert len(lines) >= 4 and lines[-1].startswith("Generate test with beam=5: BLEU4 = ")
    for line in lines:
        assert re.search(masked(line), log), f"not printed: {line}"
    assert proc.stdout.strip().splitlines()[-1].startswith("Generate test with beam=5: BLEU4 = ")
    bleu = float(re.search(r"BLEU4 = ([\d.]+)", proc.stdout).group(1))
    assert bleu > 40, f"the model did not learn the reversal task: BLEU {bleu}"
    assert re.search(r"num_updates 200 \| best_loss", log)

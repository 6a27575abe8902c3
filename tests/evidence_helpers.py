"""The committed evidence as git has it: the audit tier reads what is committed, never what a
pipeline run left in the working tree (the main job writes the git-ignored results/demo/)."""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath

from memtr.common.paths import REPO


def committed_files(*patterns: str) -> list[str]:
    """Paths git tracks that match the ``git ls-files`` pathspecs ``patterns``, sorted."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", *patterns],
        cwd=REPO,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return sorted(f for f in out.split("\0") if f)


def committed_experiments(marker: str) -> list[str]:
    """The experiments whose ``results/<e>/<marker>`` is committed (e.g. ``params.yaml``)."""
    return sorted({PurePosixPath(f).parts[1] for f in committed_files(f"results/*/{marker}")})

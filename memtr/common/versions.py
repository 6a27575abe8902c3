"""Installed versions of the software a result went through, for reports."""

from __future__ import annotations

from importlib import metadata

NOT_INSTALLED = "not installed"


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or ``"not installed"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED


def fairseq_version() -> str:
    """fairseq's version: the ``fairseq-fixed`` build this project pins, else ``fairseq``."""
    fixed = package_version("fairseq-fixed")
    return fixed if fixed != NOT_INSTALLED else package_version("fairseq")

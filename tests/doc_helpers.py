"""Reading the Markdown documentation: the README, its sections and fenced code blocks."""

from __future__ import annotations

import re

from conftest import REPO

README = REPO / "README.md"


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section of a Markdown text (up to the next ``## ``)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"no section '## {title}'"
    return match.group(1)


def fenced(text: str, language: str) -> list[str]:
    """The bodies of the fenced code blocks of ``language`` in ``text``."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.M | re.S)

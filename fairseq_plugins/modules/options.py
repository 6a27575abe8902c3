"""argparse types of the memory options, shared by the plugin's models.

Each parses one command-line value and rejects a bad one with a one-line message
(``argparse.ArgumentTypeError``), which argparse prints after the option's name.
"""

from __future__ import annotations

import argparse

from memspec import check_mem_tokens


def mem_tokens_arg(value: str) -> int:
    """``--mem-tokens``: an integer in ``[0, memspec.MAX_MEM_TOKENS]``."""
    try:
        return check_mem_tokens(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def positive_float_arg(value: str) -> float:
    """A number > 0 (``--mem-init-std``)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


def non_negative_int_arg(value: str) -> int:
    """An integer >= 0 (``--mem-segment-len``, ``--mem-bptt-segments``)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {number}")
    return number

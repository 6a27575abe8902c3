"""The training-pair filter of translation data (``data.clean``): which rule drops a pair, and
how the drops are told: the prepare stage's output and the results notes read the counts that
``data/prep/<dataset>/stats.json`` records under ``cleaning``.

The rule is ``clean-corpus-n.perl``'s on BPE tokens (a side shorter than ``min_len`` or longer
than ``max_len``, or a length ratio above ``ratio``), except that pairs whose longer side has
fewer than ``ratio_min_len`` tokens are spared the ratio: a token more or less swings a short
pair's ratio past any bound. The default, 10, is measured on the project's corpora
(docs/own-data.md, "Cleaning"): with a longer side under 10 tokens the ratio test catches few
misaligned pairs (2.1% of random pairings of Multi30k's training sentences) for the real pairs
it drops (0.9%); from 10 tokens up it catches 9-87% of them, four to twelve times its rate on
the real pairs.

Light to import (no third-party module): the tables stage reads the counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILTERS = ("min_len", "max_len", "ratio")  # data.clean's keys, in the order they are tested
EXAMPLES = 3  # pairs shown per filter


def drop_reason(src_len: int, tgt_len: int, clean: Any) -> str | None:
    """The filter of ``clean`` (a ``CleanParams``) that drops a pair of these token counts,
    or None when the pair is kept."""
    short, long = min(src_len, tgt_len), max(src_len, tgt_len)
    if short < clean.min_len:
        return "min_len"
    if long > clean.max_len:
        return "max_len"
    if long >= clean.ratio_min_len and long > clean.ratio * short:
        return "ratio"
    return None


def rule_text(name: str, clean: Any) -> str:
    """What filter ``name`` drops, in words."""
    if name == "min_len":
        return f"a side under {clean.min_len} BPE token(s)"
    if name == "max_len":
        return f"a side over {clean.max_len} BPE tokens"
    return (
        f"a side over {clean.ratio:g} times as long as the other, the longer at least "
        f"{clean.ratio_min_len} BPE tokens"
    )


def new_report() -> dict[str, Any]:
    """An empty ``cleaning`` record (as stats.json keeps it)."""
    return {
        "pairs": 0,
        "kept": 0,
        "dropped": dict.fromkeys(FILTERS, 0),
        "examples": {name: [] for name in FILTERS},
    }


def count_pair(report: dict, reason: str | None, tokens: tuple[int, int], pair: tuple[str, str]):
    """Add one training pair to ``report``: kept (``reason`` None) or dropped by ``reason``."""
    report["pairs"] += 1
    if reason is None:
        report["kept"] += 1
        return
    report["dropped"][reason] += 1
    if len(report["examples"][reason]) < EXAMPLES:
        report["examples"][reason].append({"tokens": list(tokens), "pair": list(pair)})


def summary_lines(dataset: str, report: dict, clean: Any) -> list[str]:
    """The prepare stage's account of the cleaning: counts per filter and a few examples."""
    dropped = sum(report["dropped"].values())
    lines = [
        f"{dataset}: data.clean kept {report['kept']:,} of {report['pairs']:,} training pairs, "
        f"dropped {dropped:,}"
    ]
    for name in FILTERS:
        count = report["dropped"][name]
        lines.append(f"  {name}: {count:,} dropped ({rule_text(name, clean)})")
        for example in report["examples"][name]:
            (src, tgt), (n_src, n_tgt) = example["pair"], example["tokens"]
            lines.append(f"    e.g. [{n_src} | {n_tgt} tokens] {src} ||| {tgt}")
    return lines


def results_note(prep: Path | None) -> str | None:
    """The results notes' line on the cleaning, from ``<prep>/stats.json`` (None without
    that file or without a ``cleaning`` record: not a translation dataset)."""
    stats_file = Path(prep) / "stats.json" if prep is not None else None
    if stats_file is None or not stats_file.is_file():
        return None
    report = json.loads(stats_file.read_text(encoding="utf-8")).get("cleaning")
    if not report:
        return None
    dropped = sum(report["dropped"].values())
    counts = ", ".join(f"{name} {report['dropped'][name]:,}" for name in FILTERS)
    share = 100 * dropped / report["pairs"] if report["pairs"] else 0.0
    return (
        f"training data: data.clean dropped {dropped:,} of {report['pairs']:,} training pairs "
        f"({share:.1f}%; {counts}), examples in the prepare stage's output and "
        f"`{stats_file.as_posix()}`."
    )

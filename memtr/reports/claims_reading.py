"""A claims table as the figures and the report page read it: its difference column, and
its verdicts by their kind (the prefix of the verdict string).

They rely only on the columns ``split``, ``variant``, ``against``, ``budget``,
``delta_<metric>``, ``delta_ci95_low``, ``delta_ci95_high``, ``verdict`` and
``paper_delta_<metric>``; other columns may come and go.

The tables stage writes verdicts such as ``better``, ``worse``, ``equivalent within ±1.00``,
``paper's effect ruled out``, ``inconclusive (detectable: 2.31)`` and ``uninformative
(floor)``, and ``undecided (1 seed)`` for a single seed; the numbers inside a verdict do not change its kind. The forest plot keys its
markers by the kind, the report page its counts and row styles. ``no difference shown`` (the
vocabulary of the tables before issue 47) is read as a kind of its own, drawn as
``inconclusive``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def delta_column(claims: Any) -> str:
    """The claims table's difference column (``delta_bleu``, ``delta_ppl``, ...): the
    ``delta_*`` column with a ``paper_delta_*`` twin, else the first ``delta_*`` column that
    is not an interval bound."""
    candidates = [c for c in claims.columns if re.fullmatch(r"delta_(?!ci95)\w+", c)]
    paired = [c for c in candidates if f"paper_{c}" in claims.columns]
    return (paired or candidates)[0]


@dataclass(frozen=True)
class VerdictKind:
    """One kind of verdict: how its strings start and how counts and legends name it."""

    key: str  # stable name: the forest plot's style, the page's CSS class
    prefix: str  # every verdict of this kind starts with it
    label: str  # its name in counts and legends
    decided: bool  # a direction shown (better or worse)


KINDS = (
    VerdictKind("better", "better", "better", True),
    VerdictKind("worse", "worse", "worse", True),
    VerdictKind("equivalent", "equivalent", "equivalent", False),
    VerdictKind("ruled_out", "paper's effect ruled out", "paper's effect ruled out", False),
    VerdictKind("inconclusive", "inconclusive", "inconclusive", False),
    VerdictKind("no_difference", "no difference shown", "no difference shown", False),
    VerdictKind("uninformative", "uninformative", "uninformative (floor)", False),
    VerdictKind("undecided", "undecided", "undecided (1 seed)", False),
)
OTHER = VerdictKind("other", "", "other", False)


def verdict_kind(verdict: object) -> VerdictKind:
    """The kind of one verdict string (``OTHER`` for an empty or unknown one)."""
    text = verdict.strip().replace("\u2019", "'") if isinstance(verdict, str) else ""
    return next((kind for kind in KINDS if text.startswith(kind.prefix)), OTHER)


def is_uninformative(verdict: object) -> bool:
    """A comparison against a reference at its floor: shown, never counted."""
    return verdict_kind(verdict).key == "uninformative"


def count_kinds(verdicts: Iterable[object]) -> list[tuple[VerdictKind, int]]:
    """How many verdicts of each kind, in the order of ``KINDS`` (unknown ones last)."""
    counts = Counter(verdict_kind(v) for v in verdicts)
    return [(kind, counts[kind]) for kind in (*KINDS, OTHER) if counts[kind]]


UNCOUNTED = "uninformative"  # the key of the kind shown in every table, never in a tally


@dataclass(frozen=True)
class Tally:
    """How many comparisons got each kind of verdict: the one count behind every tally (the
    README's, REPLICATION.md's, the report page's). Comparisons with a reference at its floor
    (``uninformative (floor)``) are shown, never counted: they stand apart."""

    counted: tuple[tuple[VerdictKind, int], ...]  # in the order of KINDS, none of 0
    uninformative: int

    @classmethod
    def of(cls, verdicts: Iterable[object]) -> Tally:
        counts = count_kinds(verdicts)
        return cls(
            tuple((kind, n) for kind, n in counts if kind.key != UNCOUNTED),
            sum(n for kind, n in counts if kind.key == UNCOUNTED),
        )

    @property
    def total(self) -> int:
        """The comparisons counted."""
        return sum(n for _, n in self.counted)

    def words(self) -> str:
        """``1 inconclusive, 3 worse (of 4); 2 uninformative, not counted``, the kinds in
        alphabetical order: the tally of the README and REPLICATION.md."""
        named = ", ".join(f"{n} {kind.label}" for kind, n in sorted(self.counted, key=_label))
        text = f"{named} (of {self.total})" if self.counted else "none counted"
        floor = self.uninformative
        return text + (f"; {floor} uninformative, not counted" if floor else "")

    def sentence(self) -> str:
        """``4 comparisons: 3 worse, 1 inconclusive; 2 more uninformative (floor), greyed below
        and not counted``, the kinds in the order of KINDS: the report page's tally."""
        not_counted = "uninformative (floor), greyed below and not counted"
        floor, total = self.uninformative, self.total
        if floor and not total:
            return f"{floor} {not_counted}"
        text = f"{total} comparison{'s' if total != 1 else ''}"
        if self.counted:
            text += ": " + ", ".join(f"{n} {kind.label}" for kind, n in self.counted)
        return text + (f"; {floor} more {not_counted}" if floor else "")


def _label(count: tuple[VerdictKind, int]) -> str:
    return count[0].label

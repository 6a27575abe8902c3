"""A pytest plugin: after the run, each tier's test count and time beside its budget.

The tiers are the folders of ``tests/`` (docs/testing.md); a tier over its budget is named in
the summary (not a failure: timing on a busy machine is noise), so a change sees its cost.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

# tier folder -> time budget in seconds of test time (setup, call and teardown of its tests,
# summed over the xdist workers): 30 min together, the 15 min of wall time that the suite
# may take on 2 cores with one worker per core
BUDGETS = {"unit": 60, "audit": 60, "integration": 720, "e2e": 960}
SECONDS: dict[str, float] = defaultdict(float)
TESTS: dict[str, set[str]] = defaultdict(set)


def tier_of(nodeid: str) -> str:
    parts = Path(nodeid.split("::")[0]).parts
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def pytest_runtest_logreport(report) -> None:
    tier = tier_of(report.nodeid)
    SECONDS[tier] += report.duration
    TESTS[tier].add(report.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:
    if not SECONDS:
        return
    terminalreporter.section("time per tier (setup + call + teardown)")
    for tier in [*BUDGETS, *(t for t in SECONDS if t not in BUDGETS)]:
        if tier not in SECONDS:
            continue
        budget = BUDGETS.get(tier)
        over = budget is not None and SECONDS[tier] > budget
        line = f"{tier:12s} {len(TESTS[tier]):4d} tests {SECONDS[tier]:8.1f} s"
        line += f"  (budget {budget} s{': OVER' if over else ''})" if budget else ""
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        f"{'all':12s} {sum(map(len, TESTS.values())):4d} tests {sum(SECONDS.values()):8.1f} s"
    )

"""Every test module has a basename of its own: pytest imports tests/ modules by basename
(no packages), so two files of one name in two tiers fail to collect ("import file
mismatch") when both are collected in one run, as the full suite does."""

from collections import Counter

from memtr.common.paths import REPO


def test_no_two_test_modules_share_a_basename():
    names = Counter(p.name for p in (REPO / "tests").rglob("test_*.py"))
    assert [name for name, n in names.items() if n > 1] == []

"""The reliability probe of params.yaml, as a table: every malformed file gets one line
naming its field from the real check (the check stage's own ``main``, in-process: the loader,
then fairseq's parsers), and nothing malformed is accepted.

The files are generated from kinds of mistake (tests/params_probe_helpers.py); the count table
per class is printed and left in pytest's temporary folder as ``params_probe.md``. A sample
goes through `dvc repro` and `snakemake -n` in tests/e2e/test_params_probe.py.
"""

from __future__ import annotations

from collections import Counter

import pytest
from params_probe_helpers import (
    CLASSES,
    FAIRSEQ,
    UNKNOWN,
    WRONG_TYPE,
    cases,
    check,
    table,
    verdict,
)
from params_probe_helpers import sections as probe_sections

CASES = cases()


def _edited(name: str) -> str:
    """The key a generated case edits: ``<class>:<base>:<key>=<value>``."""
    parts = name.split(":")
    return parts[2].split("=")[0] if len(parts) > 2 else ""


def test_the_probe_covers_every_key_of_every_section_in_every_kind():
    assert len(CASES) >= 161  # the probe: 161 files
    counts = Counter(c.kind for c in CASES)
    assert set(counts) == set(CLASSES) and min(counts.values()) >= 10, counts
    assert len({c.name for c in CASES}) == len(CASES)
    for base, section, kinds in probe_sections():
        for key in kinds:
            named = [c for c in CASES if _edited(c.name) == f"{section}.{key}"]
            assert any(c.kind == WRONG_TYPE for c in named), f"{base} {section}.{key}"
            assert any(c.kind == UNKNOWN for c in named), f"{base} {section}.{key}"
    assert sum(c.kind == FAIRSEQ for c in CASES) >= 20


def test_every_malformed_file_gets_one_line_naming_its_field(tmp_path, tmp_path_factory):
    rows, wrong = [], []
    for case in CASES:
        outcome = check(case, tmp_path)
        result = verdict(case, outcome)
        rows.append((case, result))
        if result != "clear":
            wrong.append(f"{result}: {case.name} (field {case.field}): {outcome.message!r}")
    report = table(rows)
    out = tmp_path_factory.getbasetemp() / "params_probe.md"
    out.write_text(report)
    print(f"\nparams probe ({out}):\n{report}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("missing key:translation:experiment.seeds=-", "error: missing key experiment.seeds"),
        ("non-mapping:translation:data=None", "error: data must be a mapping, got NoneType"),
        ("out of range:translation:attention.seeds=[]",
         "error: attention.seeds must name a seed of experiment.seeds, got []"),
        ("out of range:translation:data.clean.min_len=0",
         "error: data.clean.min_len must be >= 1, got 0"),
        ("out of range:translation:data.dataset=wmt99", "error: data.dataset: unknown dataset"),
    ],
)  # fmt: skip
def test_the_lines_the_probe_found_unclear_or_missing(tmp_path, name, line):
    """Once a TypeError traceback (data: null), an accepted file (attention.seeds: [], which
    left dvc.yaml's attention matrix empty and the tables stage without its input), and lines
    that named no key (unknown dataset; data.clean needs 1 <= min_len <= max_len)."""
    (case,) = [c for c in CASES if c.name == name]
    assert check(case, tmp_path).message.startswith(line)

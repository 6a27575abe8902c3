"""The documentation: a short README, generated blocks that match the committed tables, links
and paths that exist. That the README's recipe runs as written and prints what it shows is
checked in ``tests/integration/test_readme_recipe.py``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from doc_helpers import README, fenced, section
from pipeline_helpers import REPO

from memtr.reports.readme import (
    BLOCKS,
    BlockError,
    floored_sets,
    read_block,
    replace_block,
    snapshot_demo,
    stale_blocks,
    verdict_cell,
    verdicts_block,
    write_blocks,
)
from memtr.reports.replication import CLAIMS, Claim

DOCS = REPO / "docs"
README_LIMIT = 10_240  # bytes
SECTIONS = [
    "Verdicts of the replication",
    "The two commands",
    "Using the plugin directly",
    "The pipeline in short",
    "Links",
]
DOC_PAGES = [
    "README.md",
    "models.md",
    "pipeline.md",
    "own-data.md",
    "replication.md",
    "testing.md",
    "benchmarks.md",
    "architecture.md",
]


def markdown_files() -> list[Path]:
    """The README and every page of docs/."""
    return [README, *sorted(DOCS.glob("*.md"))]


def test_readme_is_short_with_its_sections_in_order():
    data = README.read_bytes()
    assert len(data) <= README_LIMIT, f"README.md has {len(data)} bytes, at most {README_LIMIT}"
    titles = re.findall(r"^## (.+)$", data.decode("utf-8"), flags=re.M)
    assert titles == SECTIONS


def test_the_two_commands_are_the_entry_points_with_their_times():
    body = section(README.read_text(encoding="utf-8"), "The two commands")
    commands = [line.split("#")[0].strip() for block in fenced(body, "bash") for line in
                block.splitlines()]  # fmt: skip
    assert commands == [
        "bash scripts/run_pipeline.sh",
        "bash scripts/run_tests.sh",
        "MEMTR_DATA_MIRROR=../shared/data bash scripts/run_pipeline.sh",
    ]
    measured = re.search(r"Measured on (.+?), (\d+ cores).*?: install\s+(\d+ min \d+ s), main\s+job"
                         r"\s+(\d+ min \d+ s), tests\s+(\d+ min \d+ s)", body, flags=re.S)  # fmt: skip
    assert measured, "the README gives the measured install, main-job and test times"
    for script in ("run_pipeline.sh", "run_tests.sh"):
        assert (REPO / "scripts" / script).is_file()


def test_ci_runs_exactly_the_readmes_test_command():
    """.ci/run's one command is the README's test command (browser set-up included there)."""
    body = section(README.read_text(encoding="utf-8"), "The two commands")
    readme = [line.split("#")[0].strip() for line in fenced(body, "bash")[0].splitlines()]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))]  # fmt: skip
    assert ci == [readme[1]]
    assert "setup_browser.sh" in (REPO / "scripts" / "run_tests.sh").read_text()


def test_the_readme_names_the_fast_tier_and_the_tiers_are_the_documented_ones():
    """The fast command of the README runs a tier folder; the tier table of docs/testing.md
    names exactly the tier folders, with the budgets that tier_report.py checks."""
    from tier_report import BUDGETS

    assert "`python -m pytest tests/unit`" in README.read_text(encoding="utf-8")
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(BUDGETS)
    page = (REPO / "docs" / "testing.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `tests/(\w+)/` \|.*\| (\d+) min \|$", page, flags=re.M))
    assert {tier: int(m) * 60 for tier, m in rows.items()} == BUDGETS


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"{b.path}:{b.name}")
def test_generated_blocks_are_what_the_committed_tables_generate(block):
    text = (REPO / block.path).read_text(encoding="utf-8")
    assert read_block(text, block.name) == block.render(REPO / "results").strip("\n"), (
        f"{block.path}: block {block.name} is stale: run workflow/scripts/replication_report.py"
    )


def test_the_demo_table_is_shown_as_the_pipeline_wrote_it():
    """docs/pipeline.md shows the committed demo reference (results/demo_reference/results.md,
    a copy of one run of the main job) as the pipeline wrote it, never the git-ignored
    results/demo/ that each run of the main job rewrites with its machine's numbers."""
    generated = (REPO / "results/demo_reference/results.md").read_text()
    table = "\n".join(line for line in generated.splitlines() if line.startswith("|"))
    assert table and table in (DOCS / "pipeline.md").read_text()
    label = (REPO / "results/demo_reference/README.md").read_text()
    assert re.search(r"^- machine: .+, \d+ cores", label, flags=re.M), "no machine named"


def test_the_demo_snapshot_copies_the_main_jobs_table_with_its_machine(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo/results.md").write_text("# t\n\n| a |\n|---|\n| 1 |\n")
    out = snapshot_demo(tmp_path, "abc1234")
    assert (out / "results.md").read_text() == (tmp_path / "demo/results.md").read_text()
    label = (out / "README.md").read_text()
    assert "- commit: abc1234" in label and f"{os.cpu_count()} cores" in label
    with pytest.raises(FileNotFoundError, match="run `bash scripts/run_pipeline.sh` first"):
        snapshot_demo(tmp_path / "nowhere", "abc1234")


def shown_verdict(row: pd.Series, metric: str) -> str:
    """The README's cell of one comparison: ``**worse** -3.84``, ``-0.22 *(equivalent)*``,
    ``-0.06 *(floor)*``, ``-0.76`` (inconclusive)."""
    return verdict_cell(row, metric.removeprefix("delta_"))


@pytest.mark.parametrize("claim", [c for c in CLAIMS if " (" in str(c.number)],
                         ids=lambda c: c.experiment)  # fmt: skip
def test_every_task_of_a_claim_on_several_tasks_is_a_row_of_the_readme(claim):
    claims = pd.read_csv(REPO / "results" / claim.experiment / "claims.csv")
    block = read_block(README.read_text(encoding="utf-8"), "verdicts")
    group, task = str(claim.number).rstrip(")").split(" (")
    part = block.split(f"**Claim {group}: ")[1].split("**Claim ")[0]
    header = next(ln for ln in part.splitlines() if ln.startswith("| task (metric) |"))
    variants = [c.strip().strip("`") for c in header.strip("|").split("|")][1:]
    (line,) = [ln for ln in part.splitlines() if ln.startswith(f"| {task} (")]
    cells = [c.strip() for c in line.strip("|").split("|")][1:]
    metric = next(c for c in claims.columns if c.startswith("delta_") and "ci95" not in c)
    steps = claims[claims["budget"] == "equal steps"]
    assert set(steps["variant"]) == set(variants)
    for _, row in steps.iterrows():
        assert cells[variants.index(row["variant"])] == shown_verdict(row, metric)


TABLED = [c for c in CLAIMS if (REPO / "results" / c.experiment / "claims.csv").is_file()]


@pytest.mark.parametrize("claim", [c for c in TABLED if " (" not in str(c.number)],
                         ids=lambda c: c.experiment)  # fmt: skip
def test_every_verdict_of_the_claims_tables_is_in_the_readme(claim):
    """Every comparison is a cell of the README, except those on a test set where all are
    uninformative (a baseline at its floor), which one line names instead."""
    claims = pd.read_csv(REPO / "results" / claim.experiment / "claims.csv")
    block = read_block(README.read_text(encoding="utf-8"), "verdicts")
    part = block.split(f"**Claim {claim.number}: ")[1].split("**Claim ")[0]
    metric = next(c for c in claims.columns if c.startswith("delta_") and "ci95" not in c)
    floored = floored_sets(claims)
    for split in floored:
        assert f"`{split}`" in part.split("Not shown: ")[1].splitlines()[0]
    shown = claims[~claims["split"].isin(floored)]
    for variant, rows in shown.groupby("variant", sort=False):
        (line,) = [ln for ln in part.splitlines() if ln.startswith(f"| `{variant}` |")]
        cells = [c.strip() for c in line.strip("|").split("|")]
        for _, row in rows.iterrows():
            cell = shown_verdict(row, metric)
            assert cell in cells, (variant, row["split"], row["budget"], cell, cells)
        paper = f"paper_{metric}" in claims and claims[f"paper_{metric}"].notna().any()
        assert len(cells) == 2 + len(rows) + int(paper)


def test_a_claim_without_tables_says_so_in_the_verdicts(tmp_path):
    text = verdicts_block(tmp_path, (Claim(7, "nowhere", "memory helps (somewhere)"),))
    assert "**Claim 7: memory helps**: no verdict yet: experiment `nowhere` has no claims" in text
    assert "better" not in text.split("**Claim 7")[1]


def test_blocks_are_rewritten_between_their_markers_only(tmp_path):
    text = "# t\n\nbefore\n<!-- x:begin -->\nold\n<!-- x:end -->\nafter\n"
    assert replace_block(text, "x", "new\n") == text.replace("old", "new")
    assert read_block(replace_block(text, "x", "a\nb"), "x") == "a\nb"
    for broken in ("no markers", "<!-- x:end -->\n<!-- x:begin -->", text + text):
        with pytest.raises(BlockError):
            read_block(broken, "x")
    # write_blocks on a copy: a stale block is rewritten, an up-to-date one left alone
    for block in BLOCKS:
        target = tmp_path / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((REPO / block.path).read_text(encoding="utf-8"), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(replace_block(readme.read_text(), "verdicts", "stale"), encoding="utf-8")
    assert [b.name for b in write_blocks(tmp_path, REPO / "results")] == ["verdicts"]
    assert readme.read_text(encoding="utf-8") == README.read_text(encoding="utf-8")
    assert stale_blocks(tmp_path, REPO / "results") == []


def test_the_report_script_writes_the_blocks(tmp_path):
    for block in BLOCKS:
        target = tmp_path / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = (REPO / block.path).read_text(encoding="utf-8")
        target.write_text(replace_block(text, block.name, "stale"), encoding="utf-8")
    script = REPO / "workflow/scripts/replication_report.py"
    out = tmp_path / "REPLICATION.md"
    proc = subprocess.run(
        [sys.executable, str(script), "--results", str(REPO / "results"), "--out", str(out),
         "--docs-root", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8") == (REPO / "results/REPLICATION.md").read_text()
    for block in BLOCKS:
        assert f"updated {block.path} (block {block.name})" in proc.stdout
        assert (tmp_path / block.path).read_text() == (REPO / block.path).read_text()


def test_the_docs_pages_exist_and_the_index_and_readme_link_them():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in DOC_PAGES:
        assert (DOCS / page).is_file(), page
        if page != "README.md":
            assert f"]({page})" in index, page
    layout = section((DOCS / "architecture.md").read_text(encoding="utf-8"), "Layout")
    packages = [p.parent for p in REPO.glob("*/__init__.py")] + [
        p.parent for top in ("memtr", "fairseq_plugins") for p in (REPO / top).glob("*/__init__.py")
    ]
    for folder in packages:  # the tree names every package of the repository
        assert f"  {folder.name}/" in layout or f"{folder.name}/ " in layout, folder
    readme = README.read_text(encoding="utf-8")
    assert "(docs/architecture.md#layout)" in readme and "(docs/README.md)" in readme
    assert "(results/REPLICATION.md)" in section(readme, "Verdicts of the replication")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of the headings of a Markdown file."""
    titles = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", t.lower()).replace(" ", "-") for t in titles}


def test_links_of_the_readme_and_docs_resolve():
    for page in markdown_files():
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"https?://", target):
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            assert path.exists(), f"{page.name}: link to missing {target}"
            if anchor:
                assert anchor in anchors(path), f"{page.name}: no heading for {target}"


# the committed folders (not data/, runs/, metrics/, which the pipeline writes)
TOP = ("memtr", "fairseq_plugins", "memspec", "workflow", "scripts", "benchmarks", "tests",
       "docs", "slurm", "local", "results")  # fmt: skip


def git_ignored(name: str) -> bool:
    """Whether git ignores ``name``: what a run writes (results/demo/), never committed."""
    return subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO).returncode == 0


def test_repository_paths_named_in_the_docs_exist():
    """Every `path` in backticks under a committed top folder, without placeholders, exists,
    unless git ignores it (the main job's own outputs, absent from a fresh clone)."""
    for page in markdown_files():
        text = page.read_text(encoding="utf-8")
        for name in re.findall(r"`([\w./-]+)`", text):
            if name.split("/")[0] in TOP and "/" in name and "<" not in name:
                assert (REPO / name).exists() or git_ignored(name), (
                    f"{page.name} names missing `{name}`"
                )


def test_docs_pages_type_in_no_result_numbers():
    """Outside generated blocks and code, the docs name no score: no decimal number, no
    BLEU/perplexity value (configuration, sizes and versions are integers or named)."""
    # fairseq 0.12.x, p < 0.05, init std 1.0 and d**-0.5, torch >= 2.6, YAML 1.1 and 1.2
    allowed = {"0.12", "0.05", "1.0", "0.5", "2.6", "1.1", "1.2"}
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for block in BLOCKS:
            if block.path == f"docs/{page.name}":
                text = text.replace(read_block(text, block.name), "")
        prose = re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S)
        decimals = set(re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", prose)) - allowed
        assert not decimals, f"docs/{page.name}: typed-in numbers {sorted(decimals)}"

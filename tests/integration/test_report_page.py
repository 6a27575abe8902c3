"""The committed experiments' report pages (results/<e>/report.html) in a real headless
Chromium (Debian's package; scripts/setup_browser.sh, which scripts/run_tests.sh calls): the page loads
offline with no console error and no network request, opens with the summary of its
verdicts above every table, greys the uninformative claims, has every table and figure of the
experiment, its links lead somewhere; a screenshot of each is kept in build/test-artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from evidence_helpers import committed_experiments

from memtr.common.paths import REPO
from memtr.reports.claims_reading import is_uninformative
from memtr.reports.page import TABLES

pytestmark = pytest.mark.slow

COMMITTED = committed_experiments("report.html")  # never a run left in the working tree
ARTIFACTS = REPO / "build" / "test-artifacts"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "headless Chromium not installed (bash scripts/setup_browser.sh)"
        if os.environ.get("MEMTR_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


def expected_tables(results: Path) -> list[str]:
    return [f"table-{tid}" for tid, name, _ in TABLES if (results / name).is_file()]


def test_every_committed_experiment_has_its_page():
    assert committed_experiments("claims.csv") == COMMITTED


@pytest.mark.parametrize("experiment", COMMITTED)
def test_the_page_loads_offline_with_every_table_and_figure(browser, experiment):
    results = REPO / "results" / experiment
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: requests.append(request.url))
    url = (results / "report.html").as_uri()
    page.goto(url, wait_until="load")
    assert errors == []
    assert [u for u in requests if not u.startswith("data:")] == [url], requests
    tables = page.eval_on_selector_all("table", "ts => ts.map(t => t.id)")
    assert tables == expected_tables(results)
    claims = pd.read_csv(results / "claims.csv")
    rows = page.eval_on_selector_all("#table-claims tbody tr", "rows => rows.length")
    assert rows == len(claims)
    summary_y = page.locator("#summary").bounding_box()["y"]
    assert summary_y < page.locator("table").first.bounding_box()["y"]
    assert "comparison" in page.locator("#summary").inner_text()
    greyed = page.eval_on_selector_all(
        "#table-claims tbody tr.uninformative td",
        "cells => cells.map(c => getComputedStyle(c).color)",
    )
    floor_rows = sum(is_uninformative(v) for v in claims["verdict"])
    assert len(greyed) == floor_rows * len(claims.columns)
    assert set(greyed) <= {"rgb(153, 153, 153)"}
    shown = page.eval_on_selector_all(
        "figure img",
        "imgs => imgs.map(i => [i.closest('figure').id, i.complete && i.naturalWidth > 0])",
    )
    figures = sorted(p.stem for p in (results / "figures").glob("*.png"))
    assert sorted(fid.removeprefix("figure-") for fid, _ in shown) == figures
    assert all(loaded for _, loaded in shown), shown
    targets = page.eval_on_selector_all("nav a", "links => links.map(a => a.getAttribute('href'))")
    for target in targets:
        assert page.locator(target).count() == 1, target
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report_{experiment}.png"))
    page.close()
    assert (ARTIFACTS / f"report_{experiment}.png").stat().st_size > 10_000

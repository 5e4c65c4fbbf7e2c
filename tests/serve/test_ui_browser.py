"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, over a live
server on loopback with models, verdicts and decisions seeded.

A person's path: open ``/ui``, land on the login page, log in with the viewer token,
read the executive view, click through to a model's debug view, then the on-call view.
What the pages show is checked against the server's own API (``GET /v1/models``), and
no page may log a console error or throw. Screenshots of the three views go to the
test's folder, and to ``docs/img/ui-<view>.png`` when ``MODELPHASE_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelphase.registry.monitoring import MonitorStore
from serve.harness import DETECTOR, FORECASTER, Live

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SERIES = 'load{host="h0"}'
N_FORECASTS = 3

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]


@pytest.fixture
def seeded(live: Live, wait_for: Callable[..., Any]) -> Live:
    """The live server with the monitor's verdicts on the forecaster and a few logged
    forecasts of it."""
    assert live.setup is not None
    with live.setup.registry() as reg:
        store = MonitorStore(reg)
        for verdict, mase in (("healthy", 0.82), ("healthy", 0.79), ("degraded", 1.12)):
            store.record_health(FORECASTER, 1, verdict, {"mase": mase})
    with live.client() as client:
        for _ in range(N_FORECASTS):
            answer = client.post(
                f"/v1/models/{FORECASTER}/forecast", json={"series": [SERIES], "h": 3}
            )
            assert answer.status_code == 200, answer.text
    live.state.log.flush()
    wait_for(
        lambda: live.metric("modelphase_serve_decision_log_written_total") >= N_FORECASTS,
        what="the decisions to be written",
    )
    return live


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        instance = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield instance
        finally:
            instance.close()


def _shoot(page: Any, folder: Path, view: str) -> Path:
    path = folder / f"ui-{view}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1_000
    if os.environ.get("MODELPHASE_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / path.name)
    return path


def test_log_in_and_walk_the_three_views(seeded: Live, browser: Any, tmp_path: Path) -> None:
    assert seeded.setup is not None
    with seeded.client() as client:
        served = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(served) == {FORECASTER, DETECTOR}

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    # no cookie yet: the dashboard sends the browser to the login page
    page.goto(f"{seeded.url}/ui")
    assert page.url == f"{seeded.url}/ui/login"
    page.fill("#token", "mp_not-a-token")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text().startswith("the token is not valid")
    problems.clear()  # the browser logs the 401 of that refused login as an error
    page.fill("#token", seeded.setup.viewer)
    page.click("button[type=submit]")
    page.wait_for_url(f"{seeded.url}/ui")
    cookie = next(c for c in context.cookies() if c["name"] == "modelphase_ui")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"

    # executive: every production model with the version the API says it serves
    assert page.locator("h1").inner_text() == "Executive"
    for name, model in served.items():
        row = page.locator("tbody tr", has=page.locator(f"a:text-is('{name}')"))
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == str(model["aliases"]["production"]["version"]), (name, cells)
    forecaster = page.locator("tbody tr", has=page.locator(f"a:text-is('{FORECASTER}')"))
    assert forecaster.locator("svg.strip circle").count() == 3
    assert "mase: 1.12" in forecaster.inner_text()
    _shoot(page, tmp_path, "executive")

    # click through to the forecaster's debug view
    page.click(f"a:text-is('{FORECASTER}')")
    page.wait_for_url(re.compile(rf"/ui/model/{FORECASTER}$"))
    assert page.locator("h1").inner_text() == FORECASTER
    text = page.locator("main").inner_text()
    assert "Versions and lineage" in text
    tables = page.locator("main table")
    versions = tables.nth(0).locator("tbody tr").all()
    assert [v.locator("td").first.inner_text() for v in versions] == ["2", "1"]
    assert "production" in versions[1].inner_text()
    latency = tables.nth(1).locator("tbody tr").first.locator("td").all_inner_texts()
    assert latency[:3] == ["1", "production", str(N_FORECASTS)]
    assert tables.nth(2).locator("tbody tr").count() == N_FORECASTS
    _shoot(page, tmp_path, "debug")

    # on-call: what serves, its share and the day's decisions
    page.click("nav a:text-is('On-call')")
    page.wait_for_url(f"{seeded.url}/ui/oncall")
    row = page.locator("tbody tr", has=page.locator(f"a:text-is('{FORECASTER}')")).first
    cells = row.locator("td").all_inner_texts()
    assert "production v1" in cells[1]
    assert "production 100%" in cells[2]
    assert cells[3:] == [str(N_FORECASTS), "0", "0"]
    moves = page.locator("main table").nth(1).inner_text()
    assert "promote" in moves
    assert FORECASTER in moves
    assert DETECTOR in moves
    _shoot(page, tmp_path, "oncall")

    assert problems == []
    context.close()

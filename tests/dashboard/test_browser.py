"""The dashboard served for real and driven in headless Chromium.

The server runs `serve_dashboard` (what `kommo-analytics dashboard` runs) in a child process
against the session's synced warehouse. Its clock is the machine's, so these tests only use
custom date ranges. Screenshots at desktop and phone widths land in `tests/artifacts/`.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.dashboard.conftest import sql

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("KOMMO_TEST_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WIDTHS = {"desktop": (1440, 1000), "phone": (390, 844)}
WHOLE_HISTORY = "period=custom&from=2024-01-01&to=2026-12-31&lang=en"
WAIT_MS = 20_000

pytestmark = pytest.mark.slow

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests"
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason}; KOMMO_TEST_REQUIRE_BROWSER=1 forbids skipping", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

# Streamlit reruns the script after each change; on a busy machine that can take a few seconds.
expect.set_options(timeout=WAIT_MS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(synced_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "dashboard.log"
    code = (
        "from kommo_analytics.cli.dashboard_cmd import serve_dashboard\n"
        f"serve_dashboard(host='127.0.0.1', port={port}, database_url={synced_url!r})\n"
    )
    with log_path.open("wb") as log:
        # Its own session, so that a hung server can be killed with its Streamlit child.
        child = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if child.poll() is not None:
                pytest.fail(f"the dashboard exited: {log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not answer in 30 s: {log_path.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        child.terminate()  # serve_dashboard passes SIGTERM on to Streamlit
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    width, height = WIDTHS["desktop"]
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True, locale="en-US"
    )
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def screenshots(browser: Browser, url: str, name: str, ready: Callable[[Page], None]) -> None:
    """`url` at desktop and phone widths, each in a fresh page: a page shrunk after loading keeps
    its sidebar collapsed (and inert) when widened again."""
    ARTIFACTS.mkdir(exist_ok=True)
    for label, (width, height) in WIDTHS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(WAIT_MS)
        try:
            page = context.new_page()
            page.goto(url)
            ready(page)
            page.wait_for_timeout(300)  # fonts and the table canvas finish painting
            path = ARTIFACTS / f"{name}-{label}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
        finally:
            context.close()
        assert path.stat().st_size > 10_000, f"{path} looks blank"


def expect_count(page: Page, count: int, *, table: bool = False) -> None:
    """Wait until the page shows "N leads" for exactly this N (English formatting), and with
    `table` until the table is drawn."""
    text = f"{count:,} lead" + ("" if count == 1 else "s")
    expect(page.get_by_text(text, exact=True)).to_be_visible()
    if table:
        expect(page.get_by_test_id("stDataFrame").locator("canvas").first).to_be_visible()


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_leads_filters_from_the_url_and_the_ui_and_the_csv(
    browser: Browser, page: Page, server: str, synced_url: str
) -> None:
    ((total,),) = sql(synced_url, "SELECT count(*) FROM {t}leads WHERE NOT is_deleted")
    ((pipeline_id, pipeline, in_pipeline),) = sql(
        synced_url,
        "SELECT l.pipeline_id, p.name, count(*) FROM {t}leads l "
        "JOIN {t}pipelines p ON p.id = l.pipeline_id WHERE NOT l.is_deleted "
        "GROUP BY 1, 2 ORDER BY 3 LIMIT 1",
    )

    # The whole history, from the URL alone.
    page.goto(f"{server}/?{WHOLE_HISTORY}")
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    expect_count(page, total)

    # A filter added to the URL.
    page.goto(f"{server}/?{WHOLE_HISTORY}&pipeline={pipeline_id}")
    expect_count(page, in_pipeline)

    # The same filter through the sidebar: the count follows and the URL records it.
    page.goto(f"{server}/?{WHOLE_HISTORY}")
    expect_count(page, total)
    page.get_by_test_id("stMultiSelect").filter(has_text="Pipelines").click()
    page.get_by_role("option", name=pipeline, exact=True).click()
    page.keyboard.press("Escape")
    expect_count(page, in_pipeline)
    expect(page).to_have_url(re.compile(rf"[?&]pipeline={pipeline_id}(&|$)"))

    # The CSV holds exactly the rows the page counts.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    content = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert len(rows) == in_pipeline
    assert {row["Pipeline"] for row in rows} == {pipeline}
    assert download.value.suggested_filename == "leads_2024-01-01_2026-12-31.csv"

    screenshots(
        browser, f"{server}/?{WHOLE_HISTORY}", "leads", lambda p: expect_count(p, total, table=True)
    )


def test_data_health_and_navigation_keep_the_filters(
    browser: Browser, page: Page, server: str, synced_url: str
) -> None:
    ((pipeline_id, in_pipeline),) = sql(
        synced_url,
        "SELECT pipeline_id, count(*) FROM {t}leads WHERE NOT is_deleted "
        "GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
    )
    page.goto(f"{server}/data-health?{WHOLE_HISTORY}&pipeline={pipeline_id}")
    expect(page.get_by_role("heading", name="Data health")).to_be_visible()
    for heading in ("Last sync runs", "Freshness per stream", "Rows per table"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.get_by_text("Data-quality checks do not exist yet.")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(3)
    screenshots(
        browser,
        page.url,
        "data-health",
        lambda p: expect(p.get_by_test_id("stDataFrame")).to_have_count(3),
    )

    # The sidebar link to the leads keeps the period and the pipeline.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Leads").click()
    expect(page).to_have_url(re.compile(rf"^{server}/\?"))
    expect_count(page, in_pipeline)
    assert query_of(page)["pipeline"] == [str(pipeline_id)]
    assert query_of(page)["from"] == ["2024-01-01"]

    # The language switch rewrites the page, the choices inside the filters included.
    page.get_by_test_id("stSelectbox").filter(has_text="Language").click()
    page.get_by_role("option", name="Português (Brasil)", exact=True).click()
    expect(page.get_by_text(f"{in_pipeline:,} leads".replace(",", "."), exact=True)).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("combobox", name="Período")).to_have_value("Personalizado")
    expect(sidebar.get_by_role("combobox", name="Comparar com")).to_have_value("Período anterior")
    expect(page).to_have_url(re.compile(r"[?&]lang=pt-BR(&|$)"))

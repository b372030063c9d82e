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
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.dashboard.conftest import sql
from tests.readiness import free_port, wait_for_http

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("KOMMO_TEST_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WIDTHS = {"desktop": (1440, 1000), "phone": (390, 844)}
WHOLE_HISTORY = "period=custom&from=2024-01-01&to=2026-12-31&lang=en"
# A last-resort ceiling, not a budget: every wait below is on the app's own state (its script
# run ended, an element only a finished run draws), so on an idle machine they return in
# moments and on a loaded one they wait as long as the app takes, up to this.
WAIT_MS = 180_000

pytestmark = pytest.mark.slow

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests"
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason}; KOMMO_TEST_REQUIRE_BROWSER=1 forbids skipping", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import (  # noqa: E402
    Browser,
    Download,
    Locator,
    Page,
    expect,
    sync_playwright,
)

# Streamlit reruns the script after each change; on a busy machine that can take a long time.
expect.set_options(timeout=WAIT_MS)


@contextmanager
def served_dashboard(url: str, log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`serve_dashboard` (what `kommo-analytics dashboard` runs) in a child process; yields its
    address and stops it (with its Streamlit child) afterwards."""
    port = free_port()
    code = (
        "from kommo_analytics.cli.dashboard_cmd import serve_dashboard\n"
        f"serve_dashboard(host='127.0.0.1', port={port}, database_url={url!r})\n"
    )
    with log_path.open("wb") as log:
        # Its own session, so that a hung server can be killed with its Streamlit child.
        child = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/_stcore/health", child, log_path.read_text)
        yield base
    finally:
        child.terminate()  # serve_dashboard passes SIGTERM on to Streamlit
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


@contextmanager
def running_chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright; closed afterwards."""
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


@pytest.fixture(scope="module")
def server(synced_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_dashboard(synced_url, tmp_path_factory.mktemp("server") / "dashboard.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with running_chromium() as chromium:
        yield chromium


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
            painted(page)
            path = ARTIFACTS / f"{name}-{label}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
        finally:
            context.close()
        assert path.stat().st_size > 10_000, f"{path} looks blank"


def settled(page: Page) -> None:
    """Wait until the app's script run has ended and nothing from an earlier run is left.

    Streamlit's root element carries the run's state in `data-test-script-state` (what
    Streamlit's own browser tests wait on); elements drawn by an earlier run carry `data-stale`
    until the run ends. Call it after waiting for something only the expected run draws, so
    that it cannot see the idle moment before that run starts.
    """
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-connection-state", "CONNECTED"
    )
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.locator("[data-stale='true']")).to_have_count(0)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)


def painted(page: Page) -> None:
    """Wait until the web fonts are loaded and two frames are painted since (the table's
    canvas draws on the next animation frame)."""
    page.evaluate(
        "() => document.fonts.ready.then(() => new Promise(done =>"
        " requestAnimationFrame(() => requestAnimationFrame(done))))"
    )


def download(page: Page, button: Locator) -> Download:
    """Click a download button once the run that drew it has ended, and return the download.

    A button of a run still going, or of one about to be replaced, names a file that the next
    run withdraws: a click on it never downloads anything.
    """
    settled(page)
    expect(button).to_be_enabled()
    with page.expect_download(timeout=WAIT_MS) as started:
        button.click()
    return started.value


def expect_count(page: Page, count: int, *, table: bool = False) -> None:
    """Wait until the page shows "N leads" for exactly this N (English formatting), and with
    `table` until the table is drawn."""
    text = f"{count:,} lead" + ("" if count == 1 else "s")
    expect(page.get_by_text(text, exact=True)).to_be_visible()
    if table:
        expect(page.get_by_test_id("stDataFrame").locator("canvas").first).to_be_visible()


def choose(page: Page, widget: str, label: str, option: str) -> None:
    """Pick `option` in the sidebar widget labelled `label` by typing it, as a keyboard user
    would (clicking the option races with the dropdown's animation on a busy machine). The run
    under way ends first: it could draw the widget again under the pointer."""
    settled(page)
    page.get_by_test_id(widget).filter(has_text=label).click()
    page.keyboard.type(option)
    expect(page.get_by_role("listbox")).to_contain_text(option)
    page.keyboard.press("Enter")


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
    page.goto(f"{server}/leads?{WHOLE_HISTORY}")
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    expect_count(page, total)

    # A filter added to the URL.
    page.goto(f"{server}/leads?{WHOLE_HISTORY}&pipeline={pipeline_id}")
    expect_count(page, in_pipeline)

    # The same filter through the sidebar: the count follows and the URL records it.
    page.goto(f"{server}/leads?{WHOLE_HISTORY}")
    expect_count(page, total, table=True)
    choose(page, "stMultiSelect", "Pipelines", pipeline)
    page.keyboard.press("Escape")
    expect_count(page, in_pipeline, table=True)
    expect(page).to_have_url(re.compile(rf"[?&]pipeline={pipeline_id}(&|$)"))

    # The CSV holds exactly the rows the page counts.
    csv_file = download(page, page.get_by_role("button", name="Download CSV"))
    content = Path(csv_file.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert len(rows) == in_pipeline
    assert {row["Pipeline"] for row in rows} == {pipeline}
    assert csv_file.suggested_filename == "leads_2024-01-01_2026-12-31.csv"

    screenshots(
        browser,
        f"{server}/leads?{WHOLE_HISTORY}",
        "leads",
        lambda p: expect_count(p, total, table=True),
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
    for heading in ("Last sync runs", "Freshness per stream", "Rows per table", "Tracking codes"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.get_by_text("No data-quality check has run yet")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(4)
    screenshots(
        browser,
        page.url,
        "data-health",
        lambda p: expect(p.get_by_test_id("stDataFrame")).to_have_count(4),
    )

    # The sidebar link to the leads keeps the period and the pipeline.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Leads", exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{server}/leads\?"))
    # Until the run ends, widgets may be drawn again under the pointer: wait for the table.
    expect_count(page, in_pipeline, table=True)
    assert query_of(page)["pipeline"] == [str(pipeline_id)]
    assert query_of(page)["from"] == ["2024-01-01"]

    # The language switch rewrites the page, the choices inside the filters included.
    choose(page, "stSelectbox", "Language", "Português (Brasil)")
    expect(page.get_by_text(f"{in_pipeline:,} leads".replace(",", "."), exact=True)).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("combobox", name="Período")).to_have_value("Personalizado")
    expect(sidebar.get_by_role("combobox", name="Comparar com")).to_have_value("Período anterior")
    expect(page).to_have_url(re.compile(r"[?&]lang=pt-BR(&|$)"))


# -- the metrics pages -----------------------------------------------------------------------------

OCTOBER = "period=custom&from=2026-10-01&to=2026-10-31&lang=en"
# Every page by its URL path and its English title.
PAGES = {
    "": "Overview",
    "leads-and-origin": "Leads and origin",
    "funnel": "Funnel",
    "activities": "Activities",
    "sales": "Sales",
    "performance": "Performance",
    "forecast": "Forecast",
    "leads": "Leads",
    "definitions": "Definitions",
    "data-health": "Data health",
    "settings": "Settings",
}


def drawn(page: Page, title: str) -> None:
    """Wait until the page's run has ended: its title is there and no placeholder is left."""
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    settled(page)


def no_exception_shown(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def metrics_json(synced_url: str, *args: str) -> dict[str, object]:
    from typer.testing import CliRunner

    from kommo_analytics.cli.main import app

    result = CliRunner().invoke(
        app, ["metrics", "--from", "2026-10-01", "--to", "2026-10-31", "--json", "--db",
              synced_url, *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    data: dict[str, object] = json.loads(result.stdout)
    return data


def cards_on(page: Page) -> dict[str, str]:
    """The overview's KPI cards: label → value as shown, once the page has drawn them all (the
    month block's card comes last)."""
    expect(page.get_by_test_id("stMetricLabel").filter(has_text="Revenue so far")).to_be_visible()
    settled(page)
    cards = {}
    for card in page.get_by_test_id("stMetric").all():
        label = card.get_by_test_id("stMetricLabel").inner_text().strip()
        cards[label] = card.get_by_test_id("stMetricValue").inner_text().strip()
    return cards


def test_the_overview_shows_the_numbers_of_metrics_json(
    browser: Browser, page: Page, server: str, synced_url: str
) -> None:
    from kommo_analytics.dashboard.app_pages import overview
    from kommo_analytics.metrics.results import Report

    # The emulated history ends before the machine's "now", so the CLI's and the dashboard's
    # "as of" (both the real clock) see the same data.
    report = metrics_json(synced_url)
    page.goto(f"{server}/?{OCTOBER}")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    shown = cards_on(page)
    values = overview.kpi_values(Report.from_dict(report))  # the CLI's JSON, read back
    currency = str(report["currency"])
    for card, _, _, kind, _ in overview.CARDS:
        label = overview.t(f"overview.card.{card}", "en")
        assert shown[label] == overview.shown(kind, values[card], currency, "en").shown, card
    # Spelled out for the cards people read first: the JSON's own numbers, as English shows them.
    leads = report["leads"]
    sales = report["sales"]
    assert isinstance(leads, dict) and isinstance(sales, dict)
    assert shown["Leads"] == f"{leads['total']:,}"
    assert shown["Deals won"] == f"{sales['won']:,}"
    # Compact, as the card has room for (the exact figure is in its tooltip).
    assert shown["Revenue"] == f"R${sales['revenue'] / 1000:,.1f}K".replace(".0K", "K")
    no_exception_shown(page)
    screenshots(browser, f"{server}/?{OCTOBER}", "overview",
                lambda p: expect(p.get_by_test_id("stMetric")).to_have_count(len(shown)))  # fmt: skip


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_opens_on_desktop_and_phone(browser: Browser, server: str, path: str) -> None:
    def opened(page: Page) -> None:
        drawn(page, PAGES[path])
        no_exception_shown(page)

    # Each width in a page of its own (see `screenshots`): the page is drawn, and without an
    # error, on both.
    screenshots(browser, f"{server}/{path}?{OCTOBER}", path or "overview-page", opened)


def test_a_channel_filter_narrows_a_metrics_page_and_its_csv(
    page: Page, server: str, synced_url: str
) -> None:
    everything = metrics_json(synced_url)
    paid = metrics_json(synced_url, "--channel", "paid")
    page.goto(f"{server}/?{OCTOBER}")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert cards_on(page)["Leads"] == f"{everything['leads']['total']:,}"  # type: ignore[index]
    choose(page, "stMultiSelect", "Channels", "Paid")
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"[?&]channel=paid(&|$)"))
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(
        f"{paid['leads']['total']:,}"  # type: ignore[index]
    )

    # The channel table of module 1, downloaded: one row per channel, the paid one holding the
    # leads the JSON counts.
    page.goto(f"{server}/leads-and-origin?{OCTOBER}")
    expect(page.get_by_role("heading", name="Leads and origin")).to_be_visible()
    csv_file = download(page, page.get_by_role("button", name="Download CSV").first)
    content = Path(csv_file.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    assert len(rows) > 1
    assert any(str(everything["leads"]["by_channel"]["paid"]) in row for row in rows)  # type: ignore[index]

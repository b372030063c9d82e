"""Access control with real browser sessions: one served dashboard whose data folder has users.

A seller signs in and tries every way to another seller's leads — the Leads page, the seller
filter, the CSV export and a `user=` in the URL; a manager tries to open the settings by URL.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kommo_analytics.service import users
from tests.dashboard.conftest import sql
from tests.dashboard.test_browser import (
    WAIT_MS,
    WHOLE_HISTORY,
    download,
    expect_count,
    running_chromium,
    served_dashboard,
    settled,
)

pytestmark = pytest.mark.slow

from playwright.sync_api import Browser, Page, expect  # noqa: E402

PASSWORD = "correct horse"
SELLERS = (
    "SELECT l.responsible_user_id, u.name, count(*) FROM {t}leads l "
    "JOIN {t}users u ON u.id = l.responsible_user_id WHERE NOT l.is_deleted "
    "GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 2"
)


@pytest.fixture(scope="module")
def sellers(synced_url: str) -> list[tuple[int, str, int]]:
    return [(int(i), str(n), int(c)) for i, n, c in sql(synced_url, SELLERS)]


@pytest.fixture(scope="module")
def server(
    synced_url: str, sellers: list[tuple[int, str, int]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("access") / "data"
    path = users.users_path(data_dir)
    users.add(path, "sofia", "seller", PASSWORD, kommo_user_ids=[sellers[0][0]])
    users.add(path, "caio", "manager", PASSWORD)
    users.add(path, "ana", "admin", PASSWORD)
    with served_dashboard(
        synced_url, data_dir.parent / "dashboard.log", env={"DATA_DIR": str(data_dir)}
    ) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Importing test_browser skips (or, in CI, fails) this module too when Chromium is missing.
    with running_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1440, "height": 1000}, accept_downloads=True, locale="en-US"
    )
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def sign_in(page: Page, username: str) -> None:
    expect(page.get_by_role("heading", name="Sign in to Kommo Analytics")).to_be_visible()
    settled(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def test_a_seller_cannot_reach_another_sellers_leads(
    page: Page, server: str, sellers: list[tuple[int, str, int]]
) -> None:
    (_, own_name, own_leads), (other, other_name, _) = sellers
    # A link that names the other seller: the sign-in comes first, then the link's page.
    page.goto(f"{server}/leads?{WHOLE_HISTORY}&user={other}")
    sign_in(page, "sofia")
    expect(page).to_have_url(re.compile(rf"^{server}/leads\?"))
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    expect_count(page, own_leads, table=True)
    assert f"user={other}" not in page.url  # dropped from the URL, not silently kept

    # The seller filter offers the seller alone: searching it for the other finds nobody.
    for typed, shown in ((other_name, "No results"), (own_name, own_name)):
        settled(page)
        page.get_by_test_id("stMultiSelect").filter(has_text="Sellers").click()
        page.keyboard.type(typed)
        expect(page.get_by_role("listbox")).to_contain_text(shown)
        page.keyboard.press("Escape")  # clears the search
        page.keyboard.press("Escape")  # closes the list
        expect(page.get_by_role("listbox")).to_have_count(0)

    # The export holds the seller's leads and nobody else's.
    csv_file = download(page, page.get_by_role("button", name="Download CSV"))
    rows = list(csv.DictReader(io.StringIO(Path(csv_file.path()).read_text("utf-8-sig"))))
    assert len(rows) == own_leads
    assert {row["Responsible"] for row in rows} == {own_name}

    # Editing the URL in the same session does not widen it either.
    page.goto(f"{server}/leads?{WHOLE_HISTORY}&user={other}")
    sign_in(page, "sofia")  # a new page load is a new session
    expect_count(page, own_leads, table=True)
    expect(page.get_by_text(other_name)).to_have_count(0)
    # Data health is not a seller's page: its URL falls back to the overview.
    page.goto(f"{server}/data-health?{WHOLE_HISTORY}")
    sign_in(page, "sofia")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("heading", name="Data health")).to_have_count(0)


def test_a_manager_cannot_reach_the_settings(page: Page, server: str) -> None:
    page.goto(f"{server}/settings?lang=en")
    sign_in(page, "caio")
    expect(page.get_by_text("(manager)")).to_be_visible()
    settled(page)
    expect(page.get_by_role("heading", name="Settings")).to_have_count(0)
    expect(page.get_by_test_id("stTextInput")).to_have_count(0)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Leads", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    # Signing out leaves the form, and nothing of the data.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Kommo Analytics")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)

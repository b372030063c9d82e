"""Signing in, signing out and roles in Streamlit's AppTest, against the synced warehouse.

The users file lives in a per-test data folder; the throttle and the idle clock are replaced so
no test waits for real time or inherits another's failed attempts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import auth, filters
from kommo_analytics.service import users
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE
from tests.dashboard.conftest import MakeApp, listed, sql

PASSWORD = "correct horse"
LEADS = "app_pages/leads.py"
PERFORMANCE = "app_pages/performance.py"
SETTINGS = "app_pages/settings.py"
HEALTH = "app_pages/data_health.py"
WHOLE_HISTORY = {"period": "custom", "from": "2024-01-01", "to": "2026-12-31"}
LIVE_LEADS_BY_SELLER = (
    "SELECT l.responsible_user_id, u.name, count(*) FROM {t}leads l "
    "JOIN {t}users u ON u.id = l.responsible_user_id WHERE NOT l.is_deleted "
    "GROUP BY l.responsible_user_id, u.name ORDER BY count(*) DESC"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sellers(synced_url: str) -> list[tuple[int, str, int]]:
    """(Kommo user id, name, live leads) of the two sellers with the most leads."""
    rows = sql(synced_url, LIVE_LEADS_BY_SELLER)
    return [(int(i), str(n), int(c)) for i, n, c in rows[:2]]


@pytest.fixture
def clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sellers: list) -> Clock:
    """A users file with one user per role, a fresh throttle, and a clock the test moves."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    path = users.users_path(tmp_path / "data")
    users.add(path, "ana", "admin", PASSWORD)
    users.add(path, "caio", "manager", PASSWORD)
    users.add(path, "sofia", "seller", PASSWORD, kommo_user_ids=[sellers[0][0]])
    users.add(path, "nina", "seller", PASSWORD)
    monkeypatch.setattr(auth, "THROTTLE", users.LoginThrottle())
    now = Clock()
    monkeypatch.setattr(auth, "clock", now)
    return now


def titles(app: AppTest) -> list[str]:
    return [t.value for t in app.title]


def sign_in(app: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    app.text_input(key="login_username").input(username)
    app.text_input(key="login_password").input(password)
    (submit,) = [b for b in app.button if b.label in ("Sign in", "Entrar")]
    submit.click().run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def signed_in_caption(app: AppTest) -> str:
    return next(c.value for c in app.sidebar.caption if "**" in c.value)


def test_with_users_the_dashboard_shows_only_the_sign_in_form(
    make_app: MakeApp, synced_url: str, clock: Clock
) -> None:
    app = make_app(synced_url, lang="en").run()
    assert titles(app) == ["Sign in to Kommo Analytics"]
    assert not app.sidebar.multiselect  # no filter, no page, no number before signing in
    assert not app.metric


def test_the_sign_in_page_speaks_the_urls_language_and_switches(
    make_app: MakeApp, synced_url: str, clock: Clock
) -> None:
    app = make_app(synced_url, lang="es").run()
    assert titles(app) == ["Iniciar sesión en Kommo Analytics"]
    app.selectbox(key=auth.K_LOGIN_LANG).set_value("pt-BR").run()
    assert titles(app) == ["Entrar no Kommo Analytics"]
    assert app.query_params[filters.P_LANG] == "pt-BR"
    sign_in(app, "ana")
    # The dashboard keeps the language chosen on the sign-in page.
    assert "Conectado como **ana** (administrador)" in signed_in_caption(app)


def test_wrong_passwords_are_refused_then_throttled(
    make_app: MakeApp, synced_url: str, clock: Clock
) -> None:
    app = make_app(synced_url, lang="en").run()
    for _ in range(4):
        sign_in(app, "ana", "wrong password")
        assert [e.value for e in app.error] == ["Wrong username or password."]
    sign_in(app, "ana", "wrong password")
    assert re.fullmatch(r"Too many failed attempts\. Try again in 30 sec.*", app.error[0].value)
    # A new tab is a new session: the count is kept in the process, not in the session.
    fresh = make_app(synced_url, lang="en").run()
    sign_in(fresh, "ana")
    assert "Too many failed attempts" in fresh.error[0].value
    clock.now += 31
    sign_in(fresh, "ana")
    assert "Signed in as **ana** (administrator)" in signed_in_caption(fresh)


def test_an_admin_signs_in_sees_settings_and_signs_out(
    make_app: MakeApp, synced_url: str, clock: Clock
) -> None:
    app = make_app(synced_url, SETTINGS, lang="en").run()
    sign_in(app, "ana")
    assert "Signed in as **ana** (administrator)" in signed_in_caption(app)
    assert app.text_input(key="target.avg_ticket").value == "R$5,000.00"  # the KPI targets
    (sign_out,) = [b for b in app.sidebar.button if b.key == "sign_out"]
    sign_out.click().run()
    assert titles(app) == ["Sign in to Kommo Analytics"]


def test_a_manager_cannot_reach_settings(make_app: MakeApp, synced_url: str, clock: Clock) -> None:
    app = make_app(synced_url, SETTINGS, lang="en").run()
    sign_in(app, "caio")
    assert "(manager)" in signed_in_caption(app)
    assert not app.text_input  # no editor of the Settings page, whatever the URL asked for
    assert "Settings" not in titles(app)
    assert not [
        d for d in app.dataframe if d.key and d.key.startswith(("goals.", "costs.", "channels."))
    ]


def test_the_settings_page_refuses_a_manager_by_itself(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    # Reached directly, as a link to a page the navigation does not list would reach it.
    def page() -> None:
        from datetime import UTC, date, datetime

        import streamlit as st

        from kommo_analytics.dashboard import auth, filters
        from kommo_analytics.dashboard.app_pages import settings
        from kommo_analytics.service import users
        from kommo_analytics.service.health import Status, WarehouseState

        manager = users.User("caio", "manager", "x")
        st.session_state["kommo_access"] = auth.Access(manager)
        st.session_state[filters.VIEW_KEY] = filters.View(
            filters=filters.FilterState(locale="en"),
            start=date(2026, 1, 1),
            end=date(2026, 1, 31),
            comparison=None,
            now=datetime(2026, 2, 1, tzinfo=UTC),
            today=date(2026, 2, 1),
            zone=UTC,
            warehouse=WarehouseState(status=Status.EMPTY),
            account=None,
        )
        settings.render()

    app = AppTest.from_function(page, default_timeout=30).run()
    assert [e.value for e in app.error] == ["Only administrators can see and change the settings."]
    assert not app.text_input and not app.dataframe and not app.tabs


def test_a_seller_sees_only_their_leads_even_asking_for_another_in_the_url(
    make_app: MakeApp, synced_url: str, clock: Clock, sellers: list[tuple[int, str, int]]
) -> None:
    (_, own_name, own_leads), (other, other_name, _) = sellers
    app = make_app(synced_url, LEADS, lang="en", user=str(other), **WHOLE_HISTORY).run()
    sign_in(app, "sofia")
    assert "(seller)" in signed_in_caption(app)
    # The seller filter offers only the seller's own Kommo user; the URL's other id is dropped.
    users_filter = app.sidebar.multiselect(key=filters.widget_key(filters.K_USERS, "en"))
    assert users_filter.options == [own_name]
    table = app.dataframe[0].value
    assert listed(app) == [own_leads]  # in all; the table shows a page of them
    assert len(table) == min(own_leads, DEFAULT_PAGE_SIZE)
    assert set(table["user"]) == {own_name}
    assert other_name not in set(table["user"])
    # Data health is about the whole account: not in a seller's navigation.
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page(HEALTH)


def test_a_seller_compares_their_row_with_the_team_median_only(
    make_app: MakeApp, synced_url: str, clock: Clock, sellers: list[tuple[int, str, int]]
) -> None:
    (_, own_name, _), (_, other_name, _) = sellers
    app = make_app(synced_url, PERFORMANCE, lang="en", **WHOLE_HISTORY).run()
    sign_in(app, "sofia")
    ranking = app.dataframe[0].value
    names = list(ranking["seller"])
    assert names[0] == own_name
    assert re.fullmatch(r"Team median \(\d+ sellers\)", names[-1])
    assert other_name not in names and len(names) == 2


def test_a_seller_with_no_linked_user_is_told_what_to_ask(
    make_app: MakeApp, synced_url: str, clock: Clock
) -> None:
    app = make_app(synced_url, lang="en").run()
    sign_in(app, "nina")
    (warning,) = [w.value for w in app.warning]
    assert "not linked to any Kommo seller" in warning
    # Where the administrator does it, in the app: nobody is sent to a terminal.
    assert "Ask an administrator to link it in Settings → Users." in warning
    assert "kommo-analytics" not in warning
    assert not app.exception


def test_an_idle_session_ends_and_a_changed_password_ends_it_too(
    make_app: MakeApp, synced_url: str, clock: Clock, tmp_path: Path
) -> None:
    app = make_app(synced_url, lang="en").run()
    sign_in(app, "caio")
    clock.now += 59 * 60
    app.run()
    assert "(manager)" in signed_in_caption(app)  # activity 59 minutes later keeps it
    clock.now += 61 * 60
    app.run()
    assert titles(app) == ["Sign in to Kommo Analytics"]
    assert "inactivity" in app.info[0].value
    sign_in(app, "caio")
    users.set_password(users.users_path(tmp_path / "data"), "caio", "a brand new one")
    app.run()
    assert titles(app) == ["Sign in to Kommo Analytics"]
    assert "An administrator changed your account" in app.info[0].value

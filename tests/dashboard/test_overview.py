"""The Overview and the KPI targets page, headless (AppTest), on the synced small account."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kommo_analytics.dashboard.app_pages import overview
from kommo_analytics.metrics.results import Report
from kommo_analytics.service import account, reports, targets
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE
from kommo_analytics.service.scope import Scope
from kommo_analytics.warehouse.target import parse_database_url
from tests.dashboard.conftest import PINNED_NOW, MakeApp, listed
from tests.dashboard.test_app import no_exception

OCTOBER = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}
SETTINGS = "app_pages/settings.py"


def report(url: str, **filters: Any) -> Report:
    """What `kommo-analytics metrics --json` says for October, seen from the pinned clock."""
    target = parse_database_url(url)
    acc = account.load_modelled(target)
    scope = Scope(start=date(2026, 10, 1), end=date(2026, 10, 31),
                  as_of=PINNED_NOW.replace(second=0), **filters)  # fmt: skip
    return reports.report(target, acc, reports.params(acc, scope, now=PINNED_NOW))


def cards(app: Any) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KPI targets are saved in DATA_DIR: each test gets its own."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_the_cards_show_the_reports_numbers(make_app: MakeApp, synced_url: str) -> None:
    app = make_app(synced_url, lang="en", **OCTOBER).run()
    no_exception(app)
    assert app.title[0].value == "Overview"
    expected = report(synced_url)
    shown = cards(app)
    values = overview.kpi_values(expected)
    for card, _, _, kind, _ in overview.CARDS:
        label = overview.t(f"overview.card.{card}", "en")
        assert shown[label] == overview.formatted(kind, values[card], "BRL", "en"), card
    assert shown["Leads"] == f"{expected.leads.total:,}"
    # No costs were saved: the cost cards are empty and say where in the app to add them.
    assert shown["Cost per lead"] == "—"
    assert any("in the Costs tab of Settings" in c.value for c in app.caption)
    # No goal either: the month block says where to set one.
    assert any("in the Sales goals tab of Settings" in i.value for i in app.info)
    # Every card carries its definition as a tooltip.
    assert all(m.help for m in app.metric[:10])
    # Deleted leads are left out of the cards and said in a caption of their own (none when
    # there are none); their creation date is known for every one here.
    deleted = expected.data_quality.deleted_leads
    said = [c.value for c in app.caption if "were deleted in Kommo" in c.value]
    assert said == ([overview.t("overview.deleted", "en", count=f"{deleted:,}")] if deleted else [])
    assert not any("no known creation date" in c.value for c in app.caption)


def test_a_filter_changes_the_numbers(make_app: MakeApp, synced_url: str) -> None:
    app = make_app(synced_url, lang="en", channel="paid", **OCTOBER).run()
    no_exception(app)
    paid = report(synced_url, channels=["paid"])
    everything = report(synced_url)
    assert paid.leads.total < everything.leads.total
    assert cards(app)["Leads"] == f"{paid.leads.total:,}"
    assert cards(app)["Deals won"] == f"{paid.sales.won:,}"


def test_the_comparison_period_gives_each_card_its_change(
    make_app: MakeApp, synced_url: str
) -> None:
    app = make_app(synced_url, lang="en", **OCTOBER).run()
    september = report(synced_url)
    target = parse_database_url(synced_url)
    acc = account.load_modelled(target)
    before = reports.report(target, acc, reports.params(acc, Scope(
        start=date(2026, 8, 31), end=date(2026, 9, 30), as_of=PINNED_NOW.replace(second=0)),
        now=PINNED_NOW))  # fmt: skip
    leads_card = next(m for m in app.metric if m.label == "Leads")
    now, then = september.leads.total, before.leads.total
    # October against the 31 days before it (Aug 31 – Sep 30): the relative change in leads.
    assert then > 0
    change = 100 * (now - then) / then
    assert leads_card.delta is not None
    assert leads_card.delta.rstrip(" %").lstrip("+").replace(",", "") == f"{change:.1f}".lstrip("+")


def test_targets_colour_the_cards_and_are_edited_on_the_settings_page(
    make_app: MakeApp, synced_url: str, own_data_dir: Path
) -> None:
    app = make_app(synced_url, lang="en", **OCTOBER).run()
    win_rate = report(synced_url).sales.win_rate_pct
    # The default target is 25 %: the card says whether the period met it.
    expected = "on target" if win_rate >= 25 else "off target"
    assert any(expected in c.value and "Target ≥ 25 %" in c.value for c in app.caption)

    settings = make_app(synced_url, SETTINGS, lang="en").run()
    no_exception(settings)
    assert settings.title[0].value == "Settings"
    assert settings.text_input(key="target.win_rate_pct").value == "25 %"
    settings.text_input(key="target.win_rate_pct").input("99 %")
    settings.button[0].click().run()  # the form's submit button
    no_exception(settings)
    assert targets.load(own_data_dir)["win_rate_pct"] == 99.0

    app = make_app(synced_url, lang="en", **OCTOBER).run()
    assert any("off target" in c.value and "Target ≥ 99 %" in c.value for c in app.caption)


@pytest.mark.parametrize("which", ["missing", "empty"])
def test_without_a_model_it_says_how_to_get_one(
    make_app: MakeApp, which: str, missing_url: str, empty_url: str
) -> None:
    app = make_app(missing_url if which == "missing" else empty_url, lang="en").run()
    no_exception(app)
    assert not app.metric
    assert any("kommo-analytics sync" in i.value for i in app.info)


def test_the_language_switch(make_app: MakeApp, synced_url: str) -> None:
    app = make_app(synced_url, **OCTOBER).run()
    assert app.title[0].value == "Visão geral"
    assert "Vendas ganhas" in cards(app)
    app = make_app(synced_url, lang="es", **OCTOBER).run()
    assert app.title[0].value == "Resumen"
    assert "Ventas ganadas" in cards(app)


def test_the_cards_drill_down_to_their_leads(make_app: MakeApp, synced_url: str) -> None:
    app = make_app(synced_url, lang="en", **OCTOBER).run()
    expected = report(synced_url)
    # Nothing is read until asked.
    assert not [d for d in app.dataframe if "lead" in d.value.columns]
    app.toggle(key="drill.overview.open").set_value(True).run()
    no_exception(app)
    (leads,) = [d.value for d in app.dataframe if "lead" in d.value.columns]
    # "Leads created in the period", a page of them at a time.
    assert listed(app) == [expected.leads.total]
    assert len(leads) == min(expected.leads.total, DEFAULT_PAGE_SIZE)
    picker = app.selectbox(key="drill.overview.en")
    picker.set_value("Deals won in the period").run()
    (won,) = [d.value for d in app.dataframe if "lead" in d.value.columns]
    assert expected.sales.won <= DEFAULT_PAGE_SIZE and len(won) == expected.sales.won
    # Each row names the lead, linked to it in Kommo (the name rides in the link's fragment).
    assert won["lead"].str.fullmatch(r"https://[a-z0-9-]+\.kommo\.com/leads/detail/\d+#.+").all()

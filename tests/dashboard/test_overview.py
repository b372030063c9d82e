"""The Overview and the KPI targets page, headless (AppTest), on the synced small account."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kommo_analytics.dashboard import components, metrics_data
from kommo_analytics.dashboard.app_pages import overview
from kommo_analytics.metrics.results import Report
from kommo_analytics.service import account, reports, targets
from kommo_analytics.service.forecasts import Forecast
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE
from kommo_analytics.service.scope import Scope
from kommo_analytics.text import i18n
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


def compact_money(value: float, currency: str, locale: i18n.Locale) -> str:
    return i18n.compact_money(value, currency, locale)


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
    helps = {m.label: m.help for m in app.metric}
    for card, _, _, kind, _ in overview.CARDS:
        label = overview.t(f"overview.card.{card}", "en")
        assert shown[label] == overview.shown(kind, values[card], "BRL", "en").shown, card
        if kind == "money" and values[card] is not None:
            # A compact figure on the card, the exact one in its tooltip.
            exact = overview.formatted(kind, values[card], "BRL", "en")
            assert f"Exact figure: {exact}" in helps[label], card
    assert shown["Leads"] == f"{expected.leads.total:,}"
    assert shown["Revenue"] == compact_money(expected.sales.revenue, "BRL", "en")
    # No costs were saved: the cost cards are empty, say so on their last line, and the note
    # says where in the app to add them — never in a terminal.
    cost = next(m for m in app.metric if m.label == "Cost per lead")
    assert cost.value == "—"
    assert cost.proto.delta_description == "No costs in the period"
    assert "in the Costs tab of Settings" in cost.help
    # No goal either: the month block says so, where to set one, and links to that tab.
    assert any(i.value.startswith("No goal for November 2026") and
               "in the Sales goals tab of Settings" in i.value for i in app.info)  # fmt: skip
    (link,) = app.get("page_link")
    assert "settings" in link.proto.page
    everything = [*(i.value for i in app.info), *(c.value for c in app.caption),
                  *(m.help for m in app.metric)]  # fmt: skip
    assert not any("kommo-analytics" in text for text in everything)
    # Every card carries its definition as a tooltip.
    assert all(m.help for m in app.metric[:12])
    # Deleted leads are left out of the cards and said in a caption of their own (none when
    # there are none); their creation date is known for every one here.
    deleted = expected.data_quality.deleted_leads
    said = [c.value for c in app.caption if "in the period w" in c.value and "deleted" in c.value]
    assert said == ([i18n.tn("overview.deleted", deleted, "en")] if deleted else [])
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
    # The default target is 25 %: the card says whether the period met it, on its last line
    # (green and ticked, or red and crossed) and in words in its tooltip.
    card = next(m for m in app.metric if m.label == "Win rate")
    met = win_rate >= 25
    line = ":green[✓ Target ≥ 25 %]" if met else ":red[✗ Target ≥ 25 %]"
    assert card.proto.delta_description == line
    assert ("Target ≥ 25 %: on target" if met else "Target ≥ 25 %: off target") in card.help

    settings = make_app(synced_url, SETTINGS, lang="en").run()
    no_exception(settings)
    assert settings.title[0].value == "Settings"
    assert settings.text_input(key="target.win_rate_pct").value == "25 %"
    settings.text_input(key="target.win_rate_pct").input("99 %")
    settings.button[0].click().run()  # the form's submit button
    no_exception(settings)
    assert targets.load(own_data_dir)["win_rate_pct"] == 99.0

    app = make_app(synced_url, lang="en", **OCTOBER).run()
    card = next(m for m in app.metric if m.label == "Win rate")
    assert card.proto.delta_description == ":red[✗ Target ≥ 99 %]"


@pytest.mark.parametrize("which", ["missing", "empty"])
def test_without_a_model_it_says_how_to_get_one(
    make_app: MakeApp, which: str, missing_url: str, empty_url: str
) -> None:
    app = make_app(missing_url if which == "missing" else empty_url, lang="en").run()
    no_exception(app)
    assert not app.metric
    assert any(i.value.endswith("Start a sync on the Data health page.") for i in app.info)


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


# "−0 p.p.", "+0 %", "-0,0": a change that rounds to nothing, with a sign it does not have.
SIGNED_ZERO = re.compile(r"[-−+]0(?:[,.]0+)?(?![\d,.])")
ISO_MONTH = re.compile(r"\b20\d\d-[01]\d\b")


@pytest.mark.parametrize("lang", ["pt-BR", "es", "en"])
def test_the_hero_row_leads_with_the_reports_and_the_forecasts_numbers(
    make_app: MakeApp, synced_url: str, monkeypatch: pytest.MonkeyPatch, lang: i18n.Locale
) -> None:
    # What the page got from the forecast, to check the hero row shows that and nothing else.
    got: list[Forecast] = []
    load = metrics_data.load_forecast

    def spy(*args: Any, **kwargs: Any) -> Forecast:
        got.append(load(*args, **kwargs))
        return got[-1]

    monkeypatch.setattr(metrics_data, "load_forecast", spy)
    app = make_app(synced_url, lang=lang, **OCTOBER).run()
    no_exception(app)
    expected = report(synced_url)
    f, sales = expected.forecast, expected.sales
    assert f is not None and sales is not None
    month, won, rate, pipeline = app.metric[:4]
    assert month.label == overview.t("overview.hero.month_revenue", lang,
                                     month=i18n.month_only(date(2026, 11, 1), lang))  # fmt: skip
    assert month.label == {"pt-BR": "Receita de novembro", "es": "Ingresos de noviembre",
                           "en": "Revenue of November"}[lang]  # fmt: skip
    assert month.value == components.card_money(f.month_revenue_to_date, "BRL", lang).shown
    # No goal for November: the card says so in place of the goal.
    assert month.proto.delta_description == overview.t("overview.hero.no_goal", lang)
    assert (won.label, won.value) == (overview.t("overview.card.won", lang),
                                      i18n.number(sales.won, lang))  # fmt: skip
    assert rate.value == components.fmt_pct(sales.win_rate_pct, lang)
    deals = sum(r.deals for r in f.open_pipeline)
    value = sum(r.value for r in f.open_pipeline)
    assert pipeline.value == components.card_money(value, "BRL", lang).shown
    captions = [c.value for c in app.caption]
    assert i18n.tn("overview.hero.open_deals", deals, lang) in captions
    assert i18n.tn("overview.hero.lost", sales.lost, lang) in captions
    (result,) = got
    assert result.status == "ok" and result.company is not None
    likely = result.company.months[0].revenue
    assert overview.t("overview.hero.range", lang,
                      p10=compact_money(likely.p10, "BRL", lang),
                      p90=compact_money(likely.p90, "BRL", lang)) in captions  # fmt: skip
    # No change reads "−0", and no month is shown as "2026-11" — in a card or anywhere else.
    texts = [*captions, *(s.value for s in app.subheader), *(i.value for i in app.info)]
    for m in app.metric:
        texts += [m.label, m.value, m.delta or "", m.proto.delta_description]
    assert not [text for text in texts if SIGNED_ZERO.search(text)]
    assert not [text for text in texts if ISO_MONTH.search(text)]


@pytest.mark.parametrize("lang", ["pt-BR", "es", "en"])
def test_a_change_that_rounds_to_nothing_has_no_sign_and_no_colour(lang: i18n.Locale) -> None:
    points = components.change(25.04, 25.0, lang, points=True)
    percent = components.change(100.0, 100.04, lang, points=False)
    assert points is not None and percent is not None
    assert not SIGNED_ZERO.search(points) and points.startswith("0")
    assert percent == "0 %"
    assert components.is_zero_change(points) and components.is_zero_change(percent)
    assert not components.is_zero_change(components.change(26.0, 25.0, lang, points=True))
    assert components.change(24.0, 25.0, lang, points=True) == overview.t(
        "kpi.delta_points", lang, value="-1"
    )


def test_money_on_a_card_is_compact_from_a_thousand_with_the_exact_figure_kept() -> None:
    assert components.card_money(187_620.45, "BRL", "pt-BR") == components.CardValue(
        "R$\xa0187,6\xa0mil", "R$\xa0187.620,45"
    )
    assert components.card_money(187_620.45, "BRL", "en").shown == "R$187.6K"
    assert components.card_money(1_234_567.8, "BRL", "es").shown == "1,2\xa0M\xa0BRL"
    small = components.card_money(950.5, "BRL", "pt-BR")
    assert small.shown == small.exact == "R$\xa0950,50"  # "R$ 950,5" would read as a price
    assert components.card_money(None, "BRL", "en").shown == "—"

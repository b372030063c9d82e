"""Charts read in the viewer's language: the builders of ``dashboard/charts.py`` on small
hand-made data in pt-BR, es and en, and each page family's figures rendered by AppTest.

What a reader must never see: English month names or a decimal point in pt-BR and es, an SI
suffix ("25.89k"), half ticks on a count axis, a negative tick on a money axis, a hover box that
Plotly.js formats by itself (it would speak English)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import charts
from kommo_analytics.dashboard.app_pages import data_health
from kommo_analytics.metrics.series import Grain
from kommo_analytics.text.i18n import LOCALES, Locale
from tests.dashboard.conftest import MakeApp
from tests.dashboard.localisation import SI_SUFFIX, broken_rules

# Placeholders that let Plotly.js format a number or a date itself.
PLOTLY_FORMATTED = re.compile(r"%\{(?:x|y|z|value|label|percent)")
OCTOBER = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}


def spec_of(fig: go.Figure | dict[str, Any]) -> dict[str, Any]:
    return fig.to_plotly_json() if isinstance(fig, go.Figure) else fig


def axes(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in spec["layout"].items() if re.fullmatch(r"[xy]axis\d*", k)}


def assert_localised(fig: go.Figure | dict[str, Any], locale: Locale) -> None:
    """The checks every chart passes, whatever it draws."""
    spec = spec_of(fig)
    texts = charts.figure_texts(spec)
    assert texts, "a chart without a word or a number"
    joined = "\n".join(texts)
    assert not broken_rules(joined, locale), (broken_rules(joined, locale), joined)
    assert not SI_SUFFIX.search(joined), SI_SUFFIX.findall(joined)  # in English too
    assert spec["layout"]["separators"] == charts.separators(locale)
    for name, axis in axes(spec).items():
        if axis.get("visible") is False or axis.get("type") == "category":
            continue
        # Ticks written by Babel, never left to Plotly.js; none below zero.
        # (Plotly takes given tickvals as tickmode "array" when the mode is not said.)
        assert axis.get("tickmode", "array") == "array" and "tickvals" in axis, (name, axis)
        assert len(axis["tickvals"]) == len(axis["ticktext"])
        assert not any(text.startswith(("-", "−")) for text in axis["ticktext"]), axis
    for trace in spec["data"]:
        template = trace.get("hovertemplate", "")
        assert not PLOTLY_FORMATTED.search(template), template
        if trace.get("hoverinfo") not in ("skip", "none", "text", "y+text"):
            assert template == charts.HOVER, trace
    legend = spec["layout"].get("legend", {})
    assert legend.get("orientation") == "h" and legend.get("yanchor") == "bottom"


def days(n: int, start: date = date(2026, 11, 1)) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def trend(locale: Locale, grain: Grain = "day") -> go.Figure:
    """Stacked counts per channel and a revenue line, as the Overview draws them."""
    buckets = pd.DataFrame({"bucket": [date(2026, 11, 3), date(2026, 11, 22)],
                            "revenue": [25_890.0, 2_600.5]})  # fmt: skip
    sales = charts.complete(buckets, date(2026, 11, 1), date(2026, 11, 30), grain)
    fig = go.Figure()
    for name, counts in (("Pago", [1, 0, 1] * 10), ("Indicação", [0, 1, 0] * 10)):
        fig.add_bar(x=days(30), y=counts, name=name, hovertemplate=charts.HOVER,
                    customdata=[charts.bucket_label(d, grain, locale) for d in days(30)])  # fmt: skip
    fig.add_scatter(x=sales["bucket"], y=sales["revenue"], yaxis="y2", name="Receita",
                    hovertemplate=charts.HOVER,
                    customdata=[charts.value_text("money", v, locale, "BRL")
                                for v in sales["revenue"]])  # fmt: skip
    fig.update_layout(barmode="stack")
    return charts.localise(
        fig, locale, x=charts.Axis("date", grain=grain), y=charts.Axis("count"),
        y2=charts.Axis("money", currency="BRL"),
    )  # fmt: skip


@pytest.mark.parametrize("locale", LOCALES)
def test_a_time_series_speaks_the_language(locale: Locale) -> None:
    fig = trend(locale)
    assert_localised(fig, locale)
    layout = fig.layout
    assert layout.xaxis.ticktext[:2] == {
        "pt-BR": ("1 de nov.", "8 de nov."), "es": ("1 nov", "8 nov"), "en": ("Nov 1", "Nov 8"),
    }[locale]  # fmt: skip
    # Whole counts from zero; money from zero in the currency, in full.
    assert all(float(v).is_integer() for v in layout.yaxis.tickvals)
    assert layout.yaxis.range[0] == 0 and layout.yaxis2.range[0] == 0
    assert layout.yaxis2.ticktext[1] == {"pt-BR": "R$\xa010.000", "es": "10.000\xa0BRL",
                                         "en": "R$10,000"}[locale]  # fmt: skip
    hover = fig.data[2].customdata
    assert hover[2] == {"pt-BR": "R$\xa025.890,00", "es": "25.890,00\xa0BRL",
                        "en": "R$25,890.00"}[locale]  # fmt: skip


def test_a_series_without_sales_on_a_day_holds_zero_there_not_a_line_across() -> None:
    buckets = pd.DataFrame(
        {"bucket": [date(2026, 11, 3), date(2026, 11, 5)], "revenue": [5.0, 7.0]}
    )
    full = charts.complete(buckets, date(2026, 11, 1), date(2026, 11, 6), "day")
    assert list(full["bucket"]) == days(6)
    assert list(full["revenue"]) == [0, 0, 5, 0, 7, 0]
    weeks = charts.complete(buckets, date(2026, 11, 1), date(2026, 11, 20), "week")
    assert list(weeks["bucket"]) == [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9),
                                     date(2026, 11, 16)]  # fmt: skip
    by_channel = pd.DataFrame({"bucket": [date(2026, 11, 2)], "channel": ["paid"], "leads": [3]})
    filled = charts.complete(by_channel, date(2026, 11, 1), date(2026, 11, 3), "day", ("channel",))
    assert list(filled["leads"]) == [0, 3, 0] and set(filled["channel"]) == {"paid"}


@pytest.mark.parametrize("locale", LOCALES)
def test_week_and_month_buckets_are_named_in_the_language(locale: Locale) -> None:
    assert charts.bucket_label(date(2026, 11, 2), "week", locale) == {
        "pt-BR": "Semana de 2 de nov. de 2026", "es": "Semana del 2 nov 2026",
        "en": "Week of Nov 2, 2026",
    }[locale]  # fmt: skip
    assert charts.bucket_label(date(2026, 11, 1), "month", locale) == {
        "pt-BR": "novembro de 2026", "es": "noviembre de 2026", "en": "November 2026",
    }[locale]  # fmt: skip
    months = [date(2025 + (m // 12), m % 12 + 1, 1) for m in range(10, 24)]
    fig = go.Figure(go.Bar(x=months, y=[3] * len(months), hovertemplate=charts.HOVER,
                           customdata=["x"] * len(months)))  # fmt: skip
    charts.localise(fig, locale, x=charts.Axis("date", grain="month"), y=charts.Axis("count"))
    assert_localised(fig, locale)
    assert len(fig.layout.xaxis.tickvals) <= 7


def test_count_axes_have_whole_ticks_and_money_axes_none_below_zero() -> None:
    values, low, high = charts.value_ticks(0, 3, whole=True)
    assert values == [0, 1, 2, 3] and (low, high) == (0, 3)
    assert charts.value_ticks(0, 1, whole=True)[0] == [0, 1]  # never 0.5
    assert all(float(v).is_integer() for v in charts.value_ticks(0, 37, whole=True)[0])
    assert charts.value_ticks(0, 0, whole=True)[0][0] == 0  # nothing at all: still whole
    shares = charts.value_ticks(0, 16.6, whole=False, top=100)[0]
    assert shares[0] == 0 and shares[-1] == 100
    # A revenue line that only rises stays above zero: no padding below it.
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[0, 2_600, 25_890], hovertemplate=charts.HOVER,
                               customdata=["a", "b", "c"]))  # fmt: skip
    charts.localise(fig, "pt-BR", x=charts.Axis("count"), y=charts.Axis("money", currency="BRL"))
    assert fig.layout.yaxis.range[0] == 0
    assert fig.layout.yaxis.ticktext[-1] == "R$\xa030.000"


@pytest.mark.parametrize("locale", LOCALES)
def test_percent_and_days_ticks_use_the_decimal_comma(locale: Locale) -> None:
    assert charts.tick_text("percent", 12.5, locale, step=2.5) == {
        "pt-BR": "12,5 %", "es": "12,5 %", "en": "12.5 %"}[locale]  # fmt: skip
    assert charts.tick_text("percent", 40, locale, step=20) == "40 %"
    assert charts.value_text("days", 7.25, locale) == {
        "pt-BR": "7,2 dias", "es": "7,2 días", "en": "7.2 days"}[locale]  # fmt: skip


def test_two_y_axes_share_their_zero() -> None:
    fig = go.Figure()
    fig.add_bar(x=["a", "b"], y=[4, 8], hovertemplate=charts.HOVER, customdata=["a", "b"])
    fig.add_scatter(x=["a", "b"], y=[-500, 2_000], yaxis="y2", hovertemplate=charts.HOVER,
                    customdata=["a", "b"])  # fmt: skip
    charts.localise(fig, "en", x=charts.Axis("category"), y=charts.Axis("count"),
                    y2=charts.Axis("number"))  # fmt: skip

    def zero_at(axis: Any) -> float:
        low, high = axis.range
        return float(-low / (high - low))

    assert zero_at(fig.layout.yaxis) == pytest.approx(zero_at(fig.layout.yaxis2))
    assert zero_at(fig.layout.yaxis) > 0


def test_reference_labels_never_share_a_row() -> None:
    fig = go.Figure(go.Bar(y=[""], x=[120_000], orientation="h", hovertemplate=charts.HOVER,
                           customdata=["a"]))  # fmt: skip
    charts.localise(fig, "pt-BR", x=charts.Axis("money", currency="BRL", include=(160_000,)),
                    y=charts.Axis("category"))  # fmt: skip
    charts.reference_lines(fig, [charts.Reference(150_000, "Meta"),
                                 charts.Reference(148_000, "P50"),
                                 charts.Reference(160_000, "P90")])  # fmt: skip
    shifts = [a.yshift for a in fig.layout.annotations]
    assert len(set(shifts)) == 3
    assert fig.layout.margin.t >= 24 + 18 * 3  # room for the three rows above the plot
    assert_localised(fig, "pt-BR")


def test_a_histogram_counts_whole_days_in_round_bins() -> None:
    bins = charts.histogram([0, 1, 2.5, 9, 10, 44])
    assert bins[0] == (0, 1, 2) and bins[-1] == (44, 45, 1)
    assert sum(n for *_, n in bins) == 6
    assert charts.histogram([]) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_the_quality_trend_speaks_the_language(locale: Locale) -> None:
    zone = ZoneInfo("America/Sao_Paulo")
    runs = [(datetime(2026, 11, d, 12, tzinfo=UTC), 80.0 + d / 3) for d in (1, 8, 15)]
    fig = data_health.trend_figure(runs, zone, locale)
    assert_localised(fig, locale)
    assert fig.layout.yaxis.range == (0, 100)
    assert fig.data[0].customdata[0].endswith({"pt-BR": "80,3", "es": "80,3",
                                               "en": "80.3"}[locale])  # fmt: skip


# -- every page's charts, rendered ------------------------------------------------------------------

# One language per page (all three across them), so every figure is checked in a run or two
# of each page instead of three.
PAGES: dict[str, Locale] = {
    "app_pages/overview.py": "pt-BR",
    "app_pages/intake.py": "es",
    "app_pages/funnel.py": "pt-BR",
    "app_pages/activities.py": "es",
    "app_pages/sales.py": "pt-BR",
    "app_pages/performance.py": "es",
    "app_pages/forecast.py": "en",
}
# Redesigned on their own (response time, time in stage, abandonment, flows): not built here.
NOT_YET: tuple[str, ...] = ()


def figures(app: AppTest) -> list[tuple[str, dict[str, Any]]]:
    return [(chart.proto.id, json.loads(chart.proto.spec)) for chart in app.get("plotly_chart")]


@pytest.mark.parametrize(("page", "locale"), PAGES.items())
def test_every_chart_of_the_page_speaks_its_language(
    synced_url: str, make_app: MakeApp, page: str, locale: Locale
) -> None:
    app = make_app(synced_url, page, lang=locale, **OCTOBER).run()
    assert not app.exception, [e.message for e in app.exception]
    checked = 0
    for chart_id, spec in figures(app):
        if any(key in chart_id for key in NOT_YET):
            continue
        assert_localised(spec, locale)
        checked += 1
    assert checked, f"{page}: no chart drawn"

"""Overview: the morning page. First the hero row — the month's revenue against its goal with
the forecast's P10–P90 range, the deals won, the win rate and the open pipeline — then the other
KPI cards with their change against the comparison period and their target, the leads and
revenue trend, and the month's revenue to date against the goal with the forecast's likely month
(P50 and its P10–P90 range). Every number is the one `kommo-analytics metrics --json` (and the
stored forecast) gives for the same period and filters; the open pipeline is the sum of the
report's open stages, as the Forecast page shows it.
"""

from __future__ import annotations

from datetime import date
from typing import Final

import plotly.graph_objects as go
import streamlit as st

from kommo_analytics.dashboard import charts, filters, metrics_data
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import goals as add_inputs
from kommo_analytics.dashboard.filters import View, channel_label
from kommo_analytics.dashboard.goals import month_label
from kommo_analytics.metrics import series
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.metrics.results import Report, kpi_values, section
from kommo_analytics.service import targets
from kommo_analytics.service.forecasts import Forecast, Range
from kommo_analytics.settings import load_settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

SETTINGS_PAGE: Final = "app_pages/settings.py"
# The report sections this page shows: only their queries run.
SECTIONS = ("leads", "activities", "sales", "marketing", "forecast", "data_quality")
COMPARED_SECTIONS = (
    "leads",
    "activities",
    "sales",
    "marketing",
)  # what the change against the comparison period needs


# card key → (label key, definition key, target key or None, format, rate?). The hero row's
# deals won and win rate come first; the rest follow below it, four to a row.
CARDS: tuple[tuple[str, str, str | None, str, bool], ...] = (
    ("won", "sales.won", None, "number", False),
    ("win_rate_pct", "sales.win_rate_pct", "win_rate_pct", "pct", True),
    ("leads", "leads.total", None, "number", False),
    ("revenue", "sales.revenue", None, "money", False),
    ("avg_ticket", "sales.avg_ticket", "avg_ticket", "money", False),
    ("first_response_hours", "leads.response_time.median_hours", "first_response_hours", "hours",
     False),
    ("task_completion_pct", "activities.completion_rate_pct", "task_completion_pct", "pct", True),
    ("sales_cycle_days", "sales.sales_cycle_avg_days", "sales_cycle_days", "days", False),
    ("cost_per_lead", "leads.cost.per_lead", "cost_per_lead", "money", False),
    ("marketing_roi_pct", "marketing.roi_pct", "marketing_roi_pct", "pct", True),
)  # fmt: skip
HERO: Final = ("won", "win_rate_pct")
LOWER_IS_BETTER = {"first_response_hours", "sales_cycle_days", "cost_per_lead"}


def formatted(kind: str, value: float | None, currency: str | None, locale: Locale) -> str:
    if kind == "money":
        return c.fmt_money(value, currency, locale)
    return _formatted(kind, value, locale)


def shown(kind: str, value: float | None, currency: str | None,
          locale: Locale) -> c.CardValue:  # fmt: skip
    """What a card shows: money compact, the exact figure in its tooltip."""
    if kind == "money":
        return c.card_money(value, currency, locale)
    text = _formatted(kind, value, locale)
    return c.CardValue(text, text)


def _formatted(kind: str, value: float | None, locale: Locale) -> str:
    if kind == "pct":
        return c.fmt_pct(value, locale)
    if kind == "hours":
        return c.fmt_hours(value, locale)
    if kind == "days":
        return c.fmt_days(value, locale)
    return c.fmt_number(value, locale)


def missing_note(card: str, report: Report, locale: Locale) -> str | None:
    """Why a card is empty, and what to do about it."""
    cost = section(report.leads, "leads").cost
    if card in ("cost_per_lead", "marketing_roi_pct") and (
        section(report.marketing, "marketing").cost is None
    ):
        if cost.not_split_by_filter:
            return t("overview.no_costs_filter", locale)
        return t("overview.no_costs", locale, action=add_inputs.action("costs", locale))
    return None


def missing_line(card: str, report: Report, locale: Locale) -> str | None:
    """The few words on an empty card's last line; the whole note is in its tooltip."""
    if missing_note(card, report, locale) is None:
        return None
    cost = section(report.leads, "leads").cost
    return t("overview.no_costs_filter_line" if cost.not_split_by_filter
             else "overview.no_costs_line", locale)  # fmt: skip


def card(spec: tuple[str, str, str | None, str, bool], view: View, report: Report,
         previous: Report | None, goals: dict[str, float], *,
         hero: bool = False) -> None:  # fmt: skip
    """One KPI card; in the hero row it stands in the row's box, without its own border."""
    key, help_key, target_key, kind, rate = spec
    locale, currency = view.locale, report.currency
    value = kpi_values(report)[key]
    before = kpi_values(previous).get(key) if previous else None
    target_text = hit = None
    if target_key is not None:
        target_text = formatted(kind, goals[target_key], currency, locale)
        target_text = ("≥ " if key not in LOWER_IS_BETTER else "≤ ") + target_text
        hit = targets.hit(target_key, value, goals)
    c.kpi(
        t(f"overview.card.{key}", locale),
        shown(kind, value, currency, locale),
        locale=locale,
        help_key=help_key,
        delta=c.change(value, before, locale, points=rate),
        good_when="lower" if key in LOWER_IS_BETTER else "higher",
        target=target_text,
        hit=hit,
        note=missing_note(key, report, locale) if value is None else None,
        note_line=missing_line(key, report, locale) if value is None else None,
        even=not hero,
        border=not hero,
    )


def cards(view: View, report: Report, previous: Report | None,
          goals: dict[str, float]) -> None:  # fmt: skip
    """The cards below the hero row, four to a row (two on a phone: see app.py's styles)."""
    rest = [spec for spec in CARDS if spec[0] not in HERO]
    for start in range(0, len(rest), 4):
        row = rest[start : start + 4]
        for column, spec in zip(st.columns(4), row, strict=False):
            with column:
                card(spec, view, report, previous, goals)


def open_pipeline(report: Report) -> tuple[int, float]:
    """The open deals and their value now: the report's open stages added up, as the Forecast
    page's open-pipeline total."""
    rows = section(report.forecast, "forecast").open_pipeline
    return sum(r.deals for r in rows), sum(r.value for r in rows)


def load_month_forecast(scope: metrics_data.Request, locale: Locale) -> Forecast | None:
    """The stored (or live) company forecast, or None after saying why it cannot be read."""
    loaded, error = metrics_data.safe(lambda: metrics_data.load_forecast(scope))
    if error is not None:
        c.show_error(error, locale)
        return None
    result: Forecast = loaded
    return result


def month_range(result: Forecast | None) -> Range | None:
    if result is None or result.status != "ok" or result.company is None:
        return None
    return result.company.months[0].revenue


def hero(view: View, report: Report, previous: Report | None, goals: dict[str, float],
         result: Forecast | None) -> None:  # fmt: skip
    """The four numbers a sales manager looks at first, each in a box of one height: a card
    and one line under it."""
    locale, currency = view.locale, report.currency
    sales = section(report.sales, "sales")
    by_key = {spec[0]: spec for spec in CARDS}
    revenue_box, won_box, rate_box, open_box = (
        column.container(border=True, height=c.HERO_HEIGHT) for column in st.columns(4)
    )
    with revenue_box:
        month_revenue(view, report, result)
    with won_box:
        card(by_key["won"], view, report, previous, goals, hero=True)
        st.caption(i18n.tn("overview.hero.lost", sales.lost, locale))
    with rate_box:
        card(by_key["win_rate_pct"], view, report, previous, goals, hero=True)
        st.caption(t("overview.hero.closed", locale, won=i18n.number(sales.won, locale),
                     closed=i18n.number(sales.won + sales.lost, locale)))  # fmt: skip
    with open_box:
        deals, value = open_pipeline(report)
        c.kpi(t("overview.hero.open_pipeline", locale), c.card_money(value, currency, locale),
              locale=locale, help_key="forecast.open_pipeline", border=False)  # fmt: skip
        st.caption(i18n.tn("overview.hero.open_deals", deals, locale))


def month_only(month: str, locale: Locale) -> str:
    """The report's month ("2026-12") by its name alone ("dezembro"): the hero row's month is
    always the current one, and a card's label has no room for the year."""
    year, number = (int(part) for part in month.split("-"))
    return i18n.month_only(date(year, number, 1), locale)


def month_revenue(view: View, report: Report, result: Forecast | None) -> None:
    """The month's revenue so far against its goal, and where the forecast says it may end."""
    locale, currency = view.locale, report.currency
    f = section(report.forecast, "forecast")
    goal, so_far = f.month_goal, f.month_revenue_to_date
    likely = month_range(result)
    if goal is None:
        line = t("overview.hero.no_goal", locale)
    else:
        line = c.target_line(c.fmt_money(goal, currency, locale), so_far >= goal, locale)
    if likely is not None:
        note = t("overview.hero.range", locale,
                 p10=i18n.compact_money(likely.p10, currency, locale),
                 p90=i18n.compact_money(likely.p90, currency, locale))  # fmt: skip
    elif result is not None:
        note = t("overview.hero.no_forecast", locale)
    else:
        note = None  # the forecast could not be read: the error is on the page
    money = c.card_money(so_far, currency, locale)
    tips = [
        t("kpi.exact", locale, value=money.exact),
        c.tip("forecast.month_revenue_to_date", locale),
    ]
    st.metric(
        t("overview.hero.month_revenue", locale, month=month_only(f.month, locale)),
        money.shown, help="\n\n".join(p for p in tips if p), delta_description=line,
    )  # fmt: skip
    if note:
        st.caption(note)


def trend(view: View, scope: metrics_data.Request, params: MetricParams,
          currency: str | None) -> None:  # fmt: skip
    locale = view.locale
    frames = metrics_data.load_series(scope, ("leads_by_day", "sales_by_day"))
    grain = series.grain_for(params)
    leads = series.rebucket(frames["leads_by_day"], grain, ("channel",))
    sales = series.rebucket(frames["sales_by_day"], grain)
    st.subheader(t("overview.trend", locale), help=c.tip("leads.total", locale))
    if leads.empty and sales.empty:
        st.info(t("overview.trend_empty", locale))
        return
    end = min(view.end, view.today)
    fig = go.Figure()
    if not leads.empty:
        leads = charts.complete(leads, view.start, end, grain, ("channel",))
    colours = c.channel_colours(sorted(set(leads["channel"]))) if not leads.empty else {}
    for channel, rows in leads.groupby("channel"):
        name = channel_label(str(channel), locale)
        fig.add_bar(
            x=rows["bucket"], y=rows["leads"], name=name, marker_color=colours.get(str(channel)),
            customdata=[charts.lines(charts.bucket_label(b, grain, locale),
                                     charts.named(name, charts.value_text("count", v, locale)))
                        for b, v in zip(rows["bucket"], rows["leads"], strict=True)],
            hovertemplate=charts.HOVER,
        )  # fmt: skip
    if not sales.empty:
        sales = charts.complete(sales, view.start, end, grain)
        name = t("overview.revenue_line", locale)
        fig.add_scatter(
            x=sales["bucket"], y=sales["revenue"], name=name, yaxis="y2", mode="lines+markers",
            line={"color": charts.LINE_COLOUR, "width": 2},
            customdata=[charts.lines(charts.bucket_label(b, grain, locale),
                                     charts.named(name, charts.value_text("money", v, locale,
                                                                          currency)))
                        for b, v in zip(sales["bucket"], sales["revenue"], strict=True)],
            hovertemplate=charts.HOVER,
        )  # fmt: skip
    fig.update_layout(barmode="stack")
    charts.localise(
        fig, locale, height=380,
        x=charts.Axis("date", title=t(f"grain.{grain}", locale), grain=grain),
        y=charts.Axis("count", title=t("overview.axis_leads", locale)),
        y2=charts.Axis("money", title=t("overview.axis_revenue", locale), currency=currency)
        if not sales.empty else None,
    )  # fmt: skip
    c.plot(fig, key="overview.trend")


def month_forecast(result: Forecast | None, currency: str | None, locale: Locale) -> None:
    """The forecast card of the month: its P50, the P10–P90 range and, with a goal, the chance
    of reaching it."""
    likely = month_range(result)
    if result is None:
        return  # it could not be read: the error is on the page
    if likely is None or result.company is None:
        st.caption(i18n.tn("overview.forecast_insufficient", result.closed_months, locale))
        return
    month = result.company.months[0]
    c.kpi(t("overview.forecast_p50", locale), c.card_money(likely.p50, currency, locale),
          locale=locale, help_key="concept.forecast_range")  # fmt: skip
    st.caption(t("overview.forecast_range", locale,
                 p10=c.fmt_money(likely.p10, currency, locale),
                 p90=c.fmt_money(likely.p90, currency, locale)))  # fmt: skip
    goal = next((g for g in result.goals if g.user_id is None and g.month == month.month), None)
    if goal is not None:
        st.caption(t("overview.forecast_chance", locale,
                     chance=c.fmt_pct(100.0 * goal.probability, locale),
                     risk=t(f"forecast.risk.{goal.risk}", locale)))  # fmt: skip


def month_vs_goal(view: View, report: Report, result: Forecast | None) -> None:
    locale, currency = view.locale, report.currency
    f = section(report.forecast, "forecast")
    month = month_label(f.month, locale)
    st.subheader(t("overview.month", locale, month=month),
                 help=c.tip("forecast.month_revenue_to_date", locale))  # fmt: skip
    revenue, goal = f.month_revenue_to_date, f.month_goal
    likely = month_range(result)
    # The two cards side by side (two per row on a phone too), then the bar across the page.
    so_far_column, goal_column = st.columns(2)
    with so_far_column:
        c.kpi(t("overview.month_revenue", locale), c.card_money(revenue, currency, locale),
              locale=locale, help_key="forecast.month_revenue_to_date")  # fmt: skip
    with goal_column:
        if goal is None:
            add_inputs.missing(t("overview.no_goal", locale, month=month,
                                 action=add_inputs.action("goals", locale)), "goals", locale)  # fmt: skip
        else:
            c.kpi(t("overview.month_goal", locale), c.card_money(goal, currency, locale),
                  locale=locale, help_key="forecast.month_goal")  # fmt: skip
    if goal is not None:
        st.caption(t("overview.month_gap", locale,
                     gap=c.fmt_money(f.month_gap_to_goal, currency, locale),
                     days=i18n.number(f.working_days_left, locale)))  # fmt: skip
    month_forecast(result, currency, locale)
    fig = go.Figure()
    so_far = t("overview.month_revenue", locale)
    fig.add_bar(y=[""], x=[revenue], name=so_far, orientation="h",
                marker_color=charts.WON_COLOUR,
                customdata=[charts.named(so_far, c.fmt_money(revenue, currency, locale))],
                hovertemplate=charts.HOVER)  # fmt: skip
    references = []
    include: tuple[float, ...] = ()
    if likely is not None:
        # The likely month behind the bar: what is won so far, against where it may end.
        fig.add_vrect(x0=likely.p10, x1=likely.p90, fillcolor="#4C78A8", opacity=0.2,
                      line_width=0)  # fmt: skip
        band = t("overview.forecast_range", locale,
                 p10=c.fmt_money(likely.p10, currency, locale),
                 p90=c.fmt_money(likely.p90, currency, locale))  # fmt: skip
        references.append(charts.Reference(likely.p50, t("overview.forecast_p50_short", locale),
                                           colour="#4C78A8", dash="dot"))  # fmt: skip
        include = (likely.p90,)
        fig.add_annotation(x=(likely.p10 + likely.p90) / 2, y=0, yref="paper",
                           yanchor="bottom", text=t("overview.forecast_band", locale),
                           hovertext=band, showarrow=False,
                           font={"color": "#4C78A8", "size": 11})  # fmt: skip
    if goal is not None:
        references.append(charts.Reference(goal, t("overview.month_goal", locale),
                                           colour=charts.GOAL_COLOUR, width=3))  # fmt: skip
        include += (goal,)
    fig.update_layout(showlegend=False)
    charts.localise(fig, locale, height=170,
                    x=charts.Axis("money", currency=currency, include=include),
                    y=charts.Axis("category"))  # fmt: skip
    charts.reference_lines(fig, references)
    c.plot(fig, key="overview.month")


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("overview.title", locale))
    page = c.page_report(view, SECTIONS, COMPARED_SECTIONS)
    if page is None:
        return
    scope, report, sla = page.scope, page.report, page.sla
    previous = page.previous
    try:
        goals = targets.load(load_settings().data_dir)
    except Exception as exc:  # a damaged targets file: say so, show the defaults
        st.warning(t("targets.unreadable", locale, message=str(exc)))
        goals = {spec.key: spec.default for spec in targets.TARGETS}
    st.caption(
        t("overview.caption", locale, range=i18n.date_range(view.start, view.end, locale),
          tz=report.period.timezone, currency=report.currency or "—")
    )  # fmt: skip
    forecast = load_month_forecast(scope, locale)
    hero(view, report, previous, goals, forecast)
    cards(view, report, previous, goals)
    acc = metrics_data.load_account(scope.url, scope.version)
    c.drill_down(
        view,
        scope,
        options=[
            (t("overview.drill.created", locale), "created", ()),
            (t("overview.drill.won", locale), "closed", (("outcome", "won"),)),
            (t("overview.drill.lost", locale), "closed", (("outcome", "lost"),)),
            (t("overview.drill.open", locale), "open", ()),
        ],
        basis="created",
        key="overview",
        currency=report.currency,
        subdomain=acc.subdomain,
    )
    trend(view, scope, metrics_data.params_of(scope, acc, sla), report.currency)
    month_vs_goal(view, report, forecast)
    quality = section(report.data_quality, "data_quality")
    for key, message in (
        ("deleted_leads", "overview.deleted"),
        ("deleted_leads_creation_unknown", "overview.deleted_unknown"),
    ):
        count = getattr(quality, key)
        if count:
            st.caption(i18n.tn(message, count, locale),
                       help=c.tip(f"data_quality.{key}", locale))  # fmt: skip


if __name__ == "__main__":
    render()

"""Overview: the morning page. KPI cards with their change against the comparison period and a
colour against their target, the leads and revenue trend, and the month's revenue to date
against the goal with the forecast's likely month (P50 and its P10–P90 range). Every number is the one `kommo-analytics metrics --json` prints for the same
period and filters.
"""

from __future__ import annotations

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

# The report sections this page shows: only their queries run.
SECTIONS = ("leads", "activities", "sales", "marketing", "forecast", "data_quality")
COMPARED_SECTIONS = (
    "leads",
    "activities",
    "sales",
    "marketing",
)  # what the change against the comparison period needs


# card key → (label key, definition key, target key or None, format, rate?)
CARDS: tuple[tuple[str, str, str | None, str, bool], ...] = (
    ("leads", "leads.total", None, "number", False),
    ("won", "sales.won", None, "number", False),
    ("revenue", "sales.revenue", None, "money", False),
    ("win_rate_pct", "sales.win_rate_pct", "win_rate_pct", "pct", True),
    ("avg_ticket", "sales.avg_ticket", "avg_ticket", "money", False),
    ("first_response_hours", "leads.response_time.median_hours", "first_response_hours", "hours",
     False),
    ("task_completion_pct", "activities.completion_rate_pct", "task_completion_pct", "pct", True),
    ("sales_cycle_days", "sales.sales_cycle_avg_days", "sales_cycle_days", "days", False),
    ("cost_per_lead", "leads.cost.per_lead", "cost_per_lead", "money", False),
    ("marketing_roi_pct", "marketing.roi_pct", "marketing_roi_pct", "pct", True),
)  # fmt: skip
LOWER_IS_BETTER = {"first_response_hours", "sales_cycle_days", "cost_per_lead"}


def formatted(kind: str, value: float | None, currency: str | None, locale: Locale) -> str:
    if kind == "money":
        return c.fmt_money(value, currency, locale)
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


def cards(view: View, report: Report, previous: Report | None,
          goals: dict[str, float]) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    now, before = kpi_values(report), kpi_values(previous) if previous else {}
    # At most four to a row: narrower cards cut their labels, and phones stack them anyway.
    for row in (CARDS[:4], CARDS[4:7], CARDS[7:]):
        for column, (card, help_key, target_key, kind, rate) in zip(
            st.columns(len(row)), row, strict=True
        ):
            with column:
                value = now[card]
                target_text = hit = None
                if target_key is not None:
                    target_text = formatted(kind, goals[target_key], currency, locale)
                    target_text = ("≥ " if card not in LOWER_IS_BETTER else "≤ ") + target_text
                    hit = targets.hit(target_key, value, goals)
                c.kpi(
                    t(f"overview.card.{card}", locale),
                    formatted(kind, value, currency, locale),
                    locale=locale,
                    help_key=help_key,
                    delta=c.change(value, before.get(card), locale, points=rate),
                    good_when="lower" if card in LOWER_IS_BETTER else "higher",
                    target=target_text,
                    hit=hit,
                    note=missing_note(card, report, locale) if value is None else None,
                )


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


def month_forecast(view: View, scope: metrics_data.Request,
                   currency: str | None) -> Range | None:  # fmt: skip
    """The forecast card of the month: its P50, the P10–P90 range and, with a goal, the chance
    of reaching it; the range (for the chart) or None when there is no forecast."""
    locale = view.locale
    loaded, error = metrics_data.safe(lambda: metrics_data.load_forecast(scope))
    if error is not None:
        c.show_error(error, locale)
        return None
    result: Forecast = loaded
    if result.status != "ok" or result.company is None:
        st.caption(i18n.tn("overview.forecast_insufficient", result.closed_months, locale))
        return None
    month = result.company.months[0]
    revenue = month.revenue
    st.metric(t("overview.forecast_p50", locale), c.fmt_money(revenue.p50, currency, locale),
              border=True, help=c.tip("concept.forecast_range", locale))  # fmt: skip
    st.caption(t("overview.forecast_range", locale,
                 p10=c.fmt_money(revenue.p10, currency, locale),
                 p90=c.fmt_money(revenue.p90, currency, locale)))  # fmt: skip
    goal = next((g for g in result.goals if g.user_id is None and g.month == month.month), None)
    if goal is not None:
        st.caption(t("overview.forecast_chance", locale,
                     chance=c.fmt_pct(100.0 * goal.probability, locale),
                     risk=t(f"forecast.risk.{goal.risk}", locale)))  # fmt: skip
    return revenue


def month_vs_goal(view: View, scope: metrics_data.Request, report: Report) -> None:
    locale, currency = view.locale, report.currency
    f = section(report.forecast, "forecast")
    st.subheader(t("overview.month", locale, month=month_label(f.month, locale)),
                 help=c.tip("forecast.month_revenue_to_date", locale))  # fmt: skip
    revenue, goal = f.month_revenue_to_date, f.month_goal
    left, right = st.columns([2, 1])
    with right:
        st.metric(t("overview.month_revenue", locale), c.fmt_money(revenue, currency, locale),
                  border=True)  # fmt: skip
        if goal is None:
            add_inputs.missing(t("overview.no_goal", locale,
                                 action=add_inputs.action("goals", locale)), "goals", locale)  # fmt: skip
        else:
            st.metric(t("overview.month_goal", locale), c.fmt_money(goal, currency, locale),
                      border=True, help=c.tip("forecast.month_goal", locale))  # fmt: skip
            st.caption(t("overview.month_gap", locale,
                         gap=c.fmt_money(f.month_gap_to_goal, currency, locale),
                         days=i18n.number(f.working_days_left, locale)))  # fmt: skip
        likely = month_forecast(view, scope, currency)
    with left:
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
                                               colour=charts.LOST_COLOUR, width=3))  # fmt: skip
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
    month_vs_goal(view, scope, report)
    quality = section(report.data_quality, "data_quality")
    for key, message in (
        ("deleted_leads", "overview.deleted"),
        ("deleted_leads_creation_unknown", "overview.deleted_unknown"),
    ):
        count = getattr(quality, key)
        if count:
            st.caption(t(message, locale, count=i18n.number(count, locale)),
                       help=c.tip(f"data_quality.{key}", locale))  # fmt: skip


if __name__ == "__main__":
    render()

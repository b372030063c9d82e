"""6 Forecast. The revenue forecast of the read service (`service/forecasts.py`, described in
docs/forecast.md): a fan chart and the P10/P50/P90 range of this month and the next two, the
chance of reaching the goals and the risk, the ranges per pipeline and per seller, the open
pipeline weighted by each stage's win probability (with the closed deals it rests on), and the
method used for leads not yet created. Below it the facts the forecast starts from, from the
report's `forecast` block: what was won this month against the month's goal, what that leaves
per working day, and the deals open right now by pipeline stage.

A warehouse with too little history gets the forecast's statement of what is missing instead of
a number. Every figure comes from the forecast result as it is (the same as `kommo-analytics
forecast --json` for the same "as of" and seed); this page only formats it.
"""

from __future__ import annotations

from datetime import date
from typing import Final, Protocol

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from babel.dates import format_skeleton

from kommo_analytics.dashboard import charts, data, filters, metrics_data
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import goals as add_inputs
from kommo_analytics.dashboard.export import Column
from kommo_analytics.dashboard.filters import View
from kommo_analytics.dashboard.goals import (
    month_label,
    needed_per_working_day,
    needed_text,
)
from kommo_analytics.metrics.results import OpenStage, Report, section
from kommo_analytics.service.forecasts import (
    Accuracy,
    Forecast,
    Labels,
    Pacing,
    Recommendation,
    ScoredSnapshot,
)
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t
from kommo_analytics.workdays import WEEKENDS_ONLY

# The report sections this page shows: only their queries run.
SECTIONS = ("forecast",)
# Risk (high below a 50 % chance of the goal, medium below 80 %, low otherwise) as Streamlit's
# badge colours and, in tables, which cannot colour text, as a coloured mark.
RISK_COLOURS: Final = {"high": "red", "medium": "orange", "low": "green"}
RISK_MARKS: Final = {"high": "🔴", "medium": "🟠", "low": "🟢"}
BAND_COLOUR: Final = "rgba(76, 120, 168, 0.22)"
P50_COLOUR: Final = "#4C78A8"
ACTUAL_COLOUR: Final = "#54A24B"
GOAL_COLOUR: Final = charts.GOAL_COLOUR
# Methods of the new-leads model that are its simpler fallbacks (docs/forecast.md, step 2).
FALLBACK_METHODS: Final = frozenset({"recent_mean", "none"})
# The history a trend needs (docs/forecast.md, step 2): a shorter series that falls back to a
# mean is a short history, a longer one a fit that failed.
TREND_MONTHS: Final = 12


def pipeline_names(view: View) -> dict[int, str]:
    """Pipeline names (the sidebar's cached list): the report names stages, not pipelines."""
    warehouse = view.warehouse
    frame, error = metrics_data.safe(lambda: data.load_pipelines(warehouse.url, warehouse.version))
    if error is not None or frame is None:
        return {}
    return {int(i): str(n) for i, n in zip(frame["id"], frame["name"], strict=True)}


def stage_label(row: OpenStage, pipelines: dict[int, str], locale: Locale) -> str:
    pipeline = pipelines.get(int(row.pipeline_id), str(row.pipeline_id))
    stage = row.name or t("forecast.unknown_stage", locale, id=row.status_id)
    return f"{pipeline} · {stage}"


# -- the month so far ---------------------------------------------------------------------------


def calendar_text(view: View) -> str:
    """Whose holidays the working days leave out (the account's calendar: the report's and the
    pacing's, which are one count)."""
    calendar = view.account.calendar if view.account is not None else WEEKENDS_ONLY
    return t("calendar.label", view.locale,
             calendar=i18n.holiday_calendar(calendar, view.locale))  # fmt: skip


def month_section(view: View, report: Report) -> None:
    locale, currency = view.locale, report.currency
    f = section(report.forecast, "forecast")
    month = month_label(f.month, locale)
    st.subheader(t("forecast.month", locale, month=month),
                 help=c.tip("forecast.month", locale))  # fmt: skip
    st.caption(t("forecast.month_caption", locale, month=month,
                 now=i18n.moment(view.now, view.zone, locale)))  # fmt: skip
    goal, so_far, days = f.month_goal, f.month_revenue_to_date, f.working_days_left
    cols = st.columns(3)
    with cols[0]:
        c.kpi(t("forecast.card.so_far", locale), c.card_money(so_far, currency, locale),
              locale=locale, help_key="forecast.month_revenue_to_date")  # fmt: skip
    with cols[1]:
        c.kpi(t("forecast.card.won", locale), c.fmt_number(f.month_won_deals, locale),
              locale=locale, help_key="forecast.month_won_deals")  # fmt: skip
    with cols[2]:
        c.kpi(t("forecast.card.working_days", locale), i18n.number(days, locale),
              locale=locale, help_key="forecast.working_days_left",
              note=t("forecast.calendar_days", locale,
                     days=i18n.number(f.days_left_in_month, locale)))  # fmt: skip
        st.caption(calendar_text(view))
    if goal is None:
        # No goal card at all (an empty one would read as "0"): the import hint instead.
        add_inputs.missing(t("forecast.no_goal", locale, month=month,
                             action=add_inputs.action("goals", locale)), "goals", locale)  # fmt: skip
        return
    needed = needed_per_working_day(goal, so_far, days)
    cols = st.columns(3)
    with cols[0]:
        c.kpi(t("forecast.card.goal", locale), c.card_money(goal, currency, locale),
              locale=locale, help_key="forecast.month_goal")  # fmt: skip
    with cols[1]:
        c.kpi(t("forecast.card.gap", locale),
              c.card_money(f.month_gap_to_goal, currency, locale), locale=locale,
              help_key="forecast.month_gap_to_goal", good_when="lower")  # fmt: skip
    with cols[2]:
        c.kpi(t("forecast.card.needed", locale),
              needed_text(needed, goal, so_far, currency, locale), locale=locale,
              note=t("forecast.needed_note", locale))  # fmt: skip
    progress(view, so_far, goal, currency)


def progress(view: View, revenue: float, goal: float, currency: str | None) -> None:
    """Revenue so far against the goal, as a bar: a fact, with no projected line."""
    locale = view.locale
    so_far = t("forecast.card.so_far", locale)
    fig = go.Figure()
    fig.add_bar(y=[""], x=[revenue], orientation="h", marker_color=ACTUAL_COLOUR, name=so_far,
                text=[c.fmt_money(revenue, currency, locale)],
                customdata=[charts.named(so_far, c.fmt_money(revenue, currency, locale))],
                hovertemplate=charts.HOVER)  # fmt: skip
    fig.update_layout(showlegend=False)
    charts.localise(fig, locale, height=170, y=charts.Axis("category"),
                    x=charts.Axis("money", currency=currency, include=(goal,)))  # fmt: skip
    charts.reference_lines(fig, [charts.Reference(goal, t("forecast.card.goal", locale),
                                                  colour=GOAL_COLOUR, width=3)])  # fmt: skip
    c.plot(fig, key="forecast.progress")


# -- open pipeline ------------------------------------------------------------------------------


# The page's tables, as shown and as downloaded. A cell that reads as a phrase ("3 – 5 – 8",
# a risk with its mark, a scored range) is text in both.
OPEN_COLUMNS: Final = (
    Column("pipeline", "forecast.col.pipeline", tip="forecast.open_pipeline.pipeline_id"),
    Column("stage", "forecast.col.stage", tip="forecast.open_pipeline.name"),
    Column("deals", "forecast.col.deals", "integer", tip="forecast.open_pipeline.deals"),
    Column("value", "forecast.col.value", "money", tip="forecast.open_pipeline.value"),
)
SCOPE_COLUMNS: Final = (
    Column("p10", "forecast.col.p10", "money", tip="concept.forecast_range"),
    Column("p50", "forecast.col.p50", "money", tip="concept.forecast_range"),
    Column("p90", "forecast.col.p90", "money", tip="concept.forecast_range"),
    Column("deals", "forecast.col.won_deals", tip="concept.forecast_range", right=True),
)
GOAL_COLUMNS: Final = (
    Column("goal", "forecast.col.goal", "money", tip="concept.goals_csv"),
    Column("chance", "forecast.col.chance", "percent", tip="concept.goal_chance"),
    Column("risk", "forecast.col.risk", tip="concept.goal_chance"),
    Column("gap", "forecast.col.gap", "money", tip="concept.goal_chance"),
)
RANGE_COLUMNS: Final = (
    Column("month", "forecast.col.month"),
    *SCOPE_COLUMNS,
    Column("won", "forecast.col.won_to_date", "money", tip="forecast.month_revenue_to_date"),
    *GOAL_COLUMNS,
)
WEIGHTED_COLUMNS: Final = (
    Column("pipeline", "forecast.col.pipeline"),
    Column("stage", "forecast.col.stage"),
    Column("deals", "forecast.col.deals", "integer", tip="concept.weighted_pipeline"),
    Column("value", "forecast.col.value", "money", tip="concept.weighted_pipeline"),
    Column("chance", "forecast.col.win_chance", "percent", tip="concept.weighted_pipeline"),
    Column("closed", "forecast.col.closed_behind", "integer", tip="concept.weighted_pipeline"),
    Column("weighted", "forecast.col.weighted", "money", tip="concept.weighted_pipeline"),
)
PACING_COLUMNS: Final = (
    Column("month", "forecast.col.month"),
    Column("who", "forecast.col.who"),
    Column("goal", "forecast.col.goal", "money", tip="concept.goals_csv"),
    Column("remaining", "forecast.col.remaining", "money"),
    Column("days", "forecast.col.working_days", "integer"),
    Column("per_day", "forecast.col.revenue_per_day", "money"),
    Column("deals", "forecast.col.deals_needed", "integer"),
    Column("deals_per_day", "forecast.col.deals_per_day", "decimal", digits=1),
)
ACCURACY_COLUMNS: Final = (
    Column("month", "forecast.col.month"),
    Column("actual", "forecast.col.actual", "money"),
    Column("before", "forecast.col.before_range", tip="concept.forecast_range", right=True),
    Column("before_inside", "forecast.col.inside"),
    Column("before_error", "forecast.col.p50_error", right=True),
    Column("mid", "forecast.col.mid_range", tip="concept.forecast_range", right=True),
    Column("mid_inside", "forecast.col.inside"),
    Column("mid_error", "forecast.col.p50_error", right=True),
)


def pipeline_section(view: View, scope: metrics_data.Request, report: Report,
                     subdomain: str | None) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    rows = section(report.forecast, "forecast").open_pipeline
    st.subheader(t("forecast.open_pipeline", locale), help=c.tip("forecast.open_pipeline", locale))
    st.caption(t("forecast.open_caption", locale))
    if not rows:
        st.info(t("forecast.no_open", locale))
        return
    pipelines = pipeline_names(view)
    labels = [stage_label(r, pipelines, locale) for r in rows]
    st.markdown(
        t("forecast.open_total", locale,
          deals=i18n.number(sum(r.deals for r in rows), locale),
          value=c.fmt_money(sum(r.value for r in rows), currency, locale))
    )  # fmt: skip
    fig = go.Figure()
    fig.add_bar(
        y=labels, x=[r.value for r in rows], orientation="h", marker_color="#4C78A8",
        name=t("forecast.col.value", locale),
        text=[t("forecast.bar_text", locale, value=c.fmt_money(r.value, currency, locale),
                deals=i18n.number(r.deals, locale)) for r in rows],
        textposition="auto",
        customdata=[charts.lines(label, t("forecast.bar_text", locale,
                                          value=c.fmt_money(r.value, currency, locale),
                                          deals=i18n.number(r.deals, locale)))
                    for label, r in zip(labels, rows, strict=True)],
        hovertemplate=charts.HOVER,
    )  # fmt: skip
    fig.update_layout(showlegend=False)
    charts.localise(
        fig, locale, height=120 + 30 * len(rows), y=charts.Axis("category"),
        x=charts.Axis("money", title=t("forecast.axis_value", locale, currency=currency or ""),
                      currency=currency),
    )  # fmt: skip
    fig.update_layout(yaxis={"autorange": "reversed"})
    c.plot(fig, key="forecast.pipeline")
    values = pd.DataFrame(
        {
            "pipeline": [pipelines.get(int(r.pipeline_id), str(r.pipeline_id))
                         for r in rows],
            "stage": [r.name or t("forecast.unknown_stage", locale, id=r.status_id)
                      for r in rows],
            "deals": [r.deals for r in rows],
            "value": [r.value for r in rows],
        }
    )  # fmt: skip
    c.table(values, OPEN_COLUMNS, view=view, name="open_pipeline", currency=currency,
            title=t("forecast.open_pipeline", locale))  # fmt: skip
    options = [
        (t("forecast.drill_stage", locale, stage=label, count=i18n.number(r.deals, locale)),
         "open", (("pipeline_id", int(r.pipeline_id)), ("status_id", int(r.status_id))))
        for label, r in zip(labels, rows, strict=True)
        if r.deals
    ]  # fmt: skip
    c.drill_down(view, scope, options=options, basis="open", key="forecast_open",
                 currency=currency, subdomain=subdomain)  # fmt: skip


class GoalLike(Protocol):
    """A goal's outlook as the forecast reports it (the service re-exports the forecast but not
    this result type; the page reads only these fields)."""

    @property
    def month(self) -> date: ...
    @property
    def user_id(self) -> int | None: ...
    @property
    def goal(self) -> float: ...
    @property
    def gap(self) -> float: ...
    @property
    def probability(self) -> float: ...
    @property
    def risk(self) -> str: ...


# -- the forecast ------------------------------------------------------------------------------


def month_name(month: date, locale: Locale) -> str:
    """A forecast month as the locale names it, short ("nov. de 2026")."""
    return format_skeleton("yMMM", month, locale=i18n.babel_locale(locale))


def share(probability: float | None, locale: Locale) -> str:
    """A probability (0–1) as a percentage."""
    return "" if probability is None else c.fmt_pct(100.0 * probability, locale)


def risk_cell(risk: str | None, locale: Locale) -> str:
    return "" if risk is None else f"{RISK_MARKS[risk]} {t(f'forecast.risk.{risk}', locale)}"


def risk_badge(risk: str, locale: Locale) -> str:
    return f":{RISK_COLOURS[risk]}-badge[{t(f'forecast.risk.{risk}', locale)}]"


def fan_chart(view: View, result: Forecast, currency: str | None) -> None:
    """Revenue won so far this month, the P10–P90 band and the P50 line of the three months,
    and the company's goal where one exists."""
    assert result.company is not None
    locale = view.locale
    months = result.company.months
    x = [month_name(m.month, locale) for m in months]
    p10 = [m.revenue.p10 for m in months]
    p50 = [m.revenue.p50 for m in months]
    p90 = [m.revenue.p90 for m in months]
    hover = [
        t("forecast.fan.hover", locale, month=label,
          p10=c.fmt_money(m.revenue.p10, currency, locale),
          p50=c.fmt_money(m.revenue.p50, currency, locale),
          p90=c.fmt_money(m.revenue.p90, currency, locale))
        for label, m in zip(x, months, strict=True)
    ]  # fmt: skip
    fig = go.Figure()
    current = months[0]
    fig.add_bar(
        x=[x[0]], y=[current.won_to_date], name=t("forecast.fan.actual", locale),
        marker_color=ACTUAL_COLOUR, width=0.35,
        customdata=[t("forecast.fan.actual_hover", locale, month=x[0],
                      value=c.fmt_money(current.won_to_date, currency, locale),
                      deals=i18n.number(current.won_deals_to_date, locale))],
        hovertemplate="%{customdata}<extra></extra>",
    )  # fmt: skip
    # The band: P90 drawn invisibly, then P10 filled up to it.
    fig.add_scatter(x=x, y=p90, mode="lines", line={"width": 0},
                    showlegend=False, hoverinfo="skip")  # fmt: skip
    fig.add_scatter(
        x=x, y=p10, mode="lines", line={"width": 0}, fill="tonexty",
        fillcolor=BAND_COLOUR, name=t("forecast.fan.band", locale), hoverinfo="skip",
    )  # fmt: skip
    fig.add_scatter(
        x=x, y=p50, mode="lines+markers", name=t("forecast.fan.p50", locale),
        line={"color": P50_COLOUR, "width": 3}, marker={"size": 9},
        customdata=hover, hovertemplate="%{customdata}<extra></extra>",
    )  # fmt: skip
    goals = company_goals(result)
    with_goal = [(label, goals[m.month].goal) for label, m in zip(x, months, strict=True)
                 if m.month in goals]  # fmt: skip
    if with_goal:
        fig.add_scatter(
            x=[g[0] for g in with_goal], y=[g[1] for g in with_goal],
            mode="markers+lines", name=t("forecast.fan.goal", locale),
            line={"color": GOAL_COLOUR, "dash": "dash", "width": 2},
            marker={"symbol": "line-ew-open", "size": 34, "line": {"width": 3}},
            customdata=[t("forecast.fan.goal_hover", locale, month=g[0],
                          goal=c.fmt_money(g[1], currency, locale)) for g in with_goal],
            hovertemplate="%{customdata}<extra></extra>",
        )  # fmt: skip
    fig.update_layout(hovermode="closest")
    charts.localise(
        fig, locale, height=400,
        y=charts.Axis("money", title=t("forecast.fan.axis", locale, currency=currency or ""),
                      currency=currency),
        x=charts.Axis("category", title=t("forecast.fan.months", locale)),
    )  # fmt: skip
    c.plot(fig, key="forecast.fan")


def company_goals(result: Forecast) -> dict[date, GoalLike]:
    return {g.month: g for g in result.goals if g.user_id is None}


def ranges_section(view: View, result: Forecast, currency: str | None) -> None:
    """The range per month: revenue and won deals, the goal, its chance, the risk, the gap."""
    assert result.company is not None
    locale = view.locale
    goals = company_goals(result)
    current = result.company.months[0]
    goal_now = goals.get(current.month)
    # The range goes under its P50, not in a card of its own: two amounts side by side do not
    # fit a card's width and would be cut short.
    cols = st.columns(3 if goal_now is not None else 2)
    with cols[0]:
        c.kpi(t("forecast.card.p50", locale, month=month_name(current.month, locale)),
              c.card_money(current.revenue.p50, currency, locale), locale=locale,
              help_key="concept.forecast_range",
              note=t("forecast.range_note", locale,
                     p10=c.fmt_money(current.revenue.p10, currency, locale),
                     p90=c.fmt_money(current.revenue.p90, currency, locale)))  # fmt: skip
    with cols[1]:
        c.kpi(t("forecast.card.deals", locale),
              c.fmt_number(current.won_deals.p50, locale), locale=locale,
              help_key="concept.forecast_range",
              note=t("forecast.range_note", locale,
                     p10=c.fmt_number(current.won_deals.p10, locale),
                     p90=c.fmt_number(current.won_deals.p90, locale)))  # fmt: skip
    if goal_now is not None:
        with cols[2]:
            c.kpi(t("forecast.card.chance", locale), share(goal_now.probability, locale),
                  locale=locale, help_key="concept.goal_chance",
                  note=t("forecast.chance_note", locale,
                         goal=c.fmt_money(goal_now.goal, currency, locale),
                         gap=c.fmt_money(goal_now.gap, currency, locale)))  # fmt: skip
            st.markdown(risk_badge(goal_now.risk, locale))
            pace = company_pacing(result).get(current.month)
            if pace is not None:
                st.caption(pacing_text(pace, currency, locale))
    fan_chart(view, result, currency)
    months = result.company.months
    values = pd.DataFrame(
        {
            "month": [month_name(m.month, locale) for m in months],
            "p10": [m.revenue.p10 for m in months],
            "p50": [m.revenue.p50 for m in months],
            "p90": [m.revenue.p90 for m in months],
            "deals": [deals_text(m.won_deals.p10, m.won_deals.p50, m.won_deals.p90, locale)
                      for m in months],
            "won": [m.won_to_date or None for m in months],
            "goal": [g.goal if (g := goals.get(m.month)) else None for m in months],
            "chance": [100.0 * g.probability if (g := goals.get(m.month)) else None
                       for m in months],
            "risk": [risk_cell(g.risk if (g := goals.get(m.month)) else None, locale)
                     for m in months],
            "gap": [g.gap if (g := goals.get(m.month)) else None for m in months],
        }
    )  # fmt: skip
    st.subheader(t("forecast.ranges", locale), help=c.tip("concept.forecast_range", locale))
    c.table(values, RANGE_COLUMNS, view=view, name="forecast_ranges", currency=currency,
            title=t("forecast.ranges", locale))  # fmt: skip
    if not goals:
        # A caption, not a box: the month's facts below already say how to import goals in one.
        add_inputs.missing(t("forecast.no_goals", locale, action=add_inputs.action("goals", locale)),
                           "goals", locale, caption=True)  # fmt: skip


def deals_text(p10: float, p50: float, p90: float, locale: Locale) -> str:
    return t("forecast.deals_text", locale, p10=c.fmt_number(p10, locale),
             p50=c.fmt_number(p50, locale), p90=c.fmt_number(p90, locale))  # fmt: skip


def scopes_section(view: View, result: Forecast, labels: Labels, currency: str | None) -> None:
    """This month's range per pipeline (when there are several) and per seller, with the
    sellers' goals, chances and risk."""
    assert result.company is not None
    locale = view.locale
    first = result.company.months[0].month
    month = month_name(first, locale)
    seller_goals: dict[int | None, GoalLike] = {g.user_id: g for g in result.goals
                    if g.user_id is not None and g.month == first}  # fmt: skip
    for kind, scopes in (("pipeline", result.pipelines), ("seller", result.sellers)):
        if kind == "pipeline" and len(scopes) < 2:
            continue  # one pipeline's range is the company's
        if not scopes:
            continue
        st.subheader(t(f"forecast.by_{kind}", locale, month=month),
                     help=c.tip("concept.forecast_range", locale))  # fmt: skip
        # The biggest first: the rows a manager looks for.
        scopes = tuple(sorted(scopes, key=lambda s: -s.months[0].revenue.p50))
        names = [pipeline_name(labels, s.id, locale) if kind == "pipeline"
                 else seller_name(labels, s.id, locale) for s in scopes]  # fmt: skip
        now = [s.months[0] for s in scopes]
        values = pd.DataFrame(
            {
                "name": names,
                "p10": [m.revenue.p10 for m in now],
                "p50": [m.revenue.p50 for m in now],
                "p90": [m.revenue.p90 for m in now],
                "deals": [deals_text(m.won_deals.p10, m.won_deals.p50, m.won_deals.p90, locale)
                          for m in now],
            }
        )  # fmt: skip
        columns: tuple[Column, ...] = (Column("name", f"forecast.col.{kind}"), *SCOPE_COLUMNS)
        if kind == "seller":
            goals = [seller_goals.get(s.id) for s in scopes]
            values["goal"] = [g.goal if g else None for g in goals]
            values["chance"] = [100.0 * g.probability if g else None for g in goals]
            values["risk"] = [risk_cell(g.risk if g else None, locale) for g in goals]
            values["gap"] = [g.gap if g else None for g in goals]
            columns = (*columns, *GOAL_COLUMNS)
        c.table(values, columns, view=view, name=f"forecast_by_{kind}", currency=currency,
                title=t(f"forecast.col.{kind}", locale))  # fmt: skip
    if result.sellers or len(result.pipelines) > 1:
        st.caption(t("forecast.scopes_caption", locale))


def pipeline_name(labels: Labels, pipeline_id: int | None, locale: Locale) -> str:
    # Labels' own fallbacks are English; a pipeline the dimensions lack is named here.
    name = labels.pipelines.get(pipeline_id) if pipeline_id is not None else None
    return name or t("forecast.unknown_pipeline", locale, id=pipeline_id)


def stage_name(labels: Labels, pipeline_id: int, status_id: int, locale: Locale) -> str:
    name = labels.stages.get((pipeline_id, status_id))
    return name or t("forecast.unknown_stage", locale, id=status_id)


def seller_name(labels: Labels, user_id: int | None, locale: Locale) -> str:
    if user_id is None:
        return t("forecast.company", locale)
    return labels.sellers.get(user_id) or t("forecast.unknown_seller", locale, id=user_id)


def weighted_section(view: View, result: Forecast, labels: Labels, currency: str | None) -> None:
    """The open pipeline by stage, each stage's win probability with the closed deals behind
    it, and the value weighted by each deal's own chance."""
    summary = result.open_pipeline
    if summary is None:
        return
    locale = view.locale
    st.subheader(t("forecast.weighted", locale), help=c.tip("concept.weighted_pipeline", locale))
    stages = labels.open_stages(summary)
    st.markdown(
        t("forecast.weighted_total", locale,
          deals=i18n.number(summary.open_deals, locale),
          value=c.fmt_money(sum(s.open_value for s in stages), currency, locale),
          weighted=c.fmt_money(summary.weighted_value, currency, locale))
    )  # fmt: skip
    if not stages:
        st.info(t("forecast.no_open", locale))
        return
    pipelines = [pipeline_name(labels, s.pipeline_id, locale) for s in stages]
    stage_names = [stage_name(labels, s.pipeline_id, s.status_id, locale) for s in stages]
    names = [f"{p} · {n}" for p, n in zip(pipelines, stage_names, strict=True)]
    fig = go.Figure()
    for name_key, values, colour in (
        ("forecast.col.value", [s.open_value for s in stages], "#BAB0AC"),
        ("forecast.col.weighted", [s.weighted_value for s in stages], P50_COLOUR),
    ):
        fig.add_bar(
            y=names, x=values, orientation="h", name=t(name_key, locale), marker_color=colour,
            customdata=[t("forecast.weighted_hover", locale, stage=n,
                          value=c.fmt_money(s.open_value, currency, locale),
                          weighted=c.fmt_money(s.weighted_value, currency, locale),
                          chance=share(s.probability, locale),
                          closed=i18n.number(s.closed_deals, locale))
                        for n, s in zip(names, stages, strict=True)],
            hovertemplate="%{customdata}<extra></extra>",
        )  # fmt: skip
    fig.update_layout(barmode="group")
    charts.localise(
        fig, locale, height=140 + 44 * len(stages), y=charts.Axis("category"),
        x=charts.Axis("money", title=t("forecast.axis_value", locale, currency=currency or ""),
                      currency=currency),
    )  # fmt: skip
    fig.update_layout(yaxis={"autorange": "reversed"})
    c.plot(fig, key="forecast.weighted")
    cells = pd.DataFrame(
        {
            "pipeline": pipelines,
            "stage": stage_names,
            "deals": [s.open_deals for s in stages],
            "value": [s.open_value for s in stages],
            "chance": [None if s.probability is None else 100.0 * s.probability for s in stages],
            "closed": [s.closed_deals for s in stages],
            "weighted": [s.weighted_value for s in stages],
        }
    )
    c.table(cells, WEIGHTED_COLUMNS, view=view, name="weighted_pipeline", currency=currency,
            title=t("forecast.weighted", locale))  # fmt: skip
    st.caption(t("forecast.weighted_caption", locale))
    if summary.unpriced_deals:
        st.caption(
            i18n.tn("forecast.unpriced", summary.unpriced_deals, locale,
                    value=c.fmt_money(summary.unpriced_value, currency, locale))
        )  # fmt: skip


# -- pacing, recommendations and the accuracy record -------------------------------------------


def company_pacing(result: Forecast) -> dict[date, Pacing]:
    return {p.month: p for p in result.pacing if p.user_id is None}


def per_day(value: float | None, digits: int, locale: Locale) -> str:
    return "—" if value is None else c.fmt_number(value, locale, digits)


def pacing_text(p: Pacing, currency: str | None, locale: Locale) -> str:
    """What a goal asks of each working day left, in one sentence."""
    if p.remaining <= 0:
        return t("forecast.pacing.reached", locale)
    if p.revenue_per_day is None:
        return t("forecast.pacing.no_days", locale,
                 remaining=c.fmt_money(p.remaining, currency, locale))  # fmt: skip
    return t("forecast.pacing.text", locale,
             revenue=c.fmt_money(p.revenue_per_day, currency, locale),
             deals=per_day(p.deals_per_day, 1, locale),
             days=i18n.number(p.working_days_left, locale),
             remaining=c.fmt_money(p.remaining, currency, locale))  # fmt: skip


def pacing_section(view: View, result: Forecast, labels: Labels, currency: str | None) -> None:
    """Per goal of the forecast's months: still to win, working days left, and so the revenue
    and won deals it takes per working day."""
    if not result.pacing:
        return
    locale = view.locale
    rows = result.pacing
    st.subheader(t("forecast.pacing", locale), help=c.tip("concept.goal_chance", locale))
    values = pd.DataFrame(
        {
            "month": [month_name(p.month, locale) for p in rows],
            "who": [seller_name(labels, p.user_id, locale) for p in rows],
            "goal": [p.goal for p in rows],
            "remaining": [p.remaining for p in rows],
            "days": [p.working_days_left for p in rows],
            "per_day": [p.revenue_per_day for p in rows],
            "deals": [p.deals_needed for p in rows],
            "deals_per_day": [p.deals_per_day for p in rows],
        }
    )
    c.table(values, PACING_COLUMNS, view=view, name="forecast_pacing", currency=currency,
            title=t("forecast.pacing", locale))  # fmt: skip
    st.caption(t("forecast.pacing_caption", locale))
    st.caption(t("calendar.label", locale,
                 calendar=i18n.holiday_calendar(result.calendar, locale)))  # fmt: skip


def _value(r: Recommendation, key: str) -> float | None:
    value = r.numbers.get(key)
    return None if value is None else float(value)


def recommendation_text(r: Recommendation, labels: Labels, currency: str | None,
                        locale: Locale) -> str:  # fmt: skip
    """A recommendation in the reader's language, naming the numbers it rests on."""

    def money(key: str) -> str:
        return c.fmt_money(_value(r, key), currency, locale)

    def count(key: str) -> str:
        return c.fmt_number(_value(r, key), locale)

    def rate(key: str) -> str:
        return share(_value(r, key), locale)

    month = month_name(r.month, locale)
    if r.key == "close_gap":
        kind = ("close_gap" if r.numbers.get("leads_needed") is not None
                else "close_gap_deals" if r.numbers.get("deals_needed") is not None
                else "close_gap_only")  # fmt: skip
        return t(f"forecast.rec.{kind}", locale, month=month, gap=money("gap"), p50=money("p50"),
                 goal=money("goal"), deals=count("deals_needed"), ticket=money("average_ticket"),
                 leads=count("leads_needed"), rate=rate("lead_to_win_rate"))  # fmt: skip
    if r.key == "largest_drop":
        pipeline = int(_value(r, "pipeline_id") or 0)
        following = r.numbers.get("next_status_id")
        return t("forecast.rec.largest_drop", locale,
                 pipeline=pipeline_name(labels, pipeline, locale),
                 stage=stage_name(labels, pipeline, int(_value(r, "status_id") or 0), locale),
                 next=(stage_name(labels, pipeline, int(following), locale)
                       if following is not None else t("forecast.rec.won", locale)),
                 rate=rate("drop_rate"), left=count("deals_left"), open=count("open_deals"),
                 stale=count("stale_deals"), days=count("stale_days"))  # fmt: skip
    return t("forecast.rec.seller_at_risk", locale, seller=seller_name(labels, r.user_id, locale),
             month=month, chance=rate("probability"), goal=money("goal"), p50=money("p50"),
             gap=money("gap"), open=count("open_deals"), stale=count("stale_deals"),
             days=count("stale_days"))  # fmt: skip


def recommendations_section(view: View, result: Forecast, labels: Labels,
                            currency: str | None) -> None:  # fmt: skip
    locale = view.locale
    st.subheader(t("forecast.recommendations", locale))
    if not result.recommendations:
        st.caption(t("forecast.no_recommendations", locale))
        return
    lines = [recommendation_text(r, labels, currency, locale) for r in result.recommendations]
    st.markdown("\n".join(f"- {line}" for line in lines))
    st.caption(t("forecast.recommendations_caption", locale))


def scored_range(s: ScoredSnapshot | None, currency: str | None, locale: Locale) -> str:
    if s is None:
        return ""
    return t("forecast.accuracy.range", locale, p10=c.fmt_money(s.p10, currency, locale),
             p90=c.fmt_money(s.p90, currency, locale),
             p50=c.fmt_money(s.p50, currency, locale))  # fmt: skip


def inside_cell(s: ScoredSnapshot | None, locale: Locale) -> str:
    if s is None:
        return ""
    return t("forecast.accuracy.inside" if s.inside else "forecast.accuracy.outside", locale)


def error_cell(s: ScoredSnapshot | None, currency: str | None, locale: Locale) -> str:
    """The P50's error, signed (positive: the forecast was too high) and as a share."""
    if s is None:
        return ""
    amount = c.fmt_money(s.error, currency, locale)
    if s.error > 0:
        amount = f"+{amount}"
    if s.relative_error is None:
        return amount
    relative = c.fmt_pct(100.0 * s.relative_error, locale)
    return t("forecast.accuracy.error", locale, amount=amount,
             share=f"+{relative}" if s.relative_error > 0 else relative)  # fmt: skip


def accuracy_summary(record: Accuracy, locale: Locale) -> str:
    parts = []
    if record.scored_before_month:
        parts.append(t("forecast.accuracy.before_summary", locale,
                       inside=i18n.number(record.inside_before_month, locale),
                       scored=i18n.number(record.scored_before_month, locale)))  # fmt: skip
    if record.scored_mid_month:
        parts.append(t("forecast.accuracy.mid_summary", locale,
                       inside=i18n.number(record.inside_mid_month, locale),
                       scored=i18n.number(record.scored_mid_month, locale)))  # fmt: skip
    return i18n.tn("forecast.accuracy.summary", len(record.months), locale,
                   parts="; ".join(parts))  # fmt: skip


def accuracy_section(view: View, scope: metrics_data.Request, currency: str | None) -> None:
    """The forecasts shown before and during each closed month against what was won in it."""
    locale = view.locale
    st.subheader(t("forecast.accuracy", locale), help=c.tip("concept.forecast_range", locale))
    if view.allowed_sellers is not None:
        # The record is the company's revenue, whatever the filters: not for a seller's view.
        st.caption(t("auth.company_figures_hidden", locale))
        return
    loaded, error = metrics_data.safe(lambda: metrics_data.load_accuracy(scope))
    if error is not None:
        c.show_error(error, locale)
        return
    record: Accuracy = loaded
    if not record.months:
        st.caption(t("forecast.accuracy.empty", locale))
        return
    st.markdown(accuracy_summary(record, locale))
    months = record.months
    befores = [m.before_month for m in months]
    mids = [m.mid_month for m in months]
    # A scored forecast reads as one sentence-like cell ("R$ 10 – 20 mil, P50 …"): the files
    # hold it as shown.
    values = pd.DataFrame(
        {
            "month": [month_name(m.month, locale) for m in months],
            "actual": [m.actual for m in months],
            "before": [scored_range(s, currency, locale) for s in befores],
            "before_inside": [inside_cell(s, locale) for s in befores],
            "before_error": [error_cell(s, currency, locale) for s in befores],
            "mid": [scored_range(s, currency, locale) for s in mids],
            "mid_inside": [inside_cell(s, locale) for s in mids],
            "mid_error": [error_cell(s, currency, locale) for s in mids],
        }
    )
    c.table(values, ACCURACY_COLUMNS, view=view, name="forecast_accuracy", currency=currency,
            title=t("forecast.accuracy", locale))  # fmt: skip
    st.caption(t("forecast.accuracy.caption", locale))


def method_text(name: str, method: str, months: int, locale: Locale) -> str:
    """Which model projected a series of leads not yet created, and why, in words."""
    kind = method
    if method == "recent_mean" and months >= TREND_MONTHS:
        kind = "smoothing_failed"  # enough history, but the smoothing did not fit
    return t(f"forecast.method.{kind}", locale, series=t(f"forecast.series.{name}", locale),
             months=i18n.number(months, locale))  # fmt: skip


def method_section(view: View, result: Forecast) -> None:
    new = result.new_leads
    if new is None:
        return
    locale = view.locale
    series = (new.volume, new.wins_per_lead, new.revenue_per_lead)
    lines = [method_text(s.name, s.method, len(s.history), locale) for s in series]
    fallback = [s for s in series if s.method in FALLBACK_METHODS]
    with st.expander(t("forecast.method", locale), expanded=bool(fallback)):
        st.markdown(t("forecast.method_intro", locale,
                      months=i18n.number(result.closed_months, locale),
                      draws=i18n.number(result.draws, locale)))  # fmt: skip
        st.markdown("\n".join(f"- {line}" for line in lines))
    if fallback:
        st.warning(t("forecast.fallback", locale), icon=":material/info:")


def forecast_section(view: View, scope: metrics_data.Request, report: Report) -> None:
    """Everything the forecast says, or what it lacks; a failure here leaves the facts below."""
    locale, currency = view.locale, report.currency
    loaded, error = metrics_data.safe(lambda: metrics_data.load_forecast(scope))
    if error is not None:
        c.show_error(error, locale)
        return
    result: Forecast = loaded
    st.caption(t("forecast.caption", locale,
                 now=i18n.moment(result.now, view.zone, locale),
                 draws=i18n.number(result.draws, locale), seed=result.seed))  # fmt: skip
    if result.status != "ok" or result.company is None:
        st.info(insufficient_text(result, locale), icon=":material/hourglass_empty:")
        accuracy_section(view, scope, currency)
        return
    names, error = metrics_data.safe(
        lambda: metrics_data.load_forecast_labels(scope.url, scope.version)
    )
    if error is not None:
        c.show_error(error, locale)
        return
    labels: Labels = names
    ranges_section(view, result, currency)
    scopes_section(view, result, labels, currency)
    pacing_section(view, result, labels, currency)
    recommendations_section(view, result, labels, currency)
    weighted_section(view, result, labels, currency)
    method_section(view, result)
    accuracy_section(view, scope, currency)


def insufficient_text(result: Forecast, locale: Locale) -> str:
    """The forecast's statement of what history is missing, in the reader's language."""
    return i18n.tn("forecast.insufficient", result.closed_months, locale)


# -- the page -----------------------------------------------------------------------------------


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("forecast.title", locale))
    page = c.page_report(view, SECTIONS)
    if page is None:
        return
    scope, report = page.scope, page.report
    subdomain = view.account.subdomain if view.account is not None else None
    subdomain = subdomain or report.model.get("subdomain") or None
    forecast_section(view, scope, report)
    st.divider()
    month_section(view, report)
    pipeline_section(view, scope, report, subdomain)


if __name__ == "__main__":
    render()

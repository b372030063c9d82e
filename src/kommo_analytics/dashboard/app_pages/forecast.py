"""6 Forecast. The forecasting model (P10/P50/P90 ranges, their backtested accuracy,
recommendations) is not built yet, and this page says so instead of dressing a run-rate up as a
forecast. Until it exists the page shows facts only, from the report's `forecast` block: what
was won this month against the month's goal, what that leaves per working day, and the deals
open right now by pipeline stage.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import data, filters, metrics_data
from kommo_analytics.dashboard.filters import View
from kommo_analytics.dashboard.goals import (
    GOALS_COMMAND,
    GOALS_FORMAT,
    month_label,
    needed_per_working_day,
    needed_text,
)
from kommo_analytics.metrics.results import OpenStage, Report, section
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

# The report sections this page shows: only their queries run.
SECTIONS = ("forecast",)


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
        c.kpi(t("forecast.card.so_far", locale), c.fmt_money(so_far, currency, locale),
              locale=locale, help_key="forecast.month_revenue_to_date")  # fmt: skip
    with cols[1]:
        c.kpi(t("forecast.card.won", locale), c.fmt_number(f.month_won_deals, locale),
              locale=locale, help_key="forecast.month_won_deals")  # fmt: skip
    with cols[2]:
        c.kpi(t("forecast.card.working_days", locale), i18n.number(days, locale),
              locale=locale, help_key="forecast.working_days_left",
              note=t("forecast.calendar_days", locale,
                     days=i18n.number(f.days_left_in_month, locale)))  # fmt: skip
    if goal is None:
        # No goal card at all (an empty one would read as "0"): the import hint instead.
        st.info(t("forecast.no_goal", locale, month=month, command=GOALS_COMMAND,
                  format=GOALS_FORMAT))  # fmt: skip
        return
    needed = needed_per_working_day(goal, so_far, days)
    cols = st.columns(3)
    with cols[0]:
        c.kpi(t("forecast.card.goal", locale), c.fmt_money(goal, currency, locale),
              locale=locale, help_key="forecast.month_goal")  # fmt: skip
    with cols[1]:
        c.kpi(t("forecast.card.gap", locale),
              c.fmt_money(f.month_gap_to_goal, currency, locale), locale=locale,
              help_key="forecast.month_gap_to_goal", good_when="lower")  # fmt: skip
    with cols[2]:
        c.kpi(t("forecast.card.needed", locale),
              needed_text(needed, goal, so_far, currency, locale), locale=locale,
              note=t("forecast.needed_note", locale))  # fmt: skip
    progress(view, so_far, goal, currency)


def progress(view: View, revenue: float, goal: float, currency: str | None) -> None:
    """Revenue so far against the goal, as a bar: a fact, with no projected line."""
    locale = view.locale
    fig = go.Figure()
    fig.add_bar(y=[""], x=[revenue], orientation="h", marker_color="#54A24B",
                name=t("forecast.card.so_far", locale),
                text=[c.fmt_money(revenue, currency, locale)],
                hovertemplate="%{text}<extra></extra>")  # fmt: skip
    fig.add_vline(x=goal, line_width=3, line_dash="dash", line_color="#E45756",
                  annotation_text=t("forecast.card.goal", locale),
                  annotation_position="top")  # fmt: skip
    fig.update_layout(height=170, showlegend=False,
                      xaxis={"range": [0, max(revenue, goal) * 1.15 or 1]})  # fmt: skip
    c.plot(fig, key="forecast.progress")


# -- open pipeline ------------------------------------------------------------------------------


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
        textposition="auto", hovertemplate="%{y}<br>%{text}<extra></extra>",
    )  # fmt: skip
    fig.update_layout(
        height=120 + 30 * len(rows),
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"title": t("forecast.axis_value", locale, currency=currency or "")},
        showlegend=False,
    )
    c.plot(fig, key="forecast.pipeline")
    shown = pd.DataFrame(
        {
            "pipeline": [pipelines.get(int(r.pipeline_id), str(r.pipeline_id))
                         for r in rows],
            "stage": [r.name or t("forecast.unknown_stage", locale, id=r.status_id)
                      for r in rows],
            "deals": [c.fmt_number(r.deals, locale) for r in rows],
            "value": [c.fmt_money(r.value, currency, locale) for r in rows],
        }
    )  # fmt: skip
    columns = {
        "pipeline": ("forecast.col.pipeline", "forecast.open_pipeline.pipeline_id"),
        "stage": ("forecast.col.stage", "forecast.open_pipeline.name"),
        "deals": ("forecast.col.deals", "forecast.open_pipeline.deals"),
        "value": ("forecast.col.value", "forecast.open_pipeline.value"),
    }
    config = c.text_columns(
        columns, locale, left=[k for k in columns if k not in ("deals", "value")]
    )
    export = pd.DataFrame(
        {
            t("forecast.col.pipeline_id", locale): [r.pipeline_id for r in rows],
            t("forecast.col.pipeline", locale): shown["pipeline"],
            t("forecast.col.status_id", locale): [r.status_id for r in rows],
            t("forecast.col.stage", locale): shown["stage"],
            t("forecast.col.deals", locale): [r.deals for r in rows],
            t("forecast.col.value", locale): [r.value for r in rows],
        }
    )
    c.table(shown, view=view, name="open_pipeline", column_config=config, export=export)
    options = [
        (t("forecast.drill_stage", locale, stage=label, count=i18n.number(r.deals, locale)),
         "open", (("pipeline_id", int(r.pipeline_id)), ("status_id", int(r.status_id))))
        for label, r in zip(labels, rows, strict=True)
        if r.deals
    ]  # fmt: skip
    c.drill_down(view, scope, options=options, basis="open", key="forecast_open",
                 currency=currency, subdomain=subdomain)  # fmt: skip


# -- the page -----------------------------------------------------------------------------------


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("forecast.title", locale))
    page = c.page_report(view, SECTIONS)
    if page is None:
        return
    scope, report = page.scope, page.report
    st.info(t("forecast.not_built", locale), icon=":material/construction:")
    subdomain = view.account.subdomain if view.account is not None else None
    subdomain = subdomain or report.model.get("subdomain") or None
    month_section(view, report)
    pipeline_section(view, scope, report, subdomain)


if __name__ == "__main__":
    render()

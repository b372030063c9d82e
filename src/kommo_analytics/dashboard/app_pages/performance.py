"""5 Performance: who sells, against which goal, from which channel, and what each channel
returned on its cost. The ranking, goals and channel figures are the report's (module 5 of
`kommo-analytics metrics --json` for the same period and filters); the month's pacing and the
seller × channel conversion come from the series behind them.
"""

from __future__ import annotations

import math
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kommo_analytics.dashboard import charts, filters, metrics_data
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import goals as add_inputs
from kommo_analytics.dashboard.export import Column
from kommo_analytics.dashboard.filters import View, channel_label
from kommo_analytics.dashboard.goals import (
    month_label,
    needed_per_working_day,
    needed_text,
)
from kommo_analytics.metrics.results import Channel, Report, section
from kommo_analytics.service import reports
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

SERIES: Final = ("seller_channel", "seller_month_pacing")

# The report sections this page shows: only their queries run.
SECTIONS = ("leads", "channels", "marketing", "sellers", "goals_imported", "forecast")


# -- pure rules ---------------------------------------------------------------------------------


def seller_label(user_id: Any, names: dict[int, str | None], locale: Locale) -> str:
    """A seller's name from the report; a lead with nobody responsible, or a user gone from
    the account's list, still gets a line people can read."""
    if user_id is None or pd.isna(user_id) or int(user_id) == 0:
        return t("performance.nobody", locale)
    name = names.get(int(user_id))
    return name if name else t("performance.unknown_user", locale, id=int(user_id))


def conversion_matrix(
    frame: pd.DataFrame, sellers: list[int], channels: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The seller × channel grid of `series.seller_channel`: conversion % (won ÷ leads × 100,
    as `channels.conversion_pct` is defined), leads and won. Rows in `sellers` order, columns in
    `channels` order; a cell with no lead is empty (NaN), not 0 %."""
    if frame.empty:
        empty = pd.DataFrame(index=pd.Index([], dtype=object), columns=channels, dtype=float)
        return empty, empty.copy(), empty.copy()
    # -1 stands for "nobody responsible": a pivot cannot index by a missing value.
    data = frame.assign(
        _s=[-1 if pd.isna(u) else int(u) for u in frame["responsible_user_id"]],
        leads=pd.to_numeric(frame["leads"]).astype(float),
        won=pd.to_numeric(frame["won"]).astype(float),
    )
    leads = data.pivot_table(index="_s", columns="channel", values="leads", aggfunc="sum")
    won = data.pivot_table(index="_s", columns="channel", values="won", aggfunc="sum")
    order = [s for s in sellers if s in leads.index]
    order += [s for s in leads.index if s not in order]  # nobody responsible, last
    columns = [ch for ch in channels if ch in leads.columns]
    columns += [ch for ch in leads.columns if ch not in columns]
    leads = leads.reindex(index=order, columns=columns)
    won = won.reindex(index=order, columns=columns).where(leads > 0)
    leads = leads.where(leads > 0)
    conversion = 100.0 * won / leads
    return conversion, leads, won


# -- ranking ------------------------------------------------------------------------------------

RANKING: Final = (
    Column("rank", "performance.col.rank", "integer", tip="sellers.rank"),
    Column("seller", "performance.col.seller", tip="sellers.name"),
    Column("leads", "performance.col.leads", "integer", tip="sellers.leads"),
    Column("won", "performance.col.won", "integer", tip="sellers.won"),
    Column("lost", "performance.col.lost", "integer", tip="sellers.lost"),
    Column("win_rate", "performance.col.win_rate", "percent", tip="sellers.win_rate_pct"),
    Column("revenue", "performance.col.revenue", "money", tip="sellers.revenue"),
    Column("avg_ticket", "performance.col.avg_ticket", "money", tip="sellers.avg_ticket"),
    Column("response", "performance.col.response", "hours",
           tip="sellers.response_time_avg_hours"),
    Column("tasks", "performance.col.tasks", "integer", tip="sellers.tasks_completed"),
    Column("calls", "performance.col.calls", "integer", tip="sellers.calls"),
    Column("goal", "performance.col.goal", "money", tip="sellers.goal"),
    Column("attainment", "performance.col.attainment", "percent", tip="sellers.attainment_pct"),
)  # fmt: skip
# The report's field behind each column.
RANKING_FIELDS: Final[dict[str, str]] = {
    "rank": "rank", "seller": "name", "leads": "leads", "won": "won", "lost": "lost",
    "win_rate": "win_rate_pct", "revenue": "revenue", "avg_ticket": "avg_ticket",
    "response": "response_time_avg_hours", "tasks": "tasks_completed", "calls": "calls",
    "goal": "goal", "attainment": "attainment_pct",
}  # fmt: skip


CHANNEL_COLUMNS: Final = (
    Column("channel", "performance.col.channel", tip="channels.channel"),
    Column("leads", "performance.col.leads", "integer", tip="channels.leads"),
    Column("won", "performance.col.won_to_date", "integer", tip="channels.won"),
    Column("revenue", "performance.col.revenue", "money", tip="channels.revenue"),
    Column("cost", "performance.col.cost", "money", tip="channels.cost"),
    Column("cpl", "performance.col.cpl", "money", tip="channels.cpl"),
    Column("roi", "performance.col.roi", "percent", tip="channels.roi_pct"),
)
CHANNEL_FIELDS: Final = {
    "leads": "leads", "won": "won", "revenue": "revenue", "cost": "cost", "cpl": "cpl",
    "roi": "roi_pct",
}  # fmt: skip


def ranking_section(view: View, scope: metrics_data.Request, report: Report,
                    names: dict[int, str | None], subdomain: str | None,
                    sla: float) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    rows = section(report.sellers, "sellers")
    st.subheader(t("performance.ranking", locale), help=c.tip("sellers", locale))
    if not rows:
        st.info(t("performance.no_sellers", locale))
        return
    own_only = view.allowed_sellers is not None
    st.caption(t("performance.ranking_caption_own" if own_only else "performance.ranking_caption",
                 locale))  # fmt: skip

    values = pd.DataFrame(
        [
            {
                key: seller_label(r.user_id, names, locale)
                if key == "seller"
                else getattr(r, field)
                for key, field in RANKING_FIELDS.items()
            }
            for r in rows
        ],
        columns=list(RANKING_FIELDS),
    )
    if own_only:
        values = with_team_median(view, scope, values, sla)
    c.table(values, RANKING, view=view, name="sellers", currency=currency,
            title=t("performance.ranking", locale))  # fmt: skip
    if not section(report.goals_imported, "goals_imported"):
        st.caption(t("performance.goal_columns_empty", locale))
    # Leads and response times are counted by creation date, won/lost/revenue by closing date:
    # each seller has both lists, so the rows behind every column can be opened.
    options: list[tuple[str, str, tuple[tuple[str, Any], ...]]] = []
    for r in rows:
        label = seller_label(r.user_id, names, locale)
        where = (("responsible_user_id", int(r.user_id)),)
        if r.leads:
            options.append((t("performance.drill_created", locale, seller=label,
                              count=i18n.number(r.leads, locale)), "created", where))  # fmt: skip
        if r.won or r.lost:
            options.append((t("performance.drill_closed", locale, seller=label,
                              count=i18n.number(r.won + r.lost, locale)), "closed", where))  # fmt: skip
    c.drill_down(view, scope, options=options, basis="created", key="performance_sellers",
                 currency=currency, subdomain=subdomain)  # fmt: skip
    revenue_chart(view, report, names)


def with_team_median(view: View, scope: metrics_data.Request, values: pd.DataFrame,
                     sla: float) -> pd.DataFrame:  # fmt: skip
    """A seller's own rows (their rank among themselves means nothing, so it is left out) and
    the team's median below them, as the service computed it: no other seller's row."""
    locale = view.locale
    values = values.assign(rank=None)
    median, error = metrics_data.safe(lambda: metrics_data.load_team_median(scope, sla))
    if error is not None:
        c.show_error(error, locale)
        return values
    if median is None:
        st.caption(t("performance.team_median_hidden", locale,
                     count=reports.TEAM_MEDIAN_MIN_SELLERS))  # fmt: skip
        return values
    label = t("performance.team_median", locale, count=i18n.number(median.sellers, locale))
    row = {key: (label if key == "seller" else None if key == "rank" else median.values.get(field))
           for key, field in RANKING_FIELDS.items()}  # fmt: skip
    return pd.concat([values, pd.DataFrame([row])], ignore_index=True)


def revenue_chart(view: View, report: Report, names: dict[int, str | None]) -> None:
    locale, currency = view.locale, report.currency
    rows = [r for r in section(report.sellers, "sellers") if r.revenue or r.goal is not None]
    st.subheader(t("performance.revenue_chart", locale), help=c.tip("sellers.revenue", locale))
    if not rows:
        st.info(t("performance.no_revenue", locale))
        return
    labels = [seller_label(r.user_id, names, locale) for r in rows]
    revenue_name = t("performance.col.revenue", locale)
    fig = go.Figure()
    fig.add_bar(
        y=labels, x=[r.revenue for r in rows], orientation="h", name=revenue_name,
        marker_color=charts.WON_COLOUR,
        text=[c.fmt_money(r.revenue, currency, locale) for r in rows],
        customdata=[charts.lines(label, charts.named(revenue_name,
                                                     c.fmt_money(r.revenue, currency, locale)))
                    for label, r in zip(labels, rows, strict=True)],
        hovertemplate=charts.HOVER,
    )  # fmt: skip
    with_goal = [(label, r) for label, r in zip(labels, rows, strict=True) if r.goal is not None]
    if with_goal:
        goal_name = t("performance.goal_marker", locale)
        fig.add_scatter(
            y=[label for label, _ in with_goal], x=[r.goal for _, r in with_goal],
            mode="markers", name=goal_name,
            marker={"symbol": "diamond", "size": 12, "color": charts.GOAL_COLOUR},
            customdata=[charts.lines(label, charts.named(goal_name,
                                                         c.fmt_money(r.goal, currency, locale)))
                        for label, r in with_goal],
            hovertemplate=charts.HOVER,
        )  # fmt: skip
    fig.update_layout(showlegend=bool(with_goal))
    charts.localise(
        fig, locale, height=120 + 32 * len(rows),
        x=charts.Axis("money", title=t("performance.axis_revenue", locale, currency=currency or ""),
                      currency=currency),
        y=charts.Axis("category"),
    )  # fmt: skip
    fig.update_layout(yaxis={"autorange": "reversed"})
    c.plot(fig, key="performance.revenue")
    if not section(report.goals_imported, "goals_imported"):
        st.caption(t("performance.no_goal_markers", locale))


# -- goals and pacing ---------------------------------------------------------------------------


def goals_missing(locale: Locale) -> None:
    add_inputs.missing(t("performance.no_goals", locale, action=add_inputs.action("goals", locale)),
                  "goals", locale)  # fmt: skip


def pacing_section(view: View, report: Report, pacing: pd.DataFrame | None,
                   names: dict[int, str | None]) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    f = section(report.forecast, "forecast")
    month = month_label(f.month, locale)
    st.subheader(t("performance.pacing", locale, month=month),
                 help=c.tip("forecast.month_goal", locale))  # fmt: skip
    st.caption(t("performance.pacing_caption", locale, month=month,
                 days=i18n.number(f.working_days_left, locale)))  # fmt: skip
    if not section(report.goals_imported, "goals_imported"):
        goals_missing(locale)
        return
    goal, so_far, days = f.month_goal, f.month_revenue_to_date, f.working_days_left
    if goal is None:
        add_inputs.missing(t("performance.no_month_goal", locale, month=month,
                        action=add_inputs.action("goals", locale)), "goals", locale)  # fmt: skip
        return
    needed = needed_per_working_day(goal, so_far, days)
    # Two by two: four amounts side by side do not fit their cards beside the sidebar.
    cols = [*st.columns(2), *st.columns(2)]
    with cols[0]:
        c.kpi(t("performance.card.so_far", locale), c.card_money(so_far, currency, locale),
              locale=locale, help_key="forecast.month_revenue_to_date")  # fmt: skip
    with cols[1]:
        c.kpi(t("performance.card.goal", locale), c.card_money(goal, currency, locale),
              locale=locale, help_key="forecast.month_goal")  # fmt: skip
    with cols[2]:
        c.kpi(t("performance.card.gap", locale),
              c.card_money(f.month_gap_to_goal, currency, locale), locale=locale,
              help_key="forecast.month_gap_to_goal", good_when="lower")  # fmt: skip
    with cols[3]:
        c.kpi(t("performance.card.needed", locale), needed_text(needed, goal, so_far, currency,
              locale), locale=locale, help_key="forecast.working_days_left",
              note=t("performance.needed_note", locale,
                     days=i18n.number(days, locale)))  # fmt: skip
    seller_pacing(view, report, pacing, names, days)


# The pacing table; its own columns (no metric definition) explain themselves in `*_help`.
PACING: Final = (
    Column("seller", "performance.col.seller", tip="sellers.name"),
    Column("goal", "performance.col.month_goal", "money", tip="forecast.month_goal"),
    Column("so_far", "performance.col.so_far", "money", tip="forecast.month_revenue_to_date"),
    Column("share", "performance.col.share", "percent", help="performance.col.share_help"),
    Column("gap", "performance.col.gap", "money", tip="forecast.month_gap_to_goal"),
    Column("needed", "performance.col.needed", help="performance.col.needed_help"),
)


def seller_pacing(view: View, report: Report, pacing: pd.DataFrame | None,
                  names: dict[int, str | None], days: int) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    st.markdown(f"**{t('performance.pacing_sellers', locale)}**")
    if pacing is None:
        return  # the series failed to load: the error is already on the page
    if pacing.empty:
        st.info(t("performance.no_seller_goals", locale,
                  month=month_label(section(report.forecast, "forecast").month, locale)))  # fmt: skip
        return
    rows: list[dict[str, Any]] = []
    for record in pacing.to_dict("records"):  # one row per seller with a goal: a handful
        goal, so_far = float(record["goal"]), float(record["revenue"])
        rows.append({
            "user_id": int(record["user_id"]),
            "seller": seller_label(record["user_id"], names, locale),
            "goal": goal,
            "so_far": so_far,
            "share": 100.0 * so_far / goal if goal else None,
            "gap": goal - so_far,
            "needed": needed_per_working_day(goal, so_far, days),
        })  # fmt: skip
    # "needed" reads as a sentence when the goal is already reached: text, as shown.
    for r in rows:
        r["needed"] = needed_text(r["needed"], r["goal"], r["so_far"], currency, locale)
    c.table(pd.DataFrame(rows), PACING, view=view, name="seller_pacing", currency=currency,
            title=t("performance.pacing_sellers", locale))  # fmt: skip


# -- seller × channel ---------------------------------------------------------------------------


def heatmap_section(view: View, scope: metrics_data.Request, report: Report,
                    frame: pd.DataFrame | None, names: dict[int, str | None],
                    subdomain: str | None) -> None:  # fmt: skip
    locale = view.locale
    st.subheader(t("performance.heatmap", locale), help=c.tip("channels.conversion_pct", locale))
    if frame is None:
        return
    if frame.empty:
        st.info(t("performance.no_leads", locale))
        return
    st.caption(t("performance.heatmap_caption", locale))
    sellers = [r.user_id for r in section(report.sellers, "sellers")]
    channels = [r.channel for r in section(report.channels, "channels")]
    conversion, leads, won = conversion_matrix(frame, sellers, channels)
    row_ids = [None if s == -1 else int(s) for s in conversion.index]
    row_labels = [seller_label(s, names, locale) for s in row_ids]
    col_labels = [channel_label(str(ch), locale) for ch in conversion.columns]

    def cell(pct: float, n_won: float, n_leads: float) -> str:
        if pd.isna(n_leads):
            return ""
        return (f"{c.fmt_pct(pct, locale)}<br>{i18n.number(int(n_won), locale)}/"
                f"{i18n.number(int(n_leads), locale)}")  # fmt: skip

    text = [
        [cell(p, w, n) for p, w, n in zip(pr, wr, nr, strict=True)]
        for pr, wr, nr in zip(conversion.values, won.values, leads.values, strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=conversion.values, x=col_labels, y=row_labels, text=text,
            texttemplate="%{text}", hovertemplate=charts.HOVER,
            customdata=[[charts.lines(f"{row} · {col}", cell) for col, cell in zip(col_labels, cells, strict=True)]
                        for row, cells in zip(row_labels, text, strict=True)],
            colorscale="Blues", zmin=0, zmax=100, xgap=2, ygap=2,
            colorbar=charts.colorbar("percent", 100, locale, "%", top=100),
        )
    )  # fmt: skip
    fig.update_layout(
        height=140 + 36 * len(row_labels),
        separators=charts.separators(locale),
        yaxis={"type": "category", "autorange": "reversed", "automargin": True,
               "showgrid": False, "fixedrange": True},
        xaxis={"type": "category", "side": "top", "showgrid": False, "fixedrange": True},
    )  # fmt: skip
    c.plot(fig, key="performance.heatmap")
    counts = leads.to_numpy(dtype=float)
    options = []
    for i, (s, label) in enumerate(zip(row_ids, row_labels, strict=True)):
        for j, (ch, ch_label) in enumerate(zip(conversion.columns, col_labels, strict=True)):
            if math.isnan(counts[i, j]):
                continue
            options.append((t("performance.drill_cell", locale, seller=label, channel=ch_label,
                              count=i18n.number(int(counts[i, j]), locale)), "created",
                            (("responsible_user_id", s), ("channel", str(ch)))))  # fmt: skip
    c.drill_down(view, scope, options=options, basis="created", key="performance_cells",
                 currency=report.currency, subdomain=subdomain)  # fmt: skip


# -- channel ROI --------------------------------------------------------------------------------


def cost_message(report: Report, locale: Locale) -> str | None:
    """Why there is no return on cost to show, and what to do about it (None when there is)."""
    if section(report.leads, "leads").cost.not_split_by_filter:
        return t("performance.costs_filtered", locale)
    if section(report.marketing, "marketing").cost is None:
        return t("performance.no_costs", locale, action=add_inputs.action("costs", locale))
    return None


def roi_section(view: View, scope: metrics_data.Request, report: Report,
                subdomain: str | None) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    st.subheader(t("performance.roi", locale), help=c.tip("channels.roi_pct", locale))
    rows = section(report.channels, "channels")
    if view.filters.channels:  # the other channels are 0 by construction
        rows = [r for r in rows if r.channel in view.filters.channels]
    message = cost_message(report, locale)
    if message:
        st.info(message)
        if section(report.marketing, "marketing").cost is None:
            add_inputs.offer("costs", locale)
    else:
        marketing = section(report.marketing, "marketing")
        cols = st.columns(3)
        with cols[0]:
            c.kpi(t("performance.card.cost", locale),
                  c.card_money(marketing.cost, currency, locale), locale=locale,
                  help_key="marketing.cost")  # fmt: skip
        with cols[1]:
            c.kpi(t("performance.card.paid_revenue", locale),
                  c.card_money(marketing.revenue, currency, locale), locale=locale,
                  help_key="marketing.revenue")  # fmt: skip
        with cols[2]:
            c.kpi(t("performance.card.roi", locale), c.fmt_pct(marketing.roi_pct, locale),
                  locale=locale, help_key="marketing.roi_pct")  # fmt: skip
        roi_chart(view, report, [r for r in rows if r.cost is not None])
    if not rows:
        st.info(t("performance.no_leads", locale))
        return

    values = pd.DataFrame(
        {
            "channel": [channel_label(r.channel, locale) for r in rows],
            **{column.key: [getattr(r, CHANNEL_FIELDS[column.key]) for r in rows]
               for column in CHANNEL_COLUMNS[1:]},
        }
    )  # fmt: skip
    c.table(values, CHANNEL_COLUMNS, view=view, name="channel_roi", currency=currency,
            title=t("performance.roi", locale))  # fmt: skip
    options = [
        (t("performance.drill_channel", locale, channel=channel_label(r.channel, locale),
           count=i18n.number(r.leads, locale)), "created", (("channel", r.channel),))
        for r in rows
        if r.leads
    ]  # fmt: skip
    c.drill_down(view, scope, options=options, basis="created", key="performance_channels",
                 currency=currency, subdomain=subdomain)  # fmt: skip


def roi_chart(view: View, report: Report, rows: list[Channel]) -> None:
    locale, currency = view.locale, report.currency
    if not rows:
        return
    labels = [channel_label(r.channel, locale) for r in rows]
    fig = go.Figure()
    for field, colour in (("cost", charts.LOST_COLOUR), ("revenue", charts.WON_COLOUR)):
        name = t(f"performance.col.{field}", locale)
        fig.add_bar(
            x=labels, y=[getattr(r, field) for r in rows], name=name, marker_color=colour,
            text=[c.fmt_money(getattr(r, field), currency, locale) for r in rows],
            customdata=[charts.lines(label, charts.named(
                name, c.fmt_money(getattr(r, field), currency, locale)))
                for label, r in zip(labels, rows, strict=True)],
            hovertemplate=charts.HOVER,
        )  # fmt: skip
    fig.update_layout(barmode="group")
    charts.localise(
        fig, locale, height=320, x=charts.Axis("category"),
        y=charts.Axis("money", title=t("performance.axis_revenue", locale, currency=currency or ""),
                      currency=currency),
    )  # fmt: skip
    c.plot(fig, key="performance.roi")


# -- the page -----------------------------------------------------------------------------------


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("performance.title", locale))
    page = c.page_report(view, SECTIONS)
    if page is None:
        return
    scope, report, sla = page.scope, page.report, page.sla
    st.caption(
        t("performance.caption", locale, range=i18n.date_range(view.start, view.end, locale),
          tz=report.period.timezone, currency=report.currency or "—")
    )  # fmt: skip
    frames, error = metrics_data.safe(lambda: metrics_data.load_series(scope, SERIES, sla))
    if error is not None:
        c.show_error(error, locale)
        frames = {}
    names: dict[int, str | None] = {r.user_id: r.name for r in section(report.sellers, "sellers")}
    subdomain = view.account.subdomain if view.account is not None else None
    subdomain = subdomain or report.model.get("subdomain") or None
    ranking_section(view, scope, report, names, subdomain, sla)
    pacing_section(view, report, frames.get("seller_month_pacing"), names)
    heatmap_section(view, scope, report, frames.get("seller_channel"), names, subdomain)
    roi_section(view, scope, report, subdomain)


if __name__ == "__main__":
    render()

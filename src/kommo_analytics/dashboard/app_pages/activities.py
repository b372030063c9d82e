"""3 Activities: tasks due and done, overdue work, meetings, calls and messages, per seller, by
weekday and hour, and over time. The cards are the numbers `kommo-analytics metrics --json`
prints for the same period and filters (module 3); the per-seller table, the overdue list and
the charts draw the series behind them (:func:`series.activity_by_seller` and friends), which
count the same tasks and events. The overdue list is of the tasks due in the period (the card
counts every overdue task), read a page at a time, the most recently due first.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from babel.dates import get_day_names

from kommo_analytics.dashboard import charts, filters, metrics_data
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard.export import Column
from kommo_analytics.dashboard.filters import View
from kommo_analytics.metrics import series
from kommo_analytics.metrics.common import pct
from kommo_analytics.metrics.results import Report, section
from kommo_analytics.service.pages import Page
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

# The overdue tasks are not a series: they are read a page at a time (service/pages.py).
SERIES: Final = ("activity_by_seller", "activity_heatmap", "activities_by_day")
MEDIA: Final = ("call", "chat", "mail", "sms")  # the order of the stack, most personal first
MEDIUM_COLOURS: Final = {"call": "#4C78A8", "chat": "#54A24B", "mail": "#F58518", "sms": "#B279A2"}
KNOWN_KINDS: Final = ("follow_up", "meeting")  # other kinds keep the account's own type name

# The report sections this page shows: only their queries run.
SECTIONS = ("activities", "sellers")
COMPARED_SECTIONS = ("activities",)  # what the change against the comparison period needs


# -- KPI cards ----------------------------------------------------------------------------------

# card → (definition key, format, rate?, lower is better?); one row of four per line.
CARDS: Final[tuple[tuple[str, str, str, bool, bool], ...]] = (
    ("tasks_total", "activities.tasks_total", "number", False, False),
    ("tasks_completed", "activities.tasks_completed", "number", False, False),
    ("completion_rate_pct", "activities.completion_rate_pct", "pct", True, False),
    ("on_time_rate_pct", "activities.on_time_rate_pct", "pct", True, False),
    ("overdue", "activities.overdue", "number", False, True),
    ("meetings_scheduled", "activities.meetings_scheduled", "number", False, False),
    ("meetings_held", "activities.meetings_held", "number", False, False),
    ("call_minutes", "activities.call_minutes", "minutes", False, False),
    ("calls_outgoing", "activities.calls_outgoing", "number", False, False),
    ("calls_incoming", "activities.calls_incoming", "number", False, False),
    ("messages_outgoing", "activities.messages_outgoing", "number", False, False),
    ("messages_incoming", "activities.messages_incoming", "number", False, False),
)


def card_values(report: Report) -> dict[str, float | None]:
    acts = section(report.activities, "activities")
    values = {card: getattr(acts, card) for card, *_ in CARDS}
    return {card: None if value is None else float(value) for card, value in values.items()}


def formatted(kind: str, value: float | None, locale: Locale) -> str:
    if kind == "pct":
        return c.fmt_pct(value, locale)
    if kind == "minutes":
        return (
            "—" if value is None else t("unit.minutes", locale, value=c.fmt_number(value, locale))
        )
    return c.fmt_number(value, locale)


def card_note(card: str, report: Report, locale: Locale) -> str | None:
    acts = section(report.activities, "activities")
    if card == "completion_rate_pct" and acts.completion_rate_pct is None:
        return t("activities.no_tasks_due", locale)
    if card == "on_time_rate_pct" and acts.on_time_rate_pct is None:
        return t("activities.no_tasks_done", locale)
    if card == "overdue":
        return t("activities.overdue_note", locale,
                 count=c.fmt_number(acts.overdue_in_period, locale))  # fmt: skip
    return None


def cards(view: View, report: Report, previous: Report | None) -> None:
    locale = view.locale
    now = card_values(report)
    before = card_values(previous) if previous else {}
    for start in range(0, len(CARDS), 4):
        row = CARDS[start : start + 4]
        for column, (card, help_key, kind, rate, lower) in zip(
            st.columns(len(row)), row, strict=True
        ):
            with column:
                value = now[card]
                # Overdue is counted at "now" whatever the period: both periods see the same.
                delta = None if card == "overdue" else before.get(card)
                c.kpi(
                    t(f"activities.card.{card}", locale),
                    formatted(kind, value, locale),
                    locale=locale,
                    help_key=help_key,
                    delta=c.change(value, delta, locale, points=rate),
                    good_when="lower" if lower else "higher",
                    note=card_note(card, report, locale),
                )
    acts = section(report.activities, "activities")
    st.caption(
        t("activities.other_media", locale,
          emails_out=c.fmt_number(acts.emails_outgoing, locale),
          emails_in=c.fmt_number(acts.emails_incoming, locale),
          sms_out=c.fmt_number(acts.sms_outgoing, locale)),
        help=c.tip("concept.human_action", locale),
    )  # fmt: skip


# -- per seller ---------------------------------------------------------------------------------


def seller_names(report: Report) -> dict[int, str]:
    return {r.user_id: r.name for r in section(report.sellers, "sellers") if r.name}


def seller_name(names: dict[int, str], user_id: Any, locale: Locale) -> str:
    if user_id is None or pd.isna(user_id):
        return t("activities.no_seller", locale)
    uid = int(user_id)
    return names.get(uid) or t("activities.unknown_seller", locale, id=uid)


def seller_rows(report: Report, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per seller: every seller of the report (an active seller who did nothing shows
    real zeros) and anyone else the series credits, with the rates of the report's formulas."""
    columns = list(series.ACTIVITY_BY_SELLER_COLUMNS)
    rows = frame.copy()
    rows["user_id"] = rows["user_id"].astype("int64")
    known = {r.user_id for r in section(report.sellers, "sellers")}
    missing = sorted(known - set(rows["user_id"]))
    if missing:
        zeros = pd.DataFrame({"user_id": missing, **dict.fromkeys(columns, 0)})
        rows = pd.concat([rows, zeros], ignore_index=True) if len(rows) else zeros
    for col in columns:
        rows[col] = pd.to_numeric(rows[col], errors="coerce").fillna(0)
    rows["calls"] = rows["calls_out"] + rows["calls_in"]
    rows["call_minutes"] = rows["call_seconds"] / 60.0
    rows["completion_pct"] = [
        pct(d, n) for d, n in zip(rows["tasks_completed"], rows["tasks_due"], strict=True)
    ]
    rows["on_time_pct"] = [
        pct(o, d) for o, d in zip(rows["tasks_on_time"], rows["tasks_completed"], strict=True)
    ]
    order = ["tasks_completed", "calls", "messages_out", "user_id"]
    return rows.sort_values(order, ascending=[False, False, False, True]).reset_index(drop=True)


SELLER_COLUMNS: Final = (
    Column("seller", "activities.col.seller", tip="concept.seller_credit"),
    Column("calls", "activities.col.calls", "integer", tip="sellers.calls"),
    Column("call_minutes", "activities.col.call_minutes", "integer",
           tip="activities.call_minutes"),
    Column("messages_out", "activities.col.messages_out", "integer",
           tip="activities.messages_outgoing"),
    Column("meetings_held", "activities.col.meetings_held", "integer",
           tip="activities.meetings_held"),
    Column("follow_ups_completed", "activities.col.follow_ups", "integer",
           tip="activities.follow_ups_completed"),
    Column("tasks_completed", "activities.col.tasks_completed", "integer",
           tip="sellers.tasks_completed"),
    Column("completion_pct", "activities.col.completion", "percent",
           tip="activities.completion_rate_pct"),
    Column("on_time_pct", "activities.col.on_time", "percent", tip="activities.on_time_rate_pct"),
    Column("overdue", "activities.col.overdue", "integer", tip="activities.overdue"),
)  # fmt: skip


def seller_section(view: View, report: Report, frame: pd.DataFrame) -> None:
    locale = view.locale
    st.subheader(t("activities.sellers", locale), help=c.tip("concept.seller_credit", locale))
    rows = seller_rows(report, frame)
    if not rows[list(series.ACTIVITY_BY_SELLER_COLUMNS)].to_numpy().any():
        st.info(t("activities.no_sellers", locale))
        return
    names = seller_names(report)
    values = rows.assign(seller=[seller_name(names, uid, locale) for uid in rows["user_id"]])
    c.table(values, SELLER_COLUMNS, view=view, name="activities_by_seller",
            title=t("activities.sellers", locale))  # fmt: skip
    st.caption(t("activities.sellers_note", locale))


# -- overdue tasks ------------------------------------------------------------------------------


def task_type(kind: Any, type_name: Any, locale: Locale, type_id: Any = None) -> str:
    if kind in KNOWN_KINDS:
        return t(f"activities.kind.{kind}", locale)
    if isinstance(type_name, str) and type_name:
        return type_name
    if type_id is not None and not pd.isna(type_id):
        # The account sent no name for this type (no `task_types` in /account).
        return t("activities.kind.numbered", locale, id=int(type_id))
    return t("activities.kind.other", locale)


OVERDUE_KEY: Final = "activities.overdue"
OVERDUE_SORTS: Final = {"due": "activities.col.due"}  # the service's key → its label


OVERDUE_COLUMNS: Final = (
    Column("type", "activities.col.task_type"),
    Column("seller", "activities.col.seller"),
    Column("due", "activities.col.due", "datetime"),
    Column("late", "activities.col.late", "hours"),
    Column("lead", "activities.col.lead", "link", url="url"),
)


def overdue_values(page: Page, names: dict[int, str], zone: tzinfo, as_of: datetime,
                   subdomain: str | None, locale: Locale) -> pd.DataFrame:  # fmt: skip
    """The overdue tasks as the values of :data:`OVERDUE_COLUMNS`: due in the account's time,
    how late at as_of, the lead named and linked to Kommo."""
    frame = page.rows
    due = pd.to_datetime(frame["complete_till_local"])
    now_local = pd.Timestamp(as_of.astimezone(zone).replace(tzinfo=None))
    late_hours = (now_local - due).dt.total_seconds() / 3600.0
    lead_ids = [None if pd.isna(v) else int(v) for v in frame["lead_id"]]
    lead_names = frame["lead_name"] if "lead_name" in frame else [None] * len(frame)
    kinds = [
        task_type(k, n, locale, i)
        for k, n, i in zip(frame["kind"], frame["type_name"], frame["task_type_id"], strict=True)
    ]
    return pd.DataFrame(
        {
            "type": kinds,
            "seller": [seller_name(names, u, locale) for u in frame["responsible_user_id"]],
            "due": due.tolist(),
            "late": late_hours.tolist(),
            "lead": [None if i is None else c.lead_name(n, i, locale)
                     for n, i in zip(lead_names, lead_ids, strict=True)],
            "url": [None if i is None else c.lead_url(subdomain, i) for i in lead_ids],
        }
    )  # fmt: skip


def overdue_section(view: View, report: Report, scope: metrics_data.Request, sla: float,
                    zone: tzinfo, subdomain: str | None) -> None:  # fmt: skip
    """Tasks due in the period and still not done: the most recently due first, one page at a
    time read from the database, with their total."""
    locale = view.locale
    title = st.empty()
    request = c.page_request(OVERDUE_KEY, locale, OVERDUE_SORTS,
                             newest=("activities.order.recent", "activities.order.oldest"))  # fmt: skip
    page, error = metrics_data.safe(lambda: metrics_data.load_overdue_page(scope, request, sla))
    if error is not None:
        c.show_error(error, locale)
        return
    title.subheader(
        t("activities.overdue_title", locale, count=c.fmt_number(page.total, locale)),
        help=c.tip("activities.overdue", locale),
    )
    if page.total == 0:
        st.success(t("activities.no_overdue", locale))
        return
    names = seller_names(report)
    values = overdue_values(page, names, zone, scope.as_of, subdomain, locale)
    shown, config = c.shown_frame(values, OVERDUE_COLUMNS, locale, None)
    st.dataframe(shown, hide_index=True, column_config=config, width="stretch",
                 height=c.table_height(len(shown)))  # fmt: skip
    c.page_navigation(page, OVERDUE_KEY, locale)

    def export() -> pd.DataFrame:
        rows = metrics_data.overdue_rows(scope, request, sla)
        whole = Page(rows=rows, total=len(rows), number=1, size=max(1, len(rows)))
        return overdue_values(whole, names, zone, scope.as_of, subdomain, locale)

    stem = f"overdue_tasks_{view.start.isoformat()}_{view.end.isoformat()}"
    c.downloads(export, OVERDUE_COLUMNS, stem, locale, key="dl.overdue_tasks",
                sheet=t("table.sheet.overdue", locale))  # fmt: skip
    c.export_note(page.total, metrics_data.EXPORT_LIMIT, locale)
    off_lead = page.counts.get("off_lead", 0)
    if off_lead:
        st.caption(t("activities.off_lead", locale, count=c.fmt_number(off_lead, locale)))


# -- charts -------------------------------------------------------------------------------------


def heatmap(view: View, report: Report, frame: pd.DataFrame) -> None:
    locale = view.locale
    st.subheader(t("activities.heatmap", locale, tz=report.period.timezone),
                 help=c.tip("concept.human_action", locale))  # fmt: skip
    if frame.empty:
        st.info(t("activities.no_events", locale))
        return
    grid = [[0] * 24 for _ in range(7)]
    for weekday, hour, events in zip(frame["weekday"], frame["hour"], frame["events"], strict=True):
        grid[int(weekday)][int(hour)] += int(events)
    days = get_day_names("abbreviated", locale=i18n.babel_locale(locale))  # 0 = Monday
    hours = [charts.hour_label(h, locale) for h in range(24)]
    events = t("activities.axis_events", locale)
    fig = go.Figure(
        go.Heatmap(
            z=grid, x=list(range(24)), y=[days[i] for i in range(7)], colorscale="Blues",
            customdata=[[charts.lines(f"{days[d]} {hours[h]}",
                                      charts.named(events, i18n.number(grid[d][h], locale)))
                         for h in range(24)] for d in range(7)],
            hovertemplate=charts.HOVER,
            colorbar=charts.colorbar("count", max(max(r) for r in grid), locale, events),
        )
    )  # fmt: skip
    fig.update_layout(
        height=320,
        separators=charts.separators(locale),
        xaxis={"title": t("activities.axis_hour", locale), "tickmode": "array",
               "tickvals": list(range(0, 24, 3)), "ticktext": hours[::3], "fixedrange": True},
        yaxis={"type": "category", "autorange": "reversed", "fixedrange": True},
    )  # fmt: skip
    c.plot(fig, key="activities.heatmap")


def over_time(view: View, frame: pd.DataFrame, grain: series.Grain) -> None:
    locale = view.locale
    st.subheader(t("activities.over_time", locale), help=c.tip("concept.human_action", locale))
    buckets = series.rebucket(frame.drop(columns=["direction"]), grain, ("medium",))
    if buckets.empty:
        st.info(t("activities.no_events", locale))
        return
    buckets = charts.complete(buckets, view.start, min(view.end, view.today), grain, ("medium",))
    order = [m for m in MEDIA if m in set(buckets["medium"])]
    order += sorted(set(buckets["medium"]) - set(order))
    fig = charts.stacked_counts(
        buckets, by="medium", value="events", order=order, grain=grain, locale=locale,
        name_of=lambda m: medium_label(m, locale),
        colour_of=lambda m: MEDIUM_COLOURS.get(m, "#9D755D"),
    )  # fmt: skip
    charts.localise(fig, locale, height=360,
                    x=charts.Axis("date", title=t(f"grain.{grain}", locale), grain=grain),
                    y=charts.Axis("count", title=t("activities.axis_events", locale)))  # fmt: skip
    c.plot(fig, key="activities.over_time")


def medium_label(medium: str, locale: Locale) -> str:
    return t(f"activities.medium.{medium}", locale) if medium in MEDIA else medium


# -- the page -----------------------------------------------------------------------------------


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("activities.title", locale))
    page = c.page_report(view, SECTIONS, COMPARED_SECTIONS)
    if page is None:
        return
    scope, report, sla = page.scope, page.report, page.sla
    previous = page.previous
    st.caption(
        t("activities.caption", locale, range=i18n.date_range(view.start, view.end, locale),
          tz=report.period.timezone)
    )  # fmt: skip
    cards(view, report, previous)

    def load() -> tuple[dict[str, pd.DataFrame], series.Grain, str | None]:
        acc = metrics_data.load_account(scope.url, scope.version)
        grain = series.grain_for(metrics_data.params_of(scope, acc, sla))
        return metrics_data.load_series(scope, SERIES, sla), grain, acc.subdomain or None

    loaded, error = metrics_data.safe(load)
    if error is not None:
        c.show_error(error, locale)
        return
    frames, grain, subdomain = loaded
    seller_section(view, report, frames["activity_by_seller"])
    zone = ZoneInfo(report.period.timezone)
    overdue_section(view, report, scope, sla, zone, subdomain)
    heatmap(view, report, frames["activity_heatmap"])
    over_time(view, frames["activities_by_day"], grain)


if __name__ == "__main__":
    render()

"""1 Leads and origin: how many leads came in, from which channel and campaign, how fast they
were answered, and what each one cost. Every number is the one `kommo-analytics metrics --json`
prints for the same period and filters (module 1 and the channel rows of module 5); the charts
draw the series behind them.
"""

from __future__ import annotations

from typing import Final

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kommo_analytics.dashboard import charts, filters, metrics_data
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import goals as add_inputs
from kommo_analytics.dashboard.export import Column
from kommo_analytics.dashboard.filters import View, channel_label
from kommo_analytics.metrics import series
from kommo_analytics.metrics.intake import UTM_DIMENSIONS
from kommo_analytics.metrics.results import Report, UnknownOrigin, UtmRow, section
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

NONE_VALUE: Final = "(none)"  # how the report names leads without that UTM field

# The report sections this page shows: only their queries run.
SECTIONS = ("leads", "channels")
COMPARED_SECTIONS = ("leads",)  # what the change against the comparison period needs
SERIES = ("leads_by_day", "response_buckets")  # the charts', read on one connection


def cost_note(report: Report, locale: Locale) -> str | None:
    """Why cost figures are empty, and what to do about it (None when costs are shown)."""
    cost = section(report.leads, "leads").cost
    if cost.not_split_by_filter:
        return t("intake.costs_filtered", locale)
    if not cost.imported:
        return t("intake.costs_missing", locale, action=add_inputs.action("costs", locale))
    return None


# -- KPI cards ----------------------------------------------------------------------------------


def card_values(report: Report) -> dict[str, float | None]:
    leads = section(report.leads, "leads")
    response = leads.response_time
    return {
        "leads": float(leads.total),
        "median_hours": response.median_hours,
        "avg_hours": response.avg_hours,
        "within_sla_pct": response.within_sla_pct,
        "without_response": float(response.without_response),
        "cost_per_lead": leads.cost.per_lead,
    }


# card → (definition key, format, rate?, lower is better?)
CARDS: Final[tuple[tuple[str, str, str, bool, bool], ...]] = (
    ("leads", "leads.total", "number", False, False),
    ("median_hours", "leads.response_time.median_hours", "hours", False, True),
    ("avg_hours", "leads.response_time.avg_hours", "hours", False, True),
    ("within_sla_pct", "leads.response_time.within_sla_pct", "pct", True, False),
    ("without_response", "leads.response_time.without_response", "number", False, True),
    ("cost_per_lead", "leads.cost.per_lead", "money", False, True),
)


def formatted(kind: str, value: float | None, currency: str | None, locale: Locale) -> str:
    if kind == "hours":
        return c.fmt_hours(value, locale)
    if kind == "pct":
        return c.fmt_pct(value, locale)
    if kind == "money":
        return c.fmt_money(value, currency, locale)
    return c.fmt_number(value, locale)


def empty_note(card: str, report: Report, locale: Locale) -> str | None:
    """What stands under a card that cannot show a number."""
    if card == "cost_per_lead":
        return cost_note(report, locale) or t("intake.no_leads_short", locale)
    if section(report.leads, "leads").total == 0:
        return t("intake.no_leads_short", locale)
    return t("intake.none_answered", locale)


def cards(view: View, report: Report, previous: Report | None, sla: float) -> None:
    locale, currency = view.locale, report.currency
    now = card_values(report)
    before = card_values(previous) if previous else {}
    for row in (CARDS[:3], CARDS[3:]):
        for column, (card, help_key, kind, rate, lower) in zip(
            st.columns(len(row)), row, strict=True
        ):
            with column:
                value = now[card]
                c.kpi(
                    t(f"intake.card.{card}", locale, sla=c.fmt_hours(sla, locale)),
                    c.card_money(value, currency, locale)
                    if kind == "money"
                    else formatted(kind, value, currency, locale),
                    locale=locale,
                    help_key=help_key,
                    delta=c.change(value, before.get(card), locale, points=rate),
                    good_when="lower" if lower else "higher",
                    note=empty_note(card, report, locale) if value is None else None,
                )


# -- charts -------------------------------------------------------------------------------------


def leads_over_time(view: View, report: Report, frame: pd.DataFrame,
                    grain: series.Grain) -> None:  # fmt: skip
    locale = view.locale
    st.subheader(t("intake.over_time", locale), help=c.tip("leads.by_channel", locale))
    buckets = series.rebucket(frame, grain, ("channel",))
    if buckets.empty:
        st.info(t("intake.no_leads", locale))
        return
    # The report's channel order (the rules' order), so the stack reads the same on every page.
    order = [k for k in section(report.leads, "leads").by_channel if k in set(buckets["channel"])]
    order += sorted(set(buckets["channel"]) - set(order))
    colours = c.channel_colours(order)
    buckets = charts.complete(buckets, view.start, min(view.end, view.today), grain, ("channel",))
    fig = charts.stacked_counts(
        buckets, by="channel", value="leads", order=order, grain=grain, locale=locale,
        name_of=lambda k: channel_label(k, locale), colour_of=lambda k: colours[k],
    )  # fmt: skip
    charts.localise(fig, locale, height=360,
                    x=charts.Axis("date", title=t(f"grain.{grain}", locale), grain=grain),
                    y=charts.Axis("count", title=t("intake.axis_leads", locale)))  # fmt: skip
    c.plot(fig, key="intake.over_time")


# The response buckets' colours: answered within the SLA is good, later is a warning, not
# answered at all is the worst (red, as the worst is on every chart of these pages).
WITHIN_SLA_COLOUR: Final = "#54A24B"
LATE_COLOUR: Final = "#F2A93B"
NO_RESPONSE_COLOUR: Final = "#E45756"
SLA_OUTLINE: Final = "#1F3B57"


def bucket_label(low: float | None, high: float | None, locale: Locale) -> str:
    """The bucket's name: "up to 5 min", "5 min to 1 h", "over 24 h", "no response yet"."""
    if low is None and high is None:
        return t("intake.bucket.none", locale)
    if low is None:
        return t("intake.bucket.up_to", locale, high=c.fmt_hours(high, locale))
    if high is None:
        return t("intake.bucket.over", locale, low=c.fmt_hours(low, locale))
    return t("intake.bucket.between", locale, low=c.fmt_hours(low, locale),
             high=c.fmt_hours(high, locale))  # fmt: skip


def response_figure(buckets: pd.DataFrame, sla: float, locale: Locale) -> go.Figure:
    """One bar per first-response bucket (:func:`series.response_bucket_table`), counts and
    shares of all the period's leads, the SLA's bucket outlined and marked."""
    total = int(buckets["leads"].sum())
    rows = buckets.to_dict("records")
    labels = [bucket_label(r["low"], r["high"], locale) for r in rows]
    counts = [int(r["leads"]) for r in rows]
    shares = [c.fmt_pct(100 * n / total if total else None, locale) for n in counts]
    sla_at = max(i for i, r in enumerate(rows) if r["within_sla"])
    colours = [
        WITHIN_SLA_COLOUR if r["within_sla"]
        else NO_RESPONSE_COLOUR if r["bucket"] == series.NO_RESPONSE
        else LATE_COLOUR
        for r in rows
    ]  # fmt: skip
    answered = 0
    hovers = []
    for r, label, n, share in zip(rows, labels, counts, shares, strict=True):
        text = t("intake.bucket.hover", locale, bucket=label, count=i18n.number(n, locale),
                 share=share, total=i18n.number(total, locale))  # fmt: skip
        if r["bucket"] != series.NO_RESPONSE and r["high"] is not None:
            answered += n
            text += "<br>" + t("intake.bucket.hover_cumulative", locale,
                               high=c.fmt_hours(r["high"], locale),
                               share=c.fmt_pct(100 * answered / total, locale))  # fmt: skip
        hovers.append(text)
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=counts,
        text=[f"{i18n.number(n, locale)} · {share}" for n, share in zip(counts, shares,
                                                                        strict=True)],
        textposition="outside",
        cliponaxis=False,
        marker={
            "color": colours,
            "line": {"color": [SLA_OUTLINE if i == sla_at else colours[i]
                               for i in range(len(rows))],
                     "width": [3 if i == sla_at else 0 for i in range(len(rows))]},
        },
        hovertext=hovers,
        hoverinfo="text",
    )  # fmt: skip
    # Between the SLA's bucket and the next: the leads left of the line were answered in time.
    fig.add_vline(x=sla_at + 0.5, line_width=2, line_dash="dash", line_color=SLA_OUTLINE)
    fig.add_annotation(
        x=sla_at + 0.5, y=1, yref="paper", yanchor="bottom", showarrow=False,
        text=t("intake.sla_line", locale, sla=c.fmt_hours(sla, locale)),
        font={"color": SLA_OUTLINE},
    )  # fmt: skip
    fig.update_layout(showlegend=False)
    # Room above the tallest bar for its "count · share" label.
    charts.localise(fig, locale, height=360,
                    x=charts.Axis("category", title=t("intake.axis_response", locale)),
                    y=charts.Axis("count", title=t("intake.axis_leads", locale),
                                  include=(max(counts, default=0) * 1.18,)))  # fmt: skip
    return fig


def response_chart(view: View, report: Report, rows: pd.DataFrame, sla: float) -> None:
    """The period's leads by how soon they were first answered, against the SLA: the buckets
    are counted in the database from the leads the response cards count, so they add up to the
    leads created and the last one is the "without response" card."""
    locale = view.locale
    leads = section(report.leads, "leads")
    within = leads.response_time.within_sla_pct
    st.subheader(
        t("intake.response_title_empty", locale)
        if within is None
        else t("intake.response_title", locale, pct=c.fmt_pct(within, locale),
               sla=c.fmt_hours(sla, locale)),
        help=c.tip("leads.response_time.within_sla_pct", locale),
    )  # fmt: skip
    if not leads.total:
        st.info(t("intake.no_leads", locale))
        return
    buckets = series.response_bucket_table(rows, sla)
    c.plot(response_figure(buckets, sla, locale), key="intake.response")
    st.caption(t("intake.response_caption", locale, total=i18n.number(leads.total, locale),
                 sla=c.fmt_hours(sla, locale)))  # fmt: skip


# -- tables -------------------------------------------------------------------------------------


# The channel table: the report's field behind each number column.
CHANNEL_FIELDS: Final = {
    "leads": "leads", "won": "won", "conversion": "conversion_pct", "revenue": "revenue",
    "cost": "cost", "cpl": "cpl", "roi": "roi_pct",
}  # fmt: skip
CHANNEL_COLUMNS: Final = (
    Column("channel", "intake.col.channel", tip="channels.channel"),
    Column("leads", "intake.col.leads", "integer", tip="channels.leads"),
    Column("won", "intake.col.won", "integer", tip="channels.won"),
    Column("conversion", "intake.col.conversion", "percent", tip="channels.conversion_pct"),
    Column("revenue", "intake.col.revenue", "money", tip="channels.revenue"),
    Column("cost", "intake.col.cost", "money", tip="channels.cost"),
    Column("cpl", "intake.col.cpl", "money", tip="channels.cpl"),
    Column("roi", "intake.col.roi", "percent", tip="channels.roi_pct"),
)
UTM_FIELDS: Final = {
    "leads": "leads", "won": "won", "revenue": "revenue", "conversion": "conversion_pct",
}  # fmt: skip
UTM_COLUMNS: Final = (
    Column("leads", "intake.col.leads", "integer", tip="leads.utm.leads"),
    Column("won", "intake.col.won", "integer", tip="leads.utm.won"),
    Column("revenue", "intake.col.revenue", "money", tip="leads.utm.revenue"),
    Column("conversion", "intake.col.conversion", "percent", tip="leads.utm.conversion_pct"),
)
UNKNOWN_COLUMNS: Final = (
    Column("reason", "intake.unknown.col.reason"),
    Column("leads", "intake.col.leads", "integer"),
    Column("fix", "intake.unknown.col.fix"),
)


def channel_section(view: View, scope: metrics_data.Request, report: Report,
                    subdomain: str | None) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    st.subheader(t("intake.channels", locale), help=c.tip("channels", locale))
    rows = section(report.channels, "channels")
    if view.filters.channels:  # the other channels are 0 by construction: noise
        rows = [r for r in rows if r.channel in view.filters.channels]
    if not rows or not section(report.leads, "leads").total:
        # A table of zeros would say nothing the message does not.
        st.info(t("intake.no_leads", locale))
        return

    values = pd.DataFrame(
        {
            "channel": [channel_label(r.channel, locale) for r in rows],
            **{key: [getattr(r, field) for r in rows] for key, field in CHANNEL_FIELDS.items()},
        }
    )
    c.table(values, CHANNEL_COLUMNS, view=view, name="channels", currency=currency,
            title=t("intake.channels", locale))  # fmt: skip
    note = cost_note(report, locale)
    if note is None and any(r.cost is None for r in rows):
        note = t("intake.costs_partial", locale)
    if note:
        st.caption(note)
    options = [
        (t("intake.drill_row", locale, label=channel_label(r.channel, locale),
           count=i18n.number(r.leads, locale)), "created", (("channel", r.channel),))
        for r in rows
        if r.leads
    ]  # fmt: skip
    c.drill_down(view, scope, options=options, basis="created", key="intake_channels",
                 currency=currency, subdomain=subdomain)  # fmt: skip


def utm_table(view: View, scope: metrics_data.Request, report: Report, dimension: str,
              subdomain: str | None) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    rows: list[UtmRow] = getattr(section(report.leads, "leads").utm, dimension)
    if not rows:
        st.info(t("intake.no_leads", locale))
        return

    def label(value: str) -> str:
        return t("intake.utm_none", locale) if value == NONE_VALUE else value

    values = pd.DataFrame(
        {
            "value": [label(r.value) for r in rows],
            **{key: [getattr(r, field) for r in rows] for key, field in UTM_FIELDS.items()},
        }
    )
    columns = (Column("value", f"intake.col.{dimension}", tip="leads.utm.value"), *UTM_COLUMNS)
    c.table(values, columns, view=view, name=dimension, currency=currency,
            title=t(f"intake.tab.{dimension}", locale))  # fmt: skip
    options = [
        (t("intake.drill_row", locale, label=label(r.value),
           count=i18n.number(r.leads, locale)), "created",
         ((dimension, None if r.value == NONE_VALUE else r.value),))
        for r in rows
        if r.leads
    ]  # fmt: skip
    c.drill_down(view, scope, options=options, basis="created", key=f"intake_{dimension}",
                 currency=currency, subdomain=subdomain)  # fmt: skip


def utm_section(view: View, scope: metrics_data.Request, report: Report,
                subdomain: str | None) -> None:  # fmt: skip
    locale = view.locale
    st.subheader(t("intake.utm", locale), help=c.tip("leads.utm", locale))
    tabs = st.tabs([t(f"intake.tab.{dimension}", locale) for dimension in UTM_DIMENSIONS])
    for tab, dimension in zip(tabs, UTM_DIMENSIONS, strict=True):
        with tab:
            utm_table(view, scope, report, dimension, subdomain)


# -- the page -----------------------------------------------------------------------------------


# Why a lead is "unknown", each with what to do about it (catalogue keys).
UNKNOWN_REASONS: Final = ("no_tracking_field", "no_tag", "created_by_robot")


def unknown_frame(unknown: UnknownOrigin, locale: Locale) -> pd.DataFrame:
    """One row per reason: how many unknown leads lack that, and where to fix it."""
    return pd.DataFrame(
        {
            "reason": [t(f"intake.unknown.{r}", locale) for r in UNKNOWN_REASONS],
            "leads": [getattr(unknown, r) for r in UNKNOWN_REASONS],
            "fix": [t(f"intake.unknown.{r}_fix", locale) for r in UNKNOWN_REASONS],
        }
    )


def unknown_section(view: View, report: Report) -> None:
    """How many leads no rule could place, and what they lack, so the user knows whether to
    fix Kommo (forms, integrations, tags) or the rules."""
    locale = view.locale
    leads = section(report.leads, "leads")
    unknown = leads.unknown
    st.subheader(t("intake.unknown.title", locale), help=c.tip("leads.unknown.total", locale))
    if not unknown.total:
        st.caption(t("intake.unknown.none", locale))
        return
    st.markdown(
        t("intake.unknown.summary", locale, count=c.fmt_number(unknown.total, locale),
          total=c.fmt_number(leads.total, locale))
    )  # fmt: skip
    c.table(unknown_frame(unknown, locale), UNKNOWN_COLUMNS, view=view, name="unknown_leads",
            title=t("intake.unknown.title", locale))  # fmt: skip
    st.caption(t("intake.unknown.overlap", locale))


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("intake.title", locale))
    page = c.page_report(view, SECTIONS, COMPARED_SECTIONS)
    if page is None:
        return
    scope, report, sla = page.scope, page.report, page.sla
    previous = page.previous
    st.caption(
        t("intake.caption", locale, range=i18n.date_range(view.start, view.end, locale),
          tz=report.period.timezone, currency=report.currency or "—")
    )  # fmt: skip
    cards(view, report, previous, sla)

    def load_charts() -> tuple[dict[str, pd.DataFrame], series.Grain]:
        acc = metrics_data.load_account(scope.url, scope.version)
        grain = series.grain_for(metrics_data.params_of(scope, acc, sla))
        return metrics_data.load_series(scope, SERIES, sla), grain

    loaded, error = metrics_data.safe(load_charts)
    if error is not None:
        c.show_error(error, locale)
    else:
        frames, grain = loaded
        leads_over_time(view, report, frames["leads_by_day"], grain)
        response_chart(view, report, frames["response_buckets"], sla)
    subdomain = view.account.subdomain if view.account is not None else None
    subdomain = subdomain or report.model.get("subdomain") or None
    channel_section(view, scope, report, subdomain)
    unknown_section(view, report)
    utm_section(view, scope, report, subdomain)


if __name__ == "__main__":
    render()

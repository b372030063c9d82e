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

from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import filters, metrics_data
from kommo_analytics.dashboard.filters import View, channel_label
from kommo_analytics.metrics import series
from kommo_analytics.metrics.intake import UTM_DIMENSIONS
from kommo_analytics.metrics.results import Report, UnknownOrigin, UtmRow, section
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

NONE_VALUE: Final = "(none)"  # how the report names leads without that UTM field
HISTOGRAM_BINS: Final = 40

# The report sections this page shows: only their queries run.
SECTIONS = ("leads", "channels")
COMPARED_SECTIONS = ("leads",)  # what the change against the comparison period needs


def cost_note(report: Report, locale: Locale) -> str | None:
    """Why cost figures are empty, and what to do about it (None when costs are shown)."""
    cost = section(report.leads, "leads").cost
    if cost.not_split_by_filter:
        return t("intake.costs_filtered", locale)
    if not cost.imported:
        return t("intake.costs_missing", locale)
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
    fig = go.Figure()
    for channel in order:
        rows = buckets[buckets["channel"] == channel]
        fig.add_bar(x=rows["bucket"], y=rows["leads"], name=channel_label(channel, locale),
                    marker_color=colours[channel])  # fmt: skip
    fig.update_layout(
        barmode="stack",
        height=360,
        xaxis={"title": t(f"grain.{grain}", locale)},
        yaxis={"title": t("intake.axis_leads", locale)},
    )
    c.plot(fig, key="intake.over_time")


def response_chart(
    view: View, report: Report, scope: metrics_data.Request, p95: float | None, sla: float
) -> None:
    """The first-response histogram, counted in the database: only the percentile that places
    its axis and one count per bar reach the page, not every answered lead's hours."""
    locale = view.locale
    leads = section(report.leads, "leads")
    response = leads.response_time
    within = response.within_sla_pct
    st.subheader(
        t("intake.response_title_empty", locale)
        if within is None
        else t("intake.response_title", locale, pct=c.fmt_pct(within, locale),
               sla=c.fmt_hours(sla, locale)),
        help=c.tip("leads.response_time.within_sla_pct", locale),
    )  # fmt: skip
    if p95 is None:
        st.info(
            t("intake.no_leads", locale) if leads.total == 0 else t("intake.none_answered", locale)
        )
        return
    # A few leads answered days later would squeeze every other bar into the first one: the axis
    # stops at the 95th percentile (or twice the SLA), the rest is a double-click away.
    edge = max(p95, 2 * sla)
    # Bins that fit a whole number of times into the SLA, so the bars left of the line are the
    # leads answered in time.
    size = sla / max(1, round(sla * HISTOGRAM_BINS / edge))
    loaded, error = metrics_data.safe(
        lambda: metrics_data.load_response_histogram(scope, size, edge, sla)
    )
    if error is not None:
        c.show_error(error, locale)
        return
    bins, beyond = loaded
    starts = pd.to_numeric(bins["bin"]).astype(float) * size
    fig = go.Figure()
    fig.add_bar(
        x=starts + size / 2,
        y=pd.to_numeric(bins["leads"]),
        width=size * 0.95,  # a small gap between the bars, as the histogram had
        marker_color="#4C78A8",
        name=t("intake.axis_answered", locale),
        # The bar's span, as the histogram's hover showed it.
        customdata=list(zip(starts, starts + size, strict=True)),
        hovertemplate="%{customdata[0]:.4~g}–%{customdata[1]:.4~g} h: %{y}<extra></extra>",
    )
    fig.add_vline(
        x=sla,
        line_width=3,
        line_dash="dash",
        line_color="#E45756",
        annotation_text=t("intake.sla_line", locale, sla=c.fmt_hours(sla, locale)),
    )
    fig.update_layout(
        height=340,
        showlegend=False,
        bargap=0.05,
        xaxis={"title": t("intake.axis_hours", locale), "range": [0, edge]},
        yaxis={"title": t("intake.axis_answered", locale)},
    )
    c.plot(fig, key="intake.response")
    notes = []
    if beyond:
        notes.append(t("intake.beyond_edge", locale, count=i18n.number(beyond, locale),
                       hours=c.fmt_hours(edge, locale)))  # fmt: skip
    if response.without_response:
        notes.append(t("intake.unanswered_not_drawn", locale,
                       count=i18n.number(response.without_response, locale)))  # fmt: skip
    if notes:
        st.caption(" ".join(notes))


# -- tables -------------------------------------------------------------------------------------


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

    shown = pd.DataFrame(
        {
            "channel": [channel_label(r.channel, locale) for r in rows],
            "leads": [c.fmt_number(r.leads, locale) for r in rows],
            "won": [c.fmt_number(r.won, locale) for r in rows],
            "conversion": [c.cell_pct(r.conversion_pct, locale) for r in rows],
            "revenue": [c.cell_money(r.revenue, currency, locale) for r in rows],
            "cost": [c.cell_money(r.cost, currency, locale) for r in rows],
            "cpl": [c.cell_money(r.cpl, currency, locale) for r in rows],
            "roi": [c.cell_pct(r.roi_pct, locale) for r in rows],
        }
    )
    labels = {
        "channel": ("intake.col.channel", "channels.channel"),
        "leads": ("intake.col.leads", "channels.leads"),
        "won": ("intake.col.won", "channels.won"),
        "conversion": ("intake.col.conversion", "channels.conversion_pct"),
        "revenue": ("intake.col.revenue", "channels.revenue"),
        "cost": ("intake.col.cost", "channels.cost"),
        "cpl": ("intake.col.cpl", "channels.cpl"),
        "roi": ("intake.col.roi", "channels.roi_pct"),
    }
    config = c.text_columns(labels, locale, left=("channel",))
    export = pd.DataFrame(
        {
            t("intake.col.channel", locale): [r.channel for r in rows],
            t("intake.col.leads", locale): [r.leads for r in rows],
            t("intake.col.won", locale): [r.won for r in rows],
            t("intake.col.conversion", locale): [r.conversion_pct for r in rows],
            t("intake.col.revenue", locale): [r.revenue for r in rows],
            t("intake.col.cost", locale): [r.cost for r in rows],
            t("intake.col.cpl", locale): [r.cpl for r in rows],
            t("intake.col.roi", locale): [r.roi_pct for r in rows],
        }
    )
    c.table(shown, view=view, name="channels", column_config=config, export=export)
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

    shown = pd.DataFrame(
        {
            "value": [label(r.value) for r in rows],
            "leads": [c.fmt_number(r.leads, locale) for r in rows],
            "won": [c.fmt_number(r.won, locale) for r in rows],
            "revenue": [c.fmt_money(r.revenue, currency, locale) for r in rows],
            "conversion": [
                "" if r.conversion_pct is None else c.fmt_pct(r.conversion_pct, locale)
                for r in rows
            ],
        }
    )
    labels = {
        "value": (f"intake.col.{dimension}", "leads.utm.value"),
        "leads": ("intake.col.leads", "leads.utm.leads"),
        "won": ("intake.col.won", "leads.utm.won"),
        "revenue": ("intake.col.revenue", "leads.utm.revenue"),
        "conversion": ("intake.col.conversion", "leads.utm.conversion_pct"),
    }
    config = c.text_columns(labels, locale, left=("value",))
    export = pd.DataFrame(
        {
            t(f"intake.col.{dimension}", locale): [
                None if r.value == NONE_VALUE else r.value for r in rows
            ],
            t("intake.col.leads", locale): [r.leads for r in rows],
            t("intake.col.won", locale): [r.won for r in rows],
            t("intake.col.revenue", locale): [r.revenue for r in rows],
            t("intake.col.conversion", locale): [r.conversion_pct for r in rows],
        }
    )
    c.table(shown, view=view, name=dimension, column_config=config, export=export)
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
            "leads": [c.fmt_number(getattr(unknown, r), locale) for r in UNKNOWN_REASONS],
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
    labels = {
        "reason": ("intake.unknown.col.reason", None),
        "leads": ("intake.col.leads", None),
        "fix": ("intake.unknown.col.fix", None),
    }
    export = pd.DataFrame(
        {
            t("intake.unknown.col.reason", locale): [
                t(f"intake.unknown.{r}", locale) for r in UNKNOWN_REASONS
            ],
            t("intake.col.leads", locale): [getattr(unknown, r) for r in UNKNOWN_REASONS],
        }
    )
    c.table(
        unknown_frame(unknown, locale),
        view=view,
        name="unknown_leads",
        column_config=c.text_columns(labels, locale, left=("reason", "fix")),
        export=export,
    )
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

    def load_charts() -> tuple[dict[str, pd.DataFrame], float | None, series.Grain]:
        acc = metrics_data.load_account(scope.url, scope.version)
        grain = series.grain_for(metrics_data.params_of(scope, acc, sla))
        frames = metrics_data.load_series(scope, ("leads_by_day",), sla)
        return frames, metrics_data.load_response_edge(scope, sla), grain

    loaded, error = metrics_data.safe(load_charts)
    if error is not None:
        c.show_error(error, locale)
    else:
        frames, p95, grain = loaded
        leads_over_time(view, report, frames["leads_by_day"], grain)
        response_chart(view, report, scope, p95, sla)
    subdomain = view.account.subdomain if view.account is not None else None
    subdomain = subdomain or report.model.get("subdomain") or None
    channel_section(view, scope, report, subdomain)
    unknown_section(view, report)
    utm_section(view, scope, report, subdomain)


if __name__ == "__main__":
    render()

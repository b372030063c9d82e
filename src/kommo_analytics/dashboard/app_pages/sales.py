"""4 Sales: deals won and lost in the period, revenue, average ticket, win rate, sales cycle and
why deals were lost, in total and per seller. The cards and tables are the numbers
`kommo-analytics metrics --json` prints for the same period and filters (module 4 and the seller
rows of module 5); the charts draw the series behind them (`sales_by_day`, `cycle_days`).
"""

from __future__ import annotations

from typing import Final

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import filters, metrics_data
from kommo_analytics.dashboard.filters import View
from kommo_analytics.metrics import series
from kommo_analytics.metrics.results import Report, Seller, section
from kommo_analytics.metrics.sales import NOT_SPECIFIED
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

SERIES: Final = ("sales_by_day", "cycle_days")
WON_COLOUR: Final = "#54A24B"
LOST_COLOUR: Final = "#E45756"
HISTOGRAM_BINS: Final = 30

# The report sections this page shows: only their queries run.
SECTIONS = ("sales", "sellers")
COMPARED_SECTIONS = ("sales",)  # what the change against the comparison period needs


# -- KPI cards ----------------------------------------------------------------------------------

# card → (definition key, format, rate?, lower is better?)
CARDS: Final[tuple[tuple[str, str, str, bool, bool], ...]] = (
    ("won", "sales.won", "number", False, False),
    ("lost", "sales.lost", "number", False, True),
    ("win_rate_pct", "sales.win_rate_pct", "pct", True, False),
    ("revenue", "sales.revenue", "money", False, False),
    ("avg_ticket", "sales.avg_ticket", "money", False, False),
    ("sales_cycle_avg_days", "sales.sales_cycle_avg_days", "days", False, True),
    ("sales_cycle_median_days", "sales.sales_cycle_median_days", "days", False, True),
)


def card_values(report: Report) -> dict[str, float | None]:
    s = section(report.sales, "sales")
    values = {card: getattr(s, card) for card, *_ in CARDS}
    return {card: None if value is None else float(value) for card, value in values.items()}


def formatted(kind: str, value: float | None, currency: str | None, locale: Locale) -> str:
    if kind == "money":
        return c.fmt_money(value, currency, locale)
    if kind == "pct":
        return c.fmt_pct(value, locale)
    if kind == "days":
        return c.fmt_days(value, locale)
    return c.fmt_number(value, locale)


def card_note(card: str, report: Report, locale: Locale) -> str | None:
    """Why a card is empty, or what its number leaves out."""
    s = section(report.sales, "sales")
    if card == "win_rate_pct" and s.win_rate_pct is None:
        return t("sales.no_closed", locale)
    if card in ("revenue", "avg_ticket", "sales_cycle_avg_days", "sales_cycle_median_days") and (
        not s.won
    ):
        return t("sales.no_won", locale)
    if card == "revenue" and s.won_without_price:
        return t("sales.without_price", locale,
                 count=c.fmt_number(s.won_without_price, locale))  # fmt: skip
    return None


def cards(view: View, report: Report, previous: Report | None) -> None:
    locale, currency = view.locale, report.currency
    now = card_values(report)
    before = card_values(previous) if previous else {}
    for row in (CARDS[:4], CARDS[4:]):
        for column, (card, help_key, kind, rate, lower) in zip(
            st.columns(len(row)), row, strict=True
        ):
            with column:
                value = now[card]
                c.kpi(
                    t(f"sales.card.{card}", locale),
                    c.card_money(value, currency, locale)
                    if kind == "money"
                    else formatted(kind, value, currency, locale),
                    locale=locale,
                    help_key=help_key,
                    delta=c.change(value, before.get(card), locale, points=rate),
                    good_when="lower" if lower else "higher",
                    note=card_note(card, report, locale),
                )


# -- charts -------------------------------------------------------------------------------------


def over_time(view: View, report: Report, frame: pd.DataFrame,
              grain: series.Grain) -> None:  # fmt: skip
    locale = view.locale
    st.subheader(t("sales.over_time", locale), help=c.tip("sales.revenue", locale))
    buckets = series.rebucket(frame, grain)
    if buckets.empty:
        st.info(t("sales.no_closed", locale))
        return
    fig = go.Figure()
    fig.add_bar(x=buckets["bucket"], y=buckets["won"], name=t("sales.won", locale),
                marker_color=WON_COLOUR)  # fmt: skip
    fig.add_bar(x=buckets["bucket"], y=buckets["lost"], name=t("sales.lost", locale),
                marker_color=LOST_COLOUR)  # fmt: skip
    fig.add_scatter(
        x=buckets["bucket"], y=buckets["revenue"], name=t("sales.revenue", locale), yaxis="y2",
        mode="lines+markers", line={"color": "#222", "width": 2},
    )  # fmt: skip
    fig.update_layout(
        barmode="group",
        height=380,
        xaxis={"title": t(f"grain.{grain}", locale)},
        yaxis={"title": t("sales.axis_deals", locale)},
        yaxis2={"title": t("sales.axis_revenue", locale, currency=report.currency or "—"),
                "overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero"},
    )  # fmt: skip
    c.plot(fig, key="sales.over_time")


def seller_label(row: Seller, locale: Locale) -> str:
    return str(row.name) if row.name else t("sales.unknown_seller", locale, id=row.user_id)


def win_rate_chart(view: View, report: Report) -> None:
    locale = view.locale
    st.subheader(t("sales.win_rate_by_seller", locale), help=c.tip("sellers.win_rate_pct", locale))
    sellers = section(report.sellers, "sellers")
    rows = [r for r in sellers if r.win_rate_pct is not None]
    left_out = len(sellers) - len(rows)
    if not rows:
        st.info(t("sales.no_closed", locale))
        return
    rows.sort(key=lambda r: (r.win_rate_pct, r.won + r.lost))
    fig = go.Figure()
    fig.add_bar(
        y=[seller_label(r, locale) for r in rows],
        x=[r.win_rate_pct for r in rows],
        orientation="h",
        marker_color="#4C78A8",
        text=[t("sales.rate_label", locale, pct=c.fmt_pct(r.win_rate_pct, locale),
                won=c.fmt_number(r.won, locale),
                closed=c.fmt_number(r.won + r.lost, locale)) for r in rows],
        textposition="auto",
        hoverinfo="text",
    )  # fmt: skip
    overall = section(report.sales, "sales").win_rate_pct
    if overall is not None:
        fig.add_vline(x=overall, line_width=2, line_dash="dash", line_color="#222",
                      annotation_text=t("sales.overall", locale,
                                        pct=c.fmt_pct(overall, locale)))  # fmt: skip
    fig.update_layout(height=max(220, 34 * len(rows) + 80), showlegend=False,
                      xaxis={"title": t("sales.axis_win_rate", locale), "range": [0, 100]})  # fmt: skip
    c.plot(fig, key="sales.win_rate")
    if left_out:
        st.caption(t("sales.left_out", locale, count=c.fmt_number(left_out, locale)))


def reason_label(reason: str, locale: Locale) -> str:
    return t("sales.reason_not_specified", locale) if reason == NOT_SPECIFIED else reason


def loss_reasons(view: View, scope: metrics_data.Request, report: Report,
                 subdomain: str | None) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    st.subheader(t("sales.loss_reasons", locale), help=c.tip("sales.loss_reasons", locale))
    rows = section(report.sales, "sales").loss_reasons
    if not rows:
        st.info(t("sales.no_lost", locale))
        return
    labels = [reason_label(r.reason, locale) for r in rows]
    shares = [r.share_pct or 0.0 for r in rows]
    cumulative = [sum(shares[: i + 1]) for i in range(len(shares))]
    fig = go.Figure()
    fig.add_bar(x=labels, y=[r.count for r in rows], name=t("sales.col.lost_deals", locale),
                marker_color=LOST_COLOUR)  # fmt: skip
    fig.add_scatter(
        x=labels, y=cumulative, name=t("sales.cumulative", locale), yaxis="y2",
        mode="lines+markers", line={"color": "#222", "width": 2},
        hovertemplate="%{y:.1f} %<extra></extra>",
    )  # fmt: skip
    fig.update_layout(
        height=380,
        yaxis={"title": t("sales.col.lost_deals", locale)},
        yaxis2={"title": t("sales.cumulative", locale), "overlaying": "y", "side": "right",
                "range": [0, 105], "ticksuffix": " %", "showgrid": False},
    )  # fmt: skip
    c.plot(fig, key="sales.loss_reasons")

    shown = pd.DataFrame(
        {
            "reason": labels,
            "count": [c.fmt_number(r.count, locale) for r in rows],
            "share": [c.fmt_pct(r.share_pct, locale) for r in rows],
            "cumulative": [c.fmt_pct(v, locale) for v in cumulative],
            "value": [c.fmt_money(r.value, currency, locale) for r in rows],
        }
    )
    columns = {
        "reason": ("sales.col.reason", "sales.loss_reasons.reason"),
        "count": ("sales.col.lost_deals", "sales.loss_reasons.count"),
        "share": ("sales.col.share", "sales.loss_reasons.share_pct"),
        "cumulative": ("sales.cumulative", "sales.loss_reasons.share_pct"),
        "value": ("sales.col.lost_value", "sales.loss_reasons.value"),
    }
    config = c.text_columns(columns, locale, left=("reason",))
    export = pd.DataFrame(
        {
            t("sales.col.reason", locale): labels,
            t("sales.col.lost_deals", locale): [r.count for r in rows],
            t("sales.col.share", locale): [r.share_pct for r in rows],
            t("sales.cumulative", locale): cumulative,
            t("sales.col.lost_value", locale): [r.value for r in rows],
        }
    )
    c.table(shown, view=view, name="loss_reasons", column_config=config, export=export)
    options = [
        (t("sales.drill_reason", locale, label=label, count=c.fmt_number(r.count, locale)),
         "closed",
         (("outcome", "lost"), ("loss_reason", None if r.reason == NOT_SPECIFIED else r.reason)))
        for label, r in zip(labels, rows, strict=True)
    ]  # fmt: skip
    c.drill_down(view, scope, options=options, basis="closed", key="sales_loss_reasons",
                 currency=currency, subdomain=subdomain)  # fmt: skip


def cycle_chart(view: View, report: Report, frame: pd.DataFrame) -> None:
    locale = view.locale
    s = section(report.sales, "sales")
    st.subheader(t("sales.cycle", locale), help=c.tip("sales.sales_cycle_avg_days", locale))
    days = pd.to_numeric(frame["days"], errors="coerce").dropna()
    if days.empty:
        st.info(t("sales.no_won", locale))
        return
    fig = go.Figure()
    fig.add_histogram(x=days, nbinsx=HISTOGRAM_BINS, marker_color=WON_COLOUR,
                      name=t("sales.axis_won_deals", locale),
                      hovertemplate="%{x}: %{y}<extra></extra>")  # fmt: skip
    for value, key, dash in (
        (s.sales_cycle_avg_days, "sales.cycle_avg_line", "dash"),
        (s.sales_cycle_median_days, "sales.cycle_median_line", "dot"),
    ):
        if value is not None:
            fig.add_vline(x=value, line_width=2, line_dash=dash, line_color="#222",
                          annotation_text=t(key, locale, days=c.fmt_days(value, locale)))  # fmt: skip
    fig.update_layout(
        height=340,
        showlegend=False,
        bargap=0.05,
        xaxis={"title": t("sales.axis_cycle_days", locale), "rangemode": "tozero"},
        yaxis={"title": t("sales.axis_won_deals", locale)},
    )
    c.plot(fig, key="sales.cycle")


# -- sellers ------------------------------------------------------------------------------------


def seller_cycles(frame: pd.DataFrame) -> dict[int, float]:
    """Each seller's average cycle over their won deals (the report's per-seller mean)."""
    data = frame.dropna(subset=["responsible_user_id"])
    if data.empty:
        return {}
    days = pd.to_numeric(data["days"], errors="coerce")
    means = days.groupby(data["responsible_user_id"].astype("int64")).mean().dropna()
    return {int(uid): float(v) for uid, v in zip(means.index, means, strict=True)}


def sellers_section(view: View, scope: metrics_data.Request, report: Report,
                    cycles: dict[int, float], subdomain: str | None) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    st.subheader(t("sales.sellers", locale), help=c.tip("concept.seller_credit", locale))
    rows = section(report.sellers, "sellers")
    if not any(r.won + r.lost for r in rows):
        st.info(t("sales.no_closed", locale))
        return
    names = [seller_label(r, locale) for r in rows]
    shown = pd.DataFrame(
        {
            "seller": names,
            "won": [c.fmt_number(r.won, locale) for r in rows],
            "lost": [c.fmt_number(r.lost, locale) for r in rows],
            "win_rate": [c.fmt_pct(r.win_rate_pct, locale) for r in rows],
            "revenue": [c.fmt_money(r.revenue, currency, locale) for r in rows],
            "avg_ticket": [c.fmt_money(r.avg_ticket, currency, locale) for r in rows],
            "cycle": [c.fmt_days(cycles.get(int(r.user_id)), locale) for r in rows],
        }
    )
    columns = {
        "seller": ("sales.col.seller", "sellers.name"),
        "won": ("sales.col.won", "sellers.won"),
        "lost": ("sales.col.lost", "sellers.lost"),
        "win_rate": ("sales.col.win_rate", "sellers.win_rate_pct"),
        "revenue": ("sales.col.revenue", "sellers.revenue"),
        "avg_ticket": ("sales.col.avg_ticket", "sellers.avg_ticket"),
        "cycle": ("sales.col.cycle", "sales.sales_cycle_avg_days"),
    }
    config = c.text_columns(columns, locale, left=("seller",))
    export = pd.DataFrame(
        {
            "user_id": [r.user_id for r in rows],
            t("sales.col.seller", locale): names,
            t("sales.col.won", locale): [r.won for r in rows],
            t("sales.col.lost", locale): [r.lost for r in rows],
            t("sales.col.win_rate", locale): [r.win_rate_pct for r in rows],
            t("sales.col.revenue", locale): [r.revenue for r in rows],
            t("sales.col.avg_ticket", locale): [r.avg_ticket for r in rows],
            t("sales.col.cycle", locale): [cycles.get(int(r.user_id)) for r in rows],
        }
    )
    c.table(shown, view=view, name="sales_by_seller", column_config=config, export=export)
    st.caption(t("sales.sellers_note", locale))
    options = [
        (t("sales.drill_seller", locale, label=name, count=c.fmt_number(r.won + r.lost, locale)),
         "closed", (("responsible_user_id", int(r.user_id)),))
        for name, r in zip(names, rows, strict=True)
        if r.won + r.lost
    ]  # fmt: skip
    c.drill_down(view, scope, options=options, basis="closed", key="sales_sellers",
                 currency=currency, subdomain=subdomain)  # fmt: skip


# -- the page -----------------------------------------------------------------------------------


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("sales.title", locale))
    page = c.page_report(view, SECTIONS, COMPARED_SECTIONS)
    if page is None:
        return
    scope, report, sla = page.scope, page.report, page.sla
    previous = page.previous
    st.caption(
        t("sales.caption", locale, range=i18n.date_range(view.start, view.end, locale),
          tz=report.period.timezone, currency=report.currency or "—")
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
    over_time(view, report, frames["sales_by_day"], grain)
    win_rate_chart(view, report)
    loss_reasons(view, scope, report, subdomain)
    cycle_chart(view, report, frames["cycle_days"])
    sellers_section(view, scope, report, seller_cycles(frames["cycle_days"]), subdomain)


if __name__ == "__main__":
    render()

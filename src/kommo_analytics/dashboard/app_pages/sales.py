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

from kommo_analytics.dashboard import charts, filters, metrics_data
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard.export import Column
from kommo_analytics.dashboard.filters import View
from kommo_analytics.metrics import series
from kommo_analytics.metrics.results import Report, Seller, section
from kommo_analytics.metrics.sales import NOT_SPECIFIED
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

SERIES: Final = ("sales_by_day", "cycle_days")
WON_COLOUR: Final = charts.WON_COLOUR
LOST_COLOUR: Final = charts.LOST_COLOUR
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
    locale, currency = view.locale, report.currency
    st.subheader(t("sales.over_time", locale), help=c.tip("sales.revenue", locale))
    buckets = series.rebucket(frame, grain)
    if buckets.empty:
        st.info(t("sales.no_closed", locale))
        return
    buckets = charts.complete(buckets, view.start, min(view.end, view.today), grain)
    when = [charts.bucket_label(b, grain, locale) for b in buckets["bucket"]]
    fig = go.Figure()
    for column, key, colour in (("won", "sales.won", WON_COLOUR),
                                ("lost", "sales.lost", LOST_COLOUR)):  # fmt: skip
        name = t(key, locale)
        fig.add_bar(
            x=buckets["bucket"], y=buckets[column], name=name, marker_color=colour,
            customdata=[charts.lines(w, charts.named(name, charts.value_text("count", v, locale)))
                        for w, v in zip(when, buckets[column], strict=True)],
            hovertemplate=charts.HOVER,
        )  # fmt: skip
    name = t("sales.revenue", locale)
    fig.add_scatter(
        x=buckets["bucket"], y=buckets["revenue"], name=name, yaxis="y2",
        mode="lines+markers", line={"color": charts.LINE_COLOUR, "width": 2},
        customdata=[charts.lines(w, charts.named(name, c.fmt_money(v, currency, locale)))
                    for w, v in zip(when, buckets["revenue"], strict=True)],
        hovertemplate=charts.HOVER,
    )  # fmt: skip
    fig.update_layout(barmode="group")
    charts.localise(
        fig, locale, height=380,
        x=charts.Axis("date", title=t(f"grain.{grain}", locale), grain=grain),
        y=charts.Axis("count", title=t("sales.axis_deals", locale)),
        y2=charts.Axis("money", title=t("sales.axis_revenue", locale, currency=currency or "—"),
                       currency=currency),
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
    texts = [t("sales.rate_label", locale, pct=c.fmt_pct(r.win_rate_pct, locale),
               won=c.fmt_number(r.won, locale), closed=c.fmt_number(r.won + r.lost, locale))
             for r in rows]  # fmt: skip
    labels = [seller_label(r, locale) for r in rows]
    fig = go.Figure()
    fig.add_bar(
        y=labels, x=[r.win_rate_pct for r in rows], orientation="h", marker_color="#4C78A8",
        text=texts,
        # "auto" hides the label of a bar too short to hold it: a seller at 0 % would be a
        # blank row. Short bars carry their label beside them.
        textposition=["inside" if (r.win_rate_pct or 0) >= 35 else "outside" for r in rows],
        cliponaxis=False,
        customdata=[charts.named(label, text) for label, text in zip(labels, texts, strict=True)],
        hovertemplate=charts.HOVER,
    )  # fmt: skip
    overall = section(report.sales, "sales").win_rate_pct
    fig.update_layout(showlegend=False)
    charts.localise(fig, locale, height=max(220, 34 * len(rows) + 80),
                    x=charts.Axis("percent", title=t("sales.axis_win_rate", locale), top=100),
                    y=charts.Axis("category"))  # fmt: skip
    if overall is not None:
        charts.reference_lines(fig, [charts.Reference(
            overall, t("sales.overall", locale, pct=c.fmt_pct(overall, locale)))])  # fmt: skip
    c.plot(fig, key="sales.win_rate")
    if left_out:
        st.caption(t("sales.left_out", locale, count=c.fmt_number(left_out, locale)))


LOSS_COLUMNS: Final = (
    Column("reason", "sales.col.reason", tip="sales.loss_reasons.reason"),
    Column("count", "sales.col.lost_deals", "integer", tip="sales.loss_reasons.count"),
    Column("share", "sales.col.share", "percent", tip="sales.loss_reasons.share_pct"),
    Column("cumulative", "sales.cumulative", "percent", tip="sales.loss_reasons.share_pct"),
    Column("value", "sales.col.lost_value", "money", tip="sales.loss_reasons.value"),
)
SELLER_COLUMNS: Final = (
    Column("seller", "sales.col.seller", tip="sellers.name"),
    Column("won", "sales.col.won", "integer", tip="sellers.won"),
    Column("lost", "sales.col.lost", "integer", tip="sellers.lost"),
    Column("win_rate", "sales.col.win_rate", "percent", tip="sellers.win_rate_pct"),
    Column("revenue", "sales.col.revenue", "money", tip="sellers.revenue"),
    Column("avg_ticket", "sales.col.avg_ticket", "money", tip="sellers.avg_ticket"),
    Column("cycle", "sales.col.cycle", "days", tip="sales.sales_cycle_avg_days"),
)


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
    lost_name, cumulative_name = t("sales.col.lost_deals", locale), t("sales.cumulative", locale)
    fig = go.Figure()
    fig.add_bar(
        x=labels, y=[r.count for r in rows], name=lost_name, marker_color=LOST_COLOUR,
        customdata=[charts.lines(label, charts.named(lost_name, c.fmt_number(r.count, locale)),
                                 charts.named(t("sales.col.share", locale),
                                              c.fmt_pct(r.share_pct, locale)))
                    for label, r in zip(labels, rows, strict=True)],
        hovertemplate=charts.HOVER,
    )  # fmt: skip
    fig.add_scatter(
        x=labels, y=cumulative, name=cumulative_name, yaxis="y2",
        mode="lines+markers", line={"color": charts.LINE_COLOUR, "width": 2},
        customdata=[charts.lines(label, charts.named(cumulative_name, c.fmt_pct(v, locale)))
                    for label, v in zip(labels, cumulative, strict=True)],
        hovertemplate=charts.HOVER,
    )  # fmt: skip
    charts.localise(
        fig, locale, height=380,
        x=charts.Axis("category"),
        y=charts.Axis("count", title=lost_name),
        y2=charts.Axis("percent", title=cumulative_name, top=100),
    )  # fmt: skip
    c.plot(fig, key="sales.loss_reasons")

    values = pd.DataFrame(
        {
            "reason": labels,
            "count": [r.count for r in rows],
            "share": [r.share_pct for r in rows],
            "cumulative": cumulative,
            "value": [r.value for r in rows],
        }
    )
    c.table(values, LOSS_COLUMNS, view=view, name="loss_reasons", currency=currency,
            title=t("sales.loss_reasons", locale))  # fmt: skip
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
    # Counted here in whole days, so each bar's hover says which days it holds.
    bins = charts.histogram(days.tolist(), max_bins=HISTOGRAM_BINS)
    won_name = t("sales.axis_won_deals", locale)
    fig = go.Figure()
    fig.add_bar(
        x=[(low + high + 1) / 2 for low, high, _ in bins], y=[n for _, _, n in bins],
        width=[high + 1 - low for low, high, _ in bins], marker_color=WON_COLOUR, name=won_name,
        customdata=[charts.lines(
            t("charts.day_range", locale, low=i18n.number(low, locale),
              high=i18n.number(high, locale)),
            charts.named(won_name, c.fmt_number(n, locale))) for low, high, n in bins],
        hovertemplate=charts.HOVER,
    )  # fmt: skip
    references = [
        charts.Reference(value, t(key, locale, days=c.fmt_days(value, locale)), dash=dash)
        for value, key, dash in (
            (s.sales_cycle_avg_days, "sales.cycle_avg_line", "dash"),
            (s.sales_cycle_median_days, "sales.cycle_median_line", "dot"),
        )
        if value is not None
    ]
    fig.update_layout(showlegend=False, bargap=0.05)
    charts.localise(fig, locale, height=340,
                    x=charts.Axis("days", title=t("sales.axis_cycle_days", locale),
                                 include=(bins[-1][1] + 1,)),
                    y=charts.Axis("count", title=won_name))  # fmt: skip
    charts.reference_lines(fig, references)
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
    values = pd.DataFrame(
        {
            "seller": names,
            "won": [r.won for r in rows],
            "lost": [r.lost for r in rows],
            "win_rate": [r.win_rate_pct for r in rows],
            "revenue": [r.revenue for r in rows],
            "avg_ticket": [r.avg_ticket for r in rows],
            "cycle": [cycles.get(int(r.user_id)) for r in rows],
        }
    )
    c.table(values, SELLER_COLUMNS, view=view, name="sales_by_seller", currency=currency,
            title=t("sales.sellers", locale))  # fmt: skip
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

"""All accounts: the install's accounts side by side and summed (docs/metrics.md, "Consolidated
view"). Counts are summed and rates recomputed from the sums; money is converted month by
month at the rates an admin entered, and without one the total is refused and the missing
rate named; medians stay per account. Shown in the navigation only with two accounts or more."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from kommo_analytics.dashboard import auth, charts, consolidation, filters
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard.goals import month_label
from kommo_analytics.errors import InputFileError, KommoAnalyticsError
from kommo_analytics.metrics import consolidated as combine
from kommo_analytics.metrics.consolidated import AccountReports, Consolidated
from kommo_analytics.service import consolidated as service
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t


def _table(result: Consolidated, locale: Locale) -> None:
    """One row per account in its own currency, then the total (converted money only when
    every rate is known)."""
    currency = result.currency
    rows = []
    for a in result.accounts:
        own = a.money
        rows.append({
            t("consolidated.col.account", locale): a.label,
            t("consolidated.col.currency", locale): a.currency or "—",
            t("consolidated.col.timezone", locale): a.timezone,
            t("consolidated.col.leads", locale): i18n.number(a.counts.leads, locale),
            t("consolidated.col.won", locale): i18n.number(a.counts.won, locale),
            t("consolidated.col.win_rate", locale): c.cell_pct(a.counts.win_rate_pct, locale),
            t("consolidated.col.revenue", locale): c.cell_money(own.revenue, a.currency, locale),
            t("consolidated.col.avg_ticket", locale):
                c.cell_money(own.avg_ticket(a.counts), a.currency, locale),
            t("consolidated.col.open_value", locale):
                c.cell_money(own.open_value, a.currency, locale),
            t("consolidated.col.converted", locale, currency=currency):
                c.cell_money(a.converted.revenue if a.converted else None, currency, locale),
            t("consolidated.col.response_median", locale):
                c.cell_hours(a.response_median_hours, locale),
            t("consolidated.col.cycle_median", locale):
                "" if a.sales_cycle_median_days is None
                else c.fmt_days(a.sales_cycle_median_days, locale),
        })  # fmt: skip
    money = result.money
    counts = result.counts
    rows.append({
        t("consolidated.col.account", locale): t("consolidated.total", locale),
        t("consolidated.col.currency", locale): currency,
        t("consolidated.col.timezone", locale): "",
        t("consolidated.col.leads", locale): i18n.number(counts.leads, locale),
        t("consolidated.col.won", locale): i18n.number(counts.won, locale),
        t("consolidated.col.win_rate", locale): c.cell_pct(counts.win_rate_pct, locale),
        t("consolidated.col.revenue", locale):
            c.cell_money(money.revenue if money else None, currency, locale),
        t("consolidated.col.avg_ticket", locale):
            c.cell_money(money.avg_ticket(counts) if money else None, currency, locale),
        t("consolidated.col.open_value", locale):
            c.cell_money(money.open_value if money else None, currency, locale),
        t("consolidated.col.converted", locale, currency=currency):
            c.cell_money(money.revenue if money else None, currency, locale),
        t("consolidated.col.response_median", locale): "",
        t("consolidated.col.cycle_median", locale): "",
    })  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(t("consolidated.table_caption", locale))


def _missing(result: Consolidated, locale: Locale) -> None:
    if result.missing_rates:
        lines = "\n".join(
            "- " + t("consolidated.missing_line", locale, month=month_label(m.month, locale),
                     currency=m.currency, target=result.currency, accounts=", ".join(m.accounts))
            for m in result.missing_rates
        )  # fmt: skip
        st.warning(t("consolidated.missing", locale, currency=result.currency) + "\n\n" + lines)
        consolidation.offer_settings("rates", locale)
    if result.without_currency:
        st.warning(t("consolidated.no_currency", locale,
                     accounts=", ".join(result.without_currency)))  # fmt: skip


def _revenue_chart(result: Consolidated, locale: Locale) -> None:
    shown = [a for a in result.accounts if a.converted is not None]
    if not shown:
        return
    currency = result.currency
    texts = [charts.value_text("money", a.converted.revenue if a.converted else None, locale,
                               currency) for a in shown]  # fmt: skip
    fig = go.Figure()
    fig.add_bar(
        x=[a.label for a in shown],
        y=[a.converted.revenue if a.converted else 0.0 for a in shown],
        text=texts,
        textposition="auto",
        customdata=[charts.named(a.label, text) for a, text in zip(shown, texts, strict=True)],
        hovertemplate=charts.HOVER,
        marker_color=charts.WON_COLOUR,
    )
    fig.update_layout(showlegend=False)
    charts.localise(fig, locale, height=320, x=charts.Axis("category"),
                    y=charts.Axis("money", title=t("consolidated.chart_axis", locale,
                                                   currency=currency), currency=currency))  # fmt: skip
    st.subheader(t("consolidated.chart_title", locale, currency=currency))
    c.plot(fig, key="consolidated.revenue")


def _funnel(result: Consolidated, locale: Locale) -> None:
    st.subheader(t("consolidated.funnel_title", locale))
    funnel = result.funnel
    if funnel is None:
        st.info(t("consolidated.no_mapping", locale))
        consolidation.offer_settings("stage_map", locale)
        return
    names = [a.name for a in result.accounts]
    labels = {a.name: a.label for a in result.accounts}
    rows = [
        {
            t("consolidated.col.stage", locale): s.name,
            t("consolidated.col.reached", locale): i18n.number(s.reached, locale),
            **{labels[n]: i18n.number(s.by_account.get(n, 0), locale) for n in names},
            t("consolidated.col.to_next", locale): c.cell_pct(s.conversion_to_next_pct, locale),
        }
        for s in funnel.stages
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(t("consolidated.funnel_caption", locale,
                 won=i18n.number(funnel.won, locale)))  # fmt: skip
    if funnel.unmapped:
        with st.expander(t("consolidated.unmapped", locale,
                           count=i18n.number(len(funnel.unmapped), locale))):  # fmt: skip
            st.markdown("\n".join(f"- {labels.get(s.account, s.account)} · {s.pipeline} · "
                                  f"{s.stage}" for s in funnel.unmapped))  # fmt: skip
    if funnel.unmatched:
        st.warning(t("consolidated.unmatched", locale) + "\n\n" + "\n".join(
            f"- {r.account} · {r.pipeline} · {r.stage}" for r in funnel.unmatched))  # fmt: skip
    consolidation.offer_settings("stage_map", locale)


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    if not auth.current_access().sees_whole_account:
        st.warning(t("consolidated.not_allowed", locale))
        return
    st.title(t("consolidated.heading", locale))
    st.caption(t("consolidated.caption", locale,
                 period=i18n.date_range(view.start, view.end, locale)))  # fmt: skip
    visible = consolidation.visible_accounts()
    if len(visible) < 2:
        st.info(t("consolidated.one_account", locale))
        return
    settings = service.install_settings()
    labels = {n: service.label_of(settings, n) for n in visible}
    chosen = st.multiselect(t("consolidated.accounts", locale), visible, default=visible,
                            format_func=lambda n: labels[n], key="consolidated.accounts")  # fmt: skip
    ready: list[tuple[str, str]] = []
    for name in chosen:
        version = consolidation.account_version(name)
        if version is None:
            st.info(t("consolidated.not_synced", locale, account=labels[name]))
        else:
            ready.append((name, version[1]))
    if not ready:
        return
    try:
        rows = service.read_rates(settings)
    except InputFileError as exc:
        st.error(t("consolidated.file_refused", locale, name=exc.source) + "\n\n" + "\n".join(
            f"- {p}" for p in exc.problems))  # fmt: skip
        consolidation.offer_settings("rates", locale)
        rows = []
    currencies = list(dict.fromkeys(
        [cur for n, _ in ready if (cur := consolidation.account_currency(n))]
        + [r.to_currency for r in rows]))  # fmt: skip
    if not currencies:
        st.warning(
            t("consolidated.no_currency", locale, accounts=", ".join(labels[n] for n, _ in ready))
        )
        return
    currency = st.selectbox(t("consolidated.currency", locale), currencies,
                            key="consolidated.currency")  # fmt: skip
    as_of = view.now.replace(second=0, microsecond=0)
    try:
        items: list[AccountReports] = [
            consolidation.account_reports(n, version, view.start, view.end, as_of, currency)
            for n, version in ready
        ]
        mapping = service.read_stage_map(settings)
    except InputFileError as exc:
        st.error(t("consolidated.file_refused", locale, name=exc.source) + "\n\n" + "\n".join(
            f"- {p}" for p in exc.problems))  # fmt: skip
        return
    except KommoAnalyticsError as exc:
        st.error(t("settings.problem", locale, message=exc.message, hint=exc.hint))
        return
    result = combine.consolidate(items, service.rates_for(rows, currency), mapping)
    _missing(result, locale)
    _table(result, locale)
    _revenue_chart(result, locale)
    _funnel(result, locale)


if __name__ == "__main__":
    render()

"""Leads: the raw leads table, filtered by the sidebar, linked to Kommo, downloadable.

An explorer, not a metric: it lists leads and counts rows. Deleted leads are left out; the
period is of creation dates, in the account's time zone. The database searches, sorts, counts and
cuts the page (service/leads.py): a render formats only the rows shown, whatever the account's
size. The downloads hold every lead the filters and the search match, up to
``pages.EXPORT_LIMIT``, in the table's order.
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd
import streamlit as st

from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import data, filters
from kommo_analytics.dashboard.export import to_csv, to_xlsx
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service.account import Account, zone_of
from kommo_analytics.service.leads import TABLES_NEEDED, status_key
from kommo_analytics.service.pages import EXPORT_LIMIT
from kommo_analytics.service.scope import Scope
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t, tn

# Display columns, in order, with their catalogue keys.
COLUMNS: Final = (
    ("id", "leads.col.id"),
    ("name", "leads.col.name"),
    ("pipeline", "leads.col.pipeline"),
    ("stage", "leads.col.stage"),
    ("user", "leads.col.user"),
    ("created", "leads.col.created"),
    ("price", "leads.col.price"),
    ("status", "leads.col.status"),
    ("utm_source", "leads.col.utm_source"),
    ("utm_medium", "leads.col.utm_medium"),
    ("utm_campaign", "leads.col.utm_campaign"),
)


def lead_url(subdomain: str | None, lead_id: int) -> str | None:
    return f"https://{subdomain}.kommo.com/leads/detail/{lead_id}" if subdomain else None


def _local_times(values: pd.Series, zone_name: str) -> pd.Series:
    """UTC instants as wall-clock times in the account's zone, without the offset (Excel and
    Streamlit's datetime column both want naive values)."""
    local: pd.Series = values.dt.tz_convert(zone_name).dt.tz_localize(None)
    return local


def _zone_name(account: Account | None) -> str:
    return str(zone_of(account.timezone if account else None))


def display_frame(frame: pd.DataFrame, account: Account | None, locale: Locale) -> pd.DataFrame:
    """The leads as the table shows them: named, localised, one link per lead."""
    subdomain = account.subdomain if account else None
    currency = account.currency if account else None
    ids = frame["id"].astype("int64")

    def text(column: str) -> pd.Series:
        # Streamlit writes a missing value as the English word "None": show an empty cell.
        return frame[column].fillna("")

    return pd.DataFrame(
        {
            "id": [lead_url(subdomain, int(i)) for i in ids] if subdomain else ids,
            "name": text("name"),
            "pipeline": text("pipeline_name"),
            "stage": text("status_name"),
            "user": text("user_name"),
            "created": _local_times(frame["created_at"], _zone_name(account)),
            "price": [_money(v, currency, locale) for v in frame["price"]],
            "status": [t(f"status.{status_key(_int(s))}", locale) for s in frame["status_id"]],
            "utm_source": text("utm_source"),
            "utm_medium": text("utm_medium"),
            "utm_campaign": text("utm_campaign"),
        }
    )


def export_frame(frame: pd.DataFrame, account: Account | None, locale: Locale) -> pd.DataFrame:
    """The leads for a spreadsheet: the same rows as the table, with raw values (a number for
    the price, a date-time for the creation) so they can be summed and sorted there."""
    subdomain = account.subdomain if account else None
    zone_name = _zone_name(account)
    currency = (account.currency if account else None) or ""
    price_label = (
        t("leads.col.price_currency", locale, currency=currency)
        if currency
        else t("leads.col.price", locale)
    )
    out = {
        t("leads.col.id", locale): frame["id"].astype("int64"),
        t("leads.col.url", locale): [lead_url(subdomain, int(i)) for i in frame["id"]],
        t("leads.col.name", locale): frame["name"],
        t("leads.col.pipeline", locale): frame["pipeline_name"],
        t("leads.col.stage", locale): frame["status_name"],
        t("leads.col.user", locale): frame["user_name"],
        t("leads.col.created_tz", locale, tz=zone_name): _local_times(
            frame["created_at"], zone_name
        ),
        price_label: frame["price"],
        t("leads.col.status", locale): [
            t(f"status.{status_key(_int(s))}", locale) for s in frame["status_id"]
        ],
        t("leads.col.utm_source", locale): frame["utm_source"],
        t("leads.col.utm_medium", locale): frame["utm_medium"],
        t("leads.col.utm_campaign", locale): frame["utm_campaign"],
    }
    return pd.DataFrame(out)


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _money(value: Any, currency: str | None, locale: Locale) -> str:
    if value is None or pd.isna(value):
        return ""
    return i18n.money(value, currency, locale) if currency else i18n.number(value, locale)


def _column_config(account: Account | None, locale: Locale) -> dict[str, Any]:
    config: dict[str, Any] = {key: t(label, locale) for key, label in COLUMNS}
    if account and account.subdomain:
        # The link shows the lead id (the URL's last segment) and opens the lead in Kommo.
        config["id"] = st.column_config.LinkColumn(
            t("leads.col.id", locale), display_text=r"/leads/detail/(\d+)$"
        )
    else:
        config["id"] = st.column_config.NumberColumn(t("leads.col.id", locale), format="%d")
    config["created"] = st.column_config.DatetimeColumn(
        t("leads.col.created", locale), format=i18n.DATETIME_COLUMN_FORMAT[locale]
    )
    config["price"] = st.column_config.TextColumn(t("leads.col.price", locale), alignment="right")
    return config


# Sort keys of the service (`leads.SORTS`) → their labels; the first is the default.
SORTS: Final = {
    "created": "leads.col.created",
    "id": "leads.col.id",
    "name": "leads.col.name",
    "price": "leads.col.price",
    "pipeline": "leads.col.pipeline",
    "stage": "leads.col.stage",
    "user": "leads.col.user",
}
KEY: Final = "leads.table"


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("leads.title", locale))
    warehouse = view.warehouse
    if not warehouse.ready or not TABLES_NEEDED.issubset(warehouse.tables):
        data.show_problem(warehouse, locale)
        return
    scope = Scope(
        start=view.start,
        end=view.end,
        pipelines=view.filters.pipelines,
        sellers=view.filters.users,
        allowed_sellers=view.allowed_sellers,
    )
    account = view.account
    zone_name = _zone_name(account)
    st.caption(t("leads.caption", locale, tz=zone_name))
    request = c.page_request(KEY, locale, SORTS, search=True)
    try:
        page = data.load_leads_page(warehouse.url, warehouse.version, scope, zone_name, request)
    except KommoAnalyticsError as exc:
        data.show_error(exc, locale)
        return
    st.markdown(f"**{tn('leads.count', page.total, locale)}**")
    if page.total == 0:
        st.info(t("leads.empty_search" if request.search else "leads.empty", locale))
        return
    # Only the page's rows are formatted and sent to the browser.
    st.dataframe(
        display_frame(page.rows, account, locale),
        hide_index=True,
        column_config=_column_config(account, locale),
        column_order=[key for key, _ in COLUMNS],
    )
    c.page_navigation(page, KEY, locale)
    stem = f"leads_{view.start.isoformat()}_{view.end.isoformat()}"

    def export() -> pd.DataFrame:
        return export_frame(data.leads_rows(warehouse.url, scope, zone_name, request), account,
                            locale)  # fmt: skip

    # Passing callables builds a file only when its button is clicked, not on every render
    # (an Excel file of a large account takes seconds).
    left, right, _ = st.columns([1, 1, 4])
    with left:
        st.download_button(
            t("leads.download_csv", locale),
            data=lambda: to_csv(export()),
            file_name=f"{stem}.csv",
            mime="text/csv",
            on_click="ignore",
            icon=":material/download:",
        )
    with right:
        st.download_button(
            t("leads.download_xlsx", locale),
            data=lambda: to_xlsx(export(), t("leads.sheet", locale)),
            file_name=f"{stem}.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            on_click="ignore",
            icon=":material/download:",
        )
    c.export_note(page.total, EXPORT_LIMIT, locale)


if __name__ == "__main__":
    render()

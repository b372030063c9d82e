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
from kommo_analytics.dashboard import data, filters, syncing
from kommo_analytics.dashboard.export import Column
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service.account import Account, zone_of
from kommo_analytics.service.leads import TABLES_NEEDED, status_key
from kommo_analytics.service.pages import EXPORT_LIMIT
from kommo_analytics.service.scope import Scope
from kommo_analytics.text.i18n import Locale, t, tn

# The table's columns, in order: the name linked to the lead in Kommo first. The creation time
# is the account's wall-clock time (its zone is in the caption and the export's header).
COLUMNS: Final = (
    Column("name", "leads.col.name", "link", url="url"),
    Column("id", "leads.col.id", "id"),
    Column("pipeline", "leads.col.pipeline"),
    Column("stage", "leads.col.stage"),
    Column("user", "leads.col.user"),
    Column("created", "leads.col.created", "datetime"),
    Column("price", "leads.col.price", "money"),
    Column("status", "leads.col.status"),
    Column("utm_source", "leads.col.utm_source"),
    Column("utm_medium", "leads.col.utm_medium"),
    Column("utm_campaign", "leads.col.utm_campaign"),
)


def columns_for(zone_name: str) -> tuple[Column, ...]:
    """:data:`COLUMNS`, the creation time's header naming the account's zone (a spreadsheet
    has no caption to say it)."""
    return tuple(
        Column("created", "leads.col.created_tz", "datetime", label_values=(("tz", zone_name),))
        if column.key == "created"
        else column
        for column in COLUMNS
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


def lead_values(frame: pd.DataFrame, account: Account | None, locale: Locale) -> pd.DataFrame:
    """The leads (the service's rows) as the values of :data:`COLUMNS`: named (an unnamed lead
    reads "Lead 123"), linked, the creation in the account's zone, the status in words."""
    subdomain = account.subdomain if account else None
    ids = [int(i) for i in frame["id"]]
    return pd.DataFrame(
        {
            "name": [c.lead_name(n, i, locale) for n, i in zip(frame["name"], ids, strict=True)],
            "url": [lead_url(subdomain, i) for i in ids],
            "id": ids,
            "pipeline": frame["pipeline_name"].tolist(),
            "stage": frame["status_name"].tolist(),
            "user": frame["user_name"].tolist(),
            "created": _local_times(frame["created_at"], _zone_name(account)).tolist(),
            "price": frame["price"].tolist(),
            "status": [t(f"status.{status_key(_int(s))}", locale) for s in frame["status_id"]],
            "utm_source": frame["utm_source"].tolist(),
            "utm_medium": frame["utm_medium"].tolist(),
            "utm_campaign": frame["utm_campaign"].tolist(),
        }
    )


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


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
        syncing.show_problem(warehouse, locale)
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
    currency = account.currency if account else None
    shown, config = c.shown_frame(lead_values(page.rows, account, locale), COLUMNS, locale,
                                  currency)  # fmt: skip
    st.dataframe(shown, hide_index=True, column_config=config, width="stretch",
                 height=c.table_height(len(shown)))  # fmt: skip
    c.page_navigation(page, KEY, locale)
    stem = f"leads_{view.start.isoformat()}_{view.end.isoformat()}"

    def export() -> pd.DataFrame:
        return lead_values(data.leads_rows(warehouse.url, scope, zone_name, request), account,
                           locale)  # fmt: skip

    # The files are built only when a button is clicked, not on every render (an Excel file of
    # a large account takes seconds).
    c.downloads(export, columns_for(zone_name), stem, locale, key="dl.leads",
                sheet=t("leads.sheet", locale), currency=currency)  # fmt: skip
    c.export_note(page.total, EXPORT_LIMIT, locale)


if __name__ == "__main__":
    render()

"""Pieces every metrics page is made of: KPI cards with their definition as a tooltip, tables with
CSV and Excel downloads, Plotly charts, lead lists linked to Kommo (drill-down), and the
messages that stand where a number cannot be shown.

Texts come from the catalogues (:mod:`i18n`) and the metric definitions
(:mod:`kommo_analytics.text.definitions`); numbers are formatted by Babel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from babel.dates import format_date
from babel.lists import format_list
from babel.units import format_unit

from kommo_analytics.dashboard import charts, data, metrics_data, syncing
from kommo_analytics.dashboard.export import Column, missing, to_csv, to_xlsx
from kommo_analytics.dashboard.filters import View, channel_label
from kommo_analytics.metrics.results import Report
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE, PAGE_SIZES, Page, PageRequest
from kommo_analytics.settings import load_settings
from kommo_analytics.text import definitions, i18n
from kommo_analytics.text.i18n import Locale, t

Direction = Literal["higher", "lower"]


def tip(key: str, locale: Locale) -> str | None:
    """The metric's definition (docs/metrics.md), for a tooltip; None for an unknown key."""
    try:
        return definitions.tooltip(key, locale)
    except KeyError:
        return None


# -- formatting ---------------------------------------------------------------------------------------


def fmt_number(value: float | None, locale: Locale, digits: int = 0) -> str:
    if value is None:
        return "—"
    return i18n.number(round(value, digits) if digits else round(value), locale)


def fmt_pct(value: float | None, locale: Locale) -> str:
    return "—" if value is None else f"{i18n.number(round(value, 1), locale)} %"


def fmt_money(value: float | None, currency: str | None, locale: Locale) -> str:
    if value is None:
        return "—"
    return (
        i18n.money(round(value, 2), currency, locale) if currency else fmt_number(value, locale, 2)
    )


def fmt_hours(value: float | None, locale: Locale) -> str:
    if value is None:
        return "—"
    if value < 1:
        return t("unit.minutes", locale, value=i18n.number(round(value * 60), locale))
    if value < 48:
        return t("unit.hours", locale, value=i18n.number(round(value, 1), locale))
    return t("unit.days", locale, value=i18n.number(round(value / 24, 1), locale))


def fmt_days(value: float | None, locale: Locale) -> str:
    return (
        "—" if value is None else t("unit.days", locale, value=i18n.number(round(value, 1), locale))
    )


def fmt_duration(hours: float | None, locale: Locale) -> str:
    """A duration in two units as the locale abbreviates them ("7 h 16 min", "3 dias 4 h"):
    "7,3 h" makes a reader do the arithmetic."""
    if hours is None:
        return "—"
    babel = i18n.babel_locale(locale)
    minutes = max(0, round(hours * 60))
    if minutes < 60:
        return format_unit(minutes, "duration-minute", length="short", locale=babel)
    days, rest = divmod(minutes, 24 * 60)
    whole_hours, left = divmod(rest, 60)
    if days:
        units = [(days, "duration-day"), (whole_hours, "duration-hour")]
    else:
        units = [(whole_hours, "duration-hour"), (left, "duration-minute")]
    parts = [format_unit(n, unit, length="short", locale=babel) for n, unit in units if n]
    return format_list(parts, style="unit-narrow", locale=babel)


# Table cells: an unknown value is an empty cell (a column of dashes reads as data).


def cell_money(value: float | None, currency: str | None, locale: Locale) -> str:
    return "" if value is None else fmt_money(value, currency, locale)


def cell_pct(value: float | None, locale: Locale) -> str:
    return "" if value is None else fmt_pct(value, locale)


def cell_hours(value: float | None, locale: Locale) -> str:
    return "" if value is None else fmt_duration(value, locale)


# -- KPI cards --------------------------------------------------------------------------------------


def change(
    current: float | None, previous: float | None, locale: Locale, *, points: bool
) -> str | None:
    """The change against the comparison period: percentage points for rates, % otherwise. A
    change that rounds to zero reads "0 p.p." / "0 %", never "−0" or "+0"."""
    if current is None or previous is None:
        return None
    if points:
        diff = round(current - previous, 1) or 0.0  # `or`: -0.0 is falsy, and prints as "-0"
        sign = "+" if diff > 0 else ""
        return t("kpi.delta_points", locale, value=f"{sign}{i18n.number(diff, locale)}")
    if previous == 0:
        return None
    relative = round(100.0 * (current - previous) / abs(previous), 1) or 0.0
    return f"{'+' if relative > 0 else ''}{i18n.number(relative, locale)} %"


def is_zero_change(delta: str | None) -> bool:
    """Whether a change text says nothing moved ("0 %", "0 p.p."): Streamlit colours any text
    delta that does not start with a minus as a rise."""
    return delta is not None and not re.search(r"[1-9]", delta)


def on_target(value: float | None, target: float | None, direction: Direction) -> bool | None:
    if value is None or target is None:
        return None
    return value >= target if direction == "higher" else value <= target


@dataclass(frozen=True)
class CardValue:
    """A card's figure: what fits the card, and the exact figure its tooltip gives."""

    shown: str
    exact: str


# Money from here up is shown compact on a card ("R$ 187,6 mil"): a full figure with cents does
# not fit a card four to a row, and Streamlit cuts it with an ellipsis.
CARD_COMPACT_FROM: Final = 1_000.0
# Every KPI card has the same height, so a row of cards with and without a target or a change
# line stays level (label, value and one line under it; each line cut rather than wrapped).
CARD_HEIGHT: Final = 128
# The hero row's cards hold a card and one line under it (a caption, which may wrap on a phone).
HERO_HEIGHT: Final = 184


def card_money(value: float | None, currency: str | None, locale: Locale) -> CardValue:
    exact = fmt_money(value, currency, locale)
    if value is None or abs(value) < CARD_COMPACT_FROM:
        return CardValue(exact, exact)
    return CardValue(i18n.compact_money(value, currency, locale), exact)


def target_line(target: str, hit: bool | None, locale: Locale) -> str:
    """The card's target under its value: coloured (and marked, for who does not see colour)
    when the value is known to meet it or not. Red is always the bad side."""
    text = t("kpi.target", locale, target=target)
    if hit is None:
        return text
    return f":green[✓ {text}]" if hit else f":red[✗ {text}]"


def kpi(
    label: str,
    value: str | CardValue,
    *,
    locale: Locale,
    help_key: str | None = None,
    delta: str | None = None,
    good_when: Direction = "higher",
    target: str | None = None,
    hit: bool | None = None,
    note: str | None = None,
    note_line: str | None = None,
    even: bool = False,
    border: bool = True,
) -> None:
    """One card: the value (compact, the exact figure in its tooltip), its change against the
    comparison period (green when it moved the good way, grey when it did not move) and, on the
    same line, the target marked met or not. `even`: the card has the fixed height of a row of
    cards, so that the row stays level; its note (why it is empty) is then in the tooltip, and
    `note_line`, its few words, stands on the card's last line in place of the target."""
    card = value if isinstance(value, CardValue) else CardValue(value, value)
    parts = [tip(help_key, locale) if help_key else None]
    if card.exact != card.shown:
        parts.insert(0, t("kpi.exact", locale, value=card.exact))
    if target is not None and hit is not None:
        word = t("kpi.on_target" if hit else "kpi.off_target", locale)
        parts.insert(0, f"{t('kpi.target', locale, target=target)}: {word}")
    if note and even:
        parts.insert(0, note)
    zero = is_zero_change(delta)
    line = target_line(target, hit, locale) if target is not None else None
    if note_line and even:
        line = note_line
    st.metric(
        label,
        card.shown,
        delta=delta,
        delta_color="off" if zero else ("normal" if good_when == "higher" else "inverse"),
        delta_arrow="off" if zero else "auto",
        help="\n\n".join(p for p in parts if p) or None,
        border=border,
        delta_description=line,
        height=CARD_HEIGHT if even else "content",
    )
    if note and not even:
        st.caption(note)


# -- tables and downloads ---------------------------------------------------------------------------
# Every table is a frame of raw values and its columns (export.Column): the cells are formatted
# here from the column's kind, and the downloads write the same rows and columns, so what is
# exported is what is on screen.

ROW_PX: Final = 35  # Streamlit's row (and header) height
MAX_ROWS: Final = 20  # rows a table shows before it scrolls


def table_height(rows: int, max_rows: int = MAX_ROWS) -> int | Literal["content"]:
    """Every row up to `max_rows` (Streamlit's default stops at ten), then a scroll."""
    return "content" if rows <= max_rows else (max_rows + 1) * ROW_PX + 3


def cell(column: Column, value: Any, currency: str | None, locale: Locale) -> Any:
    """One value as its table shows it; a missing value is an empty cell."""
    kind = column.kind
    if kind == "datetime":
        return None if missing(value) else pd.Timestamp(value)
    if missing(value):
        return ""
    if kind == "id":
        return str(int(value))
    if kind == "integer":
        return fmt_number(float(value), locale)
    if kind == "decimal":
        return fmt_number(float(value), locale, column.digits)
    if kind == "money":
        return fmt_money(float(value), currency, locale)
    if kind == "percent":
        return fmt_pct(float(value), locale)
    if kind == "hours":
        return fmt_duration(float(value), locale)
    if kind == "days":
        return fmt_days(float(value), locale)
    if kind == "date":
        return format_date(pd.Timestamp(value).date(), "short", locale=i18n.babel_locale(locale))
    return str(value)


def link_value(url: Any, text: str) -> str:
    """The URL a link cell holds: the lead's address with its name as the fragment (Kommo
    ignores it), which the column shows as the link's text."""
    return f"{url}#{quote(text, safe='')}"


LINK_TEXT: Final = r"#(.+)$"


def shown_frame(values: pd.DataFrame, columns: Sequence[Column], locale: Locale,
                currency: str | None) -> tuple[pd.DataFrame, dict[str, Any]]:  # fmt: skip
    """The table's cells and their column settings (label, definition as tooltip, numbers on
    the right, dates sortable, links to Kommo)."""
    records = values.to_dict("records")
    shown: dict[str, list[Any]] = {}
    config: dict[str, Any] = {}
    for column in columns:
        label = column.heading(locale)
        help_text = (tip(column.tip, locale) if column.tip
                     else t(column.help, locale) if column.help else None)  # fmt: skip
        cells = [cell(column, r.get(column.key), currency, locale) for r in records]
        linked = (
            column.kind == "link"
            and column.url is not None
            and any(not missing(r.get(column.url)) for r in records)
        )
        if linked:
            urls = [r.get(column.url) for r in records]
            shown[column.key] = [
                None if missing(u) else link_value(u, str(text) or str(u))
                for u, text in zip(urls, cells, strict=True)
            ]
            config[column.key] = st.column_config.LinkColumn(label, help=help_text,
                                                             display_text=LINK_TEXT)  # fmt: skip
        elif column.kind == "datetime":
            shown[column.key] = cells
            config[column.key] = st.column_config.DatetimeColumn(
                label, help=help_text, format=i18n.DATETIME_COLUMN_FORMAT[locale]
            )
        else:
            shown[column.key] = cells
            numeric = column.right or column.kind not in ("text", "link", "date")
            config[column.key] = st.column_config.TextColumn(
                label, help=help_text, alignment="right" if numeric else "left"
            )
    return pd.DataFrame(shown, columns=[column.key for column in columns]), config


def downloads(export: Callable[[], pd.DataFrame], columns: Sequence[Column], stem: str,
              locale: Locale, key: str, *, sheet: str | None = None,
              currency: str | None = None) -> None:  # fmt: skip
    """CSV and Excel buttons for the table `columns` describe; `export` gives its rows, and the
    files are built only when a button is clicked."""
    left, right, _ = st.columns([1, 1, 3])
    with left:
        st.download_button(
            t("table.download_csv", locale),
            data=lambda: to_csv(export(), columns, locale),
            file_name=f"{stem}.csv",
            mime="text/csv",
            on_click="ignore",
            icon=":material/download:",
            key=f"{key}.csv",
        )
    with right:
        st.download_button(
            t("table.download_xlsx", locale),
            data=lambda: to_xlsx(export(), columns, locale, sheet=sheet or stem, currency=currency),
            file_name=f"{stem}.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            on_click="ignore",
            icon=":material/download:",
            key=f"{key}.xlsx",
        )


def table(
    values: pd.DataFrame,
    columns: Sequence[Column],
    *,
    view: View,
    name: str,
    title: str | None = None,
    currency: str | None = None,
) -> None:
    """A table of raw `values` shown as `columns` describe, with its downloads (the same rows
    and columns; `title` names the Excel sheet)."""
    locale = view.locale
    shown, config = shown_frame(values, columns, locale, currency)
    st.dataframe(shown, hide_index=True, column_config=config, width="stretch",
                 height=table_height(len(shown)))  # fmt: skip
    stem = f"{name}_{view.start.isoformat()}_{view.end.isoformat()}"
    downloads(lambda: values, columns, stem, locale, key=f"dl.{name}", sheet=title,
              currency=currency)  # fmt: skip


def separators(locale: Locale) -> str:
    """Plotly's ``separators`` for the locale (decimal mark, then thousands), so axis ticks read
    "1.500.000" in pt-BR and "1,500,000" in en, as the numbers in the tables do."""
    return charts.separators(locale)


def plot(fig: go.Figure, key: str) -> None:
    """The one way a figure is shown: legend below the plot, no toolbar (its English tooltips
    and zoom buttons get in a phone's way). Build the figure with :mod:`charts` so its texts
    are in the reader's language."""
    charts.phone_layout(fig)
    st.plotly_chart(fig, width="stretch", key=key, config={"displayModeBar": False})


# -- paged tables -------------------------------------------------------------------------------------
# A table that grows with the account is read one page at a time (service/pages.py): the
# controls below make the request, the database sorts, searches, counts and cuts the page.


def page_request(
    key: str,
    locale: Locale,
    sorts: Mapping[str, str],
    *,
    search: bool = False,
    newest: tuple[str, str] = ("page.desc", "page.asc"),
) -> PageRequest:
    """The controls above a paged table (search box, sort, order, rows per page) and the
    request they make; `sorts` maps the service's sort keys to their label keys, the first is
    the default. `newest`: the labels of the descending and ascending orders. A change of
    search, sort or size goes back to the first page."""
    state = st.session_state
    number_key = f"{key}.page"

    def first_page() -> None:
        state[number_key] = 1

    widths = [3, 2, 2, 1] if search else [2, 2, 1]
    columns = iter(st.columns(widths, vertical_alignment="bottom"))
    text = ""
    if search:
        with next(columns):
            text = st.text_input(
                t("page.search", locale),
                key=f"{key}.search",
                on_change=first_page,
                placeholder=t("page.search_hint", locale),
                max_chars=200,
            )
    keys = list(sorts)
    with next(columns):
        sort = (
            st.selectbox(
                t("page.sort", locale),
                keys,
                format_func=lambda k: t(sorts[k], locale),
                key=f"{key}.sort",
                on_change=first_page,
            )
            if len(keys) > 1
            else keys[0]
        )
    with next(columns):
        descending = st.selectbox(
            t("page.order", locale),
            (True, False),
            format_func=lambda d: t(newest[0] if d else newest[1], locale),
            key=f"{key}.order",
            on_change=first_page,
        )
    with next(columns):
        size = st.selectbox(
            t("page.size", locale),
            PAGE_SIZES,
            index=PAGE_SIZES.index(DEFAULT_PAGE_SIZE),
            format_func=lambda n: i18n.number(n, locale),
            key=f"{key}.size",
            on_change=first_page,
        )
    number = int(state.get(number_key, 1) or 1)
    return PageRequest(
        number=max(1, number),
        size=int(size),
        sort=str(sort),
        descending=bool(descending),
        search=text.strip(),
    )


def page_navigation(page: Page, key: str, locale: Locale) -> None:
    """Under a paged table: which rows these are of how many, and the page to go to."""
    number_key = f"{key}.page"
    # The page read (a request past the end reads the last one) is what the input shows.
    st.session_state[number_key] = page.number
    left, right = st.columns([4, 1], vertical_alignment="center")
    last = min(page.total, page.number * page.size)
    with left:
        st.caption(
            t("page.position", locale, first=i18n.number(page.first_row, locale),
              last=i18n.number(last, locale), total=i18n.number(page.total, locale),
              page=i18n.number(page.number, locale), pages=i18n.number(page.pages, locale))
        )  # fmt: skip
    with right:
        if page.pages > 1:
            st.number_input(
                t("page.number", locale), min_value=1, max_value=page.pages, step=1,
                key=number_key,
            )  # fmt: skip


def export_note(total: int, limit: int, locale: Locale) -> None:
    """What the downloads under a paged table hold: every filtered row, or the first `limit`."""
    if total > limit:
        note = t("page.export_capped", locale, limit=i18n.number(limit, locale),
                 total=i18n.number(total, locale))  # fmt: skip
    else:
        note = t("page.export_all", locale, total=i18n.number(total, locale))
    st.caption(note)


# -- drill-down ---------------------------------------------------------------------------------------


def lead_url(subdomain: str | None, lead_id: int) -> str | None:
    return f"https://{subdomain}.kommo.com/leads/detail/{lead_id}" if subdomain else None


def lead_name(name: Any, lead_id: Any, locale: Locale) -> str:
    """A lead as a person recognises it: its name, or "Lead 123" when it has none."""
    if not missing(name) and str(name).strip():
        return str(name)
    return "" if missing(lead_id) else t("table.lead_unnamed", locale, id=int(lead_id))


# A lead list's columns: the name linked to the lead in Kommo, then where it stands.
LEAD_COLUMNS: Final = (
    Column("lead", "drill.col.lead", "link", url="url"),
    Column("pipeline", "drill.col.pipeline"),
    Column("stage", "drill.col.stage"),
    Column("seller", "drill.col.seller"),
    Column("channel", "drill.col.channel"),
    Column("created", "drill.col.created", "datetime"),
    Column("price", "drill.col.price", "money"),
)


def lead_values(frame: pd.DataFrame, locale: Locale, subdomain: str | None) -> pd.DataFrame:
    """A lead list (the service's rows) as the values of :data:`LEAD_COLUMNS`."""
    ids = [int(i) for i in frame["lead_id"]]
    return pd.DataFrame(
        {
            "lead": [lead_name(n, i, locale) for n, i in zip(frame["name"], ids, strict=True)],
            "url": [lead_url(subdomain, i) for i in ids],
            "pipeline": frame["pipeline_name"].tolist(),
            "stage": frame["stage_name"].tolist(),
            "seller": frame["seller"].tolist(),
            "channel": [
                None if missing(c) else channel_label(str(c), locale) for c in frame["channel"]
            ],
            "created": pd.to_datetime(frame["created_local"]).tolist(),
            "price": [_num(v) for v in frame["price"]],
        }
    )


def lead_table(frame: pd.DataFrame, view: View, currency: str | None, subdomain: str | None,
               name: str) -> None:  # fmt: skip
    """A short, bounded lead list (a sample), each linked to the lead in Kommo, with downloads.
    A list that grows with the account is a :func:`paged_leads`."""
    locale = view.locale
    if frame.empty:
        st.info(t("drill.none", locale))
        return
    st.caption(t("drill.count", locale, count=i18n.number(len(frame), locale),
                 limit=i18n.number(metrics_data.DRILL_LIMIT, locale)))  # fmt: skip
    table(lead_values(frame, locale, subdomain), LEAD_COLUMNS, view=view, name=name,
          title=t("table.sheet.leads", locale), currency=currency)  # fmt: skip


# Sort keys of the service (`pages.DRILL_SORTS`) → their labels; the first is the default.
DRILL_SORTS: Final = {
    "created": "drill.col.created",
    "name": "drill.col.name",
    "price": "drill.col.price",
    "lead": "drill.col.lead",
}


def paged_leads(
    view: View,
    scope: metrics_data.Request,
    basis: str,
    *,
    key: str,
    name: str,
    currency: str | None,
    subdomain: str | None,
    where: tuple[tuple[str, Any], ...] = (),
    reached: tuple[int, int] | None = None,
) -> None:
    """The leads behind an aggregate, a page at a time (sorted, counted and cut by the
    database), each linked to Kommo; the downloads hold the whole list (up to
    ``pages.EXPORT_LIMIT``) in the table's order."""
    locale = view.locale
    request = page_request(key, locale, DRILL_SORTS)
    page, error = metrics_data.safe(
        lambda: metrics_data.load_lead_page(scope, basis, request, where, reached)
    )
    if error is not None:
        show_error(error, locale)
        return
    if page.total == 0:
        st.info(t("drill.none", locale))
        return
    shown, config = shown_frame(lead_values(page.rows, locale, subdomain), LEAD_COLUMNS, locale,
                                currency)  # fmt: skip
    st.dataframe(shown, hide_index=True, column_config=config, width="stretch",
                 height=table_height(len(shown)))  # fmt: skip
    page_navigation(page, key, locale)

    def export() -> pd.DataFrame:
        rows = metrics_data.lead_rows(scope, basis, request, where, reached)
        return lead_values(rows, locale, subdomain)

    stem = f"{name}_{view.start.isoformat()}_{view.end.isoformat()}"
    downloads(export, LEAD_COLUMNS, stem, locale, key=f"dl.{name}",
              sheet=t("table.sheet.leads", locale), currency=currency)  # fmt: skip
    export_note(page.total, metrics_data.EXPORT_LIMIT, locale)


def drill_down(
    view: View,
    scope: metrics_data.Request,
    *,
    options: Sequence[tuple[str, str, tuple[tuple[str, Any], ...]]],
    basis: str,
    key: str,
    currency: str | None,
    subdomain: str | None,
) -> None:
    """ "Show the leads" under a table: pick one of its rows (label, basis, filters)."""
    locale = view.locale
    # A toggle, not an expander: Streamlit runs an expander's body even when it is closed, and
    # the leads would be read on every render of the page.
    if not st.toggle(t("drill.title", locale), key=f"drill.{key}.open"):
        return
    with st.container(border=True):
        if not options:
            st.info(t("drill.none", locale))
            return
        labels = [label for label, _, _ in options]
        picked = st.selectbox(t("drill.pick", locale), labels, key=f"drill.{key}.{locale}")
        index = labels.index(picked)
        _, row_basis, where = options[index]
        # One page state per picked row: another row starts on its own first page.
        paged_leads(view, scope, row_basis or basis, key=f"drill.{key}.{index}.table",
                    name=f"leads_{key}", currency=currency, subdomain=subdomain,
                    where=tuple(where))  # fmt: skip


# The pages reach every dashboard helper through this module; the one way to show a warehouse
# error lives beside the loaders that raise it.
show_error = data.show_error


@dataclass(frozen=True)
class PageReport:
    """What a metrics page renders from."""

    scope: metrics_data.Request
    report: Report
    previous: Report | None  # the comparison period's, when the page compares
    sla: float


def page_report(
    view: View, sections: tuple[str, ...], compared_sections: tuple[str, ...] | None = None
) -> PageReport | None:
    """The report sections a metrics page shows, and the comparison period's when it asks for
    them; None after the page has said why there is nothing (no model yet, or a warehouse
    error). Without the comparison report the cards still stand: only their change is missing."""
    scope = metrics_data.request_of(view) if view.warehouse.ready else None
    if scope is None:
        no_model(view)
        return None
    sla = load_settings().response_sla_hours
    report, error = metrics_data.safe(lambda: metrics_data.load_report(scope, sla, sections))
    if error is not None:
        show_error(error, view.locale)
        return None
    previous = None
    compared = view.comparison
    if compared_sections is not None and compared is not None:
        previous, _ = metrics_data.safe(
            lambda: metrics_data.load_report(scope.with_period(*compared), sla, compared_sections)
        )
    return PageReport(scope, report, previous, sla)


def no_model(view: View) -> None:
    """What a metrics page says before the first sync (or model build)."""
    locale = view.locale
    if view.warehouse.error is not None or not view.warehouse.ready:
        syncing.show_problem(view.warehouse, locale)
    else:  # synced, but the model was never built (a sync stopped before its end)
        st.info(t("model.missing", locale, where=f"`{view.warehouse.where}`",
                  action=syncing.first_action(locale)))  # fmt: skip
        syncing.offer(locale)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if pd.isna(number) else number


def channel_colours(keys: Sequence[str]) -> dict[str, str]:
    return charts.channel_colours(keys)

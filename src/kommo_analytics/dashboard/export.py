"""Tables as files people open in a spreadsheet: CSV and Excel, in the viewer's language.

Every table on the dashboard is described once, as a :class:`Column` list over a frame of raw
values (one column per key): the page formats the cells from it and the downloads write the same
rows, in the same order, under the same localised headers. The CSV is what Excel in that
language opens as columns — ``;`` and a decimal comma for pt-BR and es, ``,`` and a decimal point
for en, always UTF-8 with a BOM — with values rounded as the table shows them (money to the
cent, percentages to a tenth). The Excel file holds real numbers, money in the account's
currency, percentages, dates and durations with their formats, a frozen header and columns
wide enough for what they hold.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

import pandas as pd
from babel import Locale as BabelLocale
from babel.numbers import get_currency_symbol

# openpyxl ships no type information (and types-openpyxl is not a dependency).
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from kommo_analytics.text.i18n import Locale, babel_locale, t

# What a column holds, which decides how a table shows it and how a spreadsheet gets it.
Kind = Literal[
    "text",
    "id",  # a Kommo id: a whole number written without separators
    "integer",
    "decimal",
    "money",
    "percent",
    "hours",
    "days",
    "date",
    "datetime",
    "link",
]


@dataclass(frozen=True)
class Column:
    """One column of a table: its key in the values frame, its label (a catalogue key, with
    `label_values` for placeholders), what it holds, and the definition shown as its tooltip.
    A ``link`` column shows its text linked to the URL held in the values column `url`."""

    key: str
    label: str
    kind: Kind = "text"
    tip: str | None = None
    digits: int = 1  # decimals of a ``decimal`` column
    url: str | None = None
    label_values: tuple[tuple[str, str], ...] = ()
    help: str | None = None  # a catalogue key, for a column of the page's own (no definition)
    right: bool = False  # a text column of figures ("3 / 10"), aligned as numbers are

    def heading(self, locale: Locale) -> str:
        return t(self.label, locale, **dict(self.label_values))


# Text a spreadsheet would run as a formula (OWASP "CSV injection"): lead names come from web
# forms, so an export must not turn one into a command on the manager's machine.
_FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
# Characters Excel refuses in a sheet's name, and its length limit.
_SHEET_FORBIDDEN: Final = re.compile(r"[\[\]:*?/\\]")
SHEET_MAX: Final = 31
# Dates as the language's Excel reads them when it opens a CSV.
_CSV_DATE: Final[dict[Locale, str]] = {"pt-BR": "%d/%m/%Y", "es": "%d/%m/%Y", "en": "%m/%d/%Y"}
_XLSX_DATE: Final[dict[Locale, str]] = {
    "pt-BR": "dd/mm/yyyy",
    "es": "dd/mm/yyyy",
    "en": "mm/dd/yyyy",
}
_NUMERIC: Final = frozenset({"id", "integer", "decimal", "money", "percent", "hours", "days"})


def missing(value: Any) -> bool:
    """None, NaN and NaT: the cell is empty (never the words "None" or "nan")."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def defuse(text: str, prefixes: tuple[str, ...] = _FORMULA_PREFIXES) -> str:
    return f"'{text}" if text.startswith(prefixes) else text


def digits_of(column: Column) -> int:
    """The decimals a column is rounded to, on screen and in files."""
    return {"integer": 0, "money": 2, "percent": 1, "days": 1, "decimal": column.digits}.get(
        column.kind, 0
    )


def sheet_name(title: str, fallback: str = "Sheet") -> str:
    """`title` as Excel accepts a sheet's name: no ``[]:*?/\\``, at most 31 characters, not
    empty and not wrapped in apostrophes."""
    name = _SHEET_FORBIDDEN.sub(" ", title)
    name = re.sub(r"\s+", " ", name).strip().strip("'")[:SHEET_MAX].strip()
    return name or fallback[:SHEET_MAX]


def _as_datetime(value: Any) -> datetime | date | None:
    if missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, (datetime, date)):
        return value
    return pd.Timestamp(value).to_pydatetime()


def _naive(value: datetime | date) -> datetime | date:
    # Excel has no time zones: the values are the account's local wall-clock times already.
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def _hours_text(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def csv_cell(column: Column, value: Any, locale: Locale) -> str:
    """One value as the CSV holds it: a number Excel in `locale` reads as a number."""
    if missing(value):
        return ""
    kind = column.kind
    if kind in ("text", "link"):
        return defuse(str(value))
    if kind == "hours":
        return _hours_text(float(value))
    if kind in ("date", "datetime"):
        moment = _naive(_as_datetime(value) or value)
        pattern = _CSV_DATE[locale]
        if kind == "datetime" and isinstance(moment, datetime):
            pattern += " %H:%M"
        return moment.strftime(pattern)
    digits = digits_of(column)
    number = round(float(value), digits)
    text = f"{number:.{digits}f}" if digits else str(int(number))
    return text.replace(".", ",") if decimal_comma(locale) else text


def decimal_comma(locale: Locale) -> bool:
    return locale != "en"


def _headers(columns: Sequence[Column], locale: Locale) -> list[str]:
    heads: list[str] = []
    for column in columns:
        heads.append(column.heading(locale))
        if column.kind == "link" and column.url:
            heads.append(t("table.col.link", locale, label=column.heading(locale)))
    return heads


def to_csv(values: pd.DataFrame, columns: Sequence[Column], locale: Locale) -> bytes:
    """The table as a CSV Excel in `locale` opens as columns. A CSV cannot hold a link, so a
    linked column is followed by one with its address."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if decimal_comma(locale) else ",",
                        lineterminator="\r\n")  # fmt: skip
    writer.writerow(_headers(columns, locale))
    records = values.to_dict("records")
    for record in records:
        row: list[str] = []
        for column in columns:
            row.append(csv_cell(column, record.get(column.key), locale))
            if column.kind == "link" and column.url:
                url = record.get(column.url)
                row.append("" if missing(url) else str(url))
        writer.writerow(row)
    # The BOM makes Excel read UTF-8 (accents in names) instead of the machine's code page.
    return buffer.getvalue().encode("utf-8-sig")


def money_format(currency: str | None, locale: Locale) -> str:
    """The Excel number format of money in `currency` as `locale` writes it ("R$ 1.234,56";
    Excel puts its own separators in)."""
    if not currency:
        return "#,##0.00"
    babel = babel_locale(locale)
    pattern = str(BabelLocale.parse(babel).currency_formats["standard"].pattern)
    symbol = get_currency_symbol(currency, locale=babel).replace('"', "")
    return pattern.replace("\xa0", " ").replace("¤", f'"{symbol}"')


def xlsx_format(column: Column, locale: Locale, currency: str | None) -> str | None:
    kind = column.kind
    if kind == "integer":
        return "#,##0"
    if kind == "id":
        return "0"
    if kind in ("decimal", "days"):
        digits = digits_of(column)
        return "#,##0." + "0" * digits if digits else "#,##0"
    if kind == "money":
        return money_format(currency, locale)
    if kind == "percent":
        return "0.0%"
    if kind == "hours":
        return "[h]:mm"
    if kind == "date":
        return _XLSX_DATE[locale]
    if kind == "datetime":
        return _XLSX_DATE[locale] + " hh:mm"
    return None


def xlsx_value(column: Column, value: Any) -> Any:
    """One value as the Excel cell holds it (its format shows it)."""
    if missing(value):
        return None
    kind = column.kind
    if kind in ("text", "link"):
        # openpyxl turns only a leading "=" into a formula; other text stays text.
        return defuse(str(value), ("=",))
    if kind in ("date", "datetime"):
        moment = _as_datetime(value)
        if moment is None:
            return None
        moment = _naive(moment)
        if kind == "date" and isinstance(moment, datetime):
            return moment.date()
        return moment
    number = float(value)
    if not math.isfinite(number):
        return None
    if kind == "percent":
        return round(number, 1) / 100.0
    if kind == "hours":
        return round(number * 60) / (24 * 60)  # Excel durations are days, to the minute
    if kind in ("integer", "id"):
        return round(number)
    return round(number, digits_of(column))


def _width(texts: Sequence[str]) -> float:
    longest = max((len(s) for s in texts), default=0)
    return float(min(60, max(8, longest + 2)))


def to_xlsx(values: pd.DataFrame, columns: Sequence[Column], locale: Locale, *, sheet: str,
            currency: str | None = None) -> bytes:  # fmt: skip
    """The table as an Excel file: one sheet named `sheet` (made valid), typed cells with their
    formats, links to Kommo in linked columns, the header frozen, columns that fit."""
    book = Workbook()
    ws = book.worksheets[0]  # a new workbook has one sheet
    ws.title = sheet_name(sheet, t("table.sheet", locale))
    heads = [column.heading(locale) for column in columns]
    ws.append(heads)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    formats = [xlsx_format(column, locale, currency) for column in columns]
    samples: list[list[str]] = [[h] for h in heads]
    records = values.to_dict("records")
    for r, record in enumerate(records, start=2):
        for i, column in enumerate(columns, start=1):
            value = xlsx_value(column, record.get(column.key))
            cell = ws.cell(row=r, column=i, value=value)
            fmt = formats[i - 1]
            if fmt is not None and value is not None:
                cell.number_format = fmt
            if column.kind == "link" and column.url:
                url = record.get(column.url)
                if not missing(url) and value is not None:
                    cell.hyperlink = str(url)
                    cell.style = "Hyperlink"
            if r <= 500 and value is not None:  # the first rows are enough to size a column
                samples[i - 1].append(_sample_text(column, value))
    for i, texts in enumerate(samples, start=1):
        ws.column_dimensions[get_column_letter(i)].width = _width(texts)
    ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sample_text(column: Column, value: Any) -> str:
    if column.kind in _NUMERIC:
        # Grouping separators, currency and sign add a few characters to the digits.
        return str(value) + ("    " if column.kind == "money" else "  ")
    if column.kind == "datetime":
        return "00/00/0000 00:00"
    if column.kind == "date":
        return "00/00/0000"
    return str(value)

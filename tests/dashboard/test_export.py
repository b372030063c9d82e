"""The downloads: a CSV the viewer's Excel opens as columns, an Excel file with real formats, and
the table's own rows, columns and labels in both."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import openpyxl
import pandas as pd
import pytest

from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard.app_pages import leads as leads_page
from kommo_analytics.dashboard.app_pages.intake import CHANNEL_COLUMNS
from kommo_analytics.dashboard.export import Column, sheet_name, to_csv, to_xlsx
from kommo_analytics.service.account import Account

COLUMNS = (
    Column("lead", "drill.col.lead", "link", url="url"),
    Column("deals", "forecast.col.deals", "integer"),
    Column("value", "drill.col.price", "money"),
    Column("share", "sales.col.share", "percent"),
    Column("created", "drill.col.created", "datetime"),
    Column("late", "activities.col.late", "hours"),
)
VALUES = pd.DataFrame(
    {
        "lead": ['=HYPERLINK("http://evil")', "Ação & Cia"],
        "url": ["https://acme.kommo.com/leads/detail/1", None],
        "deals": [1234, 0],
        "value": [1234.567, None],
        "share": [16.64, -2.0],
        "created": [datetime(2026, 11, 25, 23, 30), None],
        "late": [7.27, 0.5],
    }
)


def rows(data: bytes, delimiter: str) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the accents as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter))


def test_a_pt_br_csv_has_semicolons_decimal_commas_and_portuguese_headers() -> None:
    head, first, second = rows(to_csv(VALUES, COLUMNS, "pt-BR"), ";")
    assert head == ["Lead", "Lead (link no Kommo)", "Negócios em aberto", "Valor", "Participação",
                    "Criado em", "Atraso"]  # fmt: skip
    # Rounded as on screen, no thousands separator (Excel would read "1.234" as text), the
    # formula defused, the date in the local order.
    assert first == ['\'=HYPERLINK("http://evil")', "https://acme.kommo.com/leads/detail/1",
                     "1234", "1234,57", "16,6", "25/11/2026 23:30", "7:16"]  # fmt: skip
    # A missing value is an empty cell, never "None" or "nan"; a negative number stays one.
    assert second == ["Ação & Cia", "", "0", "", "-2,0", "", "0:30"]


def test_an_english_csv_has_commas_and_decimal_points() -> None:
    head, first, _ = rows(to_csv(VALUES, COLUMNS, "en"), ",")
    assert head[0:4] == ["Lead", "Lead (link in Kommo)", "Open deals", "Value"]
    assert first[2:6] == ["1234", "1234.57", "16.6", "11/25/2026 23:30"]


def test_the_excel_file_holds_numbers_with_their_formats() -> None:
    data = to_xlsx(VALUES, COLUMNS, "pt-BR", sheet="Leads: abertos/ganhos [2026]?",
                   currency="BRL")  # fmt: skip
    book = openpyxl.load_workbook(io.BytesIO(data))
    (sheet,) = book.worksheets
    assert sheet.title == "Leads abertos ganhos 2026"
    assert sheet.freeze_panes == "A2"
    assert [cell.value for cell in sheet[1]] == ["Lead", "Negócios em aberto", "Valor", "Participação",
                                                  "Criado em", "Atraso"]  # fmt: skip
    lead, deals, value, share, created, late = sheet[2]
    assert lead.value == '\'=HYPERLINK("http://evil")' and lead.data_type == "s"
    assert lead.hyperlink.target == "https://acme.kommo.com/leads/detail/1"
    assert deals.value == 1234 and deals.number_format == "#,##0"
    assert value.value == 1234.57 and value.number_format == '"R$" #,##0.00'
    assert share.value == pytest.approx(0.166) and share.number_format == "0.0%"
    assert created.value == datetime(2026, 11, 25, 23, 30)
    assert created.number_format == "dd/mm/yyyy hh:mm"
    assert late.value == timedelta(hours=7, minutes=16) and late.number_format == "[h]:mm"
    assert sheet["C3"].value is None  # no price: an empty cell
    assert all(sheet.column_dimensions[col].width >= 8 for col in "ABCDEF")
    # Money as each language writes it.
    en = openpyxl.load_workbook(io.BytesIO(to_xlsx(VALUES, COLUMNS, "en", sheet="x",
                                                   currency="BRL"))).active  # fmt: skip
    es = openpyxl.load_workbook(io.BytesIO(to_xlsx(VALUES, COLUMNS, "es", sheet="x",
                                                   currency="BRL"))).active  # fmt: skip
    assert en["C2"].number_format == '"R$"#,##0.00'
    assert es["C2"].number_format == '#,##0.00 "BRL"'
    assert en["E2"].number_format == "mm/dd/yyyy hh:mm"


def test_sheet_names_are_ones_excel_accepts() -> None:
    assert sheet_name("a" * 40) == "a" * 31
    assert sheet_name("[]:*?/\\", "Dados") == "Dados"
    assert sheet_name("'Metas'") == "Metas"


def test_a_table_and_its_download_have_the_same_rows_columns_and_labels() -> None:
    values = pd.DataFrame(
        {
            "channel": ["Pago", "Indicação"],
            "leads": [18, 0],
            "won": [0, 0],
            "conversion": [0.0, None],
            "revenue": [0.0, None],
            "cost": [1500.0, None],
            "cpl": [83.333, None],
            "roi": [-100.0, None],
        }
    )
    shown, config = c.shown_frame(values, CHANNEL_COLUMNS, "pt-BR", "BRL")
    head, *body = rows(to_csv(values, CHANNEL_COLUMNS, "pt-BR"), ";")
    assert head == [config[column.key]["label"] for column in CHANNEL_COLUMNS]
    assert len(body) == len(shown) == 2
    # Zeros are shown as zeros; an unknown is an empty cell on screen and in the file.
    assert shown.iloc[0].tolist() == ["Pago", "18", "0", "0 %", "R$\xa00,00", "R$\xa01.500,00",
                                      "R$\xa083,33", "-100 %"]  # fmt: skip
    assert body[0] == ["Pago", "18", "0", "0,0", "0,00", "1500,00", "83,33", "-100,0"]
    assert shown.iloc[1].tolist()[3:] == ["", "", "", "", ""]
    assert body[1][3:] == ["", "", "", "", ""]


def test_durations_read_in_hours_and_minutes() -> None:
    assert c.fmt_duration(7.27, "pt-BR") == "7 h 16 min"
    assert c.fmt_duration(0.25, "es") == "15 min"
    assert c.fmt_duration(52.5, "pt-BR") == "2 dias 4 h"
    assert c.fmt_duration(24, "en") == "1 day"


def test_leads_are_named_and_linked_never_none() -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "name": ["Ação & Cia", None],
            "pipeline_name": ["Vendas", None],
            "status_name": ["Venda ganha", "Negociação"],
            "user_name": ["Ana", None],
            "created_at": pd.Series(
                pd.to_datetime(["2026-11-26 02:30", "2026-11-26 12:00"]).tz_localize("UTC")
            ),
            "price": [1500, None],
            "status_id": [142, 73810801],
            "utm_source": ["google", None],
            "utm_medium": ["cpc", None],
            "utm_campaign": [None, None],
        }
    )
    account = Account("Acme", "acme", "BRL", "America/Sao_Paulo")
    values = leads_page.lead_values(frame, account, "pt-BR")
    shown, config = c.shown_frame(values, leads_page.COLUMNS, "pt-BR", "BRL")
    assert shown["name"].tolist() == [
        "https://acme.kommo.com/leads/detail/1#A%C3%A7%C3%A3o%20%26%20Cia",
        "https://acme.kommo.com/leads/detail/2#Lead%202",
    ]
    assert config["name"]["type_config"]["display_text"] == c.LINK_TEXT
    assert shown["pipeline"].tolist() == ["Vendas", ""]
    assert shown["price"].tolist() == ["R$\xa01.500,00", ""]
    text = to_csv(values, leads_page.columns_for("America/Sao_Paulo"), "pt-BR").decode("utf-8-sig")
    assert "None" not in text and "nan" not in text
    head, first, _ = rows(text.encode("utf-8-sig"), ";")
    assert head[6] == "Criado em (America/Sao_Paulo)"
    assert first[6] == "25/11/2026 23:30"  # 02:30 UTC is 23:30 the day before in São Paulo

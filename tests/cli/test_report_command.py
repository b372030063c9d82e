"""`kommo-analytics report weekly` on the synced small account (seed 3): the PDF read back with
pypdf carries the numbers `metrics --json` prints for the same week and moment, formatted the
way the report formats them; pt-BR says no English month; --send hands one message with the PDF
to a local SMTP server (aiosmtpd); what is missing (goals, costs, a data-quality check, a
forecast) is said.

The report is made once for the module (about 4 s: the metric report twice, the forecast, the
charts and WeasyPrint), with --send, and every test reads that one run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from kommo_analytics.automation import weekly
from kommo_analytics.cli.main import app
from kommo_analytics.settings import Settings
from tests.mailbox import Mailbox, smtp_server

runner = CliRunner()
AS_OF = "2026-11-25T12:00"  # a Wednesday in São Paulo, when the generated history ends
WEEK = "2026-W47"  # 16–22 Nov 2026: the last complete week before AS_OF (the default)
MONDAY, SUNDAY = "2026-11-16", "2026-11-22"
ENGLISH_MONTH = re.compile(
    r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\.? \d{1,2}\b|"
    r"\b(January|February|March|April|June|July|August|September|October|November|December)\b"
)


def flat(text: str) -> str:
    """Text with every kind of space (Babel's no-break and thin spaces, the PDF's line breaks)
    as one plain space, so a number is compared, not its layout."""
    return re.sub(r"[\s\u00a0\u202f\u2009]+", " ", text)


@dataclass(frozen=True)
class Run:
    output: str
    pdf_path: Path
    pdf_text: str  # flattened
    inbox: Mailbox
    warehouse: Path


def metrics_json(warehouse: Path, start: str, end: str) -> dict[str, Any]:
    result = runner.invoke(
        app,
        ["metrics", "--from", start, "--to", end, "--as-of", AS_OF, "--json",
         "--db", f"duckdb:///{warehouse / 'kommo.duckdb'}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def run(synced_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """`report weekly --as-of … --send` (no --week: the default week) against a local SMTP
    server, in an empty folder with only the e-mail settings set."""
    folder = tmp_path_factory.mktemp("weekly")
    warehouse = synced_dir / "warehouse"
    with smtp_server() as inbox:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(folder)
            for name in ("DATABASE_URL", "KOMMO_ACCESS_TOKEN", "ALERT_EMAILS", "SMTP_USERNAME",
                         "SMTP_PASSWORD", "REPORT_LANGUAGE", "ACCOUNT_TIMEZONE"):  # fmt: skip
                mp.delenv(name, raising=False)
            mp.setenv("DATA_DIR", str(warehouse))
            mp.setenv("SMTP_HOST", "127.0.0.1")
            mp.setenv("SMTP_PORT", str(inbox.port))
            mp.setenv("SMTP_SECURITY", "none")
            mp.setenv("SMTP_FROM", "Kommo Analytics <analytics@example.com>")
            mp.setenv("REPORT_EMAILS", "boss@example.com, sales@example.com")
            result = runner.invoke(app, ["report", "weekly", "--as-of", AS_OF, "--send"])
        assert result.exit_code == 0, result.output
        path = folder / f"kommo-weekly-{WEEK}.pdf"
        text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
        yield Run(result.output, path, flat(text), inbox, warehouse)


@pytest.fixture(scope="module")
def built(synced_dir: Path) -> weekly.WeeklyReport:
    """The report's content for WEEK in pt-BR, without charts, through the API."""
    settings = Settings(_env_file=None, data_dir=synced_dir / "warehouse")  # type: ignore[call-arg]
    return weekly.build_weekly(
        settings, weekly.parse_week(WEEK), datetime(2026, 11, 25, 15, tzinfo=UTC),
        locale="pt-BR", with_charts=False,
    )  # fmt: skip


def test_the_default_week_is_the_last_complete_one_and_the_pdf_is_named_after_it(run: Run) -> None:
    assert f"Report for {WEEK} written to" in flat(run.output)
    assert run.pdf_path.is_file()
    assert run.pdf_path.read_bytes().startswith(b"%PDF-")
    # pt-BR, the default REPORT_LANGUAGE: "Semana 47 de 2026 · 16 – 22 de nov. de 2026".
    assert "Semana 47 de 2026 · 16 – 22 de nov. de 2026" in run.pdf_text


@pytest.fixture(scope="module")
def week_json(run: Run) -> dict[str, Any]:
    return metrics_json(run.warehouse, MONDAY, SUNDAY)


@pytest.fixture(scope="module")
def before_json(run: Run) -> dict[str, Any]:
    return metrics_json(run.warehouse, "2026-11-09", "2026-11-15")


def test_the_pdf_carries_the_numbers_of_metrics_json_for_that_week(
    run: Run, week_json: dict[str, Any], before_json: dict[str, Any]
) -> None:
    data, before = week_json, before_json
    f = weekly.Formats("pt-BR", data["currency"])
    sales, leads = data["sales"], data["leads"]
    # The week's KPIs and the week before's, as the KPI table prints them.
    expected = {
        "leads": f.number(leads["total"]),
        "won": f.number(sales["won"]),
        "revenue": f.money(sales["revenue"]),
        "win rate": f.pct(sales["win_rate_pct"]),
        "average ticket": f.money(sales["avg_ticket"]),
        "first response": f.hours(leads["response_time"]["median_hours"]),
        "task completion": f.pct(data["activities"]["completion_rate_pct"]),
        "sales cycle": f.days(sales["sales_cycle_avg_days"]),
        "revenue before": f.money(before["sales"]["revenue"]),
        "win rate before": f.pct(before["sales"]["win_rate_pct"]),
    }
    assert sales["won"] > 0 and sales["lost"] > 0 and leads["total"] > 0  # a week with data
    for name, text in expected.items():
        assert flat(text) in run.pdf_text, (name, text)
    # Each row: the KPI's label, this week, the week before.
    row = f"Receita {flat(f.money(sales['revenue']))} {flat(f.money(before['sales']['revenue']))}"
    assert row in run.pdf_text
    # The top sellers, in the ranking's order, with their revenue.
    for seller in data["sellers"][: weekly.TOP_SELLERS]:
        assert f"{seller['name']} {f.number(seller['leads'])} {f.number(seller['won'])} " \
               f"{flat(f.money(seller['revenue']))}" in run.pdf_text  # fmt: skip
    # The loss reasons with their counts and shares.
    for reason in sales["loss_reasons"][: weekly.TOP_LOSS_REASONS]:
        name = "Não informado" if reason["reason"] == "not specified" else reason["reason"]
        assert f"{name} {reason['count']} {flat(f.pct(reason['share_pct']))}" in run.pdf_text
    # The month's forecast range (P10–P90) and P50, in whole reais: an estimate has no cents.
    current = next(m for m in data["forecast"]["months"] if m["month"] == "2026-11")
    for key in ("revenue_p10", "revenue_p50", "revenue_p90"):
        assert flat(f.estimate(current[key])) in run.pdf_text, key
        assert flat(f.money(current[key])) not in run.pdf_text, key
    # The funnel of each pipeline: the stages reached.
    for pipeline in data["funnel"]:
        assert f"{pipeline['name']} — leads: {pipeline['leads']} · ganhos: {pipeline['won']}" \
            in run.pdf_text  # fmt: skip


def test_the_trend_is_the_same_weeks_metrics_json_counts(
    run: Run, before_json: dict[str, Any]
) -> None:
    # The trend's row for the week before: leads created and revenue won Monday to Sunday.
    before = before_json
    f = weekly.Formats("pt-BR", before["currency"])
    row = (f"9 de nov. {before['leads']['total']} {before['sales']['won']} "
           f"{flat(f.money(before['sales']['revenue']))}")  # fmt: skip
    assert row in run.pdf_text


def test_pt_br_says_no_english_month_and_writes_a_decimal_comma(run: Run) -> None:
    assert not ENGLISH_MONTH.search(run.pdf_text), ENGLISH_MONTH.search(run.pdf_text)
    assert "de nov." in run.pdf_text and "de out." in run.pdf_text
    # The revenue chart's axis, drawn as text: Babel's compact money.
    assert "R$ 40 mil" in run.pdf_text
    assert re.search(r"\d,\d %", run.pdf_text)  # 26,9 %: a decimal comma
    assert not re.search(r"\d\.\d %", run.pdf_text)


def test_the_english_report_would_be_caught_by_the_month_check(synced_dir: Path) -> None:
    """The check above can fail: the same week in English names its months in English."""
    settings = Settings(_env_file=None, data_dir=synced_dir / "warehouse")  # type: ignore[call-arg]
    report = weekly.build_weekly(
        settings,
        weekly.parse_week(WEEK),
        datetime(2026, 11, 25, 15, tzinfo=UTC),
        locale="en",
        with_charts=False,
    )
    html = weekly.render_html(report)
    assert ENGLISH_MONTH.search(flat(html))
    assert "Week 47 of 2026" in html


def test_send_delivers_one_message_with_the_pdf_attached(run: Run) -> None:
    assert len(run.inbox.messages) == 1
    recipients, message = run.inbox.recipients[0], run.inbox.messages[0]
    assert recipients == ["boss@example.com", "sales@example.com"]
    assert message["Subject"] == "Relatório semanal — Distribuidora Cerrado ME — semana 47 de 2026"
    assert "Sent to boss@example.com, sales@example.com" in flat(run.output)
    body = message.get_body(preferencelist=("html",))
    plain = message.get_body(preferencelist=("plain",))
    assert body is not None and plain is not None
    assert "Indicadores da semana" in body.get_content()
    assert "Os gráficos estão no PDF anexo." in plain.get_content()
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"kommo-weekly-{WEEK}.pdf"]
    content = attachments[0].get_content()
    assert attachments[0].get_content_type() == "application/pdf"
    assert content == run.pdf_path.read_bytes()
    assert PdfReader(BytesIO(content)).pages


def test_missing_data_is_said_as_such(run: Run) -> None:
    # The small account has no goals, no costs and no data-quality check run.
    text = run.pdf_text
    assert "Nenhuma meta importada para novembro de 2026: sem chance nem risco a mostrar" in text
    assert "Nenhuma meta importada: sem meta nem atingimento por vendedor" in text
    assert "Sem custos importados para a semana" in text
    assert "Nenhuma verificação de qualidade dos dados foi executada ainda" in text


def test_a_forecast_without_history_and_a_stored_quality_score_are_said(
    built: weekly.WeeklyReport,
) -> None:
    short = replace(
        built,
        forecast=built.forecast.model_copy(update={"status": "insufficient_history", "months": []}),
        quality=weekly.QualityScore(87.5, datetime(2026, 11, 25, 9, tzinfo=UTC)),
    )
    lines, _ = weekly.forecast_lines(short)
    assert lines[0] == "Sem previsão: o histórico ainda é curto demais para prever o mês."
    # 09:00 UTC is 06:00 in São Paulo.
    assert weekly.quality_lines(short)[0] == (
        "Pontuação de qualidade dos dados: 87,5 de 100 (verificação de 25/11/2026 06:00)."
    )


def test_names_from_the_crm_are_escaped_in_the_html(built: weekly.WeeklyReport) -> None:
    html = weekly.render_html(replace(built, account_name="<script>x</script>"))
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_a_week_not_yet_ended_and_a_bad_language_are_refused(synced_dir: Path) -> None:
    db = f"duckdb:///{synced_dir / 'warehouse' / 'kommo.duckdb'}"
    result = runner.invoke(app, ["report", "weekly", "--week", "2026-W48", "--as-of", AS_OF,
                                 "--db", db])  # fmt: skip
    assert result.exit_code != 0
    assert "2026-W48 (2026-11-23 to 2026-11-29) has not ended yet" in flat(result.output)
    result = runner.invoke(app, ["report", "weekly", "--lang", "fr", "--db", db])
    assert result.exit_code != 0 and "not a report language" in result.output


def test_send_weekly_keeps_the_pdf_under_the_data_folder_and_sends_nothing_unconfigured(
    synced_dir: Path, tmp_path: Path
) -> None:
    """The scheduler's entry: no REPORT_EMAILS nor ALERT_EMAILS, so the PDF is only kept."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        database_url=f"duckdb:///{synced_dir / 'warehouse' / 'kommo.duckdb'}",
        report_language="es",
    )
    path = weekly.send_weekly(settings, datetime(2026, 11, 25, 15, tzinfo=UTC))
    assert path == tmp_path / "reports" / f"kommo-weekly-{WEEK}.pdf"
    text = flat("\n".join(p.extract_text() for p in PdfReader(path).pages))
    assert "Informe semanal" in text and "Semana 47 de 2026 · 16–22 nov 2026" in text
    assert not ENGLISH_MONTH.search(text)

"""The ``ACCOUNT_TIMEZONE`` override reaches every reader: the sidebar's "today" and the Leads
page use the zone the model was built in, not the raw account's own (a defect of issue 11: the
sidebar read the raw ``account`` table and ignored the override)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app as cli
from kommo_analytics.text import i18n
from kommo_analytics.warehouse.target import parse_database_url
from tests.dashboard.conftest import PINNED_NOW, MakeApp

TOKYO = "Asia/Tokyo"
LEADS = "app_pages/leads.py"


@pytest.fixture
def tokyo_url(synced_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the São Paulo account whose model was rebuilt with the override set."""
    serving = parse_database_url(synced_url).serving_path
    assert serving is not None
    shutil.copytree(serving.parent, tmp_path / "warehouse", ignore=shutil.ignore_patterns("*.lock"))
    url = f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ACCOUNT_TIMEZONE", TOKYO)
    result = CliRunner().invoke(cli, ["model", "--db", url])
    assert result.exit_code == 0, result.output
    return url


def test_the_sidebar_and_the_leads_page_use_the_overridden_zone(
    make_app: MakeApp, tokyo_url: str
) -> None:
    # 18:00 UTC is 15:00 in São Paulo but already 03:00 the next day in Tokyo.
    tokyo_today = PINNED_NOW.astimezone(ZoneInfo(TOKYO)).date()
    assert tokyo_today == date(2026, 11, 26)
    app = make_app(tokyo_url, LEADS, period="today", lang="en").run()
    assert not app.exception, [e.message for e in app.exception]
    sidebar = [c.value for c in app.sidebar.caption]
    assert i18n.date_range(tokyo_today, tokyo_today, "en") in sidebar
    assert any(TOKYO in c.value for c in app.main.caption)

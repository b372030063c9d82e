"""`kommo-analytics consolidated`, `rates` and `stage-map` on an install of two accounts (the
synced small account twice, the second said to be in USD). The numbers are checked in
tests/service/test_consolidated.py; here: the commands are wired, and what they print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app
from tests.service.consolidated_builders import two_account_install

runner = CliRunner()
# October 2026, as of a moment of October: one month, one rate per currency.
PERIOD = ["--from", "2026-10-01", "--to", "2026-10-31", "--currency", "BRL"]


@pytest.fixture
def install(small_synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return two_account_install(small_synced, tmp_path, monkeypatch)


def test_rates_and_mapping_are_imported_and_the_total_printed(install: Path) -> None:
    rates = install / "rates.csv"
    rates.write_text("month,from_currency,to_currency,rate\n2026-10,USD,BRL,2\n2026-13,USD,BRL,2\n")
    refused = runner.invoke(app, ["rates", "import", str(rates)])
    assert refused.exit_code != 0 and "line 3, column month" in refused.stderr
    assert not (install / "data" / "exchange_rates.csv").exists()  # nothing stored

    mapping = install / "map.csv"
    mapping.write_text("account,pipeline,stage,common_stage\n"
                       "alpha,Vendas,Leads de entrada,Lead\nbeta,Vendas,Leads de entrada,Lead\n")  # fmt: skip
    assert runner.invoke(app, ["stage-map", "import", str(mapping)]).exit_code == 0

    printed = runner.invoke(app, ["consolidated", *PERIOD, "--json"])
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.stdout)
    # No rate yet: October's (the period) and November's (as_of: now, after the history).
    assert document["total"]["money"] is None
    assert {(m["month"], m["currency"]) for m in document["missing_rates"]} >= {("2026-10", "USD")}
    (lead,) = document["funnel"]["stages"]
    assert lead["by_account"]["alpha"] == lead["by_account"]["beta"] > 0

    rates.write_text("month,from_currency,to_currency,rate\n2026-10,USD,BRL,2\n")
    assert runner.invoke(app, ["rates", "import", str(rates)]).exit_code == 0
    listed = runner.invoke(app, ["rates", "list"])
    assert "2026-10" in listed.stdout and "USD" in listed.stdout
    table = runner.invoke(app, ["consolidated", *PERIOD], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert "Accounts side by side" in table.stdout and "Consolidated funnel" in table.stdout

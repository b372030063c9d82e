"""`kommo-analytics check`: the table, the JSON document and the exit codes (0 when no
error-level rule fails, 1 when one does), on the hand-built warehouse with one of each defect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app
from kommo_analytics.service import quality
from tests.service import quality_builders as qb

runner = CliRunner()


def _seeded(clean_env: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> str:
    url = f"duckdb:///{clean_env / 'data' / 'kommo.duckdb'}"
    qb.build(url, clean_env / "data", **kwargs)  # type: ignore[arg-type]
    monkeypatch.setenv("DATA_DIR", str(clean_env / "data"))
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_json_holds_every_rule_and_the_exit_code_is_1_on_an_error(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _seeded(clean_env, monkeypatch)
    result = runner.invoke(app, ["check", "--json"])
    assert result.exit_code == 1, (result.stdout, result.exception)
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["exit_code"] == 1
    rules = {r["rule"]: r for r in doc["rules"]}
    assert {k: (r["checked"], r["failing"]) for k, r in rules.items() if k in qb.EXPECTED} == (
        qb.EXPECTED
    )
    # No account configured: the reconciliation is skipped and says so, never a silent pass.
    recon = rules["reconciliation"]
    assert recon["status"] == "skipped" and "no Kommo account" in recon["message"]
    assert rules["won_without_price"]["message"].startswith("1 of 3 won deals have no price")
    assert rules["won_without_price"]["sample_lead_ids"] == [2]
    assert {s["name"] for s in doc["sellers"]} >= {"Ana"}
    assert doc["score"] == quality.latest_quality(url).score  # type: ignore[union-attr]


def test_clean_data_exits_0_and_the_table_shows_the_overall_score(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only L1, the clean lead, and no stage stays (L4's held the negative one): no error-level
    # rule fails (the tasks stream's sync gap is a warning).
    monkeypatch.setattr(qb, "STAYS", [])
    _seeded(clean_env, monkeypatch, leads=[qb.LEADS[0]])
    result = runner.invoke(app, ["check", "--no-reconcile"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.stdout, result.exception)
    assert "Data quality" in result.stdout and "Won without a price" in result.stdout
    assert "Overall score:" in result.stdout
    assert "Skipped: not asked for (--no-reconcile)" in result.stdout


def test_without_a_warehouse_it_says_what_to_do(clean_env: Path) -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code != 0 and "sync" in result.output

"""Account profiles: an emulated account in another country's currency and time zone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app as cli
from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.errors import EmulatorError
from tests.emulator.harness import client_for

NOW = 1_795_618_800  # 2026-11-25 15:00 UTC
SEED = 11


@pytest.fixture(scope="module")
def mexico() -> AccountStore:
    return build_account(seed=SEED, scale="small", now=NOW, country="MX")


@pytest.fixture(scope="module")
def brazil() -> AccountStore:
    return build_account(seed=SEED, scale="small", now=NOW)


def one(store: AccountStore, sql: str) -> Any:
    row = store.cursor().execute(sql).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


@pytest.mark.anyio
async def test_a_mexican_account_reports_its_currency_and_zone(mexico: AccountStore) -> None:
    app = create_app(mexico, EmulatorConfig(rate_limit_per_second=1000))
    async with client_for(app) as client:
        response = await client.get("/api/v4/account", params={"with": "datetime_settings"})
    assert response.status_code == 200
    body = response.json()
    assert (body["country"], body["currency"], body["currency_symbol"]) == ("MX", "MXN", "$")
    settings = body["_embedded"]["datetime_settings"]
    assert settings["timezone"] == "America/Mexico_City"
    assert settings["timezone_offset"] == "-06:00"
    assert body["name"].endswith("S.A. de C.V.")
    assert body["subdomain"].endswith("mx")


def working_hours_share(store: AccountStore, offset_hours: int) -> tuple[float, float]:
    """Of the outgoing calls, read at UTC``offset_hours``: the share on a weekday between 08:00
    and 19:00, and the share at 19:00 or later."""
    local = f"to_timestamp(created_at + {offset_hours * 3600}) AT TIME ZONE 'UTC'"
    return one(
        store,
        f"""SELECT avg(CASE WHEN hour({local}) BETWEEN 8 AND 18 AND isodow({local}) <= 5
                        THEN 1 ELSE 0 END),
                   avg(CASE WHEN hour({local}) >= 19 THEN 1 ELSE 0 END)
            FROM events WHERE type = 'outgoing_call'""",
    )


def test_a_mexican_accounts_people_work_in_mexican_hours(mexico: AccountStore) -> None:
    """Sellers place calls in business hours, 08:00–19:00 on weekdays *in the account's zone*
    (the generator moves their actions there, leaving a few percent in the evening). So the
    Mexican account's calls, read at -06:00, are almost all in business hours; read at Brazil's
    -03:00 the same calls would be three hours later, a quarter of them after 19:00 — the check
    tells the two offsets apart."""
    in_hours, evening = working_hours_share(mexico, -6)
    assert in_hours > 0.9 and evening < 0.05
    _, evening_if_brazilian = working_hours_share(mexico, -3)
    assert evening_if_brazilian > 0.15


def test_prices_are_in_the_accounts_currency(mexico: AccountStore, brazil: AccountStore) -> None:
    """The same seed draws the same deals; the Mexican ones are priced 3.5 times the Brazilian
    (an illustrative factor), rounded to 10: the totals differ by that factor, within the
    rounding and the handful of leads the two histories' edges place differently."""
    total_mx = one(mexico, "SELECT sum(price) FROM leads")
    total_br = one(brazil, "SELECT sum(price) FROM leads")
    assert total_mx / total_br == pytest.approx(3.5, rel=0.01)


def test_the_default_account_is_brazilian(brazil: AccountStore) -> None:
    assert one(
        brazil, "SELECT country, currency, currency_symbol, timezone, timezone_offset FROM account"
    ) == ("BR", "BRL", "R$", "America/Sao_Paulo", "-03:00")


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("CO", ("CO", "COP", "America/Bogota", "-05:00")),
        ("ar", ("AR", "ARS", "America/Argentina/Buenos_Aires", "-03:00")),
    ],
)
def test_colombian_and_argentinian_accounts(country: str, expected: tuple[str, ...]) -> None:
    store = build_account(seed=SEED, scale="small", now=NOW, country=country)
    assert one(store, "SELECT country, currency, timezone, timezone_offset FROM account") == (
        expected
    )


def test_an_unknown_country_names_the_ones_there_are() -> None:
    with pytest.raises(EmulatorError) as raised:
        build_account(seed=SEED, scale="small", now=NOW, country="PT")
    assert "BR, MX, CO, AR" in raised.value.hint


def test_the_emulator_command_takes_a_country(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["emulator", "--country", "mx", "--dump", str(tmp_path)])
    assert result.exit_code == 0, result.output
    account = pq.read_table(tmp_path / "account.parquet").to_pylist()
    assert (account[0]["currency"], account[0]["timezone"]) == ("MXN", "America/Mexico_City")

"""The read service on a synced warehouse: the account, the Leads list within a viewer's reach,
the data-health reads and what a warehouse without a sync answers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from kommo_analytics.errors import NoSyncedDataError, WarehouseError
from kommo_analytics.service import account, health, leads
from kommo_analytics.service.scope import Scope
from kommo_analytics.workdays import WorkCalendar
from tests.sync.harness import NOW, synced_copy

SAO_PAULO = "America/Sao_Paulo"
YEARS = Scope(start=date(2020, 1, 1), end=date(2026, 12, 31))


@pytest.fixture(scope="module")
def url(small_synced: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return synced_copy(small_synced, tmp_path_factory.mktemp("service"))


def test_the_account_joins_the_raw_row_and_the_model(url: str) -> None:
    acc = account.load(account.target(url), timezone_override="Asia/Tokyo")
    assert acc is not None and acc.has_model
    # The model was built without the override: its zone wins, so "today" is the metrics' today.
    assert acc.timezone == SAO_PAULO and acc.currency == "BRL" and acc.name
    assert acc.today(datetime.fromtimestamp(NOW, UTC)) == date(2026, 11, 25)
    assert acc.channels[-1] == "unknown"
    # The working-day calendar is decided with the zone: the account's own country (the
    # emulator's is BR), unless HOLIDAYS_COUNTRY names another.
    assert acc.calendar == WorkCalendar("BR", None, "account")
    chosen = account.load(account.target(url), holidays_country="BR-SP")
    assert chosen is not None and chosen.calendar == WorkCalendar("BR", "SP", "setting")


def test_the_leads_list_keeps_to_the_viewer_reach(url: str) -> None:
    target = account.target(url)
    every = leads.created_in(target, YEARS, SAO_PAULO)
    assert list(every.columns) == list(leads.COLUMNS) and len(every) > 0
    seller = int(every["responsible_user_id"].dropna().iloc[0])
    mine = leads.created_in(
        target, Scope(YEARS.start, YEARS.end, allowed_sellers=(seller,)), SAO_PAULO
    )
    assert set(mine["responsible_user_id"]) == {seller}
    assert len(mine) == (every["responsible_user_id"] == seller).sum()


def test_data_health_reads(url: str) -> None:
    target = account.target(url)
    state = health.probe(url)
    assert state.ready and state.version and "sync_runs" in state.tables
    assert len(health.runs(target)) == 1 and str(health.runs(target)["started_at"].dt.tz) == "UTC"
    assert set(health.streams(target)["stream"]) >= {"leads", "events"}
    counts = health.row_counts(target, ("leads", "users"))
    assert counts["rows"].gt(0).all()
    with pytest.raises(ValueError):
        health.row_counts(target, ("leads; DROP TABLE leads",))
    assert health.channel_counts(target)
    assert health.tracking_used(target) is not None


def test_a_warehouse_without_a_sync(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'kommo.duckdb'}"
    target = account.target(url)
    assert health.probe(url).status is health.Status.EMPTY
    assert account.load(target) is None
    assert health.channel_counts(target) is None
    with pytest.raises(NoSyncedDataError):
        account.load_modelled(target)
    with pytest.raises(WarehouseError):
        account.require_model(None, target)

"""Every sync stores the forecast it would show, one snapshot per account-local day; the rows
outlive the model's rebuilds, and a snapshot that cannot be made never fails the sync."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from kommo_analytics.model.schema import model_qualified
from kommo_analytics.service import forecast_store, snapshots
from kommo_analytics.service.after_sync import snapshot_if_new_day
from kommo_analytics.sync.engine import SyncResult
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync.harness import Account, account, duckdb_url, settings_for

HOUR = 3600


def _sync(acc: Account, tmp_path: Path, url: str) -> SyncResult:
    settings = settings_for("http://kommo.test", acc.state.tokens.demo_token, tmp_path, url)
    return run_sync(
        settings,
        transport=httpx.ASGITransport(app=acc.app),
        clock=acc.clock,
        after_build=snapshots.snapshot_after_build,
        after_unchanged=snapshot_if_new_day,
    )


def _stored(url: str) -> list[tuple[Any, ...]]:
    t = parse_database_url(url)
    return reader.query(
        t,
        f"SELECT made_on, month, as_of, revenue_p10, revenue_p50, revenue_p90, method, seed "
        f"FROM {model_qualified(t, 'forecast_snapshots')} ORDER BY made_on, month",
    )


def test_a_snapshot_per_day_replaced_by_a_later_sync_that_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acc = account(seed=3, fresh=True)  # its clock: 2026-11-25 12:01 in São Paulo
    url = duckdb_url(tmp_path)

    def broken(*args: object, **kwargs: object) -> str:
        raise ValueError("the forecast broke")

    with monkeypatch.context() as patch:
        patch.setattr(snapshots, "store_snapshot", broken)
        assert _sync(acc, tmp_path, url).status == "ok"  # the sync stands without its snapshot
    assert _stored(url) == []

    acc.clock.now += HOUR
    assert _sync(acc, tmp_path, url).status == "ok"
    first = _stored(url)
    # The company's current month and the next two, made on the account-local day.
    assert [(r[0], r[1]) for r in first] == [
        (date(2026, 11, 25), date(2026, 11, 1)),
        (date(2026, 11, 25), date(2026, 12, 1)),
        (date(2026, 11, 25), date(2027, 1, 1)),
    ]
    for row in first:
        assert float(row[3]) <= float(row[4]) <= float(row[5]) and row[7] == 0 and row[6]
    # The whole forecast is kept for the dashboard too: the same months and ranges.
    kept = forecast_store.from_json(
        json.dumps(json.loads(forecast_store.path_of(tmp_path / "data").read_text())["forecast"])
    )
    assert kept.company is not None
    assert [(m.month, m.revenue.p50) for m in kept.company.months] == [
        (r[1], pytest.approx(float(r[4]))) for r in first
    ]

    acc.clock.now += 2 * HOUR  # still the 25th in São Paulo
    acc.state.live_tick(5)  # a sync that changed nothing would keep the day's snapshot
    acc.clock.now += 60
    assert _sync(acc, tmp_path, url).status == "ok"
    second = _stored(url)
    assert [(r[0], r[1]) for r in second] == [(r[0], r[1]) for r in first]
    assert all(b[2] > a[2] for a, b in zip(first, second, strict=True))  # replaced, not added

    acc.clock.now += 12 * HOUR  # 26 November: a new day's snapshot beside the kept one,
    unchanged = _sync(acc, tmp_path, url)  # also from a sync that changed nothing
    assert unchanged.status == "ok" and unchanged.unchanged
    third = _stored(url)
    assert [r[0] for r in third] == [date(2026, 11, 25)] * 3 + [date(2026, 11, 26)] * 3
    assert third[:3] == second  # the rebuild left the earlier day's rows alone

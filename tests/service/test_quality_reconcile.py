"""The reconciliation against the emulated API: leads created on three sampled days, counted
through the API and in the warehouse (only the leads stream is synced: enough, and fast)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from kommo_analytics.service import quality
from kommo_analytics.service.quality import quality_after_build
from kommo_analytics.sync.engine import SyncOptions
from kommo_analytics.sync.streams import parse_streams
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync.harness import NOW, account, duckdb_url, settings_for, sync


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    base = tmp_path_factory.mktemp("reconcile")
    url = duckdb_url(base)
    options = SyncOptions(streams=parse_streams("leads"))
    assert (
        sync(
            account(seed=3),
            base,
            url,
            options,
        ).status
        == "ok"
    )
    return url, base


def _check(url: str, base: Path, transport: httpx.AsyncBaseTransport) -> quality.RuleResult:
    acc = account(seed=3)
    settings = settings_for(
        "http://kommo.test",
        acc.state.tokens.demo_token,
        base,
        url,
    )
    return quality.reconciliation_result(
        settings, parse_database_url(url), datetime.fromtimestamp(NOW, UTC), transport
    )


def test_the_warehouse_matches_the_api_on_the_sampled_days(synced: tuple[str, Path]) -> None:
    url, base = synced
    result = _check(url, base, httpx.ASGITransport(app=account(seed=3).app))
    # Three days checked, none differs; each period reads "day: API/warehouse" with equal counts.
    assert (result.checked, result.failing, result.score) == (3, 0, 100.0)
    for part in result.values["periods"].split(", "):
        api, stored = part.split(": ")[1].split("/")
        assert api == stored


def test_a_lead_missing_from_the_warehouse_is_a_mismatch_naming_it(
    synced: tuple[str, Path], tmp_path: Path
) -> None:
    url, base = synced
    target = parse_database_url(url)
    start, end = quality.reconcile_periods(datetime.fromtimestamp(NOW, UTC))[0]
    mark = reader.placeholder(target)
    ids = reader.query(
        target,
        f"SELECT id FROM {target.qualified('leads')} WHERE NOT is_deleted "
        f"AND created_at >= {mark} AND created_at < {mark} ORDER BY id",
        [start, end],
    )
    assert ids, "the sampled day has leads in the small account"
    gone = int(ids[0][0])
    with reader.connect(target, write=True) as con:
        cur = backend_for(target).cursor(con)
        cur.execute(f"DELETE FROM {target.qualified('leads')} WHERE id = {gone}")
    Warehouse(target, base / "data").publish()
    result = _check(url, base, httpx.ASGITransport(app=account(seed=3).app))
    assert (result.checked, result.failing) == (3, 1)
    assert result.sample_lead_ids == (gone,)
    assert result.message_key == "quality.reconciliation.fail"


def test_an_api_that_refuses_skips_the_rule_with_the_reason(synced: tuple[str, Path]) -> None:
    """A refused token is fatal at once (no retries), as an unreachable API would be after
    its retries: the rule is skipped and says why."""
    url, base = synced
    acc = account(seed=3)
    settings = settings_for("http://kommo.test", "not-a-token", base, url)
    result = quality.reconciliation_result(
        settings,
        parse_database_url(url),
        datetime.fromtimestamp(NOW, UTC),
        httpx.ASGITransport(app=acc.app),
    )
    assert result.status == "skipped" and result.checked == 0 and result.score == 100.0
    assert result.values["reason"].startswith("the Kommo API could not be asked:")


def test_a_sync_stores_a_check_without_the_reconciliation(synced: tuple[str, Path]) -> None:
    """The sync's after-build steps as `kommo-analytics sync` composes them: the forecast
    snapshot, then the checks, stored before the publish (so readers see the run at once)."""
    from kommo_analytics.service.snapshots import snapshot_after_build
    from kommo_analytics.sync.runner import after_build_steps, run_sync

    url, base = synced
    acc = account(seed=3)
    settings = settings_for("http://kommo.test", acc.state.tokens.demo_token, base, url)
    result = run_sync(
        settings,
        # Full: a sync that changes nothing skips the rebuild and its steps (the checks too).
        SyncOptions(full=True, streams=parse_streams("leads")),
        transport=httpx.ASGITransport(app=acc.app),
        clock=acc.clock,
        after_build=after_build_steps(snapshot_after_build, quality_after_build),
    )
    assert result.status == "ok"
    run = quality.latest_quality(url)
    assert run is not None
    (recon,) = [r for r in run.rules if r.rule == "reconciliation"]
    assert recon.status == "skipped" and "inside a sync" in recon.values["reason"]
    # Checked at the sync's clock (the emulated account's), not the machine's.
    assert abs(run.checked_at.timestamp() - acc.clock.now) < 60

"""A page whose values no longer fit their columns fails the run and leaves the warehouse as it
was: no NULLs written over good data, a message naming entity, page and field."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp
from typer.testing import CliRunner

from kommo_analytics.cli.main import app as cli
from kommo_analytics.errors import DataDriftError, MalformedResponseError
from kommo_analytics.sync import runner
from kommo_analytics.sync.engine import SyncOptions
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.warehouse.target import parse_database_url
from tests.conftest import SyncedSources
from tests.sync.harness import (
    LEAD_COLUMNS,
    account,
    duckdb_url,
    rows,
    settings_for,
    synced_copy,
)


class DriftingTransport(httpx.AsyncBaseTransport):
    """The emulator, except that every lead on `/api/v4/leads` pages gets `changes` (a field
    that turned into text), or the page's body is cut short when `broken`."""

    def __init__(
        self,
        app: ASGIApp,
        changes: dict[str, object] | None = None,
        *,
        broken: bool = False,
        no_timezone: bool = False,
    ) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.no_timezone = no_timezone
        self.changes = changes or {}
        self.broken = broken

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        if request.url.path == "/api/v4/account" and self.no_timezone:
            body = json.loads(await response.aread())
            body.get("_embedded", {}).pop("datetime_settings", None)
            return httpx.Response(200, json=body, headers=headers)
        if request.url.path != "/api/v4/leads" or response.status_code != 200:
            return response
        body = json.loads(await response.aread())
        if "only_deleted" in request.url.params.get("with", ""):
            return httpx.Response(200, json=body, headers=response.headers)
        if self.broken:
            return httpx.Response(200, content=b'{"_page": 1, "_embedded": {"leads": [{"id": 1,',
                                  headers={"content-type": "application/hal+json"})  # fmt: skip
        for lead in body["_embedded"]["leads"]:
            lead.update(self.changes)
        return httpx.Response(200, json=body, headers=headers)


def snapshot(url: str) -> list[tuple[object, ...]]:
    target = parse_database_url(url)
    return sorted(rows(target, f"SELECT {LEAD_COLUMNS} FROM {target.qualified('leads')}"))


def runs(url: str) -> list[tuple[object, ...]]:
    target = parse_database_url(url)
    return rows(
        target, f"SELECT status, error FROM {target.qualified('sync_runs')} ORDER BY started_at"
    )


@pytest.mark.slow
def test_a_field_that_turned_into_text_fails_the_run_and_changes_nothing(
    small_synced: Path, tmp_path: Path
) -> None:
    acc = account(seed=3)
    url = synced_copy(small_synced, tmp_path)  # this account, synced
    before = snapshot(url)
    assert any(r[2] for r in before), "the account should have revenue to lose"

    settings = settings_for("http://kommo.test", acc.state.tokens.demo_token, tmp_path, url)
    with pytest.raises(DataDriftError) as info:
        run_sync(
            settings,
            SyncOptions(full=True),
            transport=DriftingTransport(acc.app, {"price": "n/a"}),
            clock=acc.clock,
        )
    line = info.value.one_line()
    assert line.startswith("leads, page 1, updated_at from ")
    assert 'field `price` is "n/a", not a whole number' in line
    assert "nothing from this page was stored" in line

    # Every lead is as it was (price, seller, dates: nothing became NULL), and the run is
    # recorded as failed with the same words.
    assert snapshot(url) == before
    assert [status for status, _ in runs(url)] == ["ok", "failed"]
    assert "`price`" in str(runs(url)[-1][1])


@pytest.mark.slow
def test_the_cli_names_entity_and_field_and_exits_non_zero(
    small_synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acc = account(seed=3)
    url = synced_copy(small_synced, tmp_path)  # this account, synced
    before = snapshot(url)

    real = runner.client_from_settings
    drifting = DriftingTransport(acc.app, {"created_at": "yesterday", "id": None})
    monkeypatch.setattr(runner, "client_from_settings", lambda s, **_: real(s, transport=drifting))
    for name, value in {
        "KOMMO_BASE_URL": "http://kommo.test",
        "KOMMO_ACCESS_TOKEN": acc.state.tokens.demo_token,
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sync", "--full"])
    assert result.exit_code != 0
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].count("leads, page 1") == 1
    assert "field `id` is null, not an id" in error[0]
    assert snapshot(url) == before


@pytest.mark.slow
def test_a_page_that_stays_broken_names_entity_window_and_page(tmp_path: Path) -> None:
    acc = account(seed=3)
    url = duckdb_url(tmp_path)
    settings = settings_for("http://kommo.test", acc.state.tokens.demo_token, tmp_path, url)
    with pytest.raises(MalformedResponseError) as info:
        run_sync(
            settings,
            SyncOptions(streams=frozenset({"leads"})),
            transport=DriftingTransport(acc.app, broken=True),
            clock=acc.clock,
        )
    line = info.value.one_line()
    assert line.startswith("leads, page 1, updated_at from 1970-01-01 00:00:00 UTC to ")
    assert "invalid JSON" in line and "gave up after" in line
    assert "nothing from it was stored" in line and "report" in line


@pytest.mark.slow
def test_nulls_are_stored_but_a_jump_and_a_missing_time_zone_are_warned(
    synced_sources: SyncedSources, tmp_path: Path
) -> None:
    acc = account(seed=3)
    first = synced_sources("duckdb")  # this account's first sync, whose warehouse we copy
    assert first.warnings == []  # the emulator sends every field and the time zone
    url = synced_copy(first.folder, tmp_path)

    settings = settings_for("http://kommo.test", acc.state.tokens.demo_token, tmp_path, url)
    result = run_sync(
        settings,
        SyncOptions(full=True),
        transport=DriftingTransport(acc.app, {"responsible_user_id": None}, no_timezone=True),
        clock=acc.clock,
    )
    assert result.status == "ok"  # null is what the API said: stored, not refused
    target = parse_database_url(url)
    leads = target.qualified("leads")
    (still_filled,) = rows(
        target,
        f"SELECT count(*) FROM {leads} WHERE responsible_user_id IS NOT NULL AND NOT is_deleted",
    )[0]
    assert still_filled == 0

    kinds = {w["kind"]: w for w in result.warnings}
    jump = kinds["null_jump"]
    assert (jump["table"], jump["column"], jump["run_null_share"]) == (
        "leads",
        "responsible_user_id",
        1.0,
    )
    assert jump["stored_null_share"] < 0.05 and jump["run_rows"] == result.rows["leads"]
    assert kinds["no_timezone"]["used"] == "UTC"
    # Nothing else jumped: only the field that went missing.
    assert [w["column"] for w in result.warnings if w["kind"] == "null_jump"] == [
        "responsible_user_id"
    ]

    ((logged,),) = rows(
        target,
        f"SELECT warnings FROM {target.qualified('sync_runs')} WHERE run_id = '{result.run_id}'",
    )
    assert json.loads(logged) == result.warnings

"""Incremental syncs: live changes, deletions and restores between runs (and the model updated
for them equal to a rebuild), and records changing while a crawl is under way (pagination
drift)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from kommo_analytics.model.store import rebuild
from kommo_analytics.sync.engine import SilentReporter, SyncOptions
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.warehouse.target import parse_database_url
from tests.conftest import Synced, SyncedSources, synced_database
from tests.sync.harness import (
    BACKENDS,
    Account,
    TickingTransport,
    account,
    assert_matches_truth,
    duckdb_url,
    model_tables,
    rows,
    settings_for,
    sync,
    synced_copy,
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_incremental_sync_picks_up_changes_deletions_and_restores(
    backend: str, synced_sources: SyncedSources, tmp_path: Path
) -> None:
    # The first, full sync of this account: a copy of the run's (tests/conftest.py), which
    # test_sync_truth.py checks against the account; this account is a private one to change.
    full = synced_sources(backend)
    assert full.mode == "full"
    with synced_database(full, tmp_path) as warehouse_url:
        changes_picked_up(account(seed=full.seed, fresh=True), full, tmp_path, warehouse_url)


def changes_picked_up(acc: Account, full: Synced, tmp_path: Path, warehouse_url: str) -> None:

    changes: Counter[str] = Counter()
    for _ in range(8):
        acc.clock.now += 900
        changes.update(acc.state.live_tick(40))
    assert changes["new_lead"] and changes["stage_move"] and changes["task_completed"]
    assert changes["deletion"] and changes["restore"], changes
    calls_on_contacts(acc)
    acc.clock.now += 60

    said = Messages()
    incremental = sync(acc, tmp_path, warehouse_url, reporter=said)
    assert incremental.mode == "incremental"
    assert_matches_truth(acc.store, warehouse_url)
    # The model was updated for the touched leads, not rebuilt, and equals a rebuild.
    assert any(line.startswith("analytics model updated:") for line in said.lines), said.lines
    target = parse_database_url(warehouse_url)
    updated = model_tables(target)
    settings = settings_for("http://kommo.test", "unused", tmp_path, warehouse_url)
    assert rebuild(settings, target).startswith("analytics model built:")
    assert_same_model(updated, model_tables(target))
    full_requests = full.requests
    incremental_requests = sum(incremental.requests.values())
    assert incremental_requests * 4 < full_requests, (incremental_requests, full_requests)


class Messages(SilentReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def calls_on_contacts(acc: Account) -> None:
    """A new call on a lead's contact (its lead's first response may move earlier), and an older
    call note on a contact whose duration is corrected (the event naming it is not re-read)."""
    mutator = acc.state.live_mutator
    assert mutator is not None
    now = int(acc.clock.now)
    cur = acc.store.cursor()
    with acc.store.write_lock:
        contact_id, user_id = cur.execute(
            "SELECT c.contact_id, l.responsible_user_id FROM leads l "
            "JOIN lead_contacts c ON c.lead_id = l.id WHERE NOT l.is_deleted "
            "ORDER BY l.id DESC LIMIT 1"
        ).fetchone()
        note_id = mutator._take("next_note_id", 4)
        cur.execute(
            "INSERT INTO notes (id, entity_type, entity_id, created_by, updated_by, created_at, "
            "updated_at, responsible_user_id, note_type, params) "
            "VALUES (?, 'contacts', ?, ?, ?, ?, ?, ?, 'call_out', ?)",
            [note_id, contact_id, user_id, user_id, now, now, user_id, '{"duration": 75}'],
        )
        mutator._event(cur, now, "outgoing_call", contact_id, "contact", user_id,
                       after=f'[{{"note":{{"id":{note_id}}}}}]')  # fmt: skip
        cur.execute(
            "UPDATE notes SET params = '{\"duration\": 999}', updated_at = ? WHERE id = ("
            "SELECT min(id) FROM notes WHERE entity_type = 'contacts' AND note_type LIKE 'call%')",
            [now],
        )
    mutator._save_counters()


def assert_same_model(got: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    for name, frame in expected.items():
        assert len(got[name]) == len(frame), name
        pd.testing.assert_frame_equal(got[name], frame, check_exact=False, rtol=1e-9, obj=name)


@pytest.mark.slow
def test_a_deleted_lead_is_marked_and_a_restored_one_unmarked(
    small_synced: Path, tmp_path: Path
) -> None:
    acc = account(seed=3, fresh=True)
    url = synced_copy(small_synced, tmp_path)  # this account, synced
    cur = acc.store.cursor()
    live = [int(r[0]) for r in cur.execute(
        "SELECT id FROM leads WHERE NOT is_deleted ORDER BY id LIMIT 2"
    ).fetchall()]  # fmt: skip
    trashed = int(cur.execute("SELECT id FROM leads WHERE is_deleted LIMIT 1").fetchone()[0])  # type: ignore[index]
    now = int(acc.clock.now) + 100
    # Delete two live leads, restore one that was in the trash, as Kommo would record them.
    for lead_id in live:
        cur.execute(
            "UPDATE leads SET is_deleted = true, deleted_at = ?, updated_at = ? WHERE id = ?",
            [now, now, lead_id],
        )
    cur.execute(
        "UPDATE leads SET is_deleted = false, deleted_at = NULL, updated_at = ? WHERE id = ?",
        [now, trashed],
    )
    acc.clock.now = now + 30
    sync(acc, tmp_path, url)
    target = parse_database_url(url)
    flags = dict(
        rows(
            target,
            f"SELECT id, is_deleted FROM {target.qualified('leads')} "
            f"WHERE id IN ({live[0]}, {live[1]}, {trashed})",
        )
    )
    assert flags == {live[0]: True, live[1]: True, trashed: False}
    assert_matches_truth(acc.store, url)


@pytest.mark.slow
def test_changes_during_a_crawl_lose_no_rows(tmp_path: Path) -> None:
    """Records updated mid-crawl jump to the end of an updated_at ordering; with plain pages
    that skips rows (tests/emulator/test_live_http.py). The sync must not lose any: a second,
    quiet incremental run only re-reads the last minutes, so anything the first run skipped
    would still be missing afterwards."""
    acc = account(seed=7, fresh=True)
    url = duckdb_url(tmp_path)
    settings = settings_for("http://kommo.test", acc.state.tokens.demo_token, tmp_path, url)
    # Small commits make the keyset crawl move its watermark mid-run too.
    options = SyncOptions(commit_rows=1500)
    transport = TickingTransport(acc.app, acc, every=8, changes=15)
    first = run_sync(settings, options, transport=transport, clock=acc.clock)
    assert first.status == "ok"
    assert transport.applied["stage_move"] > 20, transport.applied
    acc.clock.now += 5
    sync(acc, tmp_path, url)
    assert_matches_truth(acc.store, url)

"""Live mode: ticks change the account realistically, consistently and deterministically."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.live import CALL, KINDS, LiveMutator
from kommo_analytics.emulator.schema import TABLES
from kommo_analytics.emulator.store import AccountStore
from tests.emulator.invariants import violations

NOW = int(datetime(2026, 11, 25, 15, tzinfo=UTC).timestamp())
SEED = 5


@pytest.fixture(scope="module")
def pristine() -> AccountStore:
    return build_account(seed=SEED, scale="small", now=NOW)


def copy_of(store: AccountStore) -> AccountStore:
    """A fresh store with the same rows (cheaper than generating the account again)."""
    clone = AccountStore.empty()
    for table in TABLES:
        frame = store.cursor().sql(f"SELECT * FROM {table}").to_arrow_table()
        clone.con.register("source_rows", frame)
        clone.con.execute(f"INSERT INTO {table} SELECT * FROM source_rows")
        clone.con.unregister("source_rows")
    return clone


@pytest.fixture
def store(pristine: AccountStore) -> AccountStore:
    return copy_of(pristine)


def one(store: AccountStore, sql: str, params: list[Any] | None = None) -> Any:
    row = store.cursor().execute(sql, params or []).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def run(store: AccountStore, ticks: int, changes: int, step: int = 60) -> dict[str, int]:
    mutator = LiveMutator(store, SEED)
    totals = dict.fromkeys((*KINDS, CALL), 0)
    for i in range(1, ticks + 1):
        for kind, count in mutator.tick(NOW + i * step, changes).items():
            totals[kind] += count
    return totals


def test_tick_applies_the_requested_number_of_changes(store: AccountStore) -> None:
    leads_before = store.count("leads")
    counts = LiveMutator(store, SEED).tick(NOW + 60, changes=25)
    assert set(counts) == {*KINDS, CALL}
    assert sum(counts[k] for k in KINDS) == 25
    assert store.count("leads") == leads_before + counts["new_lead"]
    assert one(store, "SELECT count(*) FROM events WHERE created_at = ?", [NOW + 60]) >= 25


def test_every_kind_happens_and_bumps_updated_at(store: AccountStore) -> None:
    totals = run(store, ticks=40, changes=5)
    for kind in KINDS:
        assert totals[kind] > 0, kind
    assert totals[CALL] > 0  # new leads get answered a few ticks later
    last = NOW + 40 * 60
    # Each changed entity carries the tick time of its last change.
    stale = one(
        store,
        """
        SELECT count(*) FROM leads l JOIN (
            SELECT entity_id, max(created_at) AS t FROM events
            WHERE entity_type = 'lead' AND created_at > ? AND type IN ('lead_added',
                'lead_status_changed', 'entity_responsible_changed', 'lead_deleted',
                'lead_restored')
            GROUP BY entity_id
        ) e ON e.entity_id = l.id WHERE l.updated_at < e.t""",
        [NOW],
    )
    assert stale == 0
    assert one(store, "SELECT count(*) FROM leads WHERE updated_at > ?", [NOW]) > 30
    assert one(store, "SELECT max(updated_at) FROM leads") <= last
    assert (
        one(
            store,
            """
        SELECT count(*) FROM tasks t JOIN events e ON e.entity_id = t.id
        WHERE e.type = 'task_completed' AND e.created_at > ?
          AND (t.updated_at <> e.created_at OR t.completed_at <> e.created_at
               OR NOT t.is_completed)""",
            [NOW],
        )
        == 0
    )


def test_updated_at_ordering_drifts(store: AccountStore) -> None:
    """A lead changed now moves to the end of an updated_at ordering."""
    before = [r[0] for r in store.cursor().execute(
        "SELECT id FROM leads ORDER BY updated_at, id").fetchall()]  # fmt: skip
    LiveMutator(store, SEED).tick(NOW + 600, changes=10)
    after = [r[0] for r in store.cursor().execute(
        "SELECT id FROM leads ORDER BY updated_at, id").fetchall()]  # fmt: skip
    moved = [i for i in before if i in set(after[-10:])]
    assert moved  # some old lead is now at the tail
    assert after[: len(before) - 20] != before[: len(before) - 20] or moved


def test_consistency_after_many_ticks(store: AccountStore) -> None:
    run(store, ticks=30, changes=8)
    assert violations(store) == {}
    assert (
        one(
            store,
            """
        SELECT count(*) FROM (
            SELECT seq, created_at, lag(seq) OVER (ORDER BY seq) AS prev_seq,
                   lag(created_at) OVER (ORDER BY seq) AS prev_at FROM events
        ) WHERE seq <> prev_seq + 1 OR created_at < prev_at""",
        )
        == 0
    )
    pending = {r[0] for r in store.cursor().execute(
        "SELECT lead_id FROM unsorted WHERE status = 'pending'").fetchall()}  # fmt: skip
    incoming = {
        r[0]
        for r in store.cursor()
        .execute("""
        SELECT l.id FROM leads l JOIN statuses s
            ON s.id = l.status_id AND s.pipeline_id = l.pipeline_id WHERE s.type = 1""")
        .fetchall()
    }
    assert pending == incoming
    for (params,) in (
        store.cursor().execute("SELECT params FROM notes WHERE created_at > ?", [NOW]).fetchall()
    ):
        assert json.loads(params)["duration"] >= 0
    # The counters in meta stay ahead of what exists.
    assert int(store.get_meta("next_lead_id") or 0) > one(store, "SELECT max(id) FROM leads")
    assert (
        int(store.get_meta("next_event_seq") or 0) == one(store, "SELECT max(seq) FROM events") + 1
    )


def test_time_never_runs_backwards(store: AccountStore) -> None:
    mutator = LiveMutator(store, SEED)
    mutator.tick(NOW + 3600, changes=5)
    mutator.tick(NOW + 60, changes=5)  # a clock that went back
    assert one(store, "SELECT min(created_at) FROM events WHERE seq > "
                      "(SELECT max(seq) - 10 FROM events)") >= NOW + 3600  # fmt: skip


def test_deterministic(pristine: AccountStore) -> None:
    a, b = copy_of(pristine), copy_of(pristine)
    counts_a = run(a, ticks=10, changes=6)
    counts_b = run(b, ticks=10, changes=6)
    assert counts_a == counts_b
    for table in TABLES:
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert a.cursor().execute(sql).fetchall() == b.cursor().execute(sql).fetchall(), table


def test_a_new_mutator_continues_from_meta(store: AccountStore) -> None:
    LiveMutator(store, SEED).tick(NOW + 60, changes=10)
    seq = one(store, "SELECT max(seq) FROM events")
    LiveMutator(store, SEED + 1).tick(NOW + 120, changes=10)
    assert one(store, "SELECT min(seq) FROM events WHERE created_at = ?", [NOW + 120]) == seq + 1
    assert one(store, "SELECT count(*) - count(DISTINCT id) FROM leads") == 0

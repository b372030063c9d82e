"""Syncing an emulated account and comparing the warehouse with the emulator's ground truth."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.types import ASGIApp

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.schema import TRACKING_COLUMNS
from kommo_analytics.emulator.state import EmulatorState, get_state
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.settings import Settings
from kommo_analytics.sync.engine import Reporter, SyncOptions, SyncResult
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import Target, parse_database_url

NOW = 1_795_618_800  # 2026-11-25 15:00 UTC (12:00 in São Paulo): the generated history ends here
BACKENDS = ("duckdb", "mariadb", "postgres")


class Clock:
    """The emulator's clock: it runs at real speed (the rate limiter's window must slide) from a
    chosen start, and tests jump it forward between syncs with ``clock.now += seconds``."""

    def __init__(self, now: float) -> None:
        self._offset = now - time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() + self._offset

    @property
    def now(self) -> float:
        return self()

    @now.setter
    def now(self, value: float) -> None:
        self._offset = value - time.monotonic()


@dataclass
class Account:
    store: AccountStore
    app: ASGIApp
    state: EmulatorState
    clock: Clock


_STORES: dict[int, AccountStore] = {}


def account(seed: int = 3, *, config: EmulatorConfig | None = None, fresh: bool = False) -> Account:
    """The small account for `seed`, served in-process. Stores are shared unless `fresh`
    (live mode and anything else that changes the data needs its own)."""
    if fresh or seed not in _STORES:
        store = build_account(seed=seed, scale="small", now=NOW)
        if fresh:
            clock = Clock(NOW + 60)
            app = create_app(
                store, config or EmulatorConfig(rate_limit_per_second=1000), clock=clock
            )
            return Account(store, app, get_state(app), clock)
        _STORES[seed] = store
    clock = Clock(NOW + 60)
    app = create_app(
        _STORES[seed], config or EmulatorConfig(rate_limit_per_second=1000), clock=clock
    )
    return Account(_STORES[seed], app, get_state(app), clock)


def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"


def settings_for(
    base_url: str, token: str, tmp_path: Path, database_url: str, *, rate: float = 50
) -> Settings:
    return Settings(
        kommo_base_url=base_url,
        kommo_access_token=SecretStr(token),
        kommo_rate_limit_per_second=rate,
        data_dir=tmp_path / "data",
        database_url=database_url,
    )


def sync(
    acc: Account,
    tmp_path: Path,
    database_url: str,
    options: SyncOptions | None = None,
    *,
    rate: float = 50,
    reporter: Reporter | None = None,
    settings: Settings | None = None,
) -> SyncResult:
    settings = settings or settings_for(
        "http://kommo.test", acc.state.tokens.demo_token, tmp_path, database_url, rate=rate
    )
    return run_sync(
        settings,
        options,
        reporter,
        transport=httpx.ASGITransport(app=acc.app),
        clock=acc.clock,
    )


# -- reading both sides -------------------------------------------------------------------------


def epoch(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # MySQL DATETIME holds UTC without a zone
        return int(value.timestamp())
    return int(value)


def rows(target: Target, sql: str) -> list[tuple[Any, ...]]:
    return reader.query(target, sql)


def table(target: Target, name: str) -> str:
    return target.qualified(name)


def truth(store: AccountStore, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.cursor().execute(sql).fetchall()]


def _norm(row: tuple[Any, ...], time_columns: set[int], bool_columns: set[int]) -> tuple[Any, ...]:
    out = []
    for i, value in enumerate(row):
        if i in time_columns:
            out.append(epoch(value))
        elif i in bool_columns:
            out.append(None if value is None else bool(value))
        else:
            out.append(value)
    return tuple(out)


def _by_id(
    data: list[tuple[Any, ...]], time_columns: Iterable[int] = (), bools: Iterable[int] = ()
) -> dict[Any, tuple[Any, ...]]:
    times, flags = set(time_columns), set(bools)
    return {row[0]: _norm(row, times, flags) for row in data}


LEAD_COLUMNS = (
    "id, name, price, responsible_user_id, group_id, status_id, pipeline_id, loss_reason_id, "
    "created_by, updated_by, created_at, updated_at, closed_at, closest_task_at, company_id, "
    "utm_source, utm_medium, utm_campaign, utm_content, utm_term, referrer, gclid, fbclid"
)
LEAD_TIMES = {10, 11, 12, 13}


# The store keeps UTM_REFERRER among the extra tracking fields, but a reader of the API takes it as
# the lead's referrer when REFERRER is empty (docs/architecture.md, raw tables): the truth too.
LEADS_AS_READ = """
    SELECT l.* REPLACE (COALESCE(NULLIF(l.referrer, ''), r.value) AS referrer)
    FROM leads l LEFT JOIN (
        SELECT lt.lead_id, lt.value FROM lead_tracking lt
        JOIN custom_fields cf ON cf.id = lt.field_id AND cf.code = 'UTM_REFERRER'
    ) r ON r.lead_id = l.id
"""


def assert_matches_truth(store: AccountStore, database_url: str) -> None:
    """Row counts and field values of every synced table equal the emulator's store."""
    target = parse_database_url(database_url)
    t = lambda name: table(target, name)  # noqa: E731

    # Leads: every lead, deleted or not; live ones field by field.
    expected = _by_id(
        truth(store, f"SELECT {LEAD_COLUMNS} FROM ({LEADS_AS_READ}) WHERE NOT is_deleted"),
        LEAD_TIMES,
    )
    got_all = rows(target, f"SELECT {LEAD_COLUMNS}, is_deleted FROM {t('leads')}")
    got_live = _by_id([r[:-1] for r in got_all if not r[-1]], LEAD_TIMES)
    assert len(got_live) == len(expected), "live lead count differs"
    diffs = [i for i in expected if got_live.get(i) != expected[i]]
    assert not diffs, (
        f"{len(diffs)} leads differ, e.g. {expected[diffs[0]]} vs {got_live.get(diffs[0])}"
    )
    # Every tracking field of every live lead, the standard eight and the rest, is kept.
    standard = " UNION ALL ".join(
        f"SELECT id, '{code}', {column} FROM leads WHERE {column} IS NOT NULL AND NOT is_deleted"
        for code, column in TRACKING_COLUMNS.items()
    )
    expected_tracking = set(
        truth(
            store,
            f"{standard} UNION ALL SELECT lt.lead_id, upper(cf.code), lt.value "
            "FROM lead_tracking lt JOIN custom_fields cf ON cf.id = lt.field_id "
            "JOIN leads l ON l.id = lt.lead_id WHERE NOT l.is_deleted AND lt.value IS NOT NULL",
        )
    )
    live = {r[0] for r in got_all if not r[-1]}
    got_tracking = {
        r
        for r in rows(target, f"SELECT lead_id, code, value FROM {t('lead_tracking')}")
        if r[0] in live
    }
    assert got_tracking == expected_tracking, (
        f"tracking fields differ: {sorted(expected_tracking ^ got_tracking)[:3]}"
    )
    deleted_truth = {r[0] for r in truth(store, "SELECT id FROM leads WHERE is_deleted")}
    deleted_got = {r[0] for r in got_all if r[-1]}
    assert deleted_got == deleted_truth, "deleted leads differ"
    assert len(got_all) == store.count("leads"), "lead rows are missing or doubled"

    # Lead ↔ contact links of live leads (links to contacts in the trash are not served).
    expected_links = set(
        truth(
            store,
            "SELECT lc.lead_id, lc.contact_id, lc.is_main FROM lead_contacts lc "
            "JOIN leads l ON l.id = lc.lead_id JOIN contacts c ON c.id = lc.contact_id "
            "WHERE NOT l.is_deleted AND NOT c.is_deleted",
        )
    )
    got_links = {
        (a, b, bool(c))
        for a, b, c in rows(
            target,
            f"SELECT lc.lead_id, lc.contact_id, lc.is_main FROM {t('lead_contacts')} lc "
            f"JOIN {t('leads')} l ON l.id = lc.lead_id WHERE NOT l.is_deleted",
        )
    }
    assert got_links == expected_links

    contact_sql = "id, name, responsible_user_id, created_at, updated_at, company_id"
    assert _by_id(rows(target, f"SELECT {contact_sql} FROM {t('contacts')}"), {3, 4}) == _by_id(
        truth(store, f"SELECT {contact_sql} FROM contacts WHERE NOT is_deleted"), {3, 4}
    )

    event_sql = "id, type, entity_id, entity_type, created_by, created_at"
    got_events = rows(target, f"SELECT {event_sql}, value_after FROM {t('events')}")
    assert len(got_events) == store.count("events"), "events are missing or doubled"
    expected_events = {
        r[0]: (_norm(r[:-1], {5}, set()), json.loads(r[-1]))
        for r in truth(store, f"SELECT {event_sql}, value_after FROM events")
    }
    got = {r[0]: (_norm(r[:-1], {5}, set()), json.loads(r[-1])) for r in got_events}
    assert got == expected_events

    task_sql = (
        "id, created_at, updated_at, responsible_user_id, entity_id, entity_type, "
        "is_completed, task_type_id, text, result_text, complete_till"
    )
    assert _by_id(rows(target, f"SELECT {task_sql} FROM {t('tasks')}"), {1, 2, 10}, {6}) == _by_id(
        truth(store, f"SELECT {task_sql} FROM tasks"), {1, 2, 10}, {6}
    )

    got_calls = {
        (r[0], r[1]): (r[2], r[3], r[4])
        for r in rows(
            target,
            f"SELECT entity_type, id, entity_id, note_type, duration FROM {t('call_notes')}",
        )
    }
    expected_calls = {
        (r[0], r[1]): (r[2], r[3], json.loads(r[4]).get("duration"))
        for r in truth(
            store,
            "SELECT entity_type, id, entity_id, note_type, params FROM notes "
            "WHERE note_type IN ('call_in', 'call_out')",
        )
    }
    assert got_calls == expected_calls

    for name, sql in (
        ("users", "SELECT id, name FROM {}"),
        ("statuses", "SELECT pipeline_id, id, name, type FROM {}"),
        ("pipelines", "SELECT id, name FROM {}"),
        ("loss_reasons", "SELECT id, name FROM {}"),
    ):
        assert sorted(rows(target, sql.format(t(name)))) == sorted(
            truth(store, sql.format(name))
        ), name
    fields = {r[0] for r in rows(target, f"SELECT id FROM {t('lead_custom_fields')}")}
    assert fields == {
        r[0] for r in truth(store, "SELECT id FROM custom_fields WHERE entity_type = 'leads'")
    }
    ((currency, timezone),) = rows(target, f"SELECT currency, timezone FROM {t('account')}")
    assert (currency, timezone) == truth(store, "SELECT currency, timezone FROM account")[0]


def no_block(acc: Account) -> None:
    stats = acc.state.stats
    assert stats["blocks"] == 0 and not stats["blocked"], "the client got its IP blocked"


Check = Callable[[AccountStore, str], None]

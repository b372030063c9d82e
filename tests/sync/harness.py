"""Syncing an emulated account and comparing the warehouse with the emulator's ground truth."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from pydantic import SecretStr
from starlette.types import ASGIApp

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.schema import TRACKING_COLUMNS
from kommo_analytics.emulator.state import EmulatorState, get_state
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.kommo.auth import TokenFile, exchange_code
from kommo_analytics.kommo.ratelimit import RateLimiter
from kommo_analytics.model.schema import MODEL_TABLES, model_qualified
from kommo_analytics.settings import Settings
from kommo_analytics.sync.engine import Reporter, SyncOptions, SyncResult
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.sync.streams import CREATION_EVENT_TYPE, EVENT_TYPES
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
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


_STORES: dict[tuple[int, str], AccountStore] = {}


def account(
    seed: int = 3,
    *,
    config: EmulatorConfig | None = None,
    fresh: bool = False,
    country: str = "BR",
) -> Account:
    """The small account for `seed` (in `country`'s currency and time zone: the emulator's
    profiles), served in-process. Stores are shared unless `fresh` (live mode and anything else
    that changes the data needs its own)."""
    key = (seed, country)
    if fresh or key not in _STORES:
        store = build_account(seed=seed, scale="small", now=NOW, country=country)
        if fresh:
            clock = Clock(NOW + 60)
            app = create_app(
                store, config or EmulatorConfig(rate_limit_per_second=1000), clock=clock
            )
            return Account(store, app, get_state(app), clock)
        _STORES[key] = store
    clock = Clock(NOW + 60)
    app = create_app(
        _STORES[key], config or EmulatorConfig(rate_limit_per_second=1000), clock=clock
    )
    return Account(_STORES[key], app, get_state(app), clock)


def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"


def synced_copy(source: Path, dest: Path) -> str:
    """A private copy of a synced folder (`source`, laid out as `sync` leaves it: `warehouse/`
    and `data/`) at `dest`; returns its URL. A copy takes a fraction of a second where a sync
    takes seconds. dlt's working folder and the lock files stay behind: the sync treats the
    first as scratch (it starts from an empty one) and makes the others as it needs them."""
    shutil.copytree(
        source / "warehouse", dest / "warehouse", ignore=shutil.ignore_patterns("*.lock")
    )
    shutil.copytree(source / "data", dest / "data", ignore=shutil.ignore_patterns("dlt", "*.lock"))
    return duckdb_url(dest)


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


async def oauth_settings(app: ASGIApp, tmp_path: Path, database_url: str) -> Settings:
    """Settings for an OAuth integration whose tokens were just obtained with a fresh code (as
    `kommo-analytics auth --code` does): the token file is written in the data folder."""
    state = get_state(app)
    config = state.config
    token_file = TokenFile(tmp_path / "data" / "kommo_tokens.json")
    token_file.path.parent.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        await exchange_code(
            http,
            base_url="http://kommo.test",
            client_id=config.client_id,
            client_secret=config.client_secret,
            redirect_uri=config.redirect_uri,
            code=state.tokens.issue_auth_code(),
            token_file=token_file,
            limiter=RateLimiter(1000),
        )
    return Settings(
        kommo_base_url="http://kommo.test",
        kommo_client_id=config.client_id,
        kommo_client_secret=SecretStr(config.client_secret),
        kommo_redirect_uri=config.redirect_uri,
        kommo_rate_limit_per_second=50,
        data_dir=tmp_path / "data",
        database_url=database_url,
    )


class TickingTransport(httpx.AsyncBaseTransport):
    """Applies live changes every few requests, while the sync is crawling."""

    def __init__(self, app: ASGIApp, acc: Account, every: int, changes: int) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.acc = acc
        self.every = every
        self.changes = changes
        self.requests = 0
        self.applied: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests % self.every == 0:
            self.acc.clock.now += 1
            self.applied.update(self.acc.state.live_tick(self.changes))
        return await self.inner.handle_async_request(request)


# The sync as a separate process, configured the way a user configures it: the environment.
SYNC_COMMAND = [sys.executable, "-m", "kommo_analytics", "sync"]


def sync_env(base: str, token: str, tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KOMMO_", "DATABASE_URL"))}
    env.update(
        KOMMO_BASE_URL=base,
        KOMMO_ACCESS_TOKEN=token,
        KOMMO_RATE_LIMIT_PER_SECOND="40",
        DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=database_url,
    )
    return env


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


Keyed = list[tuple[Any, Any]]  # (key, value) pairs: a table's rows as one side holds them


@dataclass(frozen=True)
class Gap:
    """How one table of a warehouse differs from the emulator's store."""

    lost: int = 0  # rows of the account that are missing, or stored with other values
    duplicated: int = 0  # rows stored more than once, or that the account does not have
    example: str = ""

    def __bool__(self) -> bool:
        return bool(self.lost or self.duplicated)


def compare(expected: Keyed, got: Keyed) -> Gap:
    """Counts, not a yes/no: a benchmark reports how many rows a scenario lost or doubled."""
    want = dict(expected)
    have: dict[Any, Any] = {}
    stored: Counter[Any] = Counter()
    for key, value in got:
        stored[key] += 1
        have[key] = value
    doubled = sum(n - 1 for n in stored.values()) + sum(1 for k in stored if k not in want)
    wrong = [k for k, v in want.items() if k not in have or have[k] != v]
    example = ""
    if wrong:
        example = f"{wrong[0]!r}: expected {want[wrong[0]]!r}, stored {have.get(wrong[0])!r}"
    elif doubled:
        extra = next(k for k, n in stored.items() if n > 1 or k not in want)
        example = f"{extra!r} stored {stored[extra]} time(s), expected {int(extra in want)}"
    return Gap(len(wrong), doubled, example)


def _keyed(
    data: Iterable[tuple[Any, ...]], times: Iterable[int] = (), bools: Iterable[int] = ()
) -> Keyed:
    """Rows keyed by their first column, the rest normalised (epochs, booleans)."""
    by_id = [(row[0], _norm(row, set(times), set(bools))[1:]) for row in data]
    return by_id


def truth_gaps(store: AccountStore, database_url: str) -> dict[str, Gap]:
    """Every synced table of the warehouse against the emulator's store, table by table."""
    target = parse_database_url(database_url)
    t = lambda name: table(target, name)  # noqa: E731
    gaps: dict[str, Gap] = {}

    # Leads: every lead, deleted or not; live ones field by field, deleted ones by their flag.
    expected_leads = _keyed(
        truth(store, f"SELECT {LEAD_COLUMNS} FROM ({LEADS_AS_READ}) WHERE NOT is_deleted"),
        LEAD_TIMES,
    ) + [(r[0], "deleted") for r in truth(store, "SELECT id FROM leads WHERE is_deleted")]
    got_all = rows(target, f"SELECT {LEAD_COLUMNS}, is_deleted FROM {t('leads')}")
    got_leads = [
        (r[0], "deleted") if r[-1] else (r[0], _norm(r[:-1], LEAD_TIMES, set())[1:])
        for r in got_all
    ]
    gaps["leads"] = compare(expected_leads, got_leads)
    live = {r[0] for r in got_all if not r[-1]}

    # Every tracking field of every live lead, the standard eight and the rest, is kept.
    standard = " UNION ALL ".join(
        f"SELECT id, '{code}', {column} FROM leads WHERE {column} IS NOT NULL AND NOT is_deleted"
        for code, column in TRACKING_COLUMNS.items()
    )
    expected_tracking = truth(
        store,
        f"{standard} UNION ALL SELECT lt.lead_id, upper(cf.code), lt.value "
        "FROM lead_tracking lt JOIN custom_fields cf ON cf.id = lt.field_id "
        "JOIN leads l ON l.id = lt.lead_id WHERE NOT l.is_deleted AND lt.value IS NOT NULL",
    )
    got_tracking = [
        r
        for r in rows(target, f"SELECT lead_id, code, value FROM {t('lead_tracking')}")
        if r[0] in live
    ]
    gaps["lead_tracking"] = compare(
        [(tuple(r), None) for r in expected_tracking], [(tuple(r), None) for r in got_tracking]
    )

    # Lead ↔ contact links of live leads (links to contacts in the trash are not served).
    expected_links = truth(
        store,
        "SELECT lc.lead_id, lc.contact_id, lc.is_main FROM lead_contacts lc "
        "JOIN leads l ON l.id = lc.lead_id JOIN contacts c ON c.id = lc.contact_id "
        "WHERE NOT l.is_deleted AND NOT c.is_deleted",
    )
    got_links = rows(
        target,
        f"SELECT lc.lead_id, lc.contact_id, lc.is_main FROM {t('lead_contacts')} lc "
        f"JOIN {t('leads')} l ON l.id = lc.lead_id WHERE NOT l.is_deleted",
    )
    gaps["lead_contacts"] = compare(
        [((a, b), bool(c)) for a, b, c in expected_links],
        [((a, b), bool(c)) for a, b, c in got_links],
    )

    contact_sql = "id, name, responsible_user_id, created_at, updated_at, company_id"
    gaps["contacts"] = compare(
        _keyed(truth(store, f"SELECT {contact_sql} FROM contacts WHERE NOT is_deleted"), {3, 4}),
        _keyed(rows(target, f"SELECT {contact_sql} FROM {t('contacts')}"), {3, 4}),
    )

    # Events: the crawl takes only the types something reads; the creation events come only for
    # the leads that have no creation time of their own (known from the trash alone).
    event_sql = "id, type, entity_id, entity_type, created_by, created_at, value_after"
    read = ", ".join(f"'{kind}'" for kind in EVENT_TYPES)
    gaps["events"] = compare(
        *(
            [(r[0], (_norm(r[:-1], {5}, set())[1:], json.loads(r[-1]))) for r in side]
            for side in (
                truth(store, f"SELECT {event_sql} FROM events WHERE type IN ({read})"),
                rows(target, f"SELECT {event_sql} FROM {t('events')} WHERE type IN ({read})"),
            )
        )
    )
    undated = {r[0] for r in rows(target, f"SELECT id FROM {t('leads')} WHERE created_at IS NULL")}
    creation = f"SELECT id, entity_id FROM {{}} WHERE type = '{CREATION_EVENT_TYPE}'"
    # (A lead restored since keeps the creation event read while it was undated: harmless.)
    gaps["creation_events"] = compare(
        [(r[0], r[1]) for r in truth(store, creation.format("events")) if r[1] in undated],
        [(r[0], r[1]) for r in rows(target, creation.format(t("events"))) if r[1] in undated],
    )

    task_sql = (
        "id, created_at, updated_at, responsible_user_id, entity_id, entity_type, "
        "is_completed, task_type_id, text, result_text, complete_till"
    )
    gaps["tasks"] = compare(
        _keyed(truth(store, f"SELECT {task_sql} FROM tasks"), {1, 2, 10}, {6}),
        _keyed(rows(target, f"SELECT {task_sql} FROM {t('tasks')}"), {1, 2, 10}, {6}),
    )

    gaps["call_notes"] = compare(
        [
            ((r[0], r[1]), (r[2], r[3], json.loads(r[4]).get("duration")))
            for r in truth(
                store,
                "SELECT entity_type, id, entity_id, note_type, params FROM notes "
                "WHERE note_type IN ('call_in', 'call_out')",
            )
        ],
        [
            ((r[0], r[1]), (r[2], r[3], r[4]))
            for r in rows(
                target,
                f"SELECT entity_type, id, entity_id, note_type, duration FROM {t('call_notes')}",
            )
        ],
    )

    for name, sql, width in (
        ("users", "SELECT id, name FROM {}", 1),
        ("statuses", "SELECT pipeline_id, id, name, type FROM {}", 2),
        ("pipelines", "SELECT id, name FROM {}", 1),
        ("loss_reasons", "SELECT id, name FROM {}", 1),
    ):
        gaps[name] = compare(
            *(
                [(tuple(r[:width]), tuple(r[width:])) for r in side]
                for side in (truth(store, sql.format(name)), rows(target, sql.format(t(name))))
            )
        )
    gaps["lead_custom_fields"] = compare(
        [
            (r[0], None)
            for r in truth(store, "SELECT id FROM custom_fields WHERE entity_type = 'leads'")
        ],
        [(r[0], None) for r in rows(target, f"SELECT id FROM {t('lead_custom_fields')}")],
    )
    account_sql = "SELECT currency, timezone FROM {}"
    gaps["account"] = compare(
        [("account", tuple(r)) for r in truth(store, account_sql.format("account"))],
        [("account", tuple(r)) for r in rows(target, account_sql.format(t("account")))],
    )
    return gaps


def assert_matches_truth(store: AccountStore, database_url: str) -> None:
    """Row counts and field values of every synced table equal the emulator's store."""
    wrong = {name: gap for name, gap in truth_gaps(store, database_url).items() if gap}
    assert not wrong, "; ".join(
        f"{name}: {gap.lost} lost, {gap.duplicated} doubled, e.g. {gap.example}"
        for name, gap in wrong.items()
    )


def no_block(acc: Account) -> None:
    stats = acc.state.stats
    assert stats["blocks"] == 0 and not stats["blocked"], "the client got its IP blocked"


Check = Callable[[AccountStore, str], None]


def model_tables(target: Target) -> dict[str, pd.DataFrame]:
    """The model's fact tables and facts (without the build time), in key order."""
    keys = {
        "fact_leads": ["lead_id"],
        "fact_stage_stays": ["lead_id", "seq"],
        "fact_tasks": ["task_id"],
        "fact_activities": ["event_id"],
        "model_info": ["item"],
    }
    out = {}
    with reader.connect(target, write=True) as con:
        for name, key in keys.items():
            columns = list(MODEL_TABLES[name].column_names)
            # SQL text: a model table's declared columns and name.
            sql = f"SELECT {', '.join(columns)} FROM {model_qualified(target, name)}"
            frame = backend_for(target).fetch_frame(con, sql, columns)
            if name == "model_info":
                frame = frame[frame["item"] != "built_at"]
            out[name] = frame.sort_values(key).reset_index(drop=True)
    return out

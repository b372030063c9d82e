"""The dead-letter list: jobs the workers gave up on after their retries (docs/operations.md,
"Workers"), one row per job, kept in the account's own warehouse beside ``sync_runs``.

Why the warehouse and not the broker: it works the same with Redis and RabbitMQ, outlives a
flushed or replaced broker, goes with the account when the account is removed, and Data health
reads it on the connection it already has. The broker keeps its own dead-letter queue too (a
week on Redis), which holds the message itself; this list is what people read.

Written only by workers (``automation/queue.py``), which run on a server warehouse: a DuckDB
file cannot be shared by workers, and the settings refuse it with a broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from kommo_analytics.service import _sql
from kommo_analytics.service.account import target_for
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import Target

TABLE: Final = "job_dead_letters"
ERROR_CHARACTERS: Final = 1000  # one line is enough to say what to do; the log has the rest
SHOWN: Final = 200  # newest first; an install that piles up more has one problem many times


@dataclass(frozen=True)
class DeadLetter:
    """One job given up on: which, for which account, when, after how many attempts, and the
    error of its last attempt on one line."""

    id: str  # the broker's message id: the same job dead-lettered twice is one row
    account: str
    job: str
    error: str
    failed_at: datetime  # aware, UTC
    attempts: int


def _create(target: Target) -> list[str]:
    backend = backend_for(target)
    text, stamp, number = (backend.type_name(t) for t in ("text", "timestamp", "bigint"))
    key = "VARCHAR(64)"  # MariaDB cannot index a TEXT column without a length
    statements = [s for s in (backend.create_schema_sql(target.dataset),) if s]
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {target.qualified(TABLE)} ("
        f"id {key} NOT NULL PRIMARY KEY, account {text}, job {text}, error {text}, "
        f"failed_at {stamp}, attempts {number})"
    )
    return statements


def record(settings: Settings, letter: DeadLetter, database_url: str | None = None) -> None:
    """Add ``letter`` to the list of its account's warehouse (the settings are that account's);
    the same id again replaces its row."""
    target = target_for(settings, database_url)
    mark = reader.placeholder(target)
    error = " ".join(letter.error.split())[:ERROR_CHARACTERS]
    failed_at = letter.failed_at.astimezone(UTC).replace(tzinfo=None)  # stored as naive UTC
    with reader.connect(target, write=True) as con:
        cur = con.cursor()
        for statement in _create(target):
            cur.execute(statement)
        # SQL text: a table name the code qualifies; every value is a parameter.
        cur.execute(f"DELETE FROM {target.qualified(TABLE)} WHERE id = {mark}", [letter.id])  # nosec B608
        cur.execute(
            f"INSERT INTO {target.qualified(TABLE)} "  # nosec B608
            f"(id, account, job, error, failed_at, attempts) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark})",
            [letter.id, letter.account, letter.job, error, failed_at, letter.attempts],
        )
        con.commit()


def _row(row: tuple[Any, ...]) -> DeadLetter:
    failed_at = row[4]
    if isinstance(failed_at, datetime) and failed_at.tzinfo is None:
        failed_at = failed_at.replace(tzinfo=UTC)
    return DeadLetter(
        str(row[0]), str(row[1]), str(row[2]), str(row[3] or ""), failed_at, int(row[5] or 0)
    )


def dead_letters(target: Target) -> list[DeadLetter]:
    """The list, newest first ([] when no job was ever given up on)."""
    rows = _sql.rows_if_present(
        target,
        # SQL text: a table name the code qualifies; no user value.
        f"SELECT id, account, job, error, failed_at, attempts FROM {target.qualified(TABLE)} "  # nosec B608
        f"ORDER BY failed_at DESC, id LIMIT {SHOWN}",
    )
    return [_row(r) for r in rows or []]


def remove(target: Target, letter_id: str) -> bool:
    """Take one letter off the list (an admin read it and dealt with it); False when it was not
    there."""
    if not dead_letters(target):
        return False
    mark = reader.placeholder(target)
    with reader.connect(target, write=True) as con:
        cur = con.cursor()
        # SQL text: a table name the code qualifies; the id is a parameter.
        cur.execute(f"DELETE FROM {target.qualified(TABLE)} WHERE id = {mark}", [letter_id])  # nosec B608
        removed = int(cur.rowcount or 0) > 0
        con.commit()
    return removed

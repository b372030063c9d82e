"""Reading the warehouse while a sync may be writing it.

A reader opens a connection per query and closes it at once: on DuckDB it reads the *served*
file (never the sync's private one), and a long-lived connection would keep seeing an old file
after a publish. On MySQL/MariaDB and PostgreSQL each query sees committed data only.

Everything here delegates to the warehouse's backend (``backends.py``); driver errors arrive
already translated into the project's errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kommo_analytics.errors import MissingTableError, NoSyncedDataError
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import Target


def require_synced(target: Target) -> None:
    """Raise NoSyncedDataError when nothing was ever synced into a DuckDB warehouse — before any
    lock or database file is created, since a command that finds nothing must leave nothing."""
    backend_for(target).require_synced()


@contextmanager
def connect(target: Target, *, write: bool = False) -> Iterator[Any]:
    """A DB-API connection, closed when the block ends; its statements raise the project's
    errors (a table the catalog lacks: :class:`MissingTableError`).

    ``write=True`` is for the one writer that holds the sync lock: on DuckDB it opens the sync's
    private file read-write (published to readers afterwards) instead of the served copy.
    """
    with backend_for(target).connect(write=write) as con:
        yield con


def placeholder(target: Target) -> str:
    """The driver's parameter marker: write SQL with it, e.g. f"... WHERE id = {mark}"."""
    return backend_for(target).placeholder


def query(target: Target, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query. Parameters use :func:`placeholder` (`?` on DuckDB, `%s` otherwise);
    aware datetimes are converted as the database stores them."""
    with connect(target) as con:
        cur = con.cursor()
        cur.execute(sql, list(params)) if params else cur.execute(sql)
        return [tuple(row) for row in cur.fetchall()]


def is_missing_table(exc: BaseException) -> bool:
    """Whether a failure means the tables are not there (yet): no DuckDB file at all, or a
    statement on a table the catalog does not list. A database that does not exist, or a driver
    message that merely reads like one, is not."""
    return isinstance(exc, MissingTableError | NoSyncedDataError)

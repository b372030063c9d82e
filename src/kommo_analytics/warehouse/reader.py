"""Reading the warehouse while a sync may be writing it.

A reader opens a connection per query and closes it at once: on DuckDB it reads the *served*
file (never the sync's private one), and a long-lived connection would keep seeing an old file
after a publish. On MySQL/MariaDB and PostgreSQL each query sees committed data only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from kommo_analytics.errors import NoSyncedDataError, WarehouseError
from kommo_analytics.warehouse.target import Kind, Target


def require_synced(target: Target) -> None:
    """Raise NoSyncedDataError when nothing was ever synced into a DuckDB warehouse — before any
    lock or database file is created, since a command that finds nothing must leave nothing."""
    if target.kind is not Kind.DUCKDB:
        return  # a server database exists already; its tables say the rest
    assert target.serving_path is not None and target.sync_path is not None
    if not target.serving_path.exists() and not target.sync_path.exists():
        raise NoSyncedDataError(f"no synced data in {target.serving_path} yet")


@contextmanager
def connect(target: Target, *, write: bool = False) -> Iterator[Any]:
    """A DB-API connection, closed when the block ends.

    ``write=True`` is for the one writer that holds the sync lock: on DuckDB it opens the sync's
    private file read-write (published to readers afterwards) instead of the served copy.
    """
    try:
        if target.kind is Kind.DUCKDB:
            import duckdb

            path = target.sync_path if write else target.serving_path
            assert path is not None
            if not path.exists():
                # Named by the file people know (the served one), never the sync's private one.
                raise NoSyncedDataError(f"no synced data in {target.serving_path} yet")
            con: Any = duckdb.connect(str(path), read_only=not write)
        elif target.kind is Kind.MYSQL:
            import pymysql

            parts = urlsplit(target.url)
            con = pymysql.connect(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 3306,
                user=unquote(parts.username or "root"),
                password=unquote(parts.password or ""),
                database=target.dataset,
                connect_timeout=10,
            )
        else:
            import psycopg

            parts = urlsplit(target.url)
            con = psycopg.connect(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 5432,
                user=unquote(parts.username or "postgres"),
                password=unquote(parts.password or "") or None,
                dbname=parts.path.strip("/"),
                connect_timeout=10,
            )
    except WarehouseError:
        raise
    except Exception as exc:
        raise WarehouseError(
            f"cannot read the warehouse {target.display}: {str(exc).strip().splitlines()[0]}"
        ) from exc
    try:
        yield con
    finally:
        con.close()


def placeholder(target: Target) -> str:
    """The driver's parameter marker: write SQL with it, e.g. f"... WHERE id = {mark}"."""
    return "?" if target.kind is Kind.DUCKDB else "%s"


def query(target: Target, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query. Parameters use :func:`placeholder` (`?` on DuckDB, `%s` otherwise)."""
    with connect(target) as con:
        cur = con.cursor()
        cur.execute(sql, list(params)) if params else cur.execute(sql)
        return [tuple(row) for row in cur.fetchall()]


def is_missing_table(exc: BaseException) -> bool:
    """Whether a driver's error says a table (or schema) does not exist, on any backend."""
    if isinstance(exc, NoSyncedDataError):
        return True  # no file at all: no table either
    text = str(exc).lower()
    return any(
        marker in text
        for marker in (
            "does not exist",
            "doesn't exist",
            "(1146",
            "catalog error",
            "undefinedtable",
        )
    )

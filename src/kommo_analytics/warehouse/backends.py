"""The database boundary: one object per kind of database, and every difference between them.

DuckDB, MariaDB/MySQL and PostgreSQL differ in how a connection is opened, the parameter marker,
quoting, type names, DDL, transactions, where the writer's lock lives, and how their drivers
report failures. Each difference is a method or attribute of :class:`Backend`; code elsewhere asks
``backend_for(target)`` instead of testing the kind of database itself.

Driver errors are turned into the project's error tree here and only here (:meth:`translate`):
a failure is sorted by the driver's error code, or by asking the server (its catalog, whether its
port answers) — never by the wording of the message, which changes between versions and locales.
A statement that reads a table the catalog does not list raises :class:`MissingTableError`.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shlex
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from kommo_analytics import files
from kommo_analytics.errors import (
    KommoAnalyticsError,
    MissingTableError,
    NoSyncedDataError,
    QueryError,
    UnknownDatabaseError,
    WarehouseError,
    WriterBusyError,
    causes,
    first_line,
)
from kommo_analytics.warehouse import journal
from kommo_analytics.warehouse.target import Kind, Target

log = logging.getLogger(__name__)

_SERVER_HINT = "check DATABASE_URL and that the database server is running"
_ACCESS_HINT = (
    "check the user name and password in DATABASE_URL, and that this user may read and create "
    "tables (and, on MySQL/MariaDB, databases)"
)
_DISK_HINT = "free disk space where the database keeps its files, then run the command again"


class Backend:
    """What differs between databases, for one warehouse (``target``)."""

    kind: ClassVar[Kind]
    dialect: ClassVar[str]  # the SQL dialect Ibis and sqlglot call it by
    placeholder: ClassVar[str] = "%s"  # the driver's parameter marker
    # Type names for the model's column types (``model.schema.M`` values).
    types: ClassVar[Mapping[str, str]]
    text_cast: ClassVar[str] = "VARCHAR"  # CAST(x AS …) to text
    bool_cast: ClassVar[str] = "BOOLEAN"  # CAST(NULL AS …) for a boolean column
    has_indexes: ClassVar[bool] = True  # DuckDB: zone maps serve it better than indexes
    loader_file_format: ClassVar[str | None] = None  # dlt's load files

    def __init__(self, target: Target) -> None:
        self.target = target

    # -- names --------------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        return f'"{name}"'

    def qualified(self, table: str, schema: str | None = None) -> str:
        """`schema.table` as SQL (names are ours, never user input); the raw tables' schema by
        default."""
        return f"{self.quote(schema or self.target.dataset)}.{self.quote(table)}"

    def model_schema(self, wanted: str) -> str:
        """The schema the model lives in: ``wanted``, where the database has schemas."""
        return wanted

    def type_name(self, type_: str) -> str:
        return self.types[type_]

    # -- connections --------------------------------------------------------------------------

    def _open(self, *, write: bool) -> Any:
        """A raw driver connection; errors are translated by the caller."""
        raise NotImplementedError

    @contextmanager
    def connect(self, *, write: bool = False) -> Iterator[Any]:
        """A connection whose statements raise the project's errors; closed when the block ends.

        ``write=True`` is for the one writer holding the lock (on DuckDB: the sync's private file).
        """
        try:
            raw = self._open(write=write)
        except KommoAnalyticsError:
            raise
        except Exception as exc:
            raise self.translate(exc, write=write) from exc
        try:
            yield self._wrap(Connection(raw, self), write=write)
        finally:
            raw.close()

    def _wrap(self, con: Connection, *, write: bool) -> Any:
        """The connection callers get (DuckDB: a writer's journals what it writes)."""
        return con

    def cursor(self, con: Any) -> Any:
        """Something to execute statements on inside the connection's transaction."""
        return con.cursor()

    @contextmanager
    def transaction(self, con: Any) -> Iterator[Any]:
        """One transaction on ``con``; yields its cursor, commits at the end, rolls back on error."""
        cur = self.cursor(con)
        self._begin(con, cur)
        try:
            yield cur
            con.commit()
        except BaseException:
            con.rollback()
            raise

    def _begin(self, con: Any, cur: Any) -> None:
        """Psycopg opens a transaction with the first statement; nothing to do."""

    def commit_ddl(self, con: Any) -> None:
        """Make created tables visible to other connections (MySQL commits DDL by itself)."""
        con.commit()

    def rollback(self, con: Any) -> None:
        """Undo a failed statement's transaction, so the connection can go on."""
        con.rollback()

    def consistent_read(self, con: Any) -> None:
        """Make the following statements on ``con`` read one snapshot of the database."""

    def param(self, value: Any) -> Any:
        """A parameter as the driver wants it."""
        return value

    def params(self, values: Sequence[Any]) -> list[Any]:
        return [self.param(v) for v in values]

    # -- the catalog --------------------------------------------------------------------------

    def existing_tables(self, schema: str, con: Any = None) -> frozenset[str]:
        """Tables and views in ``schema``, from the catalog (empty if the schema is absent).

        ``con`` is a connection already open on this database; without one a short one is
        opened (server databases) so that a failed statement's aborted transaction is not used.
        """
        sql = (
            # SQL text: the driver's placeholder mark; the schema is a parameter.
            "SELECT table_name FROM information_schema.tables "  # nosec B608
            f"WHERE table_schema = {self.placeholder}"
        )
        with self.connect() as fresh:
            cur = fresh.cursor()
            cur.execute(sql, [schema])
            return frozenset(str(row[0]) for row in cur.fetchall())

    def columns(self, con: Any, schema: str, table: str) -> list[str] | None:
        """A table's column names in order, from the catalog; None if it does not exist."""
        cur = self.cursor(con)
        cur.execute(
            # SQL text: the driver's placeholder marks; names are parameters.
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "  # nosec B608
            f"{self.placeholder} AND table_name = {self.placeholder} ORDER BY ordinal_position",
            [schema, table],
        )
        names = [str(row[0]) for row in cur.fetchall()]
        return names or None

    def column_type(self, con: Any, schema: str, table: str, column: str) -> str:
        """A column's type as the catalog names it, upper-case (e.g. ``DOUBLE``, ``DECIMAL``)."""
        cur = self.cursor(con)
        cur.execute(
            # SQL text: the driver's placeholder marks; names are parameters.
            "SELECT data_type FROM information_schema.columns WHERE table_schema = "  # nosec B608
            f"{self.placeholder} AND table_name = {self.placeholder} "
            f"AND column_name = {self.placeholder}",
            [schema, table, column],
        )
        row = cur.fetchone()
        return str(row[0]).upper() if row else ""

    def missing_tables(self, sql: str, con: Any = None) -> tuple[str, ...]:
        """The schema-qualified tables ``sql`` reads that the catalog does not list."""
        import sqlglot
        from sqlglot import exp

        try:
            tree = sqlglot.parse_one(sql, dialect=self.dialect)
        except Exception:
            return ()  # not ours to parse (a driver-specific statement): nothing to check
        wanted: dict[str, set[str]] = {}
        for table in tree.find_all(exp.Table):
            if table.db:  # only qualified names: CTEs and registered frames are not in a catalog
                wanted.setdefault(table.db, set()).add(table.name)
        missing: list[str] = []
        for schema, names in wanted.items():
            present = self.existing_tables(schema, con)
            missing.extend(f"{schema}.{name}" for name in sorted(names - present))
        return tuple(missing)

    def explain(self, exc: Exception, sql: str, con: Any = None) -> KommoAnalyticsError:
        """The project's error for a statement that failed."""
        if isinstance(exc, KommoAnalyticsError):
            return exc
        try:
            missing = self.missing_tables(sql, con)
        except Exception:
            missing = ()  # the catalog cannot be read either: say what the statement met
        if missing:
            return MissingTableError(
                f"{', '.join(missing)} does not exist in {self.target.display}", tables=missing
            )
        return self.translate(exc)

    # -- DDL ----------------------------------------------------------------------------------

    def create_schema_sql(self, schema: str) -> str | None:
        return f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}"

    def drop_table_sql(self, qualified: str) -> str:
        return f"DROP TABLE {qualified}"

    @contextmanager
    def memory_bound(self, con: Any, megabytes: int) -> Iterator[None]:
        """While the block runs, the database's memory inside this process stays under
        ``megabytes`` where it has a setting for it (an embedded database; a server's memory is
        its own), set back afterwards."""
        yield

    def regexp_int_sql(self, column: str, pattern: str) -> str | None:
        """SQL for the number ``pattern``'s one group matches first in the text ``column`` (no
        match: NULL), read as the model's Arrow path reads it (RE2); None where the database's
        regular expressions differ from that, and the caller extracts it in Python."""
        return None

    def view_name(self, view: str) -> str:
        """A compatibility view's name, in the database's default schema."""
        return self.quote(view)

    def create_view_sql(self, view: str, sql: str) -> list[str]:
        name = self.view_name(view)
        return [f"DROP VIEW IF EXISTS {name}", f"CREATE VIEW {name} AS {sql}"]

    def alter_type_sql(self, qualified: str, column: str, type_: str) -> str:
        return f"ALTER TABLE {qualified} ALTER COLUMN {self.quote(column)} TYPE {type_}"

    def insert_rows(
        self, con: Any, qualified: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Bulk insert of plain Python rows inside the current transaction."""
        marks = ", ".join([self.placeholder] * len(columns))
        # SQL text: a declared table, its columns and placeholders; rows are parameters.
        sql = f"INSERT INTO {qualified} ({', '.join(columns)}) VALUES ({marks})"  # nosec B608
        cur = self.cursor(con)
        # pymysql turns executemany into multi-row INSERTs; chunks keep each under the packet limit.
        for start in range(0, len(rows), 5000):
            cur.executemany(sql, rows[start : start + 5000])

    def insert_frame(self, con: Any, qualified: str, frame: Any) -> bool:
        """Insert a pandas frame directly if the driver can; False: use :meth:`insert_rows`."""
        return False

    def fetch_frame(self, con: Any, sql: str, columns: Sequence[str]) -> Any:
        """A query's rows as a pandas frame with ``columns`` (the driver's Python values; a
        backend whose driver hands over columns does so without building a row at a time)."""
        import pandas as pd

        cur = self.cursor(con)
        cur.execute(sql)
        return pd.DataFrame.from_records(cur.fetchall(), columns=list(columns))

    def fetch_records(self, con: Any, sql: str) -> Any:
        """A query's result as ``pandas.DataFrame.from_records`` makes it of the driver's rows
        (the metrics and the forecast read those dtypes and values); a backend whose driver hands
        over columns builds the same frame without a Python tuple per row."""
        import pandas as pd

        cur = con.cursor()
        cur.execute(sql)
        columns = [d[0] for d in cur.description]
        return pd.DataFrame.from_records([tuple(r) for r in cur.fetchall()], columns=columns)

    def analyze(self, con: Any, qualified: Iterable[str], *, committed: bool) -> None:
        """Fresh planner statistics after a refill (inside the transaction, or after it)."""

    def served_stamp(self) -> str | None:
        """Part of the warehouse's version that the catalog cannot show; None when nothing has
        been published for readers yet. Server databases: readers see commits, nothing more."""
        return ""

    def served_age(self) -> float | None:
        """Seconds since readers were last given the writer's commits; None if never. Server
        databases: readers see each commit, so always 0."""
        return 0.0

    def describe(self) -> tuple[str, str]:
        """Where the synced data is and how to look at it, for the sync's summary."""
        return (
            self.target.display,
            f"{self.target.kind.value}; tables in {self.target.dataset}",
        )

    # -- the writer's side --------------------------------------------------------------------

    def lock_path(self, data_dir: Path) -> Path:
        """The file whose OS lock lets one writer (sync, model build, import) at a time in."""
        return data_dir / f"sync-{self.target.key}.lock"

    @contextmanager
    def database_lock(self) -> Iterator[None]:
        """Held by the one writer for the whole of its work, in the database itself, so that
        writers on other machines or with other data folders (whose file locks it cannot see)
        wait their turn; WriterBusyError at once if another holds it.

        The lock belongs to a dedicated session: the server frees it when that session ends, also
        when the process is killed. DuckDB needs none: its file lock is already exclusive.
        """
        yield

    def database_lock_held(self) -> bool:
        """Whether some session holds :meth:`database_lock` now (without taking it)."""
        return False

    def require_synced(self) -> None:
        """Raise NoSyncedDataError when nothing was ever synced (a server database exists
        already; its tables say the rest)."""

    def writer_storage_exists(self) -> bool:
        """Whether :meth:`connect` with ``write=True`` finds something to open (DuckDB: the
        private file; a server database is there or its error says so)."""
        return True

    # -- a warehouse of its own per account (docs/architecture.md "Many accounts") ---------------

    def create_database(self) -> bool:
        """Create this warehouse's database on its server when it is not there yet (DuckDB: its
        file is made by the first sync); True when it was created."""
        return False

    def drop_database(self) -> None:
        """Delete this warehouse whole: the database with everything in it, or the DuckDB files.
        Only for an account being removed: nothing else lives in it."""
        raise NotImplementedError

    def prepare_writer(self) -> None:
        """Get the writer's storage ready before it connects (DuckDB: the private file)."""

    def publish(self) -> None:
        """Make what the writer committed visible to readers (DuckDB only)."""

    def journal_keys(
        self, con: Any, table: str, columns: Sequence[str], keys: Iterable[Any]
    ) -> None:
        """On a write connection, before statements that change only the rows of ``table`` (a
        raw table's name, or ``schema.table`` for another, e.g. a model table an incremental
        update rewrites by lead) with these keys: journal them by their keys (DuckDB; by
        default a statement journals its whole table)."""

    def journal_load(
        self, entries: Mapping[str, tuple[Sequence[str], Iterable[tuple[Any, ...]]] | None]
    ) -> None:
        """Before another library (dlt) writes these raw tables: say what it will change, per
        table its key columns and keys or None for all of it (DuckDB's publish reads it)."""

    def dlt_destination(self) -> Any:
        """dlt's destination for the sync's loads."""
        raise NotImplementedError

    # -- backups ------------------------------------------------------------------------------

    def backup_to(self, dest: Path) -> int:
        """Copy the warehouse to the file ``dest`` as of its last commit, whole or not at all;
        its size. The caller holds the writer's lock. Only a file warehouse can be copied: a
        server database is backed up with the server's own tools (:meth:`dump_commands`)."""
        raise WarehouseError(
            f"{self.target.display} is a server database: this command does not copy it",
            hint="back it up with the database's own tools (kommo-analytics backup prints them)",
        )

    def dump_commands(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The server's own commands that back the database up and restore it (empty for a
        file warehouse, which :meth:`backup_to` copies). They name the host, port, user and
        database from ``DATABASE_URL`` and ask for the password: it is never shown."""
        return (), ()

    def _url_parts(self) -> tuple[str, str, str, str]:
        parts = urlsplit(self.target.url)
        return (
            shlex.quote(parts.hostname or "127.0.0.1"),
            str(parts.port or self.default_port),
            shlex.quote(unquote(parts.username or "")),
            shlex.quote(parts.path.strip("/")),
        )

    # -- errors -------------------------------------------------------------------------------

    def translate(self, exc: BaseException, *, write: bool = False) -> WarehouseError:
        """The one translation of a driver (or dlt) failure into the project's error tree."""
        for link in causes(exc):
            if isinstance(link, WarehouseError):
                return link
        for link in causes(exc):
            found = self._classify(link, write=write)
            if found is not None:
                return found
        return QueryError(
            f"a statement on {self.target.display} failed: {first_line(_root(exc))}",
            reason=first_line(_root(exc)),
        )

    def _classify(self, exc: BaseException, *, write: bool) -> WarehouseError | None:
        """A specific error for one link of the chain, or None to look further."""
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return self.disk_full(exc)
        return None

    def _verb(self, write: bool) -> str:
        return "cannot use the database" if write else "cannot read the warehouse"

    def unreachable(self, exc: BaseException, *, write: bool) -> WarehouseError:
        parts = urlsplit(self.target.url)
        return WarehouseError(
            f"{self._verb(write)} {self.target.display}: nothing answers at "
            f"{parts.hostname}:{parts.port or self.default_port}",
            hint=_SERVER_HINT,
        )

    def access_denied(self, exc: BaseException, *, write: bool) -> WarehouseError:
        return WarehouseError(
            f"{self._verb(write)} {self.target.display}: the server refused this user "
            f"({first_line(exc)})",
            hint=_ACCESS_HINT,
        )

    def unknown_database(self) -> UnknownDatabaseError:
        parts = urlsplit(self.target.url)
        name = parts.path.strip("/")
        return UnknownDatabaseError(
            f"database {name} does not exist on server "
            f"{parts.hostname}:{parts.port or self.default_port}",
            hint="create it, or fix the database name in DATABASE_URL",
        )

    def disk_full(self, exc: BaseException) -> WarehouseError:
        return WarehouseError(
            f"the disk of {self.target.location} is full ({first_line(exc)})", hint=_DISK_HINT
        )

    def read_only(self, exc: BaseException) -> WarehouseError:
        return WarehouseError(
            f"{self.target.display} is read-only ({first_line(exc)})",
            hint="point DATABASE_URL at a database this user may write, or ask its "
            "administrator to lift the read-only mode",
        )

    default_port: ClassVar[int] = 0

    def _server_answers(self) -> bool:
        parts = urlsplit(self.target.url)
        try:
            with socket.create_connection(
                (parts.hostname or "127.0.0.1", parts.port or self.default_port), timeout=5
            ):
                return True
        except OSError:
            return False


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


# -- the writer's lock in the database ---------------------------------------------------------------

_SESSION_PREFIX = "kommo-analytics"


def _session_name() -> str:
    """How the lock's session introduces itself to the server, so that a second writer can say
    who holds the lock (PostgreSQL keeps it as the session's application name, 63 bytes)."""
    return f"{_SESSION_PREFIX} {socket.gethostname()} {os.getpid()}"[:63]


def _holder(name: str | None, address: str | None, session: str) -> str:
    """Who holds the lock, as far as the server can tell."""
    parts = (name or "").split()
    if len(parts) == 3 and parts[0] == _SESSION_PREFIX and parts[2].isdigit():
        return f"from host {parts[1]}, pid {parts[2]}; {session}"
    if address:
        return f"from {address}; {session}"
    return session


# A writer killed a moment ago holds its lock until the server has noticed its connection close
# (milliseconds): the next writer, often started right after it, waits this long before giving up.
_LOCK_GRACE_SECONDS = 2


def writer_busy(holder: str) -> WriterBusyError:
    return WriterBusyError(
        f"another writer of this warehouse (a sync, a model rebuild, an import or a backup) is "
        f"running ({holder})",
        hint="wait for it to finish (one writer at a time keeps the data consistent); the lock "
        "is held in the database and freed as soon as that process ends",
    )


@contextmanager
def _hold_server_lock(
    con: Any,
    *,
    take: Callable[[], bool],
    holder: Callable[[], str],
    release: Callable[[], None],
    driver_error: type[Exception],
    translate: Callable[[Exception], Exception],
) -> Iterator[None]:
    """Hold a lock in the database on a session of its own (``con``) while the body runs: a
    busy lock raises :func:`writer_busy` naming its holder; the release may fail silently, since
    a session that is gone took its lock with it. ``con`` is closed in every case."""
    try:
        try:
            busy = None if take() else writer_busy(holder())
        except driver_error as exc:
            raise translate(exc) from exc
        if busy is not None:
            raise busy
        try:
            yield
        finally:
            with suppress(driver_error):
                release()
    finally:
        con.close()


class Connection:
    """A driver connection whose statements raise the project's errors; anything else is the
    driver's own (``register``, ``commit``, ``copy`` …)."""

    def __init__(self, raw: Any, backend: Backend) -> None:
        self.raw = raw
        self._backend = backend

    def cursor(self) -> Cursor:
        return Cursor(self.raw.cursor(), self._backend, self)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return _run(self._backend, self, self.raw.execute, sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        try:
            return self.raw.executemany(sql, [self._backend.params(r) for r in rows])
        except Exception as exc:
            raise self._backend.explain(exc, sql, self) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class Cursor:
    """A driver cursor whose ``execute`` and ``executemany`` raise the project's errors."""

    def __init__(self, raw: Any, backend: Backend, con: Connection) -> None:
        self.raw = raw
        self._backend = backend
        self._con = con

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return _run(self._backend, self._con, self.raw.execute, sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        try:
            return self.raw.executemany(sql, [self._backend.params(r) for r in rows])
        except Exception as exc:
            raise self._backend.explain(exc, sql, self._con) from exc

    def __iter__(self) -> Iterator[Any]:
        return iter(self.raw)

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _run(backend: Backend, con: Connection, run: Any, sql: str, params: Any) -> Any:
    try:
        return run(sql) if params is None else run(sql, backend.params(params))
    except Exception as exc:
        raise backend.explain(exc, sql, con) from exc


# -- DuckDB -----------------------------------------------------------------------------------------


class DuckDBBackend(Backend):
    """A file. DuckDB lets no other process open a file one process writes, so the writer works
    on a private copy and publishes it over the file readers open (``Target``)."""

    kind = Kind.DUCKDB
    dialect = "duckdb"
    placeholder = "?"
    types: ClassVar[Mapping[str, str]] = {
        "bigint": "BIGINT",
        "double": "DOUBLE",
        "money": "DECIMAL(18, 2)",
        "text": "TEXT",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
    }
    has_indexes = False
    loader_file_format = "parquet"  # dlt's default inserts took minutes on 300k rows
    # How the last publish brought the served file up to date: "applied" or "copied" (whole).
    last_publish = ""

    @property
    def serving(self) -> Path:
        assert self.target.serving_path is not None
        return self.target.serving_path

    @property
    def private(self) -> Path:
        assert self.target.sync_path is not None
        return self.target.sync_path

    def _open(self, *, write: bool) -> Any:
        import duckdb

        path = self.private if write else self.serving
        if not path.exists():
            # Named by the file people know (the served one), never the sync's private one.
            raise NoSyncedDataError(f"no synced data in {self.serving} yet")
        if write:
            return duckdb.connect(str(path))
        # DuckDB opens a file by its path three times while connecting (a header check, the
        # headers, then the blocks). A publish that renames the new file over the path in
        # between leaves the connection with one file's headers and the other's blocks: an IO or
        # deserialisation error, at connect or at the first query. Nothing the publish does can
        # prevent it, so a reader that sees the file change under its open opens it again.
        # The served path is a symlink naming one of two files (see publish): the file it names
        # is opened, and opened again if the link moved meanwhile — a reader that followed an
        # old link may find that file held by the publish bringing it up to date.
        for attempt in range(_SWAP_RETRIES):
            if attempt:
                time.sleep(0.01 * 2**attempt)  # the next swap is a whole publish away
            before = _identity(path)
            try:
                con = duckdb.connect(str(path.resolve()), read_only=True)
            except duckdb.Error:
                if _identity(path) == before:
                    raise
                continue
            if _identity(path) == before:
                return con
            con.close()
        return duckdb.connect(str(path.resolve()), read_only=True)

    def _wrap(self, con: Connection, *, write: bool) -> Any:
        # Every statement a writer runs on the private file journals the table it writes, so a
        # publish knows what to bring up to date (journal.py).
        return journal.JournaledConnection(con) if write else con

    def cursor(self, con: Any) -> Any:
        # A DuckDB "cursor" is a second connection with its own transaction; use the connection.
        return con

    @contextmanager
    def transaction(self, con: Any) -> Iterator[Any]:
        cur = self.cursor(con)
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def rollback(self, con: Any) -> None:
        """Outside BEGIN … COMMIT a DuckDB statement commits or fails alone: nothing to undo."""

    def existing_tables(self, schema: str, con: Any = None) -> frozenset[str]:
        if con is None:
            return super().existing_tables(schema)
        # A cursor is a connection of its own on the same open file (a second connect() to it
        # with other settings would be refused), outside any failed transaction of ``con``.
        raw = getattr(con, "raw", con)  # the driver's, inside our wrappers
        cur = raw.cursor()
        try:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [schema],
            )
            return frozenset(str(row[0]) for row in cur.fetchall())
        finally:
            cur.close()

    @contextmanager
    def memory_bound(self, con: Any, megabytes: int) -> Iterator[None]:
        # DuckDB keeps every block it reads or writes cached until it reaches its limit, 80 % of
        # the machine's memory by default: at a million leads, over a gigabyte of the rebuild's
        # peak. Under a limit it evicts them, or spills to its temporary folder; only what it
        # cannot evict (indexes being built) must fit.
        raw = con.raw if isinstance(con, Connection) else con
        (before,) = raw.execute("SELECT current_setting('memory_limit')").fetchone()
        raw.execute(f"SET memory_limit = '{int(megabytes)}MB'")
        try:
            yield
        finally:
            with suppress(Exception):  # a closed or failed connection has no setting to restore
                raw.execute(f"SET memory_limit = '{str(before).replace(chr(39), '')}'")

    def regexp_int_sql(self, column: str, pattern: str) -> str | None:
        # RE2, as Arrow's extract_regex. CAST, not TRY_CAST: a number too large for BIGINT fails
        # the build instead of becoming NULL (only digits can match, so nothing else can fail).
        literal = pattern.replace("'", "''")
        return f"CAST(NULLIF(regexp_extract({column}, '{literal}', 1), '') AS BIGINT)"

    def insert_frame(self, con: Any, qualified: str, frame: Any) -> bool:
        con.register("_model_rows", frame)
        try:
            # SQL text: a model table's name; the rows come from the registered frame.
            con.execute(f"INSERT INTO {qualified} SELECT * FROM _model_rows")  # nosec B608
        finally:
            con.unregister("_model_rows")
        return True

    def fetch_frame(self, con: Any, sql: str, columns: Sequence[str]) -> Any:
        # Through Arrow, column by column, no Python value in between: BIGINT → Int64, BOOLEAN →
        # boolean (both keep NULL as <NA>), TIMESTAMPTZ → datetime64[us] with a time zone, VARCHAR
        # → str (Arrow-backed, not a Python object per value), DECIMAL → float64.
        import pandas as pd
        import pyarrow as pa

        raw = getattr(con, "raw", con)  # the driver's, inside our wrappers
        try:
            table = raw.sql(sql).to_arrow_table()
        except Exception as exc:
            raise self.explain(exc, sql, con) from exc
        for i, column in enumerate(table.schema):
            if pa.types.is_decimal(column.type):
                table = table.set_column(i, column.name, table.column(i).cast(pa.float64()))
        types = {
            pa.int64(): pd.Int64Dtype(),
            pa.int32(): pd.Int64Dtype(),
            pa.bool_(): pd.BooleanDtype(),
        }
        frame = table.to_pandas(types_mapper=types.get, split_blocks=True, self_destruct=True)
        frame.columns = list(columns)
        return frame

    def fetch_records(self, con: Any, sql: str) -> Any:
        raw = con.raw if isinstance(con, Connection) else con
        try:
            relation = raw.sql(sql)
            kinds = [str(t) for t in relation.types]
            if not all(_records_like(kind) for kind in kinds):
                return super().fetch_records(con, sql)
            columns = list(relation.columns)
            table = relation.to_arrow_table()
        except KommoAnalyticsError:
            raise
        except Exception as exc:
            raise self.explain(exc, sql, con) from exc
        frame = _arrow_records(table, columns, kinds)
        return super().fetch_records(con, sql) if frame is None else frame

    def served_stamp(self) -> str | None:
        if not self.serving.exists():
            return None
        # A publish replaces the file: its mtime changes even when a mid-run publish has not
        # moved the bookkeeping tables a reader's version also reads.
        return str(self.serving.stat().st_mtime_ns)

    def served_age(self) -> float | None:
        try:
            return max(0.0, time.time() - self.serving.stat().st_mtime)
        except OSError:
            return None

    def describe(self) -> tuple[str, str]:
        dataset = self.target.dataset
        return (
            str(self.serving),
            # Not run: an example query shown to people, naming the configured schema.
            f"DuckDB; tables in schema {dataset}, e.g. SELECT count(*) FROM {dataset}.leads",  # nosec B608
        )

    def lock_path(self, data_dir: Path) -> Path:
        # Beside the file: two data folders pointing at one warehouse still share the lock.
        return self.private.with_name(self.private.name + ".lock")

    def require_synced(self) -> None:
        # Before any lock or file is created: a command that finds nothing must leave nothing.
        if not self.serving.exists() and not self.private.exists():
            raise NoSyncedDataError(f"no synced data in {self.serving} yet")

    def writer_storage_exists(self) -> bool:
        return self.private.exists()

    def prepare_writer(self) -> None:
        try:
            files.private_dir(self.private.parent)
            if not self.private.exists() and self.serving.exists():
                # The private file was removed (or the warehouse copied from elsewhere): carry
                # on from what readers see instead of starting from nothing.
                shutil.copyfile(self.serving, self.private)
                self._forget_publishes()
            files.private_file(self.private)
            # Left world-readable by an earlier version: a sync that changed nothing does not
            # publish a new (private) copy, and an apply keeps a file's mode, so the served
            # files are made private here (if ours).
            for served in (self.serving, *self.served_files()):
                if served.exists():
                    with suppress(PermissionError):
                        files.private_file(served)
        except OSError as exc:
            raise folder_problem(self.private.parent, exc) from exc

    def dlt_destination(self) -> Any:
        from dlt.destinations import duckdb

        return duckdb(str(self.private))

    def publish(self) -> None:
        """Bring the served file readers are not using up to date from the private file, then
        point the served path (a symlink) at it: a reader that has the other file open keeps
        reading it, the next one opens the new one; nobody waits and nobody sees half a model.

        Only what the journal says changed is applied (``journal.py``); a file the private
        file's records do not vouch for, a ``*`` entry, a catalog or row-count difference after
        the apply, or a file readers keep busy is replaced by a whole copy instead. A copy that
        fails (disk full, a folder that refuses it) is removed at once.
        """
        import duckdb

        if not self.private.exists():
            return
        for path in (self.serving, *self.served_files()):
            remove_stale_copies(path)
        try:
            current = self.current_file()
            if current is None and self.serving.exists():
                current = self._adopt_plain_file()
            first, second = self.served_files()
            stale = second if current == first else first
            token = journal.new_token()
            self.last_publish = "applied"
            if not self._apply(stale, token):
                self.last_publish = "copied"
                upto = self._copy_from_private(stale, token)
                self._record(stale.name, upto, token)
            self._point_at(stale)
        except (OSError, duckdb.Error) as exc:
            raise self._publish_failed(exc) from exc

    def served_files(self) -> tuple[Path, Path]:
        """The two files readers are served from in turn: ``kommo.a.duckdb``, ``kommo.b.duckdb``."""
        suffix = self.serving.suffix or ".duckdb"
        stem = self.serving.stem
        return (
            self.serving.with_name(f"{stem}.a{suffix}"),
            self.serving.with_name(f"{stem}.b{suffix}"),
        )

    def drop_database(self) -> None:
        files = (self.serving, self.private, *self.served_files())
        for path in files:
            for one in (path, Path(f"{path}.wal")):
                try:
                    one.unlink(missing_ok=True)
                except OSError as exc:
                    raise self.translate(exc, write=True) from exc

    def current_file(self) -> Path | None:
        """The served file the served path names; None when it is not one of ours (nothing yet,
        or an earlier version's plain file)."""
        if not self.serving.is_symlink():
            return None
        named = self.serving.parent / self.serving.readlink()
        return named if named in self.served_files() else None

    def _adopt_plain_file(self) -> Path:
        """An earlier version's plain served file becomes the first served file, by a second
        name for the same file (readers never miss it), and the served path a symlink to it."""
        first = self.served_files()[0]
        tmp = first.with_name(f".{first.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        if self.serving.is_symlink():  # a link to something else: copied, not linked
            shutil.copyfile(self.serving, tmp)
        else:
            os.link(self.serving, tmp)
        Path(f"{first}.wal").unlink(missing_ok=True)
        tmp.replace(first)
        self._point_at(first)
        return first

    def _point_at(self, served: Path) -> None:
        """Swap the served path's symlink to ``served`` (relative: the folder may be mounted
        elsewhere): a reader resolves the old link or the new one."""
        tmp = self.serving.with_name(f".{self.serving.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            tmp.symlink_to(served.name)
            tmp.replace(self.serving)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.serving.parent)

    def _apply(self, stale: Path, token: str) -> bool:
        """Bring ``stale`` up to date in place, and record it in the private file; False when it
        must be copied whole instead (nothing recorded)."""
        import duckdb

        if not stale.exists():
            return False
        if self.private.stat().st_size < journal.APPLY_MIN_BYTES:
            return False  # a small file copies faster than any apply
        con = _open_exclusive(stale)
        if con is None:
            log.info("readers kept %s busy: copying the whole file instead", stale)
            return False
        try:
            # One connection for both files: each open of a file costs a checkpoint at close.
            con.execute(f"ATTACH '{self.private}' AS {journal.SOURCE}")
            try:
                done = journal.apply(
                    con,
                    stale.name,
                    token=token,
                    skip_schemas=(journal.SCHEMA, f"{self.target.dataset}_staging"),
                )
                if done:
                    con.execute("CHECKPOINT")
                    names = [p.name for p in self.served_files()]
                    journal.record(con, stale.name, done, token, names, catalog=journal.SOURCE)
            finally:
                con.execute(f"DETACH {journal.SOURCE}")
        except duckdb.Error:
            log.warning("bringing %s up to date failed: copying it whole", stale, exc_info=True)
            return False
        finally:
            con.close()
        return bool(done)

    def _copy_from_private(self, stale: Path, token: str) -> int:
        """A whole copy of the private file over ``stale``, stamped as holding every journal
        entry so far; that entry's id."""
        import duckdb

        con = duckdb.connect(str(self.private))
        try:
            journal.ensure(con)
            upto = journal.next_id(con)
        finally:
            con.close()
        self._copy_whole(self.private, stale, stamp=(upto, token))
        return upto

    def _record(self, name: str, applied: int, token: str) -> None:
        """What the private file knows ``name`` holds; journal entries both served files hold
        are dropped."""
        import duckdb

        con = duckdb.connect(str(self.private))
        try:
            journal.record(con, name, applied, token, [p.name for p in self.served_files()])
        finally:
            con.close()

    def _copy_whole(
        self, source: Path, dest: Path, *, stamp: tuple[int, str] | None = None
    ) -> None:
        """``source`` (checkpointed first when it is the private file, so the copy needs no
        ``.wal``) copied beside ``dest`` under a temporary name, made private, flushed to disk
        and renamed over ``dest``: whoever opens ``dest`` sees the old file or the whole new
        one. A copy that fails is removed at once: left behind, it would keep the disk full.
        ``stamp``: the journal entry and token the copy holds, as a served file."""
        import duckdb

        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            if source == self.private:
                con = duckdb.connect(str(source))
                try:
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
            shutil.copyfile(source, tmp)
            # Over a file an earlier version left world-readable, the copy is private.
            files.private_file(tmp)
            if stamp is not None:
                con = duckdb.connect(str(tmp))
                try:
                    journal.stamp(con, *stamp)
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
            with tmp.open("rb+") as handle:
                os.fsync(handle.fileno())
            # The log of an interrupted apply would be replayed onto the new file.
            Path(f"{dest}.wal").unlink(missing_ok=True)
            tmp.replace(dest)
            _fsync_dir(dest.parent)
        except BaseException:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise

    def _forget_publishes(self) -> None:
        """A private file copied from a served one: its journal and records describe another
        history, so the next publishes copy whole."""
        import duckdb

        con = duckdb.connect(str(self.private))
        try:
            con.execute(f"DROP SCHEMA IF EXISTS {journal.SCHEMA} CASCADE")
        finally:
            con.close()

    def journal_keys(
        self, con: Any, table: str, columns: Sequence[str], keys: Iterable[Any]
    ) -> None:
        if isinstance(con, journal.JournaledConnection):
            qualified = table if "." in table else f"{self.target.dataset}.{table}"
            con.journal_keys(qualified, columns, keys)

    def journal_load(
        self, entries: Mapping[str, tuple[Sequence[str], Iterable[tuple[Any, ...]]] | None]
    ) -> None:
        import duckdb

        if not self.private.exists():
            return  # a first load: no served file holds anything of this file's history yet
        try:
            con = duckdb.connect(str(self.private))
            try:
                journal.journal_load(
                    con, {f"{self.target.dataset}.{name}": keyed for name, keyed in entries.items()}
                )
            finally:
                con.close()
        except duckdb.Error as exc:
            raise self.translate(exc, write=True) from exc

    def backup_to(self, dest: Path) -> int:
        # The private file holds the last commit (a sync that stopped before publishing
        # included); when it is gone, the served file, which is only ever replaced whole.
        import duckdb

        source = self.private if self.private.exists() else self.serving
        if not source.exists():
            raise NoSyncedDataError(f"no synced data in {self.serving} yet")
        try:
            self._copy_whole(source, dest)
            return dest.stat().st_size
        except (OSError, duckdb.Error) as exc:
            raise self._backup_failed(exc, source, dest) from exc

    def _backup_failed(self, exc: BaseException, source: Path, dest: Path) -> WarehouseError:
        folder = dest.parent
        code = exc.errno if isinstance(exc, OSError) else None
        try:
            space = (
                f"a backup needs about {human_size(source.stat().st_size)} free in {folder} "
                f"({human_size(shutil.disk_usage(folder).free)} free now); "
            )
        except OSError:
            space = ""
        if code == errno.ENOSPC:
            return WarehouseError(
                f"could not back up the warehouse to {folder}: the disk is full",
                hint=f"{space}free some space or back up to a folder on another disk, then run "
                "the command again; the partial copy was removed",
            )
        if code in (errno.EACCES, errno.EPERM, errno.EROFS):
            return WarehouseError(
                f"could not back up the warehouse to {folder}: the folder is not writable "
                f"({first_line(exc)})",
                hint=f"give this user write permission on {folder}, or back up to another folder",
            )
        return WarehouseError(
            f"could not back up the warehouse to {folder}: {first_line(exc)}",
            hint=f"{space}check free disk space and permissions there, then run the command again",
        )

    def _publish_failed(self, exc: BaseException) -> WarehouseError:
        serving, folder = self.serving, self.serving.parent
        code = exc.errno if isinstance(exc, OSError) else None
        if code in (errno.EACCES, errno.EPERM, errno.EROFS):
            return data_folder_read_only(folder, exc)
        try:
            size: int | None = self.private.stat().st_size
            free: int | None = shutil.disk_usage(folder).free
        except OSError:
            size = free = None
        space = (
            ""
            if size is None or free is None
            else f"a publish needs about {human_size(size)} free in {folder} "
            f"({human_size(free)} free now; a whole sync about {human_size(3 * size)}); "
        )
        if code == errno.ENOSPC:
            return WarehouseError(
                f"could not publish the synced data to {serving}: the disk is full",
                hint=f"{space}free some space, then run the command again; the synced data is "
                f"safe in {self.private}",
            )
        return WarehouseError(
            f"could not publish the synced data to {serving}: {first_line(exc)}",
            hint=f"{space}check free disk space and permissions in the data folder; the synced "
            f"data is safe in {self.private}",
        )

    def _classify(self, exc: BaseException, *, write: bool) -> WarehouseError | None:
        import duckdb

        found = super()._classify(exc, write=write)
        if found is not None:
            return found
        folder = self.private.parent
        if isinstance(exc, OSError | duckdb.IOException) and write:
            # The folder or file cannot be written: asked of the file system, not the message.
            blocked = [
                p for p in (folder, self.private) if p.exists() and not os.access(p, os.W_OK)
            ]
            if blocked or (isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EROFS)):
                return data_folder_read_only(folder, exc)
            return WarehouseError(
                f"cannot open the DuckDB file {self.private}: {first_line(exc)}",
                hint="check that the folder is writable and that no other program holds the file",
            )
        if isinstance(exc, duckdb.IOException):
            return WarehouseError(
                f"cannot read the warehouse {self.serving}: {first_line(exc)}",
                hint="check that the file is readable and is a DuckDB database",
            )
        return None


def remove_stale_copies(serving: Path, name: str | None = None) -> None:
    """Remove copies a publish (or a backup: files whose names match the glob ``name``) left
    beside ``serving`` when its process died mid-way (each is as large as the warehouse); a copy
    of a live process may be in use and stays."""
    for copy in serving.parent.glob(f".{name or serving.name}.*.tmp"):
        pid = copy.name.removesuffix(".tmp").rpartition(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            with suppress(OSError):
                copy.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is about to publish: its own earlier copy is stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def human_size(size: float) -> str:
    """A byte count for people: 12.3 MB."""
    units = ("bytes", "KB", "MB", "GB", "TB")
    step = 0
    while size >= 1000 and step < len(units) - 1:
        size /= 1000
        step += 1
    return f"{size:.0f} bytes" if step == 0 else f"{size:.1f} {units[step]}"


# Publishes are minutes apart (a whole load apart in tests): a few attempts, waiting longer
# each time (0.6 s in all), always find a quiet moment.
# DuckDB types whose Arrow columns become, after :func:`_arrow_records`, the very dtypes and values
# ``DataFrame.from_records`` infers from the driver's Python values (checked by
# tests/warehouse/test_backends.py). Any other type (lists, intervals, UBIGINT, timestamps in s,
# ms or ns …) is read row by row.
_INTEGERS = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "HUGEINT"}
)
_AS_IS = frozenset(
    {"DOUBLE", "FLOAT", "VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"}
)


def _records_like(kind: str) -> bool:
    return kind in _INTEGERS or kind in _AS_IS or kind == '"NULL"' or kind.startswith("DECIMAL(")


def _arrow_records(table: Any, columns: list[str], kinds: list[str]) -> Any | None:
    """``from_records``' frame of an Arrow result (None where it cannot be made): integers as int64 (float64 when a NULL is
    among them, as pandas makes of ints and Nones), FLOAT widened to float64, booleans with a
    NULL as objects, DECIMAL as Decimal objects, DATE as date objects, strings as ``str``."""
    import pandas as pd
    import pyarrow as pa

    if table.num_rows == 0:
        # from_records of no rows types nothing: every column is object.
        return pd.DataFrame.from_records([], columns=columns)
    arrays = []
    for i, kind in enumerate(kinds):
        column = table.column(i)
        if kind in _INTEGERS:
            # HUGEINT (DuckDB's sum of BIGINT) arrives as DECIMAL(38, 0); the driver gives int.
            try:
                column = column.cast(pa.int64())
            except pa.ArrowInvalid:
                return None  # beyond int64: the driver's Python ints make an object column
        elif pa.types.is_floating(column.type):
            column = column.cast(pa.float64())
        arrays.append(column)
    frame = pa.table(arrays, names=[f"c{i}" for i in range(len(arrays))]).to_pandas()
    frame.columns = columns
    return frame


_SWAP_RETRIES = 6


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Which file a path names now: a publish puts a new file (a new inode) there."""
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_dev, found.st_ino, found.st_ctime_ns)


# Readers hold a served file for one query each: a publish waits this long for the file it brings
# up to date, then copies it whole instead (a rename needs nobody to let go).
_EXCLUSIVE_WAIT_SECONDS = 30.0


def _open_exclusive(path: Path, wait: float | None = None) -> Any:
    """``path`` opened read-write once no reader has it open; None if readers keep it busy."""
    import duckdb

    deadline = time.monotonic() + (_EXCLUSIVE_WAIT_SECONDS if wait is None else wait)
    pause = 0.01
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException:
            if time.monotonic() >= deadline:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def folder_problem(folder: Path, exc: OSError) -> WarehouseError:
    """A folder a writer needs and cannot use: full, or not writable."""
    if exc.errno == errno.ENOSPC:
        return WarehouseError(
            f"the disk holding {folder} is full ({first_line(exc)})", hint=_DISK_HINT
        )
    return data_folder_read_only(folder, exc)


def data_folder_read_only(folder: Path, exc: BaseException) -> WarehouseError:
    """A data folder nobody may write to: what a sync, model build or import needs first."""
    return WarehouseError(
        f"the data folder {folder} is not writable ({first_line(exc)})",
        hint=f"give this user write permission on {folder}, or set DATA_DIR (or a duckdb:/// "
        "DATABASE_URL) to a writable folder",
    )


# -- MariaDB / MySQL --------------------------------------------------------------------------------

# pymysql's error numbers (MySQL's server and client error codes).
_MYSQL_UNKNOWN_DB = {1049}
_MYSQL_DENIED = {1044, 1045, 1142, 1227, 1698}
_MYSQL_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}
_MYSQL_DISK_FULL = {1021, 1114, 3}
_MYSQL_READ_ONLY = {1036, 1290, 1792}


class MySQLBackend(Backend):
    """A server. MySQL has no schemas inside a database: raw tables and the model both live in
    the URL's database, which is why their names never collide."""

    kind = Kind.MYSQL
    dialect = "mysql"
    default_port = 3306
    types: ClassVar[Mapping[str, str]] = {
        "bigint": "BIGINT",
        "double": "DOUBLE",
        "money": "DECIMAL(18, 2)",
        "text": "TEXT",
        "bool": "BOOLEAN",
        "timestamp": "DATETIME(6)",
        "date": "DATE",
    }
    text_cast = "CHAR"
    bool_cast = "SIGNED"  # MySQL cannot CAST to BOOLEAN; its booleans are small integers

    def quote(self, name: str) -> str:
        return f"`{name}`"

    def model_schema(self, wanted: str) -> str:
        return self.target.dataset

    def _open(self, *, write: bool, database: bool = True) -> Any:
        import pymysql

        parts = urlsplit(self.target.url)
        return pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=self.target.dataset if database else None,
            connect_timeout=10,
        )

    def dump_commands(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        host, port, user, name = self._url_parts()
        who = f"--host={host} --port={port}" + (f" --user={user}" if user else "")
        # --single-transaction: one consistent InnoDB snapshot without locking out the sync.
        return (
            (
                f"mariadb-dump --single-transaction --quick --routines {who} -p {name} "
                f"> {name}-$(date -u +%Y%m%dT%H%M%SZ).sql",
            ),
            (f"mariadb {who} -p {name} < {name}-YYYYMMDDTHHMMSSZ.sql",),
        )

    def create_database(self) -> bool:
        import pymysql

        name = self.target.dataset
        try:
            con = self._open(write=True, database=False)
            try:
                with con.cursor() as cur:
                    created = cur.execute(
                        f"CREATE DATABASE IF NOT EXISTS {self.quote(name)} CHARACTER SET utf8mb4"
                    )
                con.commit()
            finally:
                con.close()
        except pymysql.Error as exc:
            raise self.translate(exc, write=True) from exc
        return bool(created)

    def drop_database(self) -> None:
        import pymysql

        name = self.target.dataset
        try:
            con = self._open(write=True, database=False)
            try:
                with con.cursor() as cur:
                    # dlt loads through a staging database of its own beside the dataset.
                    for database in (name, f"{name}_staging"):
                        cur.execute(f"DROP DATABASE IF EXISTS {self.quote(database)}")
                con.commit()
            finally:
                con.close()
        except pymysql.Error as exc:
            raise self.translate(exc, write=True) from exc

    def lock_name(self) -> str:
        """GET_LOCK's name: server-wide, so it names the database (at most 64 characters)."""
        name = f"kommo_analytics.{self.target.dataset}"
        if len(name) > 64:
            name = f"{name[:51]}.{hashlib.sha256(name.encode()).hexdigest()[:12]}"
        return name

    @contextmanager
    def database_lock(self) -> Iterator[None]:
        import pymysql

        name = self.lock_name()
        try:
            # Without the database: a first sync creates it, and the lock must come before.
            con = self._open(write=True, database=False)
        except pymysql.Error as exc:
            raise self.translate(exc, write=True) from exc
        cur = con.cursor()

        def take() -> bool:
            # The server drops a session idle for wait_timeout (8 hours by default), and its
            # lock with it: a long first sync must keep its lock to the end.
            cur.execute("SET SESSION wait_timeout = 31536000")
            cur.execute("SELECT GET_LOCK(%s, %s)", [name, _LOCK_GRACE_SECONDS])
            return bool(cur.fetchone()[0] == 1)

        def release() -> None:
            cur.execute("SELECT RELEASE_LOCK(%s)", [name])
            cur.fetchall()

        with _hold_server_lock(
            con,
            take=take,
            holder=lambda: self._holder(cur, name),
            release=release,
            driver_error=pymysql.Error,
            translate=lambda exc: self.translate(exc, write=True),
        ):
            yield

    def database_lock_held(self) -> bool:
        import pymysql

        try:
            con = self._open(write=False, database=False)
        except pymysql.Error as exc:
            raise self.translate(exc, write=False) from exc
        try:
            cur = con.cursor()
            cur.execute("SELECT IS_USED_LOCK(%s)", [self.lock_name()])
            return cur.fetchone()[0] is not None
        except pymysql.Error as exc:
            raise self.translate(exc, write=False) from exc
        finally:
            con.close()

    def _holder(self, cur: Any, name: str) -> str:
        cur.execute("SELECT IS_USED_LOCK(%s)", [name])
        session = cur.fetchone()[0]
        if session is None:
            return "it has just ended; run the command again"
        # MariaDB shows a session's client as host:port, and other users' sessions only with
        # the PROCESS privilege.
        cur.execute("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = %s", [session])
        row = cur.fetchone()
        address = str(row[0]).rpartition(":")[0] or str(row[0]) if row and row[0] else None
        return _holder(None, address, f"MariaDB/MySQL connection {session}")

    def _begin(self, con: Any, cur: Any) -> None:
        con.begin()

    def commit_ddl(self, con: Any) -> None:
        """MySQL committed every CREATE already."""

    def consistent_read(self, con: Any) -> None:
        con.cursor().execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")

    def param(self, value: Any) -> Any:
        # DATETIME columns hold naive UTC; pymysql would write an aware time's wall clock.
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def create_schema_sql(self, schema: str) -> str | None:
        return None  # the database is the schema, created by the sync's first load

    def view_name(self, view: str) -> str:
        return self.qualified(view)

    def create_view_sql(self, view: str, sql: str) -> list[str]:
        return [f"CREATE OR REPLACE VIEW {self.view_name(view)} AS {sql}"]

    def alter_type_sql(self, qualified: str, column: str, type_: str) -> str:
        return f"ALTER TABLE {qualified} MODIFY {self.quote(column)} {type_}"

    def fetch_frame(self, con: Any, sql: str, columns: Sequence[str]) -> Any:
        # pymysql converts every value in Python as it reads the row (a datetime by a regular
        # expression): most of a raw read. Read the server's text instead and convert whole
        # columns; the frame is the one the converted rows made (tests/warehouse checks it).
        raw = con.raw if isinstance(con, Connection) else con
        decoders = raw.decoders
        raw.decoders = {}
        try:
            cur = raw.cursor()
            try:
                cur.execute(sql)
            except Exception as exc:
                raise self.explain(exc, sql, con) from exc
            rows = cur.fetchall()
            kinds = [int(d[1]) for d in cur.description]
        finally:
            raw.decoders = decoders
        return _mysql_frame(rows, list(columns), kinds, decoders)

    def analyze(self, con: Any, qualified: Iterable[str], *, committed: bool) -> None:
        if committed:  # MySQL commits implicitly on ANALYZE TABLE: only after ours
            cur = self.cursor(con)
            cur.execute(f"ANALYZE TABLE {', '.join(qualified)}")
            cur.fetchall()

    def dlt_destination(self) -> Any:
        from dlt.destinations import sqlalchemy

        # Primary keys let merges look rows up by key (a 2,000-row merge: minutes → seconds).
        return sqlalchemy(self.target.url, create_primary_keys=True)

    def _classify(self, exc: BaseException, *, write: bool) -> WarehouseError | None:
        import pymysql

        if not isinstance(exc, pymysql.err.Error) or not exc.args:
            return super()._classify(exc, write=write)
        code = exc.args[0]
        if code in _MYSQL_UNKNOWN_DB:
            return self.unknown_database()
        if code in _MYSQL_DENIED:
            return self.access_denied(exc, write=write)
        if code in _MYSQL_UNREACHABLE:
            return self.unreachable(exc, write=write)
        if code in _MYSQL_DISK_FULL:
            return self.disk_full(exc)
        if code in _MYSQL_READ_ONLY:
            return self.read_only(exc)
        return None


def _mysql_frame(
    rows: Sequence[tuple[Any, ...]],
    columns: list[str],
    kinds: list[int],
    decoders: Mapping[int, Any],
) -> Any:
    """The frame ``from_records`` makes of pymysql's converted rows, from the rows as text:
    integers, floats, DATETIME/TIMESTAMP and text converted a column at a time; any other type
    (DECIMAL, DATE, bytes …) value by value by pymysql's own converter."""
    import numpy as np
    import pandas as pd
    from pymysql.constants import FIELD_TYPE as F

    if not rows:
        return pd.DataFrame.from_records([], columns=columns)
    integers = {F.TINY, F.SHORT, F.LONG, F.LONGLONG, F.INT24, F.YEAR}
    floats = {F.FLOAT, F.DOUBLE}
    times = {F.DATETIME, F.TIMESTAMP}
    texts = {F.VARCHAR, F.VAR_STRING, F.STRING, F.BLOB, F.TINY_BLOB, F.MEDIUM_BLOB, F.LONG_BLOB}
    out: dict[str, Any] = {}
    others: list[int] = []
    for i, values in enumerate(zip(*rows, strict=True)):
        kind = kinds[i]
        name = f"c{i}"
        missing = values.count(None)
        if missing == len(values):
            out[name] = np.array(values, dtype=object)
        elif kind in integers and not missing:
            try:
                out[name] = np.array(values, dtype=np.int64)
            except (OverflowError, ValueError):  # an unsigned BIGINT past int64: object
                others.append(i)
        elif kind in integers or kind in floats:
            out[name] = np.array(["nan" if v is None else v for v in values], dtype=np.float64)
        elif kind in times:
            try:
                parsed = pd.to_datetime(pd.Series(values), format="ISO8601")
            except (ValueError, OverflowError):  # a zero date: pymysql leaves it text
                others.append(i)
                continue
            out[name] = parsed.astype("datetime64[us]").to_numpy()
        elif kind in texts and all(isinstance(v, str) or v is None for v in values):
            out[name] = pd.array(values, dtype="str")
        else:
            others.append(i)
    if others:
        converted = []
        for i in others:
            convert = decoders.get(kinds[i])
            column = [row[i] for row in rows]
            converted.append([v if v is None or convert is None else convert(v) for v in column])
        frame = pd.DataFrame.from_records(list(zip(*converted, strict=True)), columns=others)
        for i in others:
            out[f"c{i}"] = frame[i].to_numpy() if frame[i].dtype == object else frame[i].array
    result = pd.DataFrame({f"c{i}": out[f"c{i}"] for i in range(len(columns))}, copy=False)
    result.columns = columns
    return result


# -- PostgreSQL -------------------------------------------------------------------------------------

_PG_DENIED = {"28000", "28P01", "42501"}
_PG_READ_ONLY = {"25006"}
_PG_DISK_FULL = {"53100"}


class PostgresBackend(Backend):
    """A server; raw tables in the schema ``kommo_raw``, the model in its own schema."""

    kind = Kind.POSTGRES
    dialect = "postgres"
    default_port = 5432
    types: ClassVar[Mapping[str, str]] = {
        "bigint": "BIGINT",
        "double": "DOUBLE PRECISION",
        "money": "NUMERIC(18, 2)",
        "text": "TEXT",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
    }

    def dump_commands(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        host, port, user, name = self._url_parts()
        who = f"--host={host} --port={port}" + (f" --username={user}" if user else "")
        # -Fc: the compressed custom format, which pg_restore can restore table by table.
        return (
            (f"pg_dump -Fc {who} --file={name}-$(date -u +%Y%m%dT%H%M%SZ).dump {name}",),
            (f"pg_restore --clean --if-exists {who} --dbname={name} {name}-YYYYMMDDTHHMMSSZ.dump",),
        )

    def _connect_args(self, dbname: str) -> dict[str, Any]:
        parts = urlsplit(self.target.url)
        return {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password or "") or None,
            "dbname": dbname,
            "connect_timeout": 10,
        }

    def _open(self, *, write: bool) -> Any:
        import psycopg

        return psycopg.connect(**self._connect_args(urlsplit(self.target.url).path.strip("/")))

    def lock_key(self) -> int:
        """pg_try_advisory_lock's key: advisory locks are per database, so the schema names the
        warehouse; a signed 64-bit number."""
        digest = hashlib.sha256(f"kommo_analytics.{self.target.dataset}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    @contextmanager
    def database_lock(self) -> Iterator[None]:
        import psycopg

        key = self.lock_key()
        args = self._connect_args(urlsplit(self.target.url).path.strip("/"))
        try:
            # Keepalives let the server notice a vanished client (and free its lock) even when
            # no packet says the connection ended.
            con = psycopg.connect(
                **args,
                autocommit=True,
                application_name=_session_name(),
                keepalives=1,
                keepalives_idle=60,
            )
        except psycopg.Error as exc:
            raise self.translate(exc, write=True) from exc

        def take() -> bool:
            deadline = time.monotonic() + _LOCK_GRACE_SECONDS
            while True:
                row = con.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
                got = bool(row and row[0])
                if got or time.monotonic() >= deadline:
                    return got
                time.sleep(0.2)

        def release() -> None:
            con.execute("SELECT pg_advisory_unlock(%s)", [key])

        with _hold_server_lock(
            con,
            take=take,
            holder=lambda: self._holder(con, key),
            release=release,
            driver_error=psycopg.Error,
            translate=lambda exc: self.translate(exc, write=True),
        ):
            yield

    def database_lock_held(self) -> bool:
        import psycopg

        try:
            con = self._open(write=False)
        except psycopg.Error as exc:
            raise self.translate(exc, write=False) from exc
        key = self.lock_key()
        try:
            row = con.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 1 AND database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database()) "
                "AND classid::bigint = %s AND objid::bigint = %s",
                [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
            ).fetchone()
            return bool(row and row[0])
        except psycopg.Error as exc:
            raise self.translate(exc, write=False) from exc
        finally:
            con.close()

    def _holder(self, con: Any, key: int) -> str:
        # A bigint key is shown in pg_locks as its high and low 32 bits; the holder's name and
        # address are visible to the same user or a superuser.
        row = con.execute(
            "SELECT l.pid, a.application_name, host(a.client_addr) FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s",
            [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
        ).fetchone()
        if row is None:
            return "it has just ended; run the command again"
        return _holder(row[1], row[2], f"PostgreSQL session {row[0]}")

    def consistent_read(self, con: Any) -> None:
        con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def drop_table_sql(self, qualified: str) -> str:
        # The compatibility views depend on the tables; the build re-creates them afterwards.
        return f"DROP TABLE {qualified} CASCADE"

    def insert_rows(
        self, con: Any, qualified: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        cur = self.cursor(con)
        with cur.copy(f"COPY {qualified} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def analyze(self, con: Any, qualified: Iterable[str], *, committed: bool) -> None:
        # Planned on a table it believes empty, the funnel's joins ran as nested loops for
        # minutes; ANALYZE is transactional here, so it goes with the rows.
        if not committed:
            cur = self.cursor(con)
            for name in qualified:
                cur.execute(f"ANALYZE {name}")

    def dlt_destination(self) -> Any:
        from dlt.destinations import sqlalchemy

        # dlt's own postgres destination wants psycopg2 and a password; this one takes the
        # postgresql+psycopg:// URL users give as it is.
        return sqlalchemy(self.target.url, create_primary_keys=True)

    def create_database(self) -> bool:
        import psycopg

        if self._database_exists():
            return False
        name = urlsplit(self.target.url).path.strip("/")
        try:
            # CREATE DATABASE cannot run inside a transaction.
            with psycopg.connect(**self._connect_args("postgres"), autocommit=True) as con:
                con.execute(f"CREATE DATABASE {self.quote(name)}")
        except psycopg.errors.DuplicateDatabase:
            return False  # another process made it a moment ago
        except psycopg.Error as exc:
            raise self.translate(exc, write=True) from exc
        return True

    def drop_database(self) -> None:
        import psycopg

        name = urlsplit(self.target.url).path.strip("/")
        try:
            with psycopg.connect(**self._connect_args("postgres"), autocommit=True) as con:
                # FORCE: a dashboard's or a worker's idle session must not keep it alive.
                con.execute(f"DROP DATABASE IF EXISTS {self.quote(name)} WITH (FORCE)")
        except psycopg.Error as exc:
            raise self.translate(exc, write=True) from exc

    def _database_exists(self) -> bool | None:
        """Asked of the server's catalog through its maintenance database; None if that fails."""
        import psycopg

        name = urlsplit(self.target.url).path.strip("/")
        try:
            with psycopg.connect(**self._connect_args("postgres")) as con:
                row = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        except psycopg.Error:
            return None
        return row is not None

    def _classify(self, exc: BaseException, *, write: bool) -> WarehouseError | None:
        import psycopg

        if not isinstance(exc, psycopg.Error):
            return super()._classify(exc, write=write)
        state = exc.sqlstate
        if state is None and isinstance(exc, psycopg.OperationalError):
            # libpq reports a failed connection without a code: ask the server what is wrong.
            if not self._server_answers():
                return self.unreachable(exc, write=write)
            exists = self._database_exists()
            if exists is False:
                return self.unknown_database()
            if exists is None:
                return self.access_denied(exc, write=write)
            return None
        if state == "3D000":
            return self.unknown_database()
        if state in _PG_DENIED:
            return self.access_denied(exc, write=write)
        if state in _PG_DISK_FULL:
            return self.disk_full(exc)
        if state in _PG_READ_ONLY:
            return self.read_only(exc)
        if state is not None and state.startswith("08"):
            return self.unreachable(exc, write=write)
        return None


_BACKENDS: dict[Kind, type[Backend]] = {
    Kind.DUCKDB: DuckDBBackend,
    Kind.MYSQL: MySQLBackend,
    Kind.POSTGRES: PostgresBackend,
}


def backend_for(target: Target) -> Backend:
    """The backend of a warehouse; cheap (no connection is opened)."""
    return _BACKENDS[target.kind](target)


def type_name(kind: Kind, type_: str) -> str:
    """A model column type's SQL name on a kind of database."""
    return _BACKENDS[kind].types[type_]

"""Loading rows into the warehouse with dlt, and the few statements dlt does not cover.

dlt settings, and why (see also docs/architecture.md):

- DuckDB through dlt's ``duckdb`` destination with **Parquet** load files: the default insert
  format took minutes and gigabytes on a 300k-row load here; Parquet took seconds.
- MariaDB/MySQL and PostgreSQL through the ``sqlalchemy`` destination with
  ``create_primary_keys=True``: merges then look rows up by key instead of scanning (a 2,000-row
  merge on MariaDB went from minutes to seconds). The same destination serves PostgreSQL so that
  the ``postgresql+psycopg://`` URL users give works as it is (dlt's own ``postgres`` destination
  wants psycopg2 and a password, which trust-auth servers do not have).
- Tables are flat: every column is declared up front (``tables.py``), lists travel as JSON text,
  so dlt never creates child tables (whose merges are pathological on MariaDB).
- Rows go to dlt as Arrow tables with the declared schema, so types never depend on what the
  first batch happened to contain.
- Telemetry off, dlt's working folder inside the project's data folder.
- dlt's log (a failed load job logs its traceback, with the rows' values) goes to
  ``DATA_DIR/logs/sync.log`` (rotated, readable by its owner only), never to the terminal: the
  person running the sync gets the one-line error, which names that file.

Watermarks are *not* dlt incremental state: the sync writes them to ``sync_state`` in a separate
load that runs only after the load of the rows they cover has committed (``sync/engine.py``).

Each load also tells whether it **changed** anything stored (``Warehouse.changed``): an
incremental sync re-reads the rows of its overlap, and most of them come back as they were. A
table's rows are compared with the stored rows of the same keys (the whole table for the
dictionaries, a lead's whole set for link tables; an entity's JSON without the ``_links`` that
name the request) until one differs; after that the table counts
as changed and its later loads are not compared. A comparison that cannot be made (an odd key,
a value that does not convert) counts as a change: a needless model rebuild is cheap, a skipped
one would leave the model behind. Before the first changing load commits, ``before_change`` runs
(the sync marks the model stale there, so a run killed after it still rebuilds the next time).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from kommo_analytics import files, logs
from kommo_analytics.errors import QueryError, WarehouseError
from kommo_analytics.warehouse.backends import backend_for, folder_problem
from kommo_analytics.warehouse.tables import TABLES, Disposition, T, Table
from kommo_analytics.warehouse.target import Target

# dlt reads these when it is imported; set them before the first import.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")

# dlt's sqlalchemy merge job builds a query SQLAlchemy 2.x warns about; harmless, and users
# should not see it.
warnings.filterwarnings("ignore", message="implicitly coercing SELECT object to scalar subquery")

Row = dict[str, Any]

log = logging.getLogger(__name__)

# dlt's logger (dlt gives it a stderr handler unless it already has one), and the drivers' under
# it, whose warnings about an aborted load would otherwise reach the terminal.
LOAD_LOGGERS = ("dlt", "sqlalchemy", "psycopg", "pymysql")


def log_path(data_dir: Path) -> Path:
    """The sync's log file, where dlt's messages and tracebacks go (absolute: messages name it)."""
    return logs.log_file(data_dir, "sync")


def keep_load_logs_in(path: Path) -> None:
    """Send the log of dlt and the database drivers to ``path`` only (created on the first
    message), rotated and with secrets masked like every log of the project (``logs.py``)."""
    loggers = [logging.getLogger(name) for name in LOAD_LOGGERS]
    current = {
        h
        for logger in loggers
        for h in logger.handlers
        if isinstance(h, logs.PrivateRotatingFile) and h.baseFilename == str(path)
    }
    handler = next(iter(current), None)
    if handler is None:
        try:
            handler = logs.file_handler(path)
        except OSError as exc:
            raise folder_problem(path.parent, exc) from exc
    for logger in loggers:
        for other in list(logger.handlers):
            if other is not handler:
                logger.removeHandler(other)
                if isinstance(other, logs.PrivateRotatingFile):
                    other.close()
        logger.addHandler(handler)
        # Never to the root logger's handlers (or Python's last resort, which prints to stderr).
        logger.propagate = False


class Warehouse:
    """One warehouse, written by one sync at a time."""

    def __init__(self, target: Target, data_dir: Path, *, compare: bool = True) -> None:
        self.target = target
        self.data_dir = data_dir
        self.backend = backend_for(target)
        self._pipeline: Any = None
        # Compare loaded rows with the stored ones (False: every non-empty load is a change;
        # a full sync, which rewrites everything anyway, saves the reads).
        self.compare = compare
        # Tables whose stored rows this object's loads changed (bookkeeping tables not counted).
        self.changed: set[str] = set()
        # Per changed table, the keys (merge key, else primary key) of every row its changing
        # loads wrote: a superset of the rows that changed, which is what an update of the model
        # for the touched entities needs (a row loaded as it was costs a little redundant work).
        self.touched: dict[str, set[tuple[Any, ...]]] = {}
        # Run once, before the first load that changes stored rows commits.
        self.before_change: Callable[[], None] | None = None
        self._announced = False
        self._present: set[str] = set()  # raw tables known to exist

    # -- set-up -------------------------------------------------------------------------------

    @property
    def pipeline(self) -> Any:
        if self._pipeline is None:
            import dlt

            self.backend.prepare_writer()
            pipelines_dir = self.data_dir / "dlt"
            try:
                files.private_dir(pipelines_dir)
            except OSError as exc:
                raise folder_problem(self.data_dir, exc) from exc
            # Before dlt sets up its logger: it keeps the handler it finds instead of adding its
            # own on stderr.
            keep_load_logs_in(log_path(self.data_dir))
            name = f"kommo_{self.target.key}"
            # dlt's working folder is scratch space only: the warehouse holds the schema, dlt's
            # state and our watermarks. Starting from an empty folder means a package left
            # half-written by a killed sync can never wedge the next one; its rows are read
            # again because the watermark covering them never moved.
            shutil.rmtree(pipelines_dir / name, ignore_errors=True)
            self._pipeline = dlt.pipeline(
                pipeline_name=name,
                destination=self.backend.dlt_destination(),
                dataset_name=self.target.dataset,
                pipelines_dir=str(pipelines_dir),
            )
            # A logger dlt set up earlier in this process (another warehouse) is replaced too.
            keep_load_logs_in(log_path(self.data_dir))
        return self._pipeline

    def check(self) -> None:
        """Fail early, with a readable message, when the database cannot be used."""
        try:
            with self.pipeline.sql_client() as client:
                client.execute_sql("SELECT 1")
        except Exception as exc:
            raise self.backend.translate(exc, write=True) from exc

    # -- writing ------------------------------------------------------------------------------

    def load(self, batches: Mapping[str, Sequence[Row]]) -> None:
        """Load rows of several tables in one dlt run; returns once they are committed.

        Rows are de-duplicated by primary key first (the last one wins: crawls run oldest to
        newest, so the last copy is the newest). A table whose rows are all stored as they are
        is left out (see the module's docstring); the bookkeeping tables always load.
        """
        import dlt

        changing: list[str] = []
        keys: dict[str, set[tuple[Any, ...]]] = {}
        resources = []
        for name, rows in batches.items():
            table = TABLES[name]
            if not rows and table.disposition is not Disposition.REPLACE:
                continue
            if self._changes(table, rows):
                changing.append(name)
                key = table.merge_key or table.primary_key
                keys[name] = {tuple(row.get(k) for k in key) for row in rows}
            elif name not in BOOKKEEPING:
                continue  # every row is stored as it is
            hints: dict[str, Any] = {
                "name": table.name,
                "primary_key": list(table.primary_key),
                "columns": table.dlt_columns(),
                "write_disposition": (
                    "replace"
                    if table.disposition is Disposition.REPLACE
                    else {"disposition": "merge", "strategy": "delete-insert"}
                ),
            }
            if table.merge_key:
                hints["merge_key"] = list(table.merge_key)
            resources.append(dlt.resource([to_arrow(table, rows)], **hints))
        if not resources:
            return
        if not changing and self._write_bookkeeping(batches):
            return
        if changing and not self._announced and self.before_change is not None:
            self.before_change()
            self._announced = True
        try:
            if self.pipeline.has_pending_data:
                # A failed load leaves its package pending, and dlt's next run would load that
                # package instead of these rows (the sync engine also stops storing after a
                # failure; see docs/reliability.md). Its rows are crawled again: no watermark
                # moved past them.
                self.pipeline.drop_pending_packages()
            # dlt writes past our connections: what it will change is journaled first, for
            # DuckDB's publish (keys of the changing merges; whole tables otherwise).
            self.backend.journal_load(
                {
                    **dict.fromkeys(_DLT_TABLES),
                    **{r.name: None for r in resources},
                    **{
                        name: (TABLES[name].merge_key or TABLES[name].primary_key, written)
                        for name, written in keys.items()
                        if TABLES[name].disposition is not Disposition.REPLACE
                    },
                }
            )
            self.pipeline.run(resources, loader_file_format=self.backend.loader_file_format)
        except Exception as exc:
            problem = self.backend.translate(exc, write=True)
            if isinstance(problem, QueryError):
                problem = WarehouseError(
                    f"loading into {self.target.display} failed: {problem.reason}",
                    hint="nothing already stored was changed by the failed load; fix the cause "
                    "and run the sync again — it resumes where the last committed load ended; "
                    f"see {log_path(self.data_dir)} for details",
                )
            raise problem from exc
        # Counted once committed: a failed load changed nothing.
        self.changed.update(changing)
        for name, written in keys.items():
            self.touched.setdefault(name, set()).update(written)

    def _write_bookkeeping(self, batches: Mapping[str, Sequence[Row]]) -> bool:
        """Upsert rows of the bookkeeping tables with one plain transaction instead of a dlt
        run (a second or more each, several per sync: most of a sync that changed nothing).
        Only into tables dlt created with the declared columns (Arrow rows get none of dlt's
        own; were they there, they are filled as dlt would); False (nothing done) otherwise,
        and dlt loads them."""
        wanted = {n: _unique(TABLES[n], rows) for n, rows in batches.items() if n in BOOKKEEPING}
        wanted = {n: rows for n, rows in wanted.items() if rows}
        if not wanted or not self.compare or not all(self.has_table(n) for n in wanted):
            return False
        backend = self.backend
        load_id = f"{time.time():.6f}"
        try:
            extra: dict[str, tuple[str, ...]] = {}
            with backend.connect(write=True) as con:
                for name in wanted:
                    found = set(backend.columns(con, self.target.dataset, name) or [])
                    declared = set(TABLES[name].column_names)
                    if not declared <= found or not found - declared <= set(_DLT_COLUMNS):
                        return False
                    extra[name] = tuple(c for c in _DLT_COLUMNS if c in found)
                with backend.transaction(con) as cur:
                    for name, rows in wanted.items():
                        table = TABLES[name]
                        keys = [tuple(row[k] for k in table.primary_key) for row in rows]
                        where = _key_condition([backend.quote(k) for k in table.primary_key], keys)
                        if where is None:
                            raise _NotPlain
                        columns = (*table.column_names, *extra[name])
                        quoted = ", ".join(backend.quote(c) for c in columns)
                        marks = ", ".join([backend.placeholder] * len(columns))
                        # SQL text: a bookkeeping table, its keys as int or identifier-like
                        # literals, its declared columns; the values are parameters.
                        cur.execute(f"DELETE FROM {self.table(name)} WHERE {where}")  # nosec B608
                        sql = f"INSERT INTO {self.table(name)} ({quoted}) VALUES ({marks})"  # nosec B608
                        for row in rows:
                            values = [row.get(c) for c in table.column_names]
                            own = {"_dlt_load_id": load_id, "_dlt_id": _dlt_id()}
                            values += [own[c] for c in extra[name]]
                            cur.execute(sql, backend.params(values))
        except _NotPlain:
            return False
        return True

    # -- what a load changes ------------------------------------------------------------------

    def _changes(self, table: Table, rows: Sequence[Row]) -> bool:
        """Whether loading ``rows`` into ``table`` changes what is stored (see the module's
        docstring; True when unsure)."""
        if table.name in BOOKKEEPING:
            return False
        if table.name in self.changed:
            return True  # known already: no need to read
        if not self.compare:
            return bool(rows) or table.disposition is Disposition.REPLACE
        try:
            return self._differs(table, rows)
        except Exception:
            log.debug("could not compare rows of %s; counted as changed", table.name, exc_info=True)
            return True

    def _differs(self, table: Table, rows: Sequence[Row]) -> bool:
        if not self.has_table(table.name):
            return bool(rows)
        columns = table.column_names
        new = [_normal(table, row) for row in _unique(table, rows)]
        quoted = ", ".join(self.backend.quote(c) for c in columns)
        # SQL text: a raw table's declared columns and name; no user value.
        select = f"SELECT {quoted} FROM {self.table(table.name)}"  # nosec B608
        if table.disposition is Disposition.REPLACE:
            stored = [
                _normal(table, dict(zip(columns, r, strict=True))) for r in self.query(select)
            ]
            return Counter(stored) != Counter(new)
        if not new:
            return False
        # Link tables: a key's whole set is replaced, so the stored set of each key is compared.
        keys = table.merge_key or table.primary_key
        positions = [columns.index(k) for k in keys]
        wanted = sorted({tuple(r[i] for i in positions) for r in new}, key=repr)
        stored_rows: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), _COMPARE_CHUNK):
            chunk = wanted[start : start + _COMPARE_CHUNK]
            where = _key_condition([self.backend.quote(k) for k in keys], chunk)
            if where is None:
                return True  # a key this code will not write into SQL: assume a change
            # SQL text: the select above and keys written as int or identifier-like literals.
            stored_rows += self.query(f"{select} WHERE {where}")  # nosec B608
        stored = [_normal(table, dict(zip(columns, r, strict=True))) for r in stored_rows]
        return Counter(stored) != Counter(new)

    def execute(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        keys: tuple[str, Sequence[str], Iterable[Any]] | None = None,
    ) -> None:
        """One statement, committed (``params`` in the backend's parameter style). ``keys``:
        (raw table, key columns, keys) when it changes only those rows of that table, so that
        DuckDB's publish copies those rows instead of the table."""
        self._run(sql, params, fetch=False, keys=keys)

    def _run(
        self,
        sql: str,
        params: Sequence[Any],
        *,
        fetch: bool,
        keys: tuple[str, Sequence[str], Iterable[Any]] | None = None,
    ) -> list[tuple[Any, ...]]:
        # The driver's own connection: dlt's SQL client costs a quarter of a second a statement
        # here, and a sync that changed nothing is mostly such statements. A warehouse without
        # its file yet (a first DuckDB load) goes through dlt, which creates it.
        backend = self.backend
        try:
            if backend.writer_storage_exists():
                with backend.connect(write=True) as con, backend.transaction(con) as cur:
                    if keys is not None:
                        backend.journal_keys(con, *keys)
                    cur.execute(sql, backend.params(params)) if params else cur.execute(sql)
                    return [tuple(row) for row in cur.fetchall()] if fetch else []
            with self.pipeline.sql_client() as client:
                rows = client.execute_sql(sql, *params)
                return [tuple(row) for row in rows or []] if fetch else []
        except WarehouseError:
            raise
        except Exception as exc:
            raise backend.translate(exc, write=True) from exc

    # -- reading ------------------------------------------------------------------------------

    def table(self, name: str) -> str:
        return self.target.qualified(name)

    def has_table(self, name: str) -> bool:
        """Whether the catalog lists the raw table (a young warehouse lacks some; one found
        stays: nothing drops a raw table while the writer works)."""
        if name in self._present:
            return True
        # Literals, not parameters: dlt's SQL clients mark parameters differently, and both
        # names are ours.
        rows = self.query(
            # SQL text: the configured dataset and a raw table's name (see above).
            "SELECT table_name FROM information_schema.tables "  # nosec B608
            f"WHERE table_schema = '{self.target.dataset}' AND table_name = '{name}'"
        )
        if rows:
            self._present.add(name)
        return bool(rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one statement (``params`` in the backend's parameter style)."""
        return self._run(sql, params, fetch=True)

    def existing_ids(self, table: str, ids: Iterable[int]) -> set[int]:
        wanted = sorted(set(ids))
        found: set[int] = set()
        if not wanted or not self.has_table(table):
            return found
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            placeholders = ", ".join(str(int(i)) for i in chunk)
            for (value,) in self.query(
                # SQL text: a raw table's name and ids cast to int; no user value.
                f"SELECT id FROM {self.table(table)} WHERE id IN ({placeholders})"  # nosec B608
            ):
                found.add(int(value))
        return found

    def watermarks(self) -> dict[str, int]:
        if not self.has_table("sync_state"):
            return {}
        # SQL text: table names the code qualifies; no user value.
        rows = self.query(f"SELECT stream, watermark FROM {self.table('sync_state')}")  # nosec B608
        return {str(stream): int(mark) for stream, mark in rows}

    # -- DuckDB: the serving copy -------------------------------------------------------------

    def publish(self) -> None:
        """Make what the sync committed visible to readers (DuckDB's served copy; a no-op on
        the servers, whose readers see each commit)."""
        self.backend.publish()


def _unique(table: Table, rows: Sequence[Row]) -> list[Row]:
    """One row per primary key, the last one."""
    unique: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        unique[tuple(row[k] for k in table.primary_key)] = row
    return list(unique.values())


def to_arrow(table: Table, rows: Sequence[Row]) -> pa.Table:
    columns = table.column_names
    return pa.Table.from_pylist(
        [{c: row.get(c) for c in columns} for row in _unique(table, rows)],
        schema=table.arrow_schema(),
    )


# dlt's own tables, written by every load.
_DLT_TABLES = ("_dlt_loads", "_dlt_version", "_dlt_pipeline_state")

# The columns dlt adds to every table it creates.
_DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")


class _NotPlain(Exception):
    """A bookkeeping key that is not written into SQL: dlt loads the rows instead."""


def _dlt_id() -> str:
    return secrets.token_urlsafe(10)[:14]


# The sync's own bookkeeping: written by every run, read by no model.
BOOKKEEPING = frozenset({"sync_state", "sync_runs"})
_COMPARE_CHUNK = 500
_SAFE_TEXT = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")


def _key_condition(names: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> str | None:
    """``(a, b) IN ((1, 'x'), ...)`` with the keys as literals (dlt's SQL clients mark
    parameters differently); None when a key is not a plain integer or identifier-like text."""
    literals: list[str] = []
    for key in keys:
        parts: list[str] = []
        for value in key:
            if isinstance(value, bool) or value is None:
                return None
            if isinstance(value, int):
                parts.append(str(int(value)))
            elif isinstance(value, str) and _SAFE_TEXT.fullmatch(value):
                parts.append(f"'{value}'")
            else:
                return None
        literals.append(parts[0] if len(parts) == 1 else f"({', '.join(parts)})")
    columns = names[0] if len(names) == 1 else f"({', '.join(names)})"
    return f"{columns} IN ({', '.join(literals)})"


# Columns a comparison leaves out (compared as equal), each re-read in an overlap differently
# from how it is stored although nothing changed — every such run would count as a change and
# rebuild the model:
# - a deletion fact's ``source`` names which feed reported it. The trash listing and the
#   ``lead_deleted`` event report the same fact (same lead, flag and moment) in different
#   streams, whose loads land in either order. No model reads ``source``.
# - a lead's ``is_deleted`` and ``deleted_at`` are derived after every load from the deletion
#   facts and the lead's ``updated_at`` (``sync/engine.py: _apply_deletions``): the stored
#   values are that derivation's, not the crawled row's. A crawled row equal in every other
#   column gives the same derivation again; the facts are compared in their own table.
_NOT_COMPARED: dict[str, frozenset[str]] = {
    "lead_deletions": frozenset({"source"}),
    "leads": frozenset({"is_deleted", "deleted_at"}),
}


def _normal(table: Table, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A row as comparable plain values, the same whether it was read back from any of the
    databases or is about to be loaded (naive times are UTC, as the servers store them)."""
    values: list[Any] = []
    skipped = _NOT_COMPARED.get(table.name, frozenset())
    for column in table.columns:
        value = row.get(column.name)
        if value is None or column.name in skipped:
            values.append(None)
        elif column.type is T.TIMESTAMP:
            if not isinstance(value, datetime):
                raise TypeError(f"{column.name}: not a datetime")
            aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            values.append(aware.replace(tzinfo=None))
        elif column.type is T.BIGINT:
            values.append(int(value))
        elif column.type is T.BOOL:
            values.append(bool(value))
        elif column.type is T.DOUBLE:
            values.append(float(value))
        elif column.name == "raw":
            values.append(_raw_content(str(value)))
        else:
            values.append(str(value))
    return tuple(values)


def _raw_content(text: str) -> str:
    """An entity's JSON without its ``_links``: Kommo writes the request's own URL (page,
    filters) into them, so the same entity read by another request differs only there."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return json.dumps(_without_links(data), sort_keys=True, ensure_ascii=False)


def _without_links(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_links(v) for k, v in value.items() if k != "_links"}
    if isinstance(value, list):
        return [_without_links(v) for v in value]
    return value

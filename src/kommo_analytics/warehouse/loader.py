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
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from kommo_analytics import files, logs
from kommo_analytics.errors import QueryError, WarehouseError
from kommo_analytics.warehouse.backends import backend_for, folder_problem
from kommo_analytics.warehouse.tables import TABLES, Disposition, Table
from kommo_analytics.warehouse.target import Kind, Target

# dlt reads these when it is imported; set them before the first import.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")

# dlt's sqlalchemy merge job builds a query SQLAlchemy 2.x warns about; harmless, and users
# should not see it.
warnings.filterwarnings("ignore", message="implicitly coercing SELECT object to scalar subquery")

Row = dict[str, Any]

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

    def __init__(self, target: Target, data_dir: Path) -> None:
        self.target = target
        self.data_dir = data_dir
        self.backend = backend_for(target)
        self._pipeline: Any = None
        self._bookkeeping_tables: set[str] = set()  # bookkeeping tables known to exist

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
        newest, so the last copy is the newest).
        """
        import dlt

        resources = []
        for name, rows in batches.items():
            table = TABLES[name]
            if not rows and table.disposition is not Disposition.REPLACE:
                continue
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
        try:
            if self.pipeline.has_pending_data:
                # A failed load leaves its package pending, and dlt's next run would load that
                # package instead of these rows (the sync engine also stops storing after a
                # failure; see docs/reliability.md). Its rows are crawled again: no watermark
                # moved past them.
                self.pipeline.drop_pending_packages()
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

    def upsert(self, name: str, rows: Sequence[Row]) -> None:
        """Write a few rows of a bookkeeping table (a watermark, a run's record) by key.

        Two statements per row in one transaction rather than a dlt run: a run has a fixed cost
        (a load package, the schema, dlt's state) of about half a second, and a sync writes a
        watermark after every commit. The first write goes through dlt, which creates the table
        from its declaration.
        """
        table = TABLES[name]
        if name not in self._bookkeeping_tables:
            if not self.has_table(name):
                self.load({name: rows})
                return
            self._bookkeeping_tables.add(name)
        unique: dict[tuple[Any, ...], Row] = {}
        for row in rows:
            unique[tuple(row[k] for k in table.primary_key)] = row
        quote = self.backend.quote
        qualified = self.table(name)
        columns = table.column_names
        where = " AND ".join(f"{quote(k)} = %s" for k in table.primary_key)
        # SQL text: a declared table's name and columns; the values are parameters.
        delete = f"DELETE FROM {qualified} WHERE {where}"  # nosec B608
        insert = (
            f"INSERT INTO {qualified} ({', '.join(quote(c) for c in columns)}) "  # nosec B608
            f"VALUES ({', '.join(['%s'] * len(columns))})"
        )
        try:
            with self.pipeline.sql_client() as client, client.begin_transaction():
                for key, row in unique.items():
                    client.execute_sql(delete, *key)
                    client.execute_sql(insert, *(self._parameter(row.get(c)) for c in columns))
        except Exception as exc:
            raise self.backend.translate(exc, write=True) from exc

    def _parameter(self, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if self.target.kind is Kind.MYSQL:
                # MySQL's DATETIME has no zone; the loads store UTC there (pymysql would write
                # an aware value's wall time in whatever zone it carries).
                return value.replace(tzinfo=None)
        return value

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            with self.pipeline.sql_client() as client:
                client.execute_sql(sql, *params)
        except Exception as exc:
            raise self.backend.translate(exc, write=True) from exc

    # -- reading ------------------------------------------------------------------------------

    def table(self, name: str) -> str:
        return self.target.qualified(name)

    def has_table(self, name: str) -> bool:
        """Whether the catalog lists the raw table (a young warehouse lacks some)."""
        # Literals, not parameters: dlt's SQL clients mark parameters differently, and both
        # names are ours.
        rows = self.query(
            # SQL text: the configured dataset and a raw table's name (see above).
            "SELECT table_name FROM information_schema.tables "  # nosec B608
            f"WHERE table_schema = '{self.target.dataset}' AND table_name = '{name}'"
        )
        return bool(rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self.pipeline.sql_client() as client:
                rows = client.execute_sql(sql, *params)
        except Exception as exc:
            raise self.backend.translate(exc, write=True) from exc
        return [tuple(row) for row in rows or []]

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


def to_arrow(table: Table, rows: Sequence[Row]) -> pa.Table:
    unique: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        unique[tuple(row[k] for k in table.primary_key)] = row
    columns = table.column_names
    return pa.Table.from_pylist(
        [{c: row.get(c) for c in columns} for row in unique.values()], schema=table.arrow_schema()
    )

"""The account store: the generated account as DuckDB tables (see `schema.py`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb

from kommo_analytics.emulator.schema import DDL, TABLES
from kommo_analytics.emulator.sql import compose


class AccountStore:
    """An in-memory DuckDB database holding one synthetic Kommo account.

    DuckDB connections are not safe to share between threads, but cursors are: every request
    handler takes its own :meth:`cursor`. Writers (live mode) hold :attr:`write_lock` so that a
    page is never rendered from a half-applied change.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.write_lock = threading.RLock()

    @classmethod
    def empty(cls) -> AccountStore:
        con = duckdb.connect(":memory:")
        con.execute(DDL)
        return cls(con)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.cursor().execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self.cursor().execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, str(value)]
        )

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        row = self.cursor().execute(compose("SELECT count(*) FROM {table}", table=table)).fetchone()
        return int(row[0]) if row else 0

    def dump(self, directory: Path) -> list[Path]:
        """Write every table as Parquet: the ground truth tests compare a warehouse to."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        cur = self.cursor()
        for table in TABLES:
            target = directory / f"{table}.parquet"
            cur.execute(f"COPY {table} TO '{target.as_posix()}' (FORMAT parquet)")
            written.append(target)
        return written

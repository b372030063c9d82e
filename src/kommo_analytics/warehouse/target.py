"""Where the warehouse lives: one `DATABASE_URL`, three kinds of database.

- ``duckdb:///path/kommo.duckdb`` — the default. DuckDB lets no other process open a file while
  one process writes it, not even read-only, so the sync never writes the file readers use: it
  writes a private file beside it (``kommo.sync.duckdb``) and *publishes* it to readers: the
  served path is a symlink to one of two files brought up to date in turn (``backends.py``,
  ``journal.py``).
- ``mysql+pymysql://user:pass@host:3306/db`` (MariaDB or MySQL 8) — tables go into ``db``.
- ``postgresql+psycopg://user:pass@host:5432/db`` — tables go into the schema ``kommo_raw`` of ``db``.

On the two servers readers and the sync share the database; their own transactions keep readers
from seeing half a load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

from kommo_analytics.errors import ConfigError

POSTGRES_SCHEMA = "kommo_raw"
DUCKDB_SCHEMA = "kommo_raw"

_URL_HINT = (
    "set DATABASE_URL (or --db) to duckdb:///data/kommo.duckdb, "
    "mysql+pymysql://user:password@host:3306/database or "
    "postgresql+psycopg://user:password@host:5432/database"
)


class Kind(StrEnum):
    DUCKDB = "duckdb"
    MYSQL = "mysql"
    POSTGRES = "postgres"


@dataclass(frozen=True)
class Target:
    kind: Kind
    # As given; may hold a password, so never print it (nor repr it): use `display`.
    url: str = field(repr=False)
    dataset: str  # DuckDB/PostgreSQL schema, or the MySQL database
    serving_path: Path | None = None  # DuckDB: the file readers open (absolute)
    sync_path: Path | None = None  # DuckDB: the sync's private file (absolute)
    # DuckDB: the URL as written, which `key` hashes so that dlt's pipeline name of an existing
    # warehouse stays what it was before paths were made absolute.
    given: str = ""

    @property
    def display(self) -> str:
        """The URL without its password, for messages and logs."""
        if self.kind is Kind.DUCKDB:
            return f"duckdb:///{self.serving_path}"
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, _without_password(parts), parts.path, "", ""))

    @property
    def location(self) -> str:
        """Where the data is, for people: a DuckDB file's absolute path, else `display`."""
        return str(self.serving_path) if self.serving_path is not None else self.display

    @property
    def key(self) -> str:
        """A short stable name for this warehouse (lock files, dlt pipeline names)."""
        return hashlib.sha256((self.given or self.display).encode()).hexdigest()[:12]

    def qualified(self, table: str) -> str:
        """A raw table's `schema.table` as SQL for this database (names are ours, never user
        input)."""
        # Imported here: the backends are built from targets.
        from kommo_analytics.warehouse.backends import backend_for

        return backend_for(self).qualified(table)


def _without_password(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.username}@{host}" if parts.username else host


def parse_database_url(url: str) -> Target:
    """Check a DATABASE_URL and say what it points at; a ConfigError names what is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    driver = scheme.partition("+")[2]
    if scheme == "duckdb":
        # duckdb:///relative/path or duckdb:////absolute/path, as SQLAlchemy spells them.
        raw = url[len("duckdb:///") :] if url.lower().startswith("duckdb:///") else ""
        if not raw or raw.endswith("/"):
            raise ConfigError(f"DATABASE_URL {url!r} names no DuckDB file", hint=_URL_HINT)
        given = f"duckdb:///{Path(raw)}"
        # A relative path means "from the folder the command runs in": made absolute once, here,
        # so that every message names the file really looked at and a dashboard child process
        # started elsewhere reads the same file.
        serving = Path(raw).expanduser().absolute()
        sync = serving.with_name(f"{serving.stem}.sync{serving.suffix or '.duckdb'}")
        return Target(
            Kind.DUCKDB,
            f"duckdb:///{serving}",
            DUCKDB_SCHEMA,
            serving_path=serving,
            sync_path=sync,
            given=given,
        )
    if scheme.startswith(("mysql", "mariadb")):
        if driver not in ("", "pymysql"):
            raise ConfigError(
                f"DATABASE_URL uses the MySQL driver {driver!r}, which is not installed",
                hint="use mysql+pymysql://user:password@host:3306/database",
            )
        database = parts.path.strip("/")
        if not database:
            raise ConfigError(
                "DATABASE_URL names no MySQL/MariaDB database",
                hint="add it after the host: mysql+pymysql://user:password@host:3306/kommo",
            )
        if database != database.lower():
            # dlt lower-cases the dataset name: the raw tables would go to a lower-cased twin
            # database while the model and the reports read this one, which stays empty.
            lower = urlunsplit(
                ("mysql+pymysql", _without_password(parts), f"/{database.lower()}", "", "")
            )
            raise ConfigError(
                f"the MySQL/MariaDB database name {database!r} has capitals, which the sync "
                f"cannot keep (it would write into {database.lower()!r} instead)",
                hint=f"use the lower-case name {database.lower()!r} in DATABASE_URL, e.g. {lower}",
            )
        normalised = urlunsplit(("mysql+pymysql", parts.netloc, parts.path, parts.query, ""))
        return Target(Kind.MYSQL, normalised, database)
    if scheme.startswith(("postgresql", "postgres")):
        if driver not in ("", "psycopg"):
            raise ConfigError(
                f"DATABASE_URL uses the PostgreSQL driver {driver!r}, which is not installed",
                hint="use postgresql+psycopg://user:password@host:5432/database",
            )
        if not parts.path.strip("/"):
            raise ConfigError(
                "DATABASE_URL names no PostgreSQL database",
                hint="add it after the host: postgresql+psycopg://user:password@host:5432/kommo",
            )
        normalised = urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, parts.query, ""))
        return Target(Kind.POSTGRES, normalised, POSTGRES_SCHEMA)
    raise ConfigError(f"DATABASE_URL has an unsupported scheme {parts.scheme!r}", hint=_URL_HINT)

"""Shared fixtures: throw-away databases on the real MariaDB and PostgreSQL servers.

On a laptop without a server the tests that need one skip with the reason; in CI
(`KOMMO_TEST_REQUIRE_SERVERS=1`, set by `.ci/run`) they fail instead, so a missing server can
never turn a red run green.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest


class _NoRuntimeWarning(logging.Filter):
    """Drops Streamlit's "No runtime found, using MemoryCacheStorageManager": logged on every
    call of an `st.cache_data` function outside a Streamlit server (AppTest, the pure-function
    tests), it says nothing about the code under test and floods the output. A filter, not a
    level: an AppTest run resets the levels of Streamlit's loggers, and the logger's other
    messages must still come through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No runtime found")


logging.getLogger("streamlit.runtime.caching.cache_data_api").addFilter(_NoRuntimeWarning())

REQUIRE_SERVERS = os.environ.get("KOMMO_TEST_REQUIRE_SERVERS") == "1"
MARIADB_HOST = os.environ.get("KOMMO_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("KOMMO_TEST_MARIADB_PORT", "3306"))
MARIADB_USER = os.environ.get("KOMMO_TEST_MARIADB_USER", "root")
POSTGRES_HOST = os.environ.get("KOMMO_TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("KOMMO_TEST_POSTGRES_PORT", "5432"))
POSTGRES_USER = os.environ.get("KOMMO_TEST_POSTGRES_USER", "postgres")


def server_unavailable(what: str, exc: Exception) -> None:
    reason = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason}; KOMMO_TEST_REQUIRE_SERVERS=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


@contextmanager
def _mariadb() -> Iterator[Any]:
    """An administrator's connection to the MariaDB server (skips or fails without one)."""
    import pymysql

    try:
        con = pymysql.connect(
            host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER, connect_timeout=5
        )
    except pymysql.MySQLError as exc:
        server_unavailable(f"MariaDB at {MARIADB_HOST}:{MARIADB_PORT}", exc)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def _postgres() -> Iterator[Any]:
    """An administrator's connection to the PostgreSQL server (skips or fails without one)."""
    import psycopg

    admin = f"host={POSTGRES_HOST} port={POSTGRES_PORT} user={POSTGRES_USER} dbname=postgres"
    try:
        con = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        server_unavailable(f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT}", exc)
    try:
        yield con
    finally:
        con.close()


def _create_database(backend: str, name: str) -> str:
    """An empty database `name` on the server of `backend`; its SQLAlchemy-style URL."""
    if backend == "mariadb":
        with _mariadb() as con, con.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return f"mysql+pymysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{name}"
    with _postgres() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"


def _drop_database(backend: str, name: str) -> None:
    if backend == "mariadb":
        with _mariadb() as con, con.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            # dlt keeps its merge staging tables in a sibling database.
            cur.execute(f"DROP DATABASE IF EXISTS `{name}_staging`")
    else:
        with _postgres() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _server_database(backend: str) -> Iterator[str]:
    name = f"kommo_test_{uuid.uuid4().hex[:12]}"
    url = _create_database(backend, name)
    try:
        yield url
    finally:
        _drop_database(backend, name)


def mariadb_database() -> AbstractContextManager[str]:
    """A fresh, empty MariaDB database, dropped afterwards; yields a SQLAlchemy-style URL."""
    return _server_database("mariadb")


def postgres_database() -> AbstractContextManager[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards; yields a SQLAlchemy-style URL."""
    return _server_database("postgres")


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    with mariadb_database() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["duckdb", "mariadb", "postgres"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty warehouse on each backend in turn: a DuckDB file, MariaDB, PostgreSQL."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"
    fixture = "mariadb_url" if request.param == "mariadb" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


# -- the small account synced once per run, on every backend ------------------------------------
#
# A sync of the small account costs seconds of CPU (a dozen dlt loads, the model build) and, on
# the servers, as much again of the server's. Many modules only need such a warehouse, not the
# sync that made it: the first worker to ask syncs it once for the whole run (under a file lock
# in the run's common temporary folder), and every test takes a private copy — a file copy on
# DuckDB, `CREATE DATABASE … TEMPLATE` on PostgreSQL, the tables copied on MariaDB — in a
# fraction of a second. The source itself is never written to and never read but to be copied
# (PostgreSQL refuses a template somebody is connected to). The run's controller drops the
# servers' sources when every worker is done (`pytest_sessionfinish`).

SHARED_DATABASES = "shared-databases.txt"  # "kind name" per line: the servers' sources to drop


@dataclass(frozen=True)
class Synced:
    """The small account (`seed`) synced into an empty warehouse of `backend`: the run's shared
    source, with what its sync reported (the first-sync tests check it against the warehouse)."""

    backend: str
    seed: int
    url: str
    folder: Path  # laid out as `sync` leaves it: `data/` (and `warehouse/` on DuckDB)
    status: str
    mode: str
    requests: int  # the sync's requests, every stream's
    blocks: int  # the emulator's IP blocks during it (the test asserts there were none)
    warnings: list[dict[str, Any]]  # the sync's warnings (none: the emulator sends every field)


def _run_root(factory: pytest.TempPathFactory) -> Path:
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' folders sit side by side in the run's own
    return root


@contextmanager
def _shared_lock(root: Path, name: str) -> Iterator[None]:
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


SEED = 3  # the small account every shared warehouse holds


def _sync_small(folder: Path, url: str, backend: str) -> Synced:
    from tests.sync.harness import account, sync

    acc = account(seed=SEED)
    result = sync(acc, folder, url)
    assert result.status == "ok", result
    return Synced(
        backend,
        SEED,
        url,
        folder,
        result.status,
        result.mode,
        sum(result.requests.values()),
        int(acc.state.stats["blocks"]) + int(bool(acc.state.stats["blocked"])),
        list(result.warnings),
    )


def _shared_source(root: Path, backend: str) -> Synced:
    """The run's one sync of the small account into `backend`, made by whoever asks first."""
    name = f"small-synced-{backend}" if backend != "duckdb" else "small-synced"
    folder, done = root / name, root / f"{name}.json"
    with _shared_lock(root, name):
        if done.exists():
            fields = json.loads(done.read_text())
            return Synced(**{**fields, "folder": Path(fields["folder"])})
        shutil.rmtree(folder, ignore_errors=True)  # a worker died half-way through
        folder.mkdir()
        if backend == "duckdb":
            from tests.sync.harness import duckdb_url

            url = duckdb_url(folder)
        else:
            # Named before it exists: the controller drops it even if this worker dies mid-sync.
            database = f"kommo_test_shared_{uuid.uuid4().hex[:12]}"
            with (root / SHARED_DATABASES).open("a") as names:
                names.write(f"{backend} {database}\n")
            url = _create_database(backend, database)
        synced = _sync_small(folder, url, backend)
        done.write_text(json.dumps({**asdict(synced), "folder": str(folder)}))
        return synced


SyncedSources = Callable[[str], Synced]


@pytest.fixture(scope="session")
def synced_sources(tmp_path_factory: pytest.TempPathFactory) -> SyncedSources:
    """Backend ("duckdb", "mariadb", "postgres") → the run's shared sync of the small account
    into it. Never write to or connect to `Synced.url`: take a copy with `synced_database`."""
    root = _run_root(tmp_path_factory)
    return lambda backend: _shared_source(root, backend)


@contextmanager
def synced_database(source: Synced, dest: Path) -> Iterator[str]:
    """A private copy of a shared synced warehouse, its data folder at `dest` (as `sync` leaves
    it); yields its URL. A copy on a server is dropped afterwards."""
    from tests.sync.harness import synced_copy

    if source.backend == "duckdb":
        yield synced_copy(source.folder, dest)
        return
    # dlt's working folder and the lock files stay behind: the sync starts from an empty one.
    shutil.copytree(
        source.folder / "data", dest / "data", ignore=shutil.ignore_patterns("dlt", "*.lock")
    )
    root = source.folder.parent
    maker = mariadb_database if source.backend == "mariadb" else postgres_database
    with maker() as url:
        # One copy at a time: PostgreSQL copies a template only while nobody else is connected.
        with _shared_lock(root, f"small-synced-{source.backend}"):
            _copy_database(source.backend, _database_name(source.url), _database_name(url))
        yield url


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _copy_database(backend: str, source: str, dest: str) -> None:
    """Copies every table and view of `source` into `dest` (existing and empty on MariaDB, made
    anew from the template on PostgreSQL)."""
    if backend == "postgres":
        with _postgres() as con:
            # The sync's own pooled connections, if its process keeps any, would block the copy.
            con.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [source],
            )
            con.execute(f'DROP DATABASE "{dest}"')
            con.execute(f'CREATE DATABASE "{dest}" TEMPLATE "{source}"')
        return
    import pymysql

    with _mariadb() as con, con.cursor() as cur:
        cur.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s",
            [source],
        )
        found = cur.fetchall()
        for table, kind in found:
            if kind == "BASE TABLE":
                cur.execute(f"CREATE TABLE `{dest}`.`{table}` LIKE `{source}`.`{table}`")
                cur.execute(f"INSERT INTO `{dest}`.`{table}` SELECT * FROM `{source}`.`{table}`")
        views = [table for table, kind in found if kind == "VIEW"]
        con.select_db(dest)  # SHOW CREATE VIEW names the view without its database
        while views:  # a view may read another: create those whose tables are there first
            waiting = []
            for view in views:
                cur.execute(f"SHOW CREATE VIEW `{source}`.`{view}`")
                definition = cur.fetchone()[1].replace(f"`{source}`.", f"`{dest}`.")
                try:
                    cur.execute(definition)
                except pymysql.MySQLError as exc:
                    waiting.append(view)
                    failure = exc
            if len(waiting) == len(views):
                raise failure
            views = waiting


@pytest.fixture(scope="session")
def small_synced(synced_sources: SyncedSources) -> Path:
    """The small emulated account (seed 3) synced into DuckDB once for the whole run, as `sync`
    leaves it (`warehouse/`, `data/`). Never written to: a test takes a private copy with
    `tests.sync.harness.synced_copy`."""
    return synced_sources("duckdb").folder


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The run's controller (or the only process, without xdist) drops the servers' shared
    sources once every worker is done with them."""
    if hasattr(session.config, "workerinput"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    names = factory.getbasetemp() / SHARED_DATABASES
    if not names.exists():
        return
    for line in names.read_text().splitlines():
        backend, name = line.split()
        _drop_database(backend, name)
    names.unlink()


# The suite runs a module per worker (scripts/test.sh), handing modules out in collection order
# (`--no-loadscope-reorder`: xdist would otherwise hand out the modules with the most tests first,
# leaving the few long ones for the end while a core idles). These, the longest as measured with
# `--junitxml` (test time per module, most first), go first; the rest follow in file order.
# test_sync_truth.py stays near the top: it makes the shared syncs (`synced_sources`) that the
# modules after it copy, so they rarely wait for one.
LONGEST_FIRST = (
    "tests/dashboard/test_browser.py",
    "tests/sync/test_sync_truth.py",
    "tests/sync/test_sync_incremental.py",
    "tests/sync/test_sync_process.py",
    "tests/model/test_store.py",
    "tests/sync/test_sync_drift.py",
    "tests/sync/test_fault_suite.py",
    "tests/cli/test_forecast_command.py",
    "tests/cli/test_report_command.py",
    "tests/cli/test_metrics_command.py",
    "tests/dashboard/test_page_performance_forecast_definitions.py",
    "tests/dashboard/test_app.py",
    "tests/test_secrets.py",
    "tests/cli/test_emulator_command.py",
    "tests/dashboard/test_during_sync.py",
    "tests/dashboard/test_backends.py",
    "tests/dashboard/test_page_forecast.py",
    "tests/cli/test_sync_command.py",
    "tests/dashboard/test_page_intake_funnel.py",
    "tests/dashboard/test_page_activities_sales.py",
    "tests/test_files.py",
    "tests/sync/test_forecast_snapshots.py",
    "tests/dashboard/test_browser_access.py",
    "tests/dashboard/test_access.py",
    "tests/sync/test_lock.py",
    "tests/automation/test_serve_process.py",
    "tests/warehouse/test_loader.py",
    "tests/metrics/test_intake.py",
    "tests/service/test_forecasts.py",
    "tests/sync/test_sync_unchanged.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    order = sorted(
        enumerate(items),
        key=lambda pair: (rank.get(pair[1].nodeid.split("::")[0], len(rank)), pair[0]),
    )
    items[:] = [item for _, item in order]

"""Shared fixtures: throw-away databases on the real MariaDB and PostgreSQL servers.

On a laptop without a server the tests that need one skip with the reason; in CI
(`KOMMO_TEST_REQUIRE_SERVERS=1`, set by `.ci/run`) they fail instead, so a missing server can
never turn a red run green.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
def mariadb_database() -> Iterator[str]:
    """A fresh, empty MariaDB database, dropped afterwards; yields a SQLAlchemy-style URL."""
    import pymysql

    name = f"kommo_test_{uuid.uuid4().hex[:12]}"
    try:
        con = pymysql.connect(
            host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER, connect_timeout=5
        )
    except pymysql.MySQLError as exc:
        server_unavailable(f"MariaDB at {MARIADB_HOST}:{MARIADB_PORT}", exc)
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"mysql+pymysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{name}"
    finally:
        with con.cursor() as cur:
            # dlt keeps its merge staging tables in a sibling database.
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"DROP DATABASE IF EXISTS `{name}_staging`")
        con.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards; yields a SQLAlchemy-style URL."""
    import psycopg

    name = f"kommo_test_{uuid.uuid4().hex[:12]}"
    admin = f"host={POSTGRES_HOST} port={POSTGRES_PORT} user={POSTGRES_USER} dbname=postgres"
    try:
        con = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        server_unavailable(f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT}", exc)
    con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.close()


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


@pytest.fixture(scope="session")
def small_synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small emulated account (seed 3) synced into DuckDB once for the whole run, as `sync`
    leaves it (`warehouse/`, `data/`). Never written to: a test takes a private copy with
    `tests.sync.harness.synced_copy`. A sync costs seconds (a dozen dlt loads), and many modules
    only need such a warehouse, not the sync that made it. The xdist workers share it: the
    first to ask builds it under a lock in the run's common temporary folder."""
    from tests.sync.harness import account, duckdb_url, sync

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' folders sit side by side in the run's own
    folder, done = root / "small-synced", root / "small-synced.done"
    with (root / "small-synced.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker died half-way through
            assert sync(account(seed=3), folder, duckdb_url(folder)).status == "ok"
            done.touch()
    return folder


# The suite runs a module per worker (scripts/test.sh), handing modules out in collection order
# (`--no-loadscope-reorder`: xdist would otherwise hand out the modules with the most tests first,
# leaving the few long ones for the end while a core idles). These, the longest as measured with
# `--junitxml` (test time per module, most first), go first; the rest follow in file order.
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
    "tests/dashboard/test_backends.py",
    "tests/dashboard/test_app.py",
    "tests/test_secrets.py",
    "tests/cli/test_emulator_command.py",
    "tests/dashboard/test_during_sync.py",
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

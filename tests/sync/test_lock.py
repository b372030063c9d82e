"""One writer per warehouse: the data folder's file lock, and on MariaDB and PostgreSQL a lock
held in the database itself, so syncs from different machines or data folders cannot overlap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kommo_analytics.errors import SyncError
from kommo_analytics.sync.lock import writer_active, writer_lock
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import Kind, parse_database_url

pytestmark = pytest.mark.server


@pytest.fixture(params=["mariadb", "postgres"])
def server_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def test_two_data_folders_cannot_write_one_server_warehouse_at_once(
    server_url: str, tmp_path: Path
) -> None:
    target = parse_database_url(server_url)
    with writer_lock(target, tmp_path / "here"):
        with pytest.raises(SyncError) as info, writer_lock(target, tmp_path / "elsewhere"):
            pass
        line = info.value.one_line()
        assert "another writer of this warehouse" in line
        # Who holds it, as far as the server can tell: PostgreSQL keeps the session's name (the
        # holder's host and pid), MariaDB the client's address.
        if target.kind is Kind.POSTGRES:
            assert f"pid {os.getpid()}" in line
        else:
            assert "from 127.0.0.1" in line or "from localhost" in line
        assert "\n" not in line
    # Released at the end of the block: the other folder's writer may start now.
    with writer_lock(target, tmp_path / "elsewhere"):
        pass


def test_the_database_lock_is_released_when_the_writer_fails(
    server_url: str, tmp_path: Path
) -> None:
    target = parse_database_url(server_url)
    with pytest.raises(RuntimeError), writer_lock(target, tmp_path / "a"):
        raise RuntimeError("the load failed")
    with writer_lock(target, tmp_path / "b"):
        pass


def test_other_warehouses_on_the_same_server_are_not_blocked(
    mariadb_url: str, postgres_url: str, tmp_path: Path
) -> None:
    from tests.conftest import mariadb_database, postgres_database

    for url, other in ((mariadb_url, mariadb_database), (postgres_url, postgres_database)):
        with (
            writer_lock(parse_database_url(url), tmp_path / "a"),
            other() as second,
            writer_lock(parse_database_url(second), tmp_path / "b"),
        ):
            pass


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from kommo_analytics.sync.lock import writer_lock
    from kommo_analytics.warehouse.target import parse_database_url
    with writer_lock(parse_database_url(sys.argv[1]), Path(sys.argv[2])):
        print("held", flush=True)
        time.sleep(120)
    """
)


def test_a_killed_writer_leaves_no_lock_behind(server_url: str, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, server_url, str(tmp_path / "holder")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        target = parse_database_url(server_url)
        with pytest.raises(SyncError), writer_lock(target, tmp_path / "mine"):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        # The server drops a dead client's session, and with it the session's lock.
        deadline = time.monotonic() + 15
        while True:
            try:
                with writer_lock(target, tmp_path / "mine"):
                    break
            except SyncError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KOMMO_", "DATABASE_URL"))}
    env.update(
        # Nothing listens there: a sync that got past the lock would fail on its first request.
        KOMMO_BASE_URL="http://127.0.0.1:9",
        KOMMO_ACCESS_TOKEN="token",
        DATA_DIR=str(tmp_path / "other-data"),
        DATABASE_URL=database_url,
    )
    return env


def test_a_second_sync_from_another_data_folder_fails_fast_touching_nothing(
    server_url: str, tmp_path: Path
) -> None:
    target = parse_database_url(server_url)
    backend = backend_for(target)
    with writer_lock(target, tmp_path / "data"):
        result = subprocess.run(
            [sys.executable, "-m", "kommo_analytics", "sync"],
            env=_env(tmp_path, server_url), cwd=tmp_path, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "another writer of this warehouse" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    schema = target.dataset if target.kind is Kind.MYSQL else "kommo_raw"
    assert backend.existing_tables(schema) == frozenset()
    assert not (tmp_path / "other-data" / "dlt").exists()
    assert reader.query(target, "SELECT 1") == [(1,)]


def test_a_writer_holding_the_server_lock_is_seen_without_taking_it(
    server_url: str, tmp_path: Path
) -> None:
    target = parse_database_url(server_url)
    # Another data folder: only the database's lock can tell.
    assert not writer_active(target, tmp_path / "elsewhere")
    with writer_lock(target, tmp_path / "here"):
        assert writer_active(target, tmp_path / "elsewhere")
        assert writer_active(target, tmp_path / "here")
    assert not writer_active(target, tmp_path / "here")
    assert not (tmp_path / "elsewhere").exists()  # looking creates nothing

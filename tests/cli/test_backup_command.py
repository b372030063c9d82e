"""`kommo-analytics backup`: a consistent copy of the DuckDB warehouse, retention, refusals."""

from __future__ import annotations

import errno
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app
from kommo_analytics.errors import WarehouseError
from kommo_analytics.service import backup
from kommo_analytics.service.account import target_for
from kommo_analytics.settings import load_settings
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.warehouse import backends

runner = CliRunner()


def _counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            # The publish's own bookkeeping differs between the private and a served file.
            "WHERE table_type = 'BASE TABLE' AND table_schema <> 'kommo_publish' ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]  # type: ignore[index]
            for s, t in tables
        }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_backup_opens_with_the_warehouse_rows_in_a_private_folder(warehouse: Path) -> None:
    folder = warehouse / "backups"
    folder.mkdir(mode=0o700)
    # What a backup killed mid-copy leaves (no process has this id): removed by the next one.
    (folder / ".kommo-20260101T000000Z.duckdb.999999999.tmp").write_bytes(b"partial")
    result = runner.invoke(app, ["backup"])
    assert result.exit_code == 0, result.output
    [copy] = list(folder.iterdir())
    assert copy.name.startswith("kommo-") and copy.suffix == ".duckdb"
    size = backends.human_size(copy.stat().st_size)
    assert f"Backup written: {copy} ({size}," in result.output, result.output
    counts = _counts(copy)
    assert counts["kommo_raw.leads"] > 0
    assert counts == _counts(warehouse / "kommo.duckdb")
    assert _mode(folder) == 0o700 and _mode(copy) == 0o600


def test_retention_removes_only_our_oldest_backups(warehouse: Path, tmp_path: Path) -> None:
    settings = load_settings()
    target = target_for(settings)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    theirs = [folder / "kommo-notes.duckdb", folder / "other-20200101T000000Z.duckdb"]
    for path in theirs:
        path.write_text("the user's own file")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    taken = [
        backup.run(settings, target, keep=3, folder=folder, now=start + timedelta(days=d)).path
        for d in range(5)
    ]
    assert backup.backups(folder, target) == taken[2:]
    assert all(p.exists() for p in theirs)
    # A clock set back names the new copy as the oldest: it is kept all the same.
    early = backup.run(settings, target, keep=1, folder=folder, now=start - timedelta(days=9))
    assert backup.backups(folder, target) == [early.path]
    assert early.removed == tuple(taken[2:])


def test_keep_below_one_is_refused(warehouse: Path) -> None:
    result = runner.invoke(app, ["backup", "--keep", "0"])
    assert result.exit_code != 0
    assert "--keep must be at least 1" in result.output
    assert not (warehouse / "backups").exists()


def test_a_running_sync_makes_it_stop_with_one_line(warehouse: Path) -> None:
    settings = load_settings()
    with writer_lock(target_for(settings), settings.data_dir):
        result = runner.invoke(app, ["backup"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: a sync of this warehouse is running"), (
        result.output
    )
    assert list((warehouse / "backups").iterdir()) == []


@pytest.mark.parametrize(
    ("url", "dump", "restore"),
    [
        (
            "postgresql+psycopg://kommo:s3cret@db.example:5433/sales",
            "pg_dump -Fc --host=db.example --port=5433 --username=kommo",
            "pg_restore --clean --if-exists",
        ),
        (
            "mysql+pymysql://kommo:s3cret@db.example/sales",
            "mariadb-dump --single-transaction --quick --routines --host=db.example --port=3306",
            "mariadb --host=db.example",
        ),
    ],
)
def test_a_server_database_is_not_copied_and_its_commands_are_shown(
    clean_env: Path, url: str, dump: str, restore: str
) -> None:
    result = runner.invoke(app, ["backup", "--db", url])
    assert result.exit_code == 1  # nothing copied: a scheduled run must not look successful
    assert "does not copy server databases" in result.output
    assert dump in result.output and restore in result.output
    assert " sales" in result.output and "s3cret" not in result.output
    assert not (clean_env / "data").exists()


def test_a_full_disk_removes_the_partial_copy_and_says_what_it_needs(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_then_full(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        data = Path(src).read_bytes()
        Path(dst).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(backends.shutil, "copyfile", half_then_full)
    settings = load_settings()
    with pytest.raises(WarehouseError) as info:
        backup.run(settings, target_for(settings))
    folder = warehouse / "backups"
    assert list(folder.iterdir()) == []
    line = info.value.one_line()
    size = backends.human_size((warehouse / "kommo.sync.duckdb").stat().st_size)
    assert "the disk is full" in line
    assert f"needs about {size} free in {folder}" in line and "free now" in line, line
    result = runner.invoke(app, ["backup"])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith("error: could not back up"), result.output


def test_nothing_synced_yet_leaves_nothing_behind(clean_env: Path) -> None:
    result = runner.invoke(app, ["backup"])
    assert result.exit_code == 1
    assert result.output.startswith("error: no synced data in"), result.output
    assert list(clean_env.iterdir()) == []

"""Publishing a DuckDB warehouse: a copy that fails (disk full, a folder that refuses it) leaves
no temporary file behind and the served file as it was, and says how much space a publish needs."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from kommo_analytics.errors import WarehouseError
from kommo_analytics.warehouse import backends
from kommo_analytics.warehouse.backends import DuckDBBackend, backend_for
from kommo_analytics.warehouse.target import parse_database_url


def _published(tmp_path: Path) -> DuckDBBackend:
    """A warehouse published once with 1 row, whose private file now holds 2."""
    backend = backend_for(parse_database_url(f"duckdb:///{tmp_path / 'data' / 'kommo.duckdb'}"))
    assert isinstance(backend, DuckDBBackend)
    backend.private.parent.mkdir(parents=True)
    with duckdb.connect(str(backend.private)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS id, repeat('x', 200) AS pad FROM range(1)")
    backend.publish()
    with duckdb.connect(str(backend.private)) as con:
        con.execute("INSERT INTO t VALUES (1, 'new')")
    return backend


def _rows(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_publish_that_fills_the_disk_removes_its_copy_and_says_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _published(tmp_path)
    before = backend.serving.read_bytes()

    def half_then_full(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        data = Path(src).read_bytes()
        Path(dst).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(backends.shutil, "copyfile", half_then_full)
    with pytest.raises(WarehouseError) as info:
        backend.publish()
    assert _leftovers(backend.serving.parent) == []
    assert backend.serving.read_bytes() == before and _rows(backend.serving) == 1
    line = info.value.one_line()
    assert "full" in line
    size = backends.human_size(backend.private.stat().st_size)
    free = backends.human_size(shutil.disk_usage(backend.serving.parent).free)
    assert f"needs about {size} free" in line, line
    assert f"{free} free now" in line, line
    assert str(backend.private) in line  # where the synced data is safe meanwhile


def test_a_folder_that_refuses_the_published_file_keeps_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _published(tmp_path)
    real_replace = Path.replace

    def refuse(self: Path, target: Any) -> Path:
        if Path(target) == backend.serving:
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(WarehouseError) as info:
        backend.publish()
    assert _leftovers(backend.serving.parent) == []
    assert _rows(backend.serving) == 1
    line = info.value.one_line()
    assert "not writable" in line and str(backend.serving.parent) in line


@pytest.mark.skipif(os.geteuid() == 0, reason="the superuser may write a read-only folder")
def test_a_read_only_folder_keeps_the_published_file(tmp_path: Path) -> None:
    backend = _published(tmp_path)
    folder = backend.serving.parent
    # The private file lives in the same folder: only the copy's creation is refused.
    folder.chmod(0o555)
    try:
        with pytest.raises(WarehouseError, match="not writable"):
            backend.publish()
        assert _leftovers(folder) == []
    finally:
        folder.chmod(0o755)
    assert _rows(backend.serving) == 1


def test_a_publish_removes_copies_left_by_dead_processes_only(tmp_path: Path) -> None:
    backend = _published(tmp_path)
    folder = backend.serving.parent
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    stale = folder / f".{backend.serving.name}.{int(dead.stdout)}.tmp"
    stale.write_bytes(b"x" * 1000)
    # A live process (here: this one's parent) may be publishing right now: left alone.
    live = folder / f".{backend.serving.name}.{os.getppid()}.tmp"
    live.write_bytes(b"y")
    unrelated = folder / ".notes.tmp"
    unrelated.write_bytes(b"z")
    backend.publish()
    assert _leftovers(folder) == sorted([live.name, unrelated.name])
    assert _rows(backend.serving) == 2


@pytest.mark.parametrize("first_open", ["mixes the two files", "reads the old file"])
def test_a_reader_opening_during_a_swap_opens_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_open: str
) -> None:
    """DuckDB opens a file by its path three times while connecting (header check, headers,
    blocks): a publish renaming the new file in between leaves it with the old file's headers
    and the new file's blocks ("Metadata block index … exceeds metadata block count").
    A reader that sees the file change under its open opens it again."""
    from kommo_analytics.warehouse import reader

    backend = _published(tmp_path)
    real_connect = duckdb.connect
    calls: list[str] = []

    def connect_during_a_publish(database: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(database)
        if len(calls) == 1:
            con = real_connect(database, *args, **kwargs)  # the old file, already open
            backend.publish()  # …renamed over while the open is under way
            if first_open == "mixes the two files":
                con.close()
                raise duckdb.IOException("Metadata block index 182 exceeds metadata block count")
            return con
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", connect_during_a_publish)
    rows = reader.query(backend.target, "SELECT count(*) FROM t")
    assert rows == [(2,)]  # the new file, read whole
    first, second = backend.served_files()
    # The file the link named, then (after the publish moved it) the one it names now.
    assert calls[0] == str(first) and calls[-1] == str(second)

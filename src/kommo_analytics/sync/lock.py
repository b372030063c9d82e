"""One writer at a time per warehouse: an OS file lock, released by the OS if the process dies,
and on MariaDB/PostgreSQL a lock in the database, released by the server when the writer's
session ends.

The sync, a model rebuild and an import of costs or goals all take it. Where its file lives is
the warehouse backend's decision (``Backend.lock_path``); the file lock keeps writers sharing a
data folder apart, the database's lock those on other machines or with other data folders.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from filelock import FileLock, Timeout

from kommo_analytics import files
from kommo_analytics.errors import WriterBusyError
from kommo_analytics.warehouse.backends import backend_for, folder_problem
from kommo_analytics.warehouse.target import Target

# What a writer is doing, said to the next one that finds the lock taken: a person who runs a
# backup while a goals import runs must not be told to wait for "another sync".
Purpose = Literal["sync", "model rebuild", "import", "backup", "data-quality check"]


@contextmanager
def writer_lock(target: Target, data_dir: Path, purpose: Purpose = "sync") -> Iterator[None]:
    """Hold the lock of ``target``'s writer for the block; WriterBusyError if another holds it."""
    backend = backend_for(target)
    with sync_lock(backend.lock_path(data_dir), purpose), backend.database_lock():
        yield


def _holder_path(path: Path) -> Path:
    return path.with_name(path.name + ".holder")


def _describe_holder(path: Path, purpose: Purpose) -> tuple[str, str]:
    """(what holds the lock, who) from the holder's note; a note that is missing or unreadable
    (a writer of an earlier version, a crash between lock and note) says only "a writer"."""
    try:
        note = json.loads(_holder_path(path).read_text(encoding="utf-8"))
        what, pid, host, since = note["purpose"], note["pid"], note["host"], note["since"]
    except (OSError, ValueError, KeyError, TypeError):
        return "another writer", ""
    article = "another" if what == purpose else "a"
    return f"{article} {what}", f" (pid {pid} on {host}, since {since})"


def _write_holder(path: Path, purpose: Purpose) -> None:
    note = {
        "purpose": purpose,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    # Only a courtesy to the next writer: a note that cannot be written changes nothing else.
    with suppress(OSError):
        _holder_path(path).write_text(json.dumps(note), encoding="utf-8")
        files.private_file(_holder_path(path))


@contextmanager
def sync_lock(path: Path, purpose: Purpose = "sync") -> Iterator[None]:
    # Every writer takes this lock first: from here on what the process creates (DuckDB's files,
    # dlt's folder) is private even when a library, not our code, creates it.
    files.restrict_umask()
    lock = FileLock(str(path), timeout=0, mode=files.PRIVATE_FILE)
    try:
        files.private_dir(path.parent)
        lock.acquire()
    except Timeout:
        what, who = _describe_holder(path, purpose)
        raise WriterBusyError(
            f"{what} of this warehouse is running{who}",
            hint="wait for it to finish (one writer at a time keeps the data consistent); "
            f"the lock is {path}, and the operating system frees it when that process ends",
        ) from None
    except OSError as exc:
        # The first thing a writer creates is the lock: a folder it may not write says so here.
        raise folder_problem(path.parent, exc) from exc
    _write_holder(path, purpose)
    try:
        yield
    finally:
        with suppress(OSError):
            _holder_path(path).unlink()
        lock.release()


def writer_active(target: Target, data_dir: Path) -> bool:
    """Whether a writer holds ``target``'s lock now: a `running` run without one was killed.
    Only looks: creates no lock file or folder, and waits for nothing."""
    backend = backend_for(target)
    path = backend.lock_path(data_dir)
    if path.exists():
        probe = FileLock(str(path), timeout=0, mode=files.PRIVATE_FILE)
        try:
            probe.acquire()
        except Timeout:
            return True
        except OSError:
            pass  # a lock we may not open tells nothing; the database's lock may still
        else:
            probe.release()
    return backend.database_lock_held()

"""One writer at a time per warehouse: an OS file lock, released by the OS if the process dies,
and on MariaDB/PostgreSQL a lock in the database, released by the server when the writer's
session ends.

The sync, a model rebuild and an import of costs or goals all take it. Where its file lives is
the warehouse backend's decision (``Backend.lock_path``); the file lock keeps writers sharing a
data folder apart, the database's lock those on other machines or with other data folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from kommo_analytics import files
from kommo_analytics.errors import SyncError
from kommo_analytics.warehouse.backends import backend_for, folder_problem
from kommo_analytics.warehouse.target import Target


@contextmanager
def writer_lock(target: Target, data_dir: Path) -> Iterator[None]:
    """Hold the lock of ``target``'s writer for the block; SyncError if another holds it."""
    backend = backend_for(target)
    with sync_lock(backend.lock_path(data_dir)), backend.database_lock():
        yield


@contextmanager
def sync_lock(path: Path) -> Iterator[None]:
    # Every writer takes this lock first: from here on what the process creates (DuckDB's files,
    # dlt's folder) is private even when a library, not our code, creates it.
    files.restrict_umask()
    lock = FileLock(str(path), timeout=0, mode=files.PRIVATE_FILE)
    try:
        files.private_dir(path.parent)
        lock.acquire()
    except Timeout:
        raise SyncError(
            "another sync of this warehouse is running",
            hint="wait for it to finish (one sync at a time keeps the data consistent); "
            f"the lock is {path}, and the operating system frees it when that sync ends",
        ) from None
    except OSError as exc:
        # The first thing a writer creates is the lock: a folder it may not write says so here.
        raise folder_problem(path.parent, exc) from exc
    try:
        yield
    finally:
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

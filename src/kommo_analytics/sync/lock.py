"""One sync at a time per warehouse: an OS file lock, released by the OS if the process dies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from kommo_analytics.errors import SyncError


@contextmanager
def sync_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise SyncError(
            "another sync of this warehouse is running",
            hint="wait for it to finish (one sync at a time keeps the data consistent); "
            f"the lock is {path}, and the operating system frees it when that sync ends",
        ) from None
    try:
        yield
    finally:
        lock.release()

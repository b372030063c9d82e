"""Backups of a DuckDB warehouse: a consistent copy, named by the UTC moment it was taken, in a
private folder, with the oldest removed beyond a count to keep.

Consistent because the copy is taken under the writer's lock (no sync, model build or import
writes meanwhile) from the sync's own file after a checkpoint, the way a publish copies it. A
server database (MariaDB, PostgreSQL) is not copied: its own dump tools take a consistent
snapshot without stopping the sync, and :func:`server_commands` names them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kommo_analytics import files
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import Settings
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.warehouse.backends import (
    backend_for,
    folder_problem,
    human_size,
    remove_stale_copies,
)
from kommo_analytics.warehouse.target import Target

__all__ = ["Backup", "ServerCommands", "backups", "human_size", "run", "server_commands"]

DEFAULT_KEEP = 7
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Backup:
    """One backup taken: where, how large, how long it took, and what retention removed."""

    path: Path
    size: int
    seconds: float
    kept: tuple[Path, ...]
    removed: tuple[Path, ...]


@dataclass(frozen=True)
class ServerCommands:
    """A server warehouse: nothing copied; the database's own commands instead."""

    display: str
    backup: tuple[str, ...]
    restore: tuple[str, ...]


def default_folder(settings: Settings) -> Path:
    return settings.data_dir / "backups"


def server_commands(target: Target) -> ServerCommands | None:
    """The dump and restore commands of a server warehouse; None for a file we copy."""
    backup, restore = backend_for(target).dump_commands()
    if not backup:
        return None
    return ServerCommands(target.display, backup, restore)


def backups(folder: Path, target: Target) -> list[Path]:
    """Our backups of ``target`` in ``folder``, oldest first. Only names this command gives
    (the served file's name, a UTC stamp): anything else there is the user's and stays."""
    if not folder.is_dir():
        return []
    pattern = _name_pattern(target)
    return sorted(p for p in folder.iterdir() if p.is_file() and pattern.fullmatch(p.name))


def run(
    settings: Settings,
    target: Target,
    *,
    keep: int = DEFAULT_KEEP,
    folder: Path | None = None,
    now: datetime | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> Backup:
    """Take one backup of a DuckDB warehouse under the writer's lock, then keep the newest
    ``keep``. SyncError at once when a sync, model build or import holds the lock."""
    if keep < 1:
        raise ConfigError(
            f"--keep must be at least 1 (got {keep})",
            hint="the newest backup is always kept; pass --keep 1 or more",
        )
    backend = backend_for(target)
    backend.require_synced()
    where = folder if folder is not None else default_folder(settings)
    try:
        files.private_dir(where)
    except OSError as exc:
        raise folder_problem(where, exc) from exc
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    dest = where / f"{_stem(target)}-{moment.strftime(_STAMP)}.duckdb"
    with writer_lock(target, settings.data_dir, "backup"):
        # A backup killed mid-copy left its temporary file, as large as the warehouse.
        remove_stale_copies(dest, f"{_stem(target)}-*.duckdb")
        if on_start is not None:
            on_start(dest)
        started = time.monotonic()
        size = backend.backup_to(dest)
        seconds = time.monotonic() - started
    kept, removed = _prune(where, target, keep, newest=dest)
    return Backup(dest, size, seconds, kept, removed)


def _prune(
    folder: Path, target: Target, keep: int, *, newest: Path
) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    found = backups(folder, target)
    # The one just taken is never removed, even when a clock set back names it as older.
    older = [p for p in found if p != newest]
    excess = max(0, len(older) - (keep - 1))
    removed = []
    for path in older[:excess]:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise folder_problem(folder, exc) from exc
        removed.append(path)
    return (*older[excess:], newest), tuple(removed)


def _stem(target: Target) -> str:
    assert target.serving_path is not None  # only a file warehouse is copied
    return target.serving_path.stem


def _name_pattern(target: Target) -> re.Pattern[str]:
    return re.compile(re.escape(_stem(target)) + r"-\d{8}T\d{6}Z\.duckdb")

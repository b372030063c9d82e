"""Starting a sync from the dashboard: the same `kommo-analytics sync [--full]` a person or the
scheduler runs, as a detached child process of the dashboard's own Python.

A child process rather than a thread of the dashboard: the sync holds the writer's lock, runs
for minutes and may be killed by the operating system without taking the dashboard with it
(nor the dashboard's restart taking the sync with it). Its output goes to one private file in
the logs folder, overwritten by the next start (the sync's own rotating log keeps the history).

What a page shows while it runs is read from the warehouse (the `running` run the sync records)
and from the child started here: the last one started by this dashboard process, per warehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal, Protocol

from kommo_analytics import files, logs
from kommo_analytics.errors import KommoAnalyticsError, SyncError
from kommo_analytics.settings import MAIN_ACCOUNT, Settings
from kommo_analytics.sync.lock import writer_active
from kommo_analytics.warehouse.target import parse_database_url

# The child reads the warehouse from the environment rather than `--db`: a URL may hold a
# password, and a command line is visible to every user of the machine (`ps`).
ENV_DATABASE_URL: Final = "DATABASE_URL"
# And the account it syncs (the dashboard's switcher may show another than the process's own).
ENV_ACCOUNT: Final = "KOMMO_ACCOUNT"
OUTPUT_LOG: Final = "dashboard-sync"

Reason = Literal["busy", "no_account", "not_started"]


class SyncNotStarted(SyncError):
    """The sync was not started; ``reason`` says why, for a message in the reader's language."""

    def __init__(self, reason: Reason, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason: Reason = reason


class Child(Protocol):
    """What is kept of a started process (``subprocess.Popen`` is one)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...


Spawn = Callable[[Sequence[str], Mapping[str, str], Path], Child]


@dataclass(frozen=True)
class Launch:
    """A sync this dashboard started, and how it stands: ``returncode`` None while it runs."""

    full: bool
    started_at: datetime
    output: Path
    pid: int
    returncode: int | None

    @property
    def running(self) -> bool:
        return self.returncode is None


@dataclass
class _Started:
    full: bool
    started_at: datetime
    output: Path
    child: Child


# One dashboard process serves every session: the children it started are kept here, so any
# admin's page (not only the one who pressed the button) shows the run and its outcome.
_started: dict[str, _Started] = {}
_guard = threading.Lock()


def command(*, full: bool) -> list[str]:
    """The CLI's own sync, run by the interpreter running the dashboard (its virtualenv)."""
    return [sys.executable, "-m", "kommo_analytics", "sync", *(["--full"] if full else [])]


def output_path(data_dir: Path) -> Path:
    return logs.log_file(data_dir, OUTPUT_LOG)


def _spawn(argv: Sequence[str], env: Mapping[str, str], output: Path) -> Child:
    files.private_dir(output.parent)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, files.PRIVATE_FILE)
    with os.fdopen(fd, "wb") as out:
        # Its own session: a Ctrl+C or a restart of the dashboard does not stop the sync halfway.
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )


def busy(settings: Settings, url: str) -> bool:
    """Whether a writer (a sync, model rebuild, import, backup or check) holds the lock now."""
    return writer_active(parse_database_url(url), settings.data_dir)


def start(
    settings: Settings, url: str, *, full: bool, now: datetime, spawn: Spawn | None = None
) -> Launch:
    """Start `kommo-analytics sync [--full]` on ``url`` in the background and return at once.

    Refused (:class:`SyncNotStarted`) when no Kommo account is configured, while another writer
    holds the lock, or when the process cannot be started. The child takes the lock itself: a
    writer that starts in between makes it stop with that error, which its outcome shows.
    """
    account_error = settings.kommo_account_error()
    if account_error is not None:
        raise SyncNotStarted("no_account", account_error.message, hint=account_error.hint)
    target = parse_database_url(url)
    output = output_path(settings.data_dir)
    with _guard:
        previous = _started.get(url)
        if (previous is not None and previous.child.poll() is None) or writer_active(
            target, settings.data_dir
        ):
            raise SyncNotStarted("busy", "a writer of this warehouse is running")
        env = child_environment(settings, url)
        try:
            child = (spawn or _spawn)(command(full=full), env, output)
        except (OSError, KommoAnalyticsError) as exc:
            raise SyncNotStarted("not_started", str(exc)) from exc
        _started[url] = _Started(full, now, output, child)
    return _launch(_started[url])


def child_environment(settings: Settings, url: str) -> dict[str, str]:
    """The sync child's environment: this one, with the account to sync and its warehouse.

    The account of .env takes ``url`` as its DATABASE_URL, as it always did (the dashboard's
    `--db` included). A registered account's warehouse is derived from the install's
    DATABASE_URL (``settings.account_database_url``), so the child gets the install's as it is
    and derives the same; a warehouse it would not derive is refused rather than synced
    elsewhere than the page shows."""
    env = {**os.environ, ENV_ACCOUNT: settings.account_name}
    if settings.account_name == MAIN_ACCOUNT:
        env[ENV_DATABASE_URL] = url
        return env
    if parse_database_url(url).url != parse_database_url(settings.resolved_database_url).url:
        raise SyncNotStarted(
            "not_started",
            f"the dashboard shows {parse_database_url(url).display}, which is not the account "
            f"{settings.account_name}'s own warehouse; a sync would write that one",
        )
    return env


def last(url: str) -> Launch | None:
    """The last sync this dashboard process started on ``url``, with how it stands now."""
    with _guard:
        started = _started.get(url)
        return _launch(started) if started is not None else None


def output_tail(launch: Launch, lines: int = 20) -> list[str]:
    """The last lines the child printed (the CLI's own words), or none if there is no file."""
    try:
        return logs.tail(launch.output, lines)
    except OSError:
        return []


def _launch(started: _Started) -> Launch:
    return Launch(
        started.full,
        started.started_at,
        started.output,
        started.child.pid,
        started.child.poll(),
    )


def forget(url: str) -> None:
    """Drop what is kept of ``url``'s last start (tests; a finished child is already reaped)."""
    with _guard:
        _started.pop(url, None)

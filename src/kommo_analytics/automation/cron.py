"""`kommo-analytics schedule install|show|remove`: the jobs of `serve`, as entries in the user's
crontab, for people who prefer cron to a long-running process.

Our entries are one block between two tag comments naming the project folder, so a second
project of the same user keeps its own block, and install replaces only ours: every other byte of
the crontab is kept as it was (read with ``crontab -l``, written whole with ``crontab -``; the
earlier system replaced the user's whole crontab). A block written by hand between our tags is
ours and is replaced.

Cron runs commands in the *machine's* time zone, with a minimal environment: each entry goes to
the project folder first (so `.env` is read), calls the command by its absolute path and appends
its output to ``DATA_DIR/logs/cron.log``. The daily and weekly times are the account's: they are
converted to the machine's zone with today's offset, which a daylight-saving change shifts by an
hour until `schedule install` is run again.

In an install of several accounts (docs/architecture.md "Many accounts") every account has
entries of its own: its commands say ``--account``, its daily and weekly times are its zone's, its
cron log is in its own folder, and its repeating jobs start a minute after the previous
account's, so that a dozen accounts do not all start syncing in the same second.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Final

from kommo_analytics import files, logs
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import (
    WEEKDAYS,
    Settings,
    account_names,
    parse_clock,
    parse_weekly,
)

TAG: Final = "kommo-analytics"
CRON_TIMEOUT_SECONDS: Final = 30


def begin_line(folder: Path) -> str:
    return f"# >>> {TAG} {folder} >>>"


def end_line(folder: Path) -> str:
    return f"# <<< {TAG} {folder} <<<"


def crontab_path() -> str:
    found = shutil.which("crontab")
    if found is None:
        raise ConfigError(
            "the crontab command is not installed on this machine",
            hint="install cron (`sudo apt-get install cron` on Debian or Ubuntu, "
            "`sudo dnf install cronie` on Fedora) — or run `kommo-analytics serve` instead, "
            "which schedules the same jobs itself",
        )
    return found


def read_crontab() -> str:
    """The user's crontab as it is; empty when the user has none."""
    done = subprocess.run(  # a fixed command found on PATH, no shell
        [crontab_path(), "-l"],
        capture_output=True,
        text=True,
        timeout=CRON_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode == 0:
        return done.stdout
    if "no crontab" in done.stderr.lower():
        return ""
    raise ConfigError(
        f"`crontab -l` failed: {done.stderr.strip() or f'exit code {done.returncode}'}",
        hint="check that this user may use cron (/etc/cron.allow, /etc/cron.deny)",
    )


def write_crontab(text: str) -> None:
    done = subprocess.run(  # a fixed command found on PATH, no shell
        [crontab_path(), "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=CRON_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise ConfigError(
            f"`crontab -` refused the new table: {done.stderr.strip() or done.returncode}",
            hint="run `crontab -l` to see the table; nothing was changed",
        )


@dataclass(frozen=True)
class Split:
    """A crontab cut around our block: ``before`` + ``block`` + ``after`` is the whole text."""

    before: str
    block: str
    after: str


def split(text: str, folder: Path) -> Split:
    lines = text.splitlines(keepends=True)
    begin, end = begin_line(folder), end_line(folder)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == begin]
    if not starts:
        return Split(text, "", "")
    first = starts[0]
    stop = next(
        (i for i in range(first + 1, len(lines)) if lines[i].rstrip("\r\n") == end), len(lines) - 1
    )
    return Split(
        "".join(lines[:first]), "".join(lines[first : stop + 1]), "".join(lines[stop + 1 :])
    )


def without_ours(text: str, folder: Path) -> str:
    """``text`` less every block of ours for ``folder`` (an earlier install interrupted halfway
    could have left two)."""
    while True:
        parts = split(text, folder)
        if not parts.block:
            return text
        text = parts.before + parts.after


def with_ours(text: str, block: str, folder: Path) -> str:
    """``text`` with our block in place of the old one (where it was), or appended at the end."""
    parts = split(text, folder)
    if parts.block:
        return parts.before + block + without_ours(parts.after, folder)
    # A last line without its newline would run into our tag: cron needs the newline anyway.
    glue = "" if not text or text.endswith("\n") else "\n"
    return text + glue + block


def executable() -> list[str]:
    """This command, as cron must call it: an absolute path (cron's PATH does not hold the
    project's .venv). Not resolved: a venv's python is a symlink whose target is not the venv."""
    script = Path(sys.argv[0])
    if script.name == TAG and script.is_file():
        return [str(script.absolute())]
    beside = Path(sys.executable).parent / TAG
    if beside.is_file():
        return [str(beside.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "kommo_analytics"]


def every(minutes: float, setting: str, offset: int = 0) -> str:
    """The minute and hour fields repeating every ``minutes`` — which cron can say only for a
    whole number of minutes dividing an hour, or whole hours dividing a day — starting
    ``offset`` minutes past the usual start (spreading several accounts' jobs apart)."""
    if minutes == int(minutes):
        whole = int(minutes)
        if 1 <= whole < 60 and 60 % whole == 0:
            if whole == 1:
                return "* * * * *"
            start = offset % whole
            return f"{start}-59/{whole} * * * *" if start else f"*/{whole} * * * *"
        if whole % 60 == 0 and 24 % (whole // 60) == 0:
            hours = whole // 60
            return f"{offset % 60} * * * *" if hours == 1 else f"{offset % 60} */{hours} * * *"
    raise ConfigError(
        f"{setting}={minutes:g} cannot be said to cron, which repeats only a whole number of "
        "minutes dividing an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or hours dividing a day",
        hint=f"set {setting} to one of those, or use `kommo-analytics serve`, which takes any "
        "interval",
    )


def in_system_zone(
    day: str | None, hour: int, minute: int, account: tzinfo, system: tzinfo, today: date
) -> tuple[str | None, int, int]:
    """The account-zone time ``[day] hour:minute`` as the machine's zone says it, with the
    offsets of the next such moment from ``today`` (a weekly time can land on another day)."""
    start = today
    if day is not None:
        start = today + timedelta(days=(WEEKDAYS.index(day) - today.weekday()) % 7)
    moment = datetime(start.year, start.month, start.day, hour, minute, tzinfo=account)
    local = moment.astimezone(system)
    return (WEEKDAYS[local.weekday()] if day is not None else None), local.hour, local.minute


@dataclass(frozen=True)
class Entries:
    lines: tuple[str, ...]
    # (setting's value, account zone, the same time in the machine's zone) for the message
    converted: tuple[tuple[str, str, str], ...]
    # The folders the jobs' shell appends cron.log in: cron makes none of them.
    log_dirs: tuple[Path, ...] = ()

    @property
    def jobs(self) -> int:
        return sum(not line.startswith("#") for line in self.lines)


def entries(
    settings: Settings,
    *,
    folder: Path,
    command: Sequence[str],
    account_zone: tzinfo,
    system_zone: tzinfo,
    today: date,
    account: str | None = None,
    offset: int = 0,
) -> Entries:
    """The crontab lines of the settings' schedule (the block's inside); with ``account``, of
    that account of the install (every command with ``--account``), its repeating jobs
    ``offset`` minutes later than the usual start."""
    exe = shlex.join([*command, *(["--account", account] if account is not None else [])])
    log = shlex.quote(str(logs.log_file(settings.data_dir, "cron")))

    # cron's shell appends to cron.log, past the rotation of our own log files: each job first
    # moves a log grown over LOG_MAX_BYTES aside (one old file kept), with POSIX find and mv.
    roll = (
        f'if test -n "$(find {log} -size +{settings.log_max_bytes}c 2>/dev/null)"; '
        f"then mv -f {log} {log}.1; fi;"
    )

    def run(*steps: str) -> str:
        # `%` ends a cron command (the rest becomes its input): a path holding one is escaped.
        line = f"cd {shlex.quote(str(folder))} && {roll} {{ {' '.join(steps)} }} >> {log} 2>&1"
        return line.replace("%", r"\%")

    # As in `serve`: every sync runs the checks that need no API call itself; the whole `check`
    # (with the reconciliation's requests) follows the daily full sync only.
    alerts = f"{exe} alerts run;"
    hour, minute = parse_clock(settings.full_sync_time, "FULL_SYNC_TIME")
    _, full_hour, full_minute = in_system_zone(None, hour, minute, account_zone, system_zone, today)
    day, report_hour, report_minute = parse_weekly(
        settings.weekly_report_time, "WEEKLY_REPORT_TIME"
    )
    local_day, local_hour, local_minute = in_system_zone(
        day, report_hour, report_minute, account_zone, system_zone, today
    )
    lines = (
        f"{every(settings.sync_interval_minutes, 'SYNC_INTERVAL_MINUTES', offset)} "
        + run(f"{exe} sync;", alerts),
        f"{full_minute} {full_hour} * * * " + run(f"{exe} sync --full &&", f"{exe} check;", alerts),
        f"{every(settings.health_interval_minutes, 'HEALTH_INTERVAL_MINUTES', offset)} "
        + run(f"{exe} health;", alerts),
        f"{local_minute} {local_hour} * * {local_day} " + run(f"{exe} report weekly --send;"),
    )
    zone = str(account_zone) if account is None else f"{account}: {account_zone}"
    converted = (
        (settings.full_sync_time, zone, f"{full_hour:02d}:{full_minute:02d}"),
        (settings.weekly_report_time, zone, f"{local_day} {local_hour:02d}:{local_minute:02d}"),
    )
    return Entries(lines, converted, (logs.logs_dir(settings.data_dir),))


def install_entries(
    settings: Settings,
    *,
    folder: Path,
    command: Sequence[str],
    zone_of: Callable[[Settings], tzinfo],
    system_zone: tzinfo,
    today: date,
) -> Entries:
    """The lines of every account of the install. One account: its schedule, as always. Several:
    each account's jobs with ``--account``, its daily and weekly times in its own zone, its
    own cron log in its folder, and its repeating jobs a minute later than the previous
    account's, so that they do not all start at once (``serve`` runs them in turn instead)."""
    names = account_names(settings)
    if len(names) <= 1:
        return entries(settings, folder=folder, command=command, account_zone=zone_of(settings),
                       system_zone=system_zone, today=today)  # fmt: skip
    lines: list[str] = []
    converted: list[tuple[str, str, str]] = []
    log_dirs: list[Path] = []
    for index, name in enumerate(names):
        own = settings.for_account(name)
        made = entries(own, folder=folder, command=command, account_zone=zone_of(own),
                       system_zone=system_zone, today=today, account=name, offset=index)  # fmt: skip
        lines += [f"# account {name}", *made.lines]
        converted += made.converted
        log_dirs += made.log_dirs
    return Entries(tuple(lines), tuple(converted), tuple(log_dirs))


def block(folder: Path, lines: Sequence[str]) -> str:
    body = [
        begin_line(folder),
        f"# Installed by `{TAG} schedule install`; replaced by the next install and taken out "
        f"by `{TAG} schedule remove`.",
        *lines,
        end_line(folder),
    ]
    return "".join(f"{line}\n" for line in body)


def install(settings: Settings, *, folder: Path, made: Entries) -> str:
    """Put our block in the crontab (replacing an earlier one); returns it."""
    current = read_crontab()
    # cron's shell appends to cron.log but does not make its folder.
    for folder_of_logs in made.log_dirs or (logs.logs_dir(settings.data_dir),):
        files.private_dir(folder_of_logs)
    ours = block(folder, made.lines)
    write_crontab(with_ours(current, ours, folder))
    return ours


def show(folder: Path) -> str:
    """Our block as the crontab holds it ('' when none)."""
    return split(read_crontab(), folder).block


def remove(folder: Path) -> bool:
    """Take our block out; False when there was none (nothing is written then)."""
    current = read_crontab()
    left = without_ours(current, folder)
    if left == current:
        return False
    write_crontab(left)
    return True

"""What was sent, so a condition is told once, again after the cooldown, and "resolved" once.

``DATA_DIR/alerts_state.json`` holds one entry per open condition: its key, trigger, level,
title, when it was first seen and when it was last sent. The file is written whole — a temporary
file created 0600 beside it, flushed, renamed over it — under a file lock, so two evaluations
(cron and `alerts run` by hand) cannot lose each other's change. It holds no secret: titles are
catalogue keys with their values (a stream, a rule, a seller's name).

:func:`decide` is pure: the previous entries, today's conditions and "now" in; what to send and
the entries to keep out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from filelock import FileLock, Timeout

from kommo_analytics import files
from kommo_analytics.automation.alerts.conditions import Condition, Level, Line
from kommo_analytics.errors import ConfigError

STATE_FILE: Final = "alerts_state.json"
STATE_VERSION: Final = 1
LOCK_TIMEOUT_SECONDS: Final = 30


class Kind(StrEnum):
    NEW = "new"  # first seen, or grown from a warning into a critical problem
    REPEAT = "repeat"  # still there after the cooldown
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Entry:
    key: str
    trigger: str
    level: Level
    title_key: str
    title_values: Mapping[str, str]
    first_seen: datetime
    last_sent: datetime | None  # None: never delivered (every channel failed): retried next run


@dataclass(frozen=True)
class Notice:
    kind: Kind
    key: str
    trigger: str
    level: Level
    title: Line
    first_seen: datetime
    condition: Condition | None  # None for a resolved one


def _plain(values: Mapping[str, object]) -> dict[str, str]:
    # Titles carry only names (a stream, a rule, a seller, a month): kept as text.
    return {k: str(v) for k, v in values.items()}


def decide(
    entries: Mapping[str, Entry],
    conditions: Sequence[Condition],
    now: datetime,
    cooldown: timedelta,
    *,
    evaluated: Iterable[str],
) -> tuple[list[Notice], dict[str, Entry]]:
    """What to send now and the entries afterwards (assuming every notice is delivered; see
    :func:`delivered`). Only triggers in ``evaluated`` can clear a condition: one whose facts
    could not be read this time stays open, unsent."""
    checked = set(evaluated)
    notices: list[Notice] = []
    after: dict[str, Entry] = {}
    current = {c.key: c for c in conditions}
    for key, condition in current.items():
        title = Line(condition.title.key, _plain(condition.title.values))
        old = entries.get(key)
        if old is None:
            kind: Kind | None = Kind.NEW
            first = now
        else:
            first = old.first_seen
            if old.last_sent is None or condition.level.rank > old.level.rank:
                kind = Kind.NEW
            elif now - old.last_sent >= cooldown:
                kind = Kind.REPEAT
            else:
                kind = None
        entry = Entry(
            key,
            condition.trigger,
            condition.level,
            title.key,
            _plain(title.values),
            first,
            now if kind is not None else (old.last_sent if old else None),
        )
        after[key] = entry
        if kind is not None:
            notices.append(
                Notice(kind, key, condition.trigger, condition.level, title, first, condition)
            )
    for key, old in entries.items():
        if key in current:
            continue
        if old.trigger not in checked:
            after[key] = old  # not looked at this time: neither still there nor cleared
            continue
        if old.last_sent is None:
            continue  # nobody was told it began: nobody needs telling it ended
        title = Line(old.title_key, dict(old.title_values))
        notices.append(
            Notice(Kind.RESOLVED, key, old.trigger, old.level, title, old.first_seen, None)
        )
    return notices, after


def delivered(
    before: Mapping[str, Entry], after: Mapping[str, Entry], notices: Sequence[Notice], sent: bool
) -> dict[str, Entry]:
    """The entries to store once the notices went out (``sent``: to at least one channel) or
    did not: undelivered news is retried next run, an undelivered "resolved" too."""
    if sent:
        return dict(after)
    kept = dict(after)
    for notice in notices:
        if notice.kind is Kind.RESOLVED:
            kept[notice.key] = before[notice.key]
        elif notice.key in kept:
            previous = before.get(notice.key)
            kept[notice.key] = replace(
                kept[notice.key], last_sent=previous.last_sent if previous else None
            )
    return kept


# --- the file ------------------------------------------------------------------------------------


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


@contextmanager
def locked(data_dir: Path) -> Iterator[None]:
    """Held from reading the state to writing it back."""
    files.private_dir(data_dir)
    lock = FileLock(str(data_dir / f".{STATE_FILE}.lock"), timeout=LOCK_TIMEOUT_SECONDS, mode=0o600)
    try:
        with lock:
            yield
    except Timeout:
        raise ConfigError(
            f"another alert evaluation has held {data_dir / STATE_FILE} for "
            f"{LOCK_TIMEOUT_SECONDS} s",
            hint="let it finish; if none is running, delete the .alerts_state.json.lock file",
        ) from None


def _stamp(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def load(data_dir: Path) -> dict[str, Entry]:
    """The stored entries; none when the file does not exist yet."""
    path = state_path(data_dir)
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        out = {}
        for raw in document["conditions"]:
            entry = Entry(
                key=str(raw["key"]),
                trigger=str(raw["trigger"]),
                level=Level(raw["level"]),
                title_key=str(raw["title_key"]),
                title_values={str(k): str(v) for k, v in raw["title_values"].items()},
                first_seen=datetime.fromisoformat(raw["first_seen"]),
                last_sent=datetime.fromisoformat(raw["last_sent"]) if raw["last_sent"] else None,
            )
            out[entry.key] = entry
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"the alert state {path} cannot be read ({type(exc).__name__}: {exc})",
            hint="delete it: the next evaluation starts afresh (open conditions are sent again)",
        ) from None


def save(data_dir: Path, entries: Mapping[str, Entry]) -> None:
    path = state_path(data_dir)
    document: dict[str, Any] = {
        "version": STATE_VERSION,
        "conditions": [
            {
                "key": e.key,
                "trigger": e.trigger,
                "level": str(e.level),
                "title_key": e.title_key,
                "title_values": dict(e.title_values),
                "first_seen": _stamp(e.first_seen),
                "last_sent": _stamp(e.last_sent),
            }
            for e in sorted(entries.values(), key=lambda e: e.key)
        ],
    }
    files.private_dir(path.parent)
    files.write_private_json(path, document)
    files.private_file(path)

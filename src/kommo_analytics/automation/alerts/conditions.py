"""What a trigger finds: a condition with a stable key, a level and its words as catalogue keys.

Values are kept as typed numbers (:class:`Money`, :class:`Percent`, plain ints and floats) and
formatted only when a message is written, in the language of ``REPORT_LANGUAGE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Level(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return 0 if self is Level.WARNING else 1


@dataclass(frozen=True)
class Money:
    amount: float
    currency: str | None


@dataclass(frozen=True)
class Percent:
    share: float  # 0..1


@dataclass(frozen=True)
class Moment:
    at: datetime


Value = str | int | float | Money | Percent | Moment


@dataclass(frozen=True)
class Line:
    """One line of a condition's detail: a catalogue key and its placeholders."""

    key: str
    values: Mapping[str, Value] = field(default_factory=dict)
    subject: str = ""  # what the line is about (a stream), written before it


@dataclass(frozen=True)
class Condition:
    """Something that deserves a person's attention. ``key`` is stable while it is the same
    problem (a stream, a rule, a seller, a channel): it is what de-duplication and "resolved"
    go by. ``title`` names it in a subject line and in its "resolved" message."""

    key: str
    trigger: str
    level: Level
    title: Line
    lines: tuple[Line, ...] = ()

"""Log files: rotating, private, under ``DATA_DIR/logs/``, with secrets masked.

One place for how every log of the project is written — the sync's (dlt and the database
drivers, ``warehouse/loader.py``) and the scheduler's (``automation/serve.py``) — so they rotate
the same way and mask the same secrets. It sits beside ``files.py`` (importing only it) because
the warehouse layer writes the sync's log and may not import ``automation/``.

Masking is a filter on each *handler*, not on a logger: a record from any library that reaches
our files passes through it, and its message is masked once it has been formatted with its
arguments (a token handed as an argument is caught too), its traceback included.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, Final, TextIO

from kommo_analytics import files

MASK: Final = "***"
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEFAULT_MAX_BYTES: Final = 5_000_000
DEFAULT_BACKUPS: Final = 5
# A secret this short would be masked inside ordinary words; the patterns below still apply.
MIN_SECRET_LENGTH: Final = 4

# `Authorization: Bearer <token>` (and a token after "Bearer" anywhere in a text).
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
# name=value, name: value, "name": "value" — in text, JSON and query strings; any name ending in
# one of these (KOMMO_CLIENT_SECRET=, smtp_password=, ?access_token=).
_NAMED = re.compile(
    r"(?i)([A-Za-z0-9_]*(?:access_token|refresh_token|password|client_secret)[\"']?"
    r"\s*[:=]\s*[\"']?)([^\s&\"',;}]+)"
)
# scheme://user:password@host
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):([^@\s/]+)@")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
# The size and count of rotated files, from the LOG_MAX_BYTES and LOG_BACKUPS settings
# (:func:`configure`); the warehouse, which writes the sync's log, has no settings of its own.
_rotation = [DEFAULT_MAX_BYTES, DEFAULT_BACKUPS]


def configure(*, max_bytes: int, backups: int, secrets: Iterable[str | None] = ()) -> None:
    """Set the rotation of the log files opened from now on, and register secrets to mask.
    Called by every command that writes a log (sync, serve) with its settings."""
    _rotation[:] = [max_bytes, backups]
    register_secrets(secrets)


def register_secrets(values: Iterable[str | None]) -> None:
    """Mask these values wherever they appear in a log line from now on (the settings' secrets:
    see :func:`secret_values`)."""
    with _secrets_lock:
        _secrets.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)


def secret_values(model: Any) -> list[str]:
    """The values of every ``SecretStr`` field of a pydantic model (the settings)."""
    from pydantic import SecretStr

    found = []
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
    return found


def mask(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped value replaced by ***."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)  # a longer secret first: it may hold one
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    text = _BEARER.sub(rf"\g<1>{MASK}", text)
    text = _NAMED.sub(rf"\g<1>{MASK}", text)
    return _URL_PASSWORD.sub(rf"\g<1>:{MASK}@", text)


class SecretMask(logging.Filter):
    """Masks a record's message and traceback before a handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


class PrivateRotatingFile(RotatingFileHandler):
    """A rotating log whose files only their owner may read: logs can hold lead names and row
    values (a failed load logs them)."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def logs_dir(data_dir: Path) -> Path:
    """Where every log file lives (absolute: messages and cron lines name it)."""
    return (data_dir / "logs").absolute()


def log_file(data_dir: Path, name: str) -> Path:
    """``DATA_DIR/logs/<name>.log``: ``sync``, ``serve``, ``cron``."""
    return logs_dir(data_dir) / f"{name}.log"


def file_handler(
    path: Path, *, max_bytes: int | None = None, backups: int | None = None
) -> PrivateRotatingFile:
    """A private rotating handler for ``path``, masking secrets, created on its first message.
    Raises OSError when the folder cannot be made (the caller says which folder)."""
    files.private_dir(path.parent)
    handler = PrivateRotatingFile(
        path,
        maxBytes=_rotation[0] if max_bytes is None else max_bytes,
        backupCount=_rotation[1] if backups is None else backups,
        encoding="utf-8",
        delay=True,
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(SecretMask())
    return handler


def console_handler(stream: TextIO | None = None) -> logging.StreamHandler[TextIO]:
    """Lines on standard error (a service manager's journal), masked like the files."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(SecretMask())
    return handler


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a file (read from its end: a log can be large)."""
    if lines <= 0:
        return []
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        block = 64 * 1024
        data = b""
        position = end
        while position > 0 and data.count(b"\n") <= lines:
            step = min(block, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    text = data.decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]

"""Private files: what the project writes holds lead and contact names, e-mails and tokens, so
folders it creates are 0700 and files 0600, whatever the umask of the shell that started it.

Two mechanisms, because not every file is written by our code:

- ``restrict_umask()`` is called once by every process that writes the data folder (the CLI, the
  dashboard, and the writer lock every sync, model build and import takes). From then on every
  file the process creates is private, including those DuckDB (the database file, its ``.wal``)
  and dlt (its pipeline folder) create on their own. Changing the umask only around those calls
  would not be safe: the umask belongs to the whole process, and the dashboard serves sessions
  on several threads, so one thread restoring it could undo another's. It is only ever
  tightened, never loosened, so calling it again is harmless.
- ``private_dir`` / ``private_file`` set the modes explicitly on what we create or replace, so a
  warehouse file published over one an earlier version wrote world-readable comes out private.

An existing folder is never changed (it may be one the user chose to share); ``exposed`` lists
what others can read or write, for the data-health warning.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Final

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600
_OTHERS: Final = 0o077  # group and others: read, write, execute
_CHECKS_MODES: Final = os.name == "posix"  # Windows has no such bits: ACLs decide there


def restrict_umask() -> None:
    """Files and folders this process creates from now on are readable by their owner only."""
    if not _CHECKS_MODES:
        return
    current = os.umask(_OTHERS)
    os.umask(current | _OTHERS)


def private_dir(path: Path) -> Path:
    """``mkdir -p`` whose new folders are 0700; an existing folder is left as it is."""
    missing: list[Path] = []
    cursor = path
    while not cursor.exists() and cursor != cursor.parent:
        missing.append(cursor)
        cursor = cursor.parent
    path.mkdir(parents=True, exist_ok=True)
    if _CHECKS_MODES:
        for folder in missing:
            folder.chmod(PRIVATE_DIR)
    return path


def private_file(path: Path) -> None:
    """Make a file we wrote 0600 (nothing when it does not exist)."""
    if not _CHECKS_MODES:
        return
    with contextlib.suppress(FileNotFoundError):
        path.chmod(PRIVATE_FILE)


def exposed(paths: Iterable[Path]) -> list[Path]:
    """Those of ``paths`` — and, for a folder, everything below it — that group or others may
    read, write or enter, in a stable order. Symbolic links are not followed."""
    if not _CHECKS_MODES:
        return []
    found: dict[Path, None] = {}
    for root in paths:
        for path in _walk(root):
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue  # removed while we looked (a .wal, a lock): nothing left to expose
            if stat.S_ISLNK(mode):
                continue
            if mode & _OTHERS:
                found[path] = None
    return list(found)


def _walk(root: Path) -> Iterable[Path]:
    if not root.exists():
        return
    yield root
    if root.is_dir() and not root.is_symlink():
        for folder, dirs, files in os.walk(root):
            base = Path(folder)
            for name in sorted(dirs) + sorted(files):
                yield base / name


def chmod_hint(paths: list[Path], roots: Iterable[Path], *, shown: int = 5) -> str:
    """The shell command that makes ``paths`` private again: folders 700, files 600; when they
    are many, one recursive command on the ``roots`` they were found under."""
    if len(paths) > shown:
        return "chmod -R go-rwx " + " ".join(_quoted(p) for p in roots)
    folders = [p for p in paths if p.is_dir()]
    files = [p for p in paths if not p.is_dir()]
    parts = []
    if folders:
        parts.append("chmod 700 " + " ".join(_quoted(p) for p in folders))
    if files:
        parts.append("chmod 600 " + " ".join(_quoted(p) for p in files))
    return " && ".join(parts)


def _quoted(path: Path) -> str:
    return shlex.quote(str(path))


def write_private_json(path: Path, document: object) -> None:
    """Replace ``path`` with ``document`` as JSON, whole or not at all (:func:`write_private`)."""
    write_private(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, whole or not at all: a temporary file created 0600 (a
    chmod afterwards would leave a moment when others can read it), flushed to disk, then
    renamed over ``path``. The folder must exist."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

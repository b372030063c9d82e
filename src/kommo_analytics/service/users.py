"""Who may read the dashboard, and how much of it: the users file, passwords and the viewer's reach.

Users live in one JSON file in the data folder (``DATA_DIR/users.json``), written whole to a
temporary file created with mode 0600 and renamed over the old one, so a crash leaves either the
old file or the new one. Passwords are kept only as argon2id hashes (``argon2-cffi``, its default
parameters, which follow RFC 9106's low-memory profile).

A role decides what a viewer sees: ``admin`` everything and the settings, ``manager`` all the
data but no settings, ``seller`` only the leads and numbers of the Kommo users linked to them.
The reach is one value, :attr:`User.allowed_sellers`, that goes into
:class:`~kommo_analytics.service.scope.Scope` and is applied there by every reader.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from filelock import FileLock

from kommo_analytics import files
from kommo_analytics.errors import ConfigError

Role = Literal["admin", "manager", "seller"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
USERS_FILE: Final = "users.json"
FORMAT_VERSION: Final = 1
MIN_PASSWORD_LENGTH: Final = 8
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
_HASHER: Final = PasswordHasher()
# Verified when the username is unknown, so a wrong name takes as long as a wrong password and
# the timing does not tell which names exist.
_DUMMY_HASH: Final = _HASHER.hash("not a password of anyone")


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    password_hash: str = field(repr=False)
    kommo_user_ids: tuple[int, ...] = ()
    email: str | None = None

    @property
    def allowed_sellers(self) -> tuple[int, ...] | None:
        """The Kommo users whose data this viewer may read (None: everyone)."""
        return tuple(sorted(set(self.kommo_user_ids))) if self.role == "seller" else None

    @property
    def can_edit_settings(self) -> bool:
        return self.role == "admin"


def users_path(data_dir: Path) -> Path:
    return data_dir / USERS_FILE


def normalise_username(name: str) -> str:
    """The stored form of a username (lower case); a name that cannot be one is refused."""
    text = name.strip().lower()
    if not _USERNAME.match(text):
        raise ConfigError(
            f"{name!r} cannot be a username",
            hint="use 1 to 64 letters, digits, dots, dashes, underscores or @, starting with a "
            "letter or digit",
        )
    return text


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"the password is shorter than {MIN_PASSWORD_LENGTH} characters",
            hint=f"choose a password of at least {MIN_PASSWORD_LENGTH} characters",
        )
    return _HASHER.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- the file -----------------------------------------------------------------------------------


def _corrupt(path: Path, problem: str) -> ConfigError:
    return ConfigError(
        f"the users file {path} is unreadable: {problem}",
        hint="restore it from a backup, or move it away and add the users again with "
        "`kommo-analytics users add <name> --role admin`",
    )


def _user_of(path: Path, index: int, item: Any) -> User:
    where = f"user {index + 1}"
    if not isinstance(item, dict):
        raise _corrupt(path, f"{where} is not an object")
    unknown = sorted(set(item) - {"username", "role", "password_hash", "kommo_user_ids", "email"})
    if unknown:
        raise _corrupt(path, f"{where} has unknown field(s) {', '.join(unknown)}")
    username, role, digest = item.get("username"), item.get("role"), item.get("password_hash")
    ids, email = item.get("kommo_user_ids", []), item.get("email")
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise _corrupt(path, f"{where} has no valid username")
    if role not in ROLES:
        raise _corrupt(path, f"{username}'s role {role!r} is not one of {', '.join(ROLES)}")
    if not isinstance(digest, str) or not digest.startswith("$argon2"):
        raise _corrupt(path, f"{username} has no argon2 password hash")
    if not isinstance(ids, list) or not all(isinstance(i, int) and i > 0 for i in ids):
        raise _corrupt(path, f"{username}'s kommo_user_ids is not a list of Kommo user ids")
    if email is not None and not isinstance(email, str):
        raise _corrupt(path, f"{username}'s email is not text")
    return User(username, cast(Role, role), digest, tuple(ids), email or None)


def load(path: Path) -> list[User]:
    """The users in the file; none when there is no file. A file that cannot be read whole is an
    error: treating it as empty would open a server's dashboard to everyone."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(path, str(exc)) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _corrupt(path, f"not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("users"), list):
        raise _corrupt(path, 'expected an object with a "users" list')
    if document.get("version") != FORMAT_VERSION:
        raise _corrupt(path, f"format version {document.get('version')!r} is not {FORMAT_VERSION}")
    users = [_user_of(path, i, item) for i, item in enumerate(document["users"])]
    names = [u.username for u in users]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _corrupt(path, f"{', '.join(twice)} appear(s) more than once")
    return users


def save(path: Path, users: Sequence[User]) -> None:
    """Write the file whole: a 0600 temporary file beside it, flushed, renamed over it."""
    document = {
        "version": FORMAT_VERSION,
        "users": [
            {
                "username": u.username,
                "role": u.role,
                "kommo_user_ids": list(u.kommo_user_ids),
                "email": u.email,
                "password_hash": u.password_hash,
            }
            for u in users
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_private_json(path, document)


def _edit(path: Path) -> FileLock:
    # Two `users` commands at once must not each write back what they read before the other.
    return FileLock(str(path.with_name(f".{path.name}.lock")), timeout=10, mode=0o600)


def _find(users: Sequence[User], username: str, path: Path) -> User:
    name = normalise_username(username)
    for user in users:
        if user.username == name:
            return user
    known = ", ".join(u.username for u in users) or "none yet"
    raise ConfigError(
        f"there is no user {name!r} in {path}",
        hint=f"known users: {known}; `kommo-analytics users add` adds one",
    )


def _replace(users: Sequence[User], changed: User) -> list[User]:
    return [changed if u.username == changed.username else u for u in users]


def add(
    path: Path,
    username: str,
    role: str,
    password: str,
    *,
    email: str | None = None,
    kommo_user_ids: Iterable[int] = (),
) -> User:
    name = normalise_username(username)
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"choose one of {', '.join(ROLES)}")
    with _edit(path):
        users = load(path)
        if any(u.username == name for u in users):
            raise ConfigError(
                f"the user {name!r} already exists",
                hint="`kommo-analytics users passwd` changes a password",
            )
        user = User(
            name,
            role,
            hash_password(password),
            tuple(sorted(set(kommo_user_ids))),
            (email or "").strip() or None,
        )
        save(path, [*users, user])
    return user


def remove(path: Path, username: str) -> None:
    with _edit(path):
        users = load(path)
        user = _find(users, username, path)
        admins = [u for u in users if u.role == "admin"]
        if user.role == "admin" and len(admins) == 1:
            raise ConfigError(
                f"{user.username!r} is the last admin",
                hint="add another admin first (`kommo-analytics users add <name> --role admin`)",
            )
        save(path, [u for u in users if u.username != user.username])


def set_password(path: Path, username: str, password: str) -> None:
    """Replace a user's password; their open dashboard sessions end at their next click."""
    with _edit(path):
        users = load(path)
        user = _find(users, username, path)
        save(path, _replace(users, replace(user, password_hash=hash_password(password))))


def link(path: Path, username: str, kommo_user_ids: Iterable[int]) -> User:
    """Set which Kommo users a dashboard user is (replacing the previous links)."""
    with _edit(path):
        users = load(path)
        user = replace(
            _find(users, username, path), kommo_user_ids=tuple(sorted(set(kommo_user_ids)))
        )
        save(path, _replace(users, user))
    return user


def get(path: Path, username: str) -> User:
    """The user of that name; an error naming the known users when there is none."""
    return _find(load(path), username, path)


def find(path: Path, username: str) -> User | None:
    """The user of that name, None when there is none (or the name cannot be one)."""
    try:
        name = normalise_username(username)
    except ConfigError:
        return None
    return next((u for u in load(path) if u.username == name), None)


# -- signing in ---------------------------------------------------------------------------------


class LoginThrottle:
    """Failed sign-ins per (username, client), kept in the serving process for every session:
    a new browser tab starts a new session, so a count kept in a session would start again.

    After ``free`` failures in a row each further attempt waits ``base`` seconds, doubling with
    every failure up to ``ceiling``; a successful sign-in clears the count.
    """

    def __init__(self, free: int = 5, base: float = 30.0, ceiling: float = 900.0) -> None:
        self.free, self.base, self.ceiling = free, base, ceiling
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(username: str, client: str) -> tuple[str, str]:
        return username.strip().lower(), client

    def wait_seconds(self, username: str, client: str, now: float) -> float:
        """How long this username from this client must wait before trying again (0: now)."""
        with self._lock:
            count, last = self._failures.get(self._key(username, client), (0, 0.0))
        if count < self.free:
            return 0.0
        delay = min(self.ceiling, self.base * 2.0 ** (count - self.free))
        return max(0.0, last + delay - now)

    def failed(self, username: str, client: str, now: float) -> None:
        with self._lock:
            key = self._key(username, client)
            count, _ = self._failures.get(key, (0, 0.0))
            self._failures[key] = (count + 1, now)

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop(self._key(username, client), None)


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: the user, or None with the seconds to wait (0: wrong name or
    password — which of the two is not said)."""

    user: User | None
    wait_seconds: float = 0.0


def sign_in(
    path: Path,
    username: str,
    password: str,
    *,
    throttle: LoginThrottle,
    client: str,
    now: float,
) -> SignIn:
    wait = throttle.wait_seconds(username, client, now)
    if wait > 0:
        return SignIn(None, wait)
    user = find(path, username)
    if user is None:
        password_matches(_DUMMY_HASH, password)
    if user is None or not password_matches(user.password_hash, password):
        throttle.failed(username, client, now)
        return SignIn(None, throttle.wait_seconds(username, client, now))
    throttle.succeeded(username, client)
    return SignIn(user)

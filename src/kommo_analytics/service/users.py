"""Who may read the dashboard, and how much of it: the users file, passwords and the viewer's reach.

Users live in one JSON file in the data folder (``DATA_DIR/users.json``), written whole to a
temporary file created with mode 0600 and renamed over the old one, so a crash leaves either the
old file or the new one. Passwords are kept only as argon2id hashes (``argon2-cffi``, its default
parameters, which follow RFC 9106's low-memory profile).

A role decides what a viewer sees: ``admin`` everything and the settings, ``manager`` all the
data but no settings, ``seller`` only the leads and numbers of the Kommo users linked to them.
The reach is one value, :meth:`User.allowed_sellers_in` the account on screen, that goes into
:class:`~kommo_analytics.service.scope.Scope` and is applied there by every reader.

In an install of several accounts (docs/architecture.md "Many accounts") a user may be limited to
some of them (``accounts``; absent: all, and an admin always sees all), and a seller's link to
Kommo users is per account: Kommo user ids are an account's own. The links in the account of
.env are kept where they always were (``kommo_user_ids``), so a single-account install's file is
the same as before; the register's accounts' links are ``kommo_user_ids_by_account``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from filelock import FileLock

from kommo_analytics import files
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import ACCOUNT_NAME, MAIN_ACCOUNT

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
    # The Kommo users this user is in the account of .env (MAIN_ACCOUNT).
    kommo_user_ids: tuple[int, ...] = ()
    email: str | None = None
    # The accounts this user may see (None: every one); an admin sees every one whatever it says.
    accounts: tuple[str, ...] | None = None
    # The Kommo users this user is in the register's accounts: (account, ids), by account name.
    account_links: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def kommo_ids_in(self, account: str) -> tuple[int, ...]:
        """The Kommo users this user is in ``account``."""
        if account == MAIN_ACCOUNT:
            return self.kommo_user_ids
        return dict(self.account_links).get(account, ())

    def allowed_sellers_in(self, account: str) -> tuple[int, ...] | None:
        """The Kommo users of ``account`` whose data this viewer may read (None: everyone)."""
        if self.role != "seller":
            return None
        return tuple(sorted(set(self.kommo_ids_in(account))))

    @property
    def allowed_sellers(self) -> tuple[int, ...] | None:
        """The reach in the account of .env (:meth:`allowed_sellers_in` for another)."""
        return self.allowed_sellers_in(MAIN_ACCOUNT)

    def sees_account(self, account: str) -> bool:
        return self.role == "admin" or self.accounts is None or account in self.accounts

    def visible_accounts(self, names: Iterable[str]) -> list[str]:
        """Those of the install's accounts ``names`` this user may see, in their order."""
        return [name for name in names if self.sees_account(name)]

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
    unknown = sorted(set(item) - _FIELDS)
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
    # An account named here that the install no longer has is kept, and simply not shown: a
    # removed account must not make the file unreadable (nobody could sign in).
    accounts = item.get("accounts")
    if accounts is not None and not (
        isinstance(accounts, list) and all(_is_account_name(a) for a in accounts)
    ):
        raise _corrupt(path, f"{username}'s accounts is not a list of account names")
    by_account = item.get("kommo_user_ids_by_account", {})
    if not isinstance(by_account, dict) or not all(
        _is_account_name(name)
        and name != MAIN_ACCOUNT
        and isinstance(linked, list)
        and all(isinstance(i, int) and i > 0 for i in linked)
        for name, linked in by_account.items()
    ):
        raise _corrupt(
            path,
            f"{username}'s kommo_user_ids_by_account is not an object of account names and "
            "lists of Kommo user ids",
        )
    return User(
        username,
        cast(Role, role),
        digest,
        tuple(ids),
        email or None,
        accounts=tuple(dict.fromkeys(accounts)) if accounts is not None else None,
        account_links=_links(by_account),
    )


_FIELDS: Final = frozenset(
    {
        "username",
        "role",
        "password_hash",
        "kommo_user_ids",
        "email",
        "accounts",
        "kommo_user_ids_by_account",
    }
)


def _is_account_name(value: object) -> bool:
    return isinstance(value, str) and (value == MAIN_ACCOUNT or bool(ACCOUNT_NAME.fullmatch(value)))


def _links(by_account: Mapping[str, Iterable[int]]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Hashable and in one order: (account, sorted ids), accounts by name, none without ids."""
    return tuple((name, tuple(sorted(set(ids)))) for name, ids in sorted(by_account.items()) if ids)


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
    document = {"version": FORMAT_VERSION, "users": [_record(u) for u in users]}
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_private_json(path, document)


def _record(user: User) -> dict[str, Any]:
    record: dict[str, Any] = {
        "username": user.username,
        "role": user.role,
        "kommo_user_ids": list(user.kommo_user_ids),
        "email": user.email,
    }
    # Written only when used: a single-account install's file stays as it always was.
    if user.accounts is not None:
        record["accounts"] = list(user.accounts)
    if user.account_links:
        record["kommo_user_ids_by_account"] = {name: list(ids) for name, ids in user.account_links}
    record["password_hash"] = user.password_hash
    return record


def check_accounts(names: Iterable[str], known: Sequence[str]) -> tuple[str, ...]:
    """``names`` as the install's accounts (``known``: ``settings.account_names``), each once
    in the install's order; an unknown one is an error naming the known ones."""
    wanted = list(dict.fromkeys(name.strip() for name in names))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ConfigError(
            f"no account named {', '.join(repr(n) for n in unknown)} in this install",
            hint=f"known accounts: {', '.join(known) or 'none yet'} (`kommo-analytics accounts "
            "list` shows them)",
        )
    if not wanted:
        raise ConfigError(
            "no account given", hint=f"name one or more of: {', '.join(known) or 'none yet'}"
        )
    return tuple(name for name in known if name in wanted)


def _with_link(user: User, account: str, ids: Iterable[int]) -> User:
    linked = tuple(sorted(set(ids)))
    if account == MAIN_ACCOUNT:
        return replace(user, kommo_user_ids=linked)
    links = dict(user.account_links)
    links[account] = linked
    return replace(user, account_links=_links(links))


def _check_link_visible(user: User, account: str) -> None:
    if user.kommo_ids_in(account) and not user.sees_account(account):
        raise ConfigError(
            f"{user.username!r} would be linked to Kommo users of the account {account!r}, "
            "which they may not see",
            hint=f"link them in one of their accounts ({', '.join(user.accounts or ())}) with "
            "`kommo-analytics --account <name> users link …`, or give them this account with "
            "`kommo-analytics users accounts`",
        )


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
    account: str = MAIN_ACCOUNT,
    accounts: Iterable[str] | None = None,
    known_accounts: Sequence[str] = (MAIN_ACCOUNT,),
) -> User:
    """A new user; ``kommo_user_ids`` are Kommo users of ``account``; ``accounts`` (None: all)
    are checked against the install's ``known_accounts``."""
    name = normalise_username(username)
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"choose one of {', '.join(ROLES)}")
    visible = _visible(role, accounts, known_accounts)
    with _edit(path):
        users = load(path)
        if any(u.username == name for u in users):
            raise ConfigError(
                f"the user {name!r} already exists",
                hint="`kommo-analytics users passwd` changes a password",
            )
        user = User(name, role, "", (), (email or "").strip() or None, accounts=visible)
        user = _with_link(user, account, kommo_user_ids)
        _check_link_visible(user, account)
        user = replace(user, password_hash=hash_password(password))
        save(path, [*users, user])
    return user


def _visible(
    role: str, accounts: Iterable[str] | None, known: Sequence[str]
) -> tuple[str, ...] | None:
    if accounts is None:
        return None
    if role == "admin":
        raise ConfigError(
            "an admin sees every account", hint="limit a manager or a seller to some accounts"
        )
    return check_accounts(accounts, known)


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


def link(
    path: Path, username: str, kommo_user_ids: Iterable[int], account: str = MAIN_ACCOUNT
) -> User:
    """Set which Kommo users of ``account`` a dashboard user is (replacing the previous links
    in that account; those in other accounts stay)."""
    with _edit(path):
        users = load(path)
        user = _with_link(_find(users, username, path), account, kommo_user_ids)
        _check_link_visible(user, account)
        save(path, _replace(users, user))
    return user


def set_accounts(
    path: Path, username: str, accounts: Iterable[str] | None, known_accounts: Sequence[str]
) -> User:
    """Set which of the install's accounts a user may see (None: every one, also those added
    later). Their links in other accounts are kept, unused, should the account come back."""
    with _edit(path):
        users = load(path)
        found = _find(users, username, path)
        user = replace(found, accounts=_visible(found.role, accounts, known_accounts))
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

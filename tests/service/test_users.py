"""The users file, password hashing, sign-in throttling and the role → scope mapping."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kommo_analytics.errors import ConfigError
from kommo_analytics.service import users
from kommo_analytics.service.scope import Scope
from kommo_analytics.service.users import LoginThrottle, User

PASSWORD = "correct horse"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return users.users_path(tmp_path / "data")


def test_a_missing_file_has_no_users(path: Path) -> None:
    assert users.load(path) == []


def test_added_users_round_trip_with_a_0600_file_and_no_plain_password(path: Path) -> None:
    users.add(path, "Ana", "admin", PASSWORD)
    users.add(path, "bruno", "seller", PASSWORD, email="b@example.com", kommo_user_ids=[7, 3, 7])
    loaded = users.load(path)
    assert [(u.username, u.role, u.kommo_user_ids, u.email) for u in loaded] == [
        ("ana", "admin", (), None),
        ("bruno", "seller", (3, 7), "b@example.com"),
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert PASSWORD not in text and "$argon2id$" in text
    assert "password_hash" not in repr(loaded[0])  # never in logs or tracebacks
    assert not list(path.parent.glob("*.tmp"))  # the temporary file was renamed, not left


def test_hashes_verify_only_their_password() -> None:
    digest = users.hash_password(PASSWORD)
    assert users.password_matches(digest, PASSWORD)
    assert not users.password_matches(digest, PASSWORD + "!")
    assert not users.password_matches("not a hash", PASSWORD)
    # Salted: the same password never gives the same hash twice.
    assert users.hash_password(PASSWORD) != digest


def test_short_passwords_and_bad_names_and_roles_are_refused(path: Path) -> None:
    with pytest.raises(ConfigError, match="shorter than 8"):
        users.add(path, "ana", "admin", "short")
    with pytest.raises(ConfigError, match="cannot be a username"):
        users.add(path, "ana maria", "admin", PASSWORD)
    with pytest.raises(ConfigError, match="unknown role 'owner'"):
        users.add(path, "ana", "owner", PASSWORD)
    assert not path.exists()


def test_a_duplicate_name_is_refused_whatever_its_case(path: Path) -> None:
    users.add(path, "ana", "admin", PASSWORD)
    with pytest.raises(ConfigError, match="already exists"):
        users.add(path, "ANA", "manager", PASSWORD)


def test_the_last_admin_cannot_be_removed(path: Path) -> None:
    users.add(path, "ana", "admin", PASSWORD)
    users.add(path, "caio", "manager", PASSWORD)
    with pytest.raises(ConfigError, match="last admin") as caught:
        users.remove(path, "ana")
    assert "users add" in caught.value.hint
    users.add(path, "dora", "admin", PASSWORD)
    users.remove(path, "ana")
    assert [u.username for u in users.load(path)] == ["caio", "dora"]


def test_an_unknown_user_is_named_with_the_known_ones(path: Path) -> None:
    users.add(path, "ana", "admin", PASSWORD)
    with pytest.raises(ConfigError, match="no user 'zeca'") as caught:
        users.set_password(path, "zeca", PASSWORD)
    assert "ana" in caught.value.hint


def test_passwd_and_link_change_only_their_user(path: Path) -> None:
    users.add(path, "ana", "admin", PASSWORD)
    users.add(path, "bruno", "seller", PASSWORD, kommo_user_ids=[3])
    before = users.get(path, "ana").password_hash
    users.set_password(path, "bruno", "a new password")
    users.link(path, "bruno", [9, 4])
    bruno = users.get(path, "bruno")
    assert users.password_matches(bruno.password_hash, "a new password")
    assert bruno.kommo_user_ids == (4, 9)
    assert users.get(path, "ana").password_hash == before


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ("[]", '"users" list'),
        ('{"version": 2, "users": []}', "format version 2"),
        ('{"version": 1, "users": [{"username": "a", "role": "boss", '
         '"password_hash": "$argon2id$x"}]}', "role 'boss'"),
        ('{"version": 1, "users": [{"username": "a", "role": "admin"}]}', "no argon2"),
        ('{"version": 1, "users": [{"username": "a", "role": "seller", '
         '"password_hash": "$argon2id$x", "kommo_user_ids": ["7"]}]}', "kommo_user_ids"),
        ('{"version": 1, "users": [{"username": "a", "role": "admin", '
         '"password_hash": "$argon2id$x", "pasword": 1}]}', "unknown field"),
        ('{"version": 1, "users": [{"username": "a", "role": "admin", "password_hash": '
         '"$argon2id$x"}, {"username": "a", "role": "admin", "password_hash": "$argon2id$y"}]}',
         "more than once"),
    ],
)  # fmt: skip
def test_a_corrupt_file_is_an_error_not_an_empty_list(
    path: Path, content: str, problem: str
) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(ConfigError, match="unreadable") as caught:
        users.load(path)
    assert problem in caught.value.message
    assert "backup" in caught.value.hint
    # An edit on a corrupt file must not overwrite it with a fresh one.
    with pytest.raises(ConfigError):
        users.add(path, "zeca", "admin", PASSWORD)
    assert path.read_text() == content


def test_a_wrong_password_and_an_unknown_name_fail_alike(path: Path) -> None:
    users.add(path, "ana", "admin", PASSWORD)
    throttle = LoginThrottle()
    ok = users.sign_in(path, "ANA", PASSWORD, throttle=throttle, client="c", now=0.0)
    assert ok.user is not None and ok.user.username == "ana"
    for name, password in (("ana", "wrong password"), ("nobody", PASSWORD), ("bad name!", "x")):
        outcome = users.sign_in(path, name, password, throttle=throttle, client="c", now=0.0)
        assert outcome == users.SignIn(None, 0.0)


def test_failed_sign_ins_lock_a_name_and_client_for_a_growing_delay(path: Path) -> None:
    users.add(path, "ana", "admin", PASSWORD)
    throttle = LoginThrottle(free=5, base=30.0, ceiling=100.0)

    def attempt(password: str, now: float, client: str = "10.0.0.1") -> users.SignIn:
        return users.sign_in(path, "ana", password, throttle=throttle, client=client, now=now)

    for _ in range(4):
        assert attempt("wrong password", 0.0).wait_seconds == 0
    assert attempt("wrong password", 0.0).wait_seconds == 30  # the fifth failure locks
    # Locked: even the right password is not checked, and says how long is left.
    assert attempt(PASSWORD, 10.0) == users.SignIn(None, 20.0)
    # Another client (or another name) is not locked by this one's failures.
    assert attempt(PASSWORD, 10.0, client="10.0.0.2").user is not None
    assert attempt("wrong password", 31.0).wait_seconds == 60  # doubles
    assert throttle.wait_seconds("ana", "10.0.0.1", 91.5) == 0
    assert attempt("wrong password", 92.0).wait_seconds == 100  # capped at the ceiling
    assert attempt(PASSWORD, 192.0).user is not None
    assert throttle.wait_seconds("ana", "10.0.0.1", 192.0) == 0  # success clears the count


def test_roles_map_to_the_viewers_reach() -> None:
    admin = User("a", "admin", "h", (5,))
    manager = User("m", "manager", "h", (5,))
    seller = User("s", "seller", "h", (7, 5, 7))
    assert admin.allowed_sellers is None and admin.can_edit_settings
    assert manager.allowed_sellers is None and not manager.can_edit_settings
    assert seller.allowed_sellers == (5, 7) and not seller.can_edit_settings
    # The seller's scope cannot be widened by asking for someone else (a `?user=` in the URL).
    with pytest.raises(ConfigError, match="none of the sellers"):
        Scope(sellers=(9,), allowed_sellers=seller.allowed_sellers).seller_ids()
    assert Scope(sellers=(5, 9), allowed_sellers=seller.allowed_sellers).seller_ids() == (5,)
    assert Scope(allowed_sellers=seller.allowed_sellers).seller_ids() == (5, 7)
    assert Scope(sellers=(9,), allowed_sellers=manager.allowed_sellers).seller_ids() == (9,)


# -- accounts: which of an install's accounts a user sees, and their links per account ---------

KNOWN = ("main", "acme", "beta")


def test_a_file_written_before_accounts_reads_the_same_and_is_written_back_the_same(
    path: Path,
) -> None:
    # A single-account install's file has neither field: everyone sees every account, and a
    # seller's links are in the account of .env.
    users.add(path, "bruno", "seller", PASSWORD, kommo_user_ids=[3])
    before = path.read_text()
    assert "accounts" not in before
    bruno = users.get(path, "bruno")
    assert bruno.accounts is None and bruno.visible_accounts(KNOWN) == list(KNOWN)
    assert bruno.allowed_sellers_in("main") == (3,) and bruno.allowed_sellers_in("acme") == ()
    users.set_password(path, "bruno", "a new password")
    assert "accounts" not in path.read_text()


def test_accounts_are_checked_against_the_install_and_an_admin_sees_all(path: Path) -> None:
    with pytest.raises(ConfigError, match="no account named 'acne'") as caught:
        users.add(path, "caio", "manager", PASSWORD, accounts=["acne"], known_accounts=KNOWN)
    assert caught.value.hint is not None and "main, acme, beta" in caught.value.hint
    with pytest.raises(ConfigError, match="an admin sees every account"):
        users.add(path, "ana", "admin", PASSWORD, accounts=["acme"], known_accounts=KNOWN)
    assert not path.exists()
    # Kept in the install's order, each once.
    caio = users.add(path, "caio", "manager", PASSWORD, accounts=["beta", "acme", "beta"],
                     known_accounts=KNOWN)  # fmt: skip
    assert caio.accounts == ("acme", "beta")
    assert users.get(path, "caio").visible_accounts(KNOWN) == ["acme", "beta"]
    assert users.set_accounts(path, "caio", None, KNOWN).visible_accounts(KNOWN) == list(KNOWN)
    assert users.set_accounts(path, "caio", ["main"], KNOWN).accounts == ("main",)


def test_a_sellers_links_are_per_account(path: Path) -> None:
    users.add(path, "sofia", "seller", PASSWORD, kommo_user_ids=[5], account="acme",
              accounts=["acme", "beta"], known_accounts=KNOWN)  # fmt: skip
    users.link(path, "sofia", [9, 8], account="beta")
    sofia = users.get(path, "sofia")
    # The ids of one account never reach another: the same number is someone else there.
    assert [sofia.allowed_sellers_in(a) for a in KNOWN] == [(), (5,), (8, 9)]
    assert sofia.kommo_user_ids == ()
    # Linking in an account she may not see would be a link nobody can use: refused.
    with pytest.raises(ConfigError, match="may not see"):
        users.link(path, "sofia", [1], account="main")
    assert users.get(path, "sofia") == sofia


def test_an_account_the_install_no_longer_has_keeps_the_file_readable(path: Path) -> None:
    users.add(path, "caio", "manager", PASSWORD, accounts=["beta"], known_accounts=KNOWN)
    # `accounts remove beta` later: caio simply sees nothing, and everyone can still sign in.
    assert users.get(path, "caio").visible_accounts(("main", "acme")) == []


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ('"accounts": "acme"', "accounts is not a list"),
        ('"accounts": ["Acme!"]', "accounts is not a list"),
        ('"kommo_user_ids_by_account": {"acme": [0]}', "kommo_user_ids_by_account"),
        ('"kommo_user_ids_by_account": {"main": [1]}', "kommo_user_ids_by_account"),
    ],
)
def test_malformed_account_fields_are_named(path: Path, field: str, problem: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "users": [{"username": "a", "role": "seller", '
                    f'"password_hash": "$argon2id$x", {field}}}]}}')  # fmt: skip
    with pytest.raises(ConfigError, match="unreadable") as caught:
        users.load(path)
    assert problem in caught.value.message

"""Settings → Users in AppTest, against the synced warehouse: an admin lets people in, links a
seller to their Kommo user, changes a password and removes a user without a terminal; in local
mode the tab creates the first administrator. What the file then holds is read back with
service/users.py, the same reader the sign-in uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import auth
from kommo_analytics.service import users
from tests.dashboard.conftest import MakeApp, sql
from tests.dashboard.test_access import LIVE_LEADS_BY_SELLER, PASSWORD, Clock, sign_in, titles

SETTINGS = "app_pages/settings.py"


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(auth, "THROTTLE", users.LoginThrottle())
    monkeypatch.setattr(auth, "clock", Clock())
    return users.users_path(tmp_path / "data")


@pytest.fixture
def seller(synced_url: str) -> tuple[int, str]:
    """The Kommo user with the most live leads: (id, name)."""
    found, name, _count = sql(synced_url, LIVE_LEADS_BY_SELLER)[0]
    return int(found), str(name)


@pytest.fixture
def team(path: Path) -> Path:
    users.add(path, "ana", "admin", PASSWORD)
    users.add(path, "caio", "manager", PASSWORD)
    users.add(path, "nina", "seller", PASSWORD)
    return path


def no_exception(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]


def press(app: AppTest, label: str) -> AppTest:
    (button,) = [b for b in app.button if b.label == label]
    button.click().run()
    no_exception(app)
    return app


def as_admin(make_app: MakeApp, url: str) -> AppTest:
    app = sign_in(make_app(url, SETTINGS, lang="en", tab="users").run(), "ana")
    no_exception(app)
    return app


def test_in_local_mode_the_tab_creates_the_first_admin_and_sign_in_begins(
    make_app: MakeApp, synced_url: str, path: Path
) -> None:
    app = make_app(synced_url, SETTINGS, lang="en", tab="users").run()
    no_exception(app)
    assert "does not ask anyone to sign in yet" in app.info[0].value
    app.text_input(key="users.first.name").input("Ana")
    app.text_input(key="users.first.password").input("short")
    app.text_input(key="users.first.repeat").input("short")
    press(app, "Create administrator")
    assert [e.value for e in app.error] == ["The password needs at least 8 characters."]
    assert not path.exists()
    app.text_input(key="users.first.password").input(PASSWORD)
    app.text_input(key="users.first.repeat").input(PASSWORD + "!")
    press(app, "Create administrator")
    assert [e.value for e in app.error] == ["The two passwords are not the same."]
    app.text_input(key="users.first.repeat").input(PASSWORD)
    press(app, "Create administrator")
    # The file exists now: this browser, too, signs in before it sees anything.
    (admin,) = users.load(path)
    assert (admin.username, admin.role) == ("ana", "admin")
    assert titles(app) == ["Sign in to Kommo Analytics"]
    sign_in(app, "ana")
    assert "Signed in as **ana** (administrator)" in " ".join(c.value for c in app.sidebar.caption)


def test_an_admin_links_a_seller_who_then_sees_their_data(
    make_app: MakeApp, synced_url: str, team: Path, seller: tuple[int, str]
) -> None:
    seller_id, seller_name = seller
    app = as_admin(make_app, synced_url)
    table = app.dataframe[0].value
    assert list(table["Username"]) == ["ana", "caio", "nina"]
    assert list(table["Role"]) == ["administrator", "manager", "seller"]
    assert list(table["Sees the data of"]) == ["Every seller", "Every seller",
                                               "Nobody yet (link below)"]  # fmt: skip
    assert [w.value for w in app.warning] == [
        "Sellers without a link in this account see no data: nina. Choose their Kommo users above."
    ]
    app.selectbox(key="users.edit.who").set_value("nina").run()
    picker = app.multiselect(key="users.edit.sellers.nina")
    assert seller_name in picker.options  # by name, not by id
    picker.set_value([seller_id])
    press(app, "Save access")
    assert users.get(team, "nina").kommo_user_ids == (seller_id,)
    assert [s.value for s in app.success] == [
        "**nina**'s access saved; it applies from their next click."
    ]
    assert list(app.dataframe[0].value["Sees the data of"])[2] == seller_name
    assert not app.warning

    nina = sign_in(make_app(synced_url, lang="en").run(), "nina")
    no_exception(nina)
    assert not nina.warning  # no longer "not linked to any Kommo seller"
    (sellers,) = [m for m in nina.sidebar.multiselect if m.label == "Sellers"]
    assert sellers.options == [seller_name]


def test_an_admin_adds_a_user_refusing_a_taken_name(
    make_app: MakeApp, synced_url: str, team: Path, seller: tuple[int, str]
) -> None:
    seller_id, _name = seller
    app = as_admin(make_app, synced_url)
    app.text_input(key="users.add.name").input("Caio")
    app.text_input(key="users.add.password").input(PASSWORD)
    app.text_input(key="users.add.repeat").input(PASSWORD)
    press(app, "Add user")
    assert [e.value for e in app.error] == ["There is already a user **caio**."]
    app.text_input(key="users.add.name").input("bia bia")
    press(app, "Add user")
    assert "cannot be a username" in app.error[0].value
    app.text_input(key="users.add.name").input("Bia")
    app.text_input(key="users.add.email").input("bia@example.com")
    app.multiselect(key="users.add.sellers").set_value([seller_id])
    press(app, "Add user")
    bia = users.get(team, "bia")
    assert (bia.role, bia.email, bia.kommo_user_ids) == ("seller", "bia@example.com", (seller_id,))
    assert users.sign_in(team, "bia", PASSWORD, throttle=users.LoginThrottle(), client="t",
                         now=0.0).user == bia  # fmt: skip
    assert "bia" in list(app.dataframe[0].value["Username"])


def test_an_admin_changes_a_password_and_removes_a_user_but_not_the_last_admin(
    make_app: MakeApp, synced_url: str, team: Path
) -> None:
    app = as_admin(make_app, synced_url)
    # ana is the only admin, and the one signed in: no remove button for her.
    assert "This is the only administrator" in " ".join(c.value for c in app.caption)
    assert not [b for b in app.button if b.label == "Remove user"]
    app.selectbox(key="users.edit.who").set_value("caio").run()
    app.text_input(key="users.password.new.caio").input("new password")
    app.text_input(key="users.password.repeat.caio").input("new password")
    press(app, "Change password")
    assert users.password_matches(users.get(team, "caio").password_hash, "new password")
    (remove,) = [b for b in app.button if b.label == "Remove user"]
    assert remove.disabled  # until the checkbox says yes
    app.checkbox(key="users.remove.sure.caio").check().run()
    press(app, "Remove user")
    assert [u.username for u in users.load(team)] == ["ana", "nina"]
    assert [s.value for s in app.success] == ["User **caio** removed."]

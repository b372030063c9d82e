"""`kommo-analytics users …` and the dashboard's refusal to serve the network without users."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from kommo_analytics.cli import dashboard_cmd
from kommo_analytics.cli.main import app
from kommo_analytics.errors import ConfigError
from kommo_analytics.service import users

runner = CliRunner()
PASSWORD = "correct horse"


@pytest.fixture
def data_dir(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = clean_env / "data"
    monkeypatch.setenv("DATA_DIR", str(folder))
    return folder


@pytest.fixture
def kommo_users(data_dir: Path) -> None:
    """A warehouse whose model knows three Kommo users (all `link` reads of it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(data_dir / "kommo.duckdb")) as db:
        db.execute("CREATE SCHEMA kommo_model")
        db.execute("CREATE TABLE kommo_model.dim_users (user_id BIGINT, name TEXT, email TEXT)")
        db.execute(
            "INSERT INTO kommo_model.dim_users VALUES (11, 'Ana Souza', 'ana@x.com'), "
            "(12, 'Bruno Lima', 'bruno@x.com'), (13, 'Caio Reis', NULL)"
        )


def invoke(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_add_prompts_twice_without_echo_and_list_shows_no_hash(data_dir: Path) -> None:
    code, out = invoke("users", "add", "Ana", "--role", "admin", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, out
    assert PASSWORD not in out  # hidden input: the typed password is not echoed
    assert users.get(users.users_path(data_dir), "ana").role == "admin"
    code, out = invoke("users", "list")
    assert code == 0 and "ana" in out and "admin" in out
    assert "argon2" not in out


def test_a_confirmation_that_differs_is_asked_again(data_dir: Path) -> None:
    typed = f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n"
    code, out = invoke("users", "add", "ana", "--role", "admin", input=typed)
    assert code == 0, out
    user = users.get(users.users_path(data_dir), "ana")
    assert users.password_matches(user.password_hash, PASSWORD)


def test_password_stdin_for_scripts_and_passwd(data_dir: Path) -> None:
    path = users.users_path(data_dir)
    assert invoke("users", "add", "ana", "--role", "admin", "--password-stdin",
                  input=f"{PASSWORD}\n")[0] == 0  # fmt: skip
    code, out = invoke("users", "passwd", "ana", "--password-stdin", input="another secret\n")
    assert code == 0, out
    assert users.password_matches(users.get(path, "ana").password_hash, "another secret")
    code, out = invoke("users", "passwd", "ana", "--password-stdin", input="")
    assert code == 2 and "no password on standard input" in out


def test_errors_are_one_line_with_a_hint_and_exit_2(data_dir: Path) -> None:
    invoke("users", "add", "ana", "--role", "admin", "--password-stdin", input=f"{PASSWORD}\n")
    code, out = invoke("users", "remove", "ana")
    assert code == 2 and "last admin" in out and "users add" in out
    code, out = invoke("users", "add", "x", "--role", "owner", "--password-stdin", input="y\n")
    assert code == 2 and "unknown role 'owner'" in out
    code, out = invoke("users", "passwd", "zeca", "--password-stdin", input=f"{PASSWORD}\n")
    assert code == 2 and "no user 'zeca'" in out and "ana" in out
    assert len(out.strip().splitlines()) == 1


def test_remove(data_dir: Path) -> None:
    for name, role in (("ana", "admin"), ("caio", "manager")):
        invoke("users", "add", name, "--role", role, "--password-stdin", input=f"{PASSWORD}\n")
    code, out = invoke("users", "remove", "caio")
    assert code == 0, out
    assert [u.username for u in users.load(users.users_path(data_dir))] == ["ana"]


def test_link_by_id_or_name_and_refuse_unknown_ones_listing_the_known(
    data_dir: Path, kommo_users: None
) -> None:
    invoke("users", "add", "bruno", "--role", "seller", "--password-stdin", input=f"{PASSWORD}\n")
    code, out = invoke("users", "link", "bruno", "12", "caio reis")
    assert code == 0, out
    assert users.get(users.users_path(data_dir), "bruno").kommo_user_ids == (12, 13)
    code, out = invoke("users", "link", "bruno", "Zeca")
    assert code == 2 and "'Zeca' is unknown" in out
    assert "Ana Souza (11)" in out and "Caio Reis (13)" in out
    assert users.get(users.users_path(data_dir), "bruno").kommo_user_ids == (12, 13)


def test_add_a_seller_with_kommo_users(data_dir: Path, kommo_users: None) -> None:
    code, out = invoke("users", "add", "ana", "--role", "seller", "--kommo-user", "ana@x.com",
                       "--password-stdin", input=f"{PASSWORD}\n")  # fmt: skip
    assert code == 0, out
    assert users.get(users.users_path(data_dir), "ana").kommo_user_ids == (11,)


def test_link_before_any_sync_says_to_sync(data_dir: Path) -> None:
    invoke("users", "add", "bruno", "--role", "seller", "--password-stdin", input=f"{PASSWORD}\n")
    code, out = invoke("users", "link", "bruno", "12")
    assert code == 2 and "kommo-analytics sync" in out


def test_accounts_a_user_may_see_and_links_in_the_commands_account(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An install of two registered accounts (no account in .env), acme's warehouse knowing
    # Kommo user 21: a link is made in the account the command works on.
    data_dir.mkdir(parents=True)
    (data_dir / "accounts.toml").write_text(
        '[accounts.acme]\nbase_url = "https://acme.kommo.com"\n'
        '[accounts.beta]\nbase_url = "https://beta.kommo.com"\n'
    )
    (data_dir / "accounts" / "acme").mkdir(parents=True)
    with duckdb.connect(str(data_dir / "accounts" / "acme" / "kommo.duckdb")) as db:
        db.execute("CREATE SCHEMA kommo_model")
        db.execute("CREATE TABLE kommo_model.dim_users (user_id BIGINT, name TEXT, email TEXT)")
        db.execute("INSERT INTO kommo_model.dim_users VALUES (21, 'Rita Dias', NULL)")
    path = users.users_path(data_dir)
    code, out = invoke("users", "add", "rita", "--role", "seller", "--account", "acne",
                       "--password-stdin", input=f"{PASSWORD}\n")  # fmt: skip
    assert code == 2 and "no account named 'acne'" in out and "acme, beta" in out
    assert not path.exists()  # refused before anything was written
    code, out = invoke("--account", "acme", "users", "add", "rita", "--role", "seller",
                       "--account", "acme", "--kommo-user", "Rita Dias", "--password-stdin",
                       input=f"{PASSWORD}\n")  # fmt: skip
    assert code == 0, out
    rita = users.get(path, "rita")
    assert rita.accounts == ("acme",) and rita.allowed_sellers_in("acme") == (21,)
    code, out = invoke("users", "list")
    assert code == 0 and "acme: 21" in out, out
    code, out = invoke("users", "accounts", "rita", "beta", "acme")
    assert code == 0 and "rita sees acme, beta" in out
    code, out = invoke("users", "accounts", "rita", "--all")
    assert code == 0 and users.get(path, "rita").accounts is None
    code, out = invoke("users", "accounts", "rita")
    assert code == 2 and "either account names or --all" in out


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost"])
def test_loopback_may_serve_without_users(host: str, tmp_path: Path) -> None:
    dashboard_cmd.check_access(host, tmp_path)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "dashboard.example.com"])
def test_any_other_address_needs_a_user_first(host: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no users exist") as caught:
        dashboard_cmd.check_access(host, tmp_path)
    assert "kommo-analytics users add <name> --role admin" in caught.value.hint
    users.add(users.users_path(tmp_path), "ana", "admin", PASSWORD)
    dashboard_cmd.check_access(host, tmp_path)


def test_the_dashboard_command_refuses_0_0_0_0_before_starting(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("Streamlit must not be started")

    monkeypatch.setattr(dashboard_cmd.subprocess, "Popen", never)
    code, out = invoke("dashboard", "--host", "0.0.0.0")
    assert code == 2
    assert "no users exist" in out and "users add <name> --role admin" in out

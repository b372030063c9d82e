"""The accounts of an install: the register, each account's folder and warehouse, and what
`add`, `test` and `remove` leave behind."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from kommo_analytics.errors import ApiError, ConfigError
from kommo_analytics.service import accounts
from kommo_analytics.settings import (
    MAIN_ACCOUNT,
    Settings,
    account_database_url,
    account_names,
    default_account,
    load_settings,
    read_register,
    using_account,
)
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync.harness import account


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """An install without an account of .env: only the register's."""
    for name in ("KOMMO_BASE_URL", "KOMMO_ACCESS_TOKEN", "KOMMO_ACCOUNT", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def kommo() -> tuple[httpx.AsyncBaseTransport, str]:
    """The small emulated account (seed 3), answered in-process, and its long-lived token."""
    acc = account(seed=3)
    return httpx.ASGITransport(app=acc.app), acc.state.tokens.demo_token


def test_an_added_account_has_its_folder_secrets_and_what_kommo_reports(
    install: Settings, kommo: tuple[httpx.AsyncBaseTransport, str]
) -> None:
    transport, token = kommo
    entry, reported = accounts.add(
        install, "acme", base_url="http://kommo.test/", token=token, transport=transport
    )
    # The emulated account is a Brazilian one: Kommo's own zone and currency are kept.
    assert reported is not None
    assert (entry.timezone, entry.currency) == ("America/Sao_Paulo", "BRL")
    assert entry.display_name == reported.name  # none given: Kommo's name
    assert read_register(install.install_dir) == {"acme": entry}
    folder = install.data_dir / "accounts" / "acme"
    token_file = folder / "access_token"
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # The token is in its file, never in the register.
    assert token not in (install.data_dir / "accounts.toml").read_text()

    own = install.for_account("acme")
    assert own.kommo_base_url == "http://kommo.test"
    assert own.kommo_access_token == SecretStr(token)
    assert own.data_dir == folder
    assert own.install_dir == install.data_dir
    assert own.resolved_database_url == f"duckdb:///{folder / 'kommo.duckdb'}"


def test_the_env_account_comes_first_and_is_the_default(
    install: Settings, kommo: tuple[httpx.AsyncBaseTransport, str]
) -> None:
    transport, token = kommo
    accounts.add(install, "beta", base_url="http://b.test", token=token, transport=transport)
    accounts.add(install, "alfa", base_url="http://a.test", token=token, transport=transport)
    # Without an account of .env, the register's first (in the order added) is the default.
    assert account_names(install) == ["beta", "alfa"]
    assert default_account(install) == "beta"
    with_env = install.model_copy(update={"kommo_base_url": "http://main.test"})
    assert account_names(with_env) == [MAIN_ACCOUNT, "beta", "alfa"]
    assert default_account(with_env) == MAIN_ACCOUNT
    assert with_env.for_account(MAIN_ACCOUNT) is with_env


def test_load_settings_follows_the_chosen_account(
    install: Settings,
    kommo: tuple[httpx.AsyncBaseTransport, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport, token = kommo
    monkeypatch.setenv("DATA_DIR", str(install.data_dir))
    accounts.add(install, "one", base_url="http://1.test", token=token, transport=transport)
    accounts.add(install, "two", base_url="http://2.test", token=token, transport=transport)
    assert load_settings().kommo_base_url == "http://1.test"  # the first added
    monkeypatch.setenv("KOMMO_ACCOUNT", "two")
    assert load_settings().kommo_base_url == "http://2.test"
    with using_account("one"):  # the dashboard's switcher, a worker's job: before the variable
        assert load_settings().kommo_base_url == "http://1.test"
    monkeypatch.setenv("KOMMO_ACCOUNT", "three")
    with pytest.raises(ConfigError, match=r"no account named 'three'.*one, two"):
        load_settings()


def test_each_account_overrides_only_what_is_its_own(install: Settings) -> None:
    main = install.model_copy(
        update={
            "account_timezone": "America/Bogota",
            "holidays_country": "CO",
            "response_sla_hours": 4.0,
            "database_url": "postgresql+psycopg://u:p@db:5432/kommo?sslmode=require",
        }
    )
    folder = install.data_dir / "accounts" / "acme"
    folder.mkdir(parents=True)
    (install.data_dir / "accounts.toml").write_text(
        '[accounts.acme]\nbase_url = "https://acme.kommo.com"\n'
    )
    own = main.for_account("acme")
    # .env's overrides of the zone and the holidays are the main account's; the account's own
    # zone and country (from Kommo) apply to another.
    assert (own.account_timezone, own.holidays_country) == (None, None)
    assert own.response_sla_hours == 4.0  # shared settings stay
    assert own.database_url == "postgresql+psycopg://u:p@db:5432/kommo_acme?sslmode=require"
    assert own.kommo_access_token is None  # no token file: nothing invented


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, None),
        ("duckdb:///data/kommo.duckdb", "duckdb:///data/accounts/acme/kommo.duckdb"),
        ("mysql+pymysql://root@127.0.0.1:3306/kommo", "mysql+pymysql://root@127.0.0.1:3306/kommo_acme"),
    ],
)  # fmt: skip
def test_a_warehouse_of_its_own(url: str | None, expected: str | None) -> None:
    assert account_database_url(url, "acme") == expected


@pytest.mark.parametrize("name", ["main", "Acme", "1st", "a-b", "x" * 31, ""])
def test_names_safe_in_paths_and_database_names_only(install: Settings, name: str) -> None:
    with pytest.raises(ConfigError, match="cannot name an account"):
        accounts.add(install, name, base_url="https://a.kommo.com", token="t", test=False)


def test_a_failed_add_leaves_nothing_behind(install: Settings) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"title": "Unauthorized", "status": 401})

    with pytest.raises(ApiError):
        accounts.add(
            install, "acme", base_url="https://acme.kommo.com", token="wrong",
            transport=httpx.MockTransport(refuse),
        )  # fmt: skip
    assert read_register(install.install_dir) == {}
    assert not (install.data_dir / "accounts" / "acme").exists()


def test_one_account_one_entry(install: Settings) -> None:
    accounts.add(install, "acme", base_url="https://acme.kommo.com", token="t", test=False)
    with pytest.raises(ConfigError, match="exists already"):
        accounts.add(install, "acme", base_url="https://other.kommo.com", token="t", test=False)
    with pytest.raises(ConfigError, match="registered already, as 'acme'"):
        accounts.add(install, "acme2", base_url="https://acme.kommo.com/", token="t", test=False)


def test_removing_an_account_removes_its_data_and_nothing_else(install: Settings) -> None:
    for name in ("acme", "beta"):
        accounts.add(install, name, base_url=f"https://{name}.kommo.com", token="t", test=False)
        folder = install.data_dir / "accounts" / name
        (folder / "goals.csv").write_text("seller,month,revenue\n")
    accounts.remove(install, "acme")
    assert list(read_register(install.install_dir)) == ["beta"]
    assert not (install.data_dir / "accounts" / "acme").exists()
    assert (install.data_dir / "accounts" / "beta" / "goals.csv").exists()
    with pytest.raises(ConfigError, match="not in the register"):
        accounts.remove(install, MAIN_ACCOUNT)


def test_a_damaged_register_is_named(install: Settings) -> None:
    install.data_dir.mkdir()
    (install.data_dir / "accounts.toml").write_text("[accounts.acme\nbase_url = 1\n")
    with pytest.raises(ConfigError, match=r"accounts register .* is damaged"):
        read_register(install.data_dir)


def test_postgres_accounts_get_and_lose_a_database_of_their_own(
    install: Settings, postgres_url: str
) -> None:
    server = install.model_copy(update={"database_url": postgres_url})
    accounts.add(server, "acme", base_url="https://acme.kommo.com", token="t", test=False)
    backend_url = server.for_account("acme").resolved_database_url
    target = parse_database_url(backend_url)
    from kommo_analytics.warehouse.backends import backend_for

    backend = backend_for(target)
    with backend.connect() as con:  # it exists: a connection opens
        assert con.execute("SELECT current_database()").fetchone()[0].endswith("_acme")
    accounts.remove(server, "acme")
    assert backend._database_exists() is False  # type: ignore[attr-defined]

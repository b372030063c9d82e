from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from kommo_analytics.dashboard import ENV_DATABASE_URL
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import (
    Settings,
    UnknownSetting,
    known_settings,
    load_settings,
    setting_prefixes,
    unknown_settings,
)

ENV_NAMES = (
    "KOMMO_BASE_URL", "KOMMO_ACCESS_TOKEN", "KOMMO_CLIENT_ID", "KOMMO_CLIENT_SECRET",
    "KOMMO_REDIRECT_URI", "KOMMO_AUTH_CODE", "DATABASE_URL", "DATA_DIR", "HOLIDAYS_COUNTRY",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout


def test_earlier_systems_variable_names_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOMMO_CLIENT_ID", "abc")
    monkeypatch.setenv("KOMMO_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("KOMMO_REDIRECT_URI", "https://example.com/cb")
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", "tok")
    monkeypatch.setenv("KOMMO_BASE_URL", "https://acme.kommo.com/")
    s = load_settings()
    assert s.kommo_client_id == "abc"
    assert s.kommo_client_secret is not None
    assert s.kommo_client_secret.get_secret_value() == "s3cret"
    assert s.kommo_redirect_uri == "https://example.com/cb"
    assert s.kommo_base_url == "https://acme.kommo.com"  # trailing slash dropped
    assert s.has_kommo_credentials


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", "very-secret-token")
    monkeypatch.setenv("KOMMO_CLIENT_SECRET", "very-secret-secret")
    s = load_settings()
    assert "very-secret" not in repr(s)
    assert "very-secret" not in str(s.model_dump())


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KOMMO_BASE_URL=https://beta.kommo.com\nDATA_DIR=/tmp/x\n")
    s = load_settings()
    assert s.kommo_base_url == "https://beta.kommo.com"
    assert s.resolved_database_url == "duckdb:////tmp/x/kommo.duckdb"


def test_default_database_is_a_duckdb_file_under_data() -> None:
    s = Settings()
    assert s.resolved_database_url == "duckdb:///data/kommo.duckdb"
    assert not s.has_kommo_credentials


def test_a_wrong_setting_names_the_variable_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOMMO_BASE_URL", "acme.kommo.com")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "KOMMO_BASE_URL" in info.value.message
    assert "https://<subdomain>.kommo.com" in info.value.message
    assert ".env" in info.value.hint


def test_holidays_country_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().holidays_country is None  # the account's country decides
    monkeypatch.setenv("HOLIDAYS_COUNTRY", " br-sp ")
    assert load_settings().holidays_country == "BR-SP"
    monkeypatch.setenv("HOLIDAYS_COUNTRY", "mex")  # an alpha-3 code is read as its alpha-2
    assert load_settings().holidays_country == "MX"


def test_a_holidays_country_nobody_knows_names_valid_examples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOLIDAYS_COUNTRY", "Brasil")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "HOLIDAYS_COUNTRY" in info.value.message and "'Brasil'" in info.value.message
    assert "BR, BR-SP" in info.value.message


def test_env_example_documents_every_setting() -> None:
    example = (Path(__file__).parents[1] / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in example, f"{name.upper()} is missing from .env.example"


def test_an_untouched_copy_of_env_example_means_nothing_is_set(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    s = load_settings()
    assert not s.has_kommo_credentials
    assert s.kommo_access_token is None and s.kommo_client_id is None
    assert s.resolved_database_url == "duckdb:///data/kommo.duckdb"
    assert s.kommo_rate_limit_per_second == 7


def test_a_misspelt_setting_is_reported_with_the_closest_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("DATABASE_ULR=postgresql+psycopg://x@h/db\nDATA_DIR=d\n")
    monkeypatch.setenv("kommo_acess_token", "t")  # case does not hide it
    monkeypatch.setenv("HOME_URL", "not ours")  # no setting starts with HOME_
    found = {u.name: u for u in unknown_settings()}
    assert set(found) == {"DATABASE_ULR", "KOMMO_ACESS_TOKEN"}
    assert found["DATABASE_ULR"] == UnknownSetting("DATABASE_ULR", ".env", "DATABASE_URL")
    assert found["KOMMO_ACESS_TOKEN"].source == "environment"
    assert found["KOMMO_ACESS_TOKEN"].suggestion == "KOMMO_ACCESS_TOKEN"
    # And the misspelt URL really was ignored: that is why it is worth a warning.
    assert load_settings().database_url is None


def test_the_known_names_and_prefixes_come_from_the_settings_model() -> None:
    class More(Settings):
        smtp_host: str | None = None

    assert {"KOMMO_ACCESS_TOKEN", "DATABASE_URL", "RESPONSE_SLA_HOURS"} <= known_settings()
    assert {"KOMMO_", "DATABASE_", "DATA_", "ACCOUNT_"} <= set(setting_prefixes())
    # A field added to the model is picked up without a list to keep in step.
    assert "SMTP_HOST" in known_settings(More) and "SMTP_" in setting_prefixes(More)


READS_ENV = re.compile(r"""(?:environ(?:\.get)?[\[(]|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']""")


def test_every_variable_the_project_reads_outside_settings_counts_as_known() -> None:
    root = Path(__file__).resolve().parent.parent
    sources = [
        *root.glob("src/**/*.py"),
        *root.glob("tests/**/*.py"),
        *root.glob("benchmarks/*.py"),
    ]
    names = {m for p in sources for m in READS_ENV.findall(p.read_text(encoding="utf-8"))}
    names |= set(re.findall(r"\b(KOMMO_[A-Z_]+)=", (root / "scripts" / "test.sh").read_text()))
    names.add(ENV_DATABASE_URL)
    assert "KOMMO_TEST_REQUIRE_SERVERS" in names and "KOMMO_VENV_EXTRAS" in names
    reported = [u.name for u in unknown_settings(dict.fromkeys(names, "1"), Path("no.env"))]
    assert reported == []


def test_the_limiter_shares_a_redis_broker_without_its_queue_name() -> None:
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/kommo"
    settings = Settings(broker_url="redis://h:6379/2?queue=agency_a", database_url=pg)
    assert settings.resolved_limiter_url == "redis://h:6379/2"
    # RabbitMQ keeps no rate budget: without LIMITER_URL there is none to share, so it is asked.
    with pytest.raises(ValidationError, match="set LIMITER_URL to a Redis URL"):
        Settings(broker_url="amqp://guest:guest@h:5672/", database_url=pg)
    given = Settings(broker_url="amqp://h/", limiter_url="redis://r:6379/1", database_url=pg)
    assert given.resolved_limiter_url == "redis://r:6379/1"

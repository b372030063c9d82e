"""Secrets never shown: with known values for the access token, the client secret and a database
password, a sync, `metrics`, the CLI's error paths and every dashboard page are run, and every
output, log record, file of the data folder and text column of the warehouse is searched for them.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from kommo_analytics import dashboard
from kommo_analytics.cli.main import app as cli
from kommo_analytics.dashboard import ENV_DATABASE_URL
from kommo_analytics.service.health import probe
from kommo_analytics.settings import ACCESS_TOKEN_FILE
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync.harness import account, duckdb_url, settings_for, sync

CLIENT_SECRET = "client-secret-7f3a9c51d2"
DB_PASSWORD = "pg-pass-55e1b0c9"
REFUSING_PG = f"postgresql+psycopg://kommo:{DB_PASSWORD}@127.0.0.1:1/kommo"
APP = Path(dashboard.__file__).parent / "app.py"
PAGES = sorted(p.name for p in (APP.parent / "app_pages").glob("*.py") if p.name != "__init__.py")

runner = CliRunner()


def _secrets(token: str) -> list[str]:
    # A JWT's signature alone is secret enough to search for: a token cut in two still leaks.
    return [token, token.rsplit(".", 1)[-1], CLIENT_SECRET, DB_PASSWORD]


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s[:6] + "…" for s in secrets if s in text]


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, list[str]]]:
    base = tmp_path_factory.mktemp("secrets")
    acc = account(seed=3)
    token = acc.state.tokens.demo_token
    settings = settings_for("http://kommo.test", token, base, duckdb_url(base)).model_copy(
        update={"kommo_client_secret": SecretStr(CLIENT_SECRET), "kommo_client_id": "id"}
    )
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler, root = Keep(level=logging.DEBUG), logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        result = sync(acc, base, duckdb_url(base), settings=settings)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    secrets = _secrets(token)
    assert result.status == "ok"
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in records)
    assert len(records) > 0 and _leaks(logged + repr(result), secrets) == []
    yield base, duckdb_url(base), secrets


def test_no_secret_is_stored_in_the_warehouse_or_the_data_folder(
    synced: tuple[Path, str, list[str]],
) -> None:
    base, url, secrets = synced
    target = parse_database_url(url)
    columns = reader.query(
        target,
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR'",
    )
    assert len(columns) > 50
    tables: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in columns:
        tables.setdefault((schema, table), []).append(column)
    found = []
    for (schema, table), names in tables.items():  # one query a table: every column, every secret
        where = " OR ".join(f'"{c}" LIKE ?' for c in names for _ in secrets)
        sql = f'SELECT count(*) FROM "{schema}"."{table}" WHERE {where}'
        if reader.query(target, sql, [f"%{s}%" for _ in names for s in secrets])[0][0]:
            found.append(table)
    assert found == []
    files = [p for p in base.rglob("*") if p.is_file()]
    assert [str(p) for p in files if _leaks(p.read_bytes().decode("latin-1"), secrets)] == []


def test_the_cli_shows_no_secret_on_its_outputs_and_error_paths(
    synced: tuple[Path, str, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _base, url, secrets = synced
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KOMMO_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", secrets[0])
    monkeypatch.setenv("KOMMO_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("KOMMO_CLIENT_ID", "id")
    monkeypatch.setenv("KOMMO_REDIRECT_URI", "https://example.com/cb")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    runs = {
        "metrics": ["metrics", "--db", url, "--from", "2026-10-01", "--to", "2026-11-25"],
        "metrics --json": ["metrics", "--db", url, "--json"],
        "metrics, refusing db": ["metrics", "--db", REFUSING_PG],
        "sync, refusing db": ["sync", "--db", REFUSING_PG],
        "auth, bad code": ["auth", "--code", "not-a-code"],
        "forecast, refusing db": ["forecast", "--db", REFUSING_PG],
    }
    for name, args in runs.items():
        result = runner.invoke(cli, args)
        shown = result.stdout + result.stderr + repr(result.exception)
        assert _leaks(shown, secrets) == [], name
    monkeypatch.setenv("DATABASE_URL", REFUSING_PG)
    result = runner.invoke(cli, ["metrics"])
    assert result.exit_code != 0 and "kommo@127.0.0.1:1" in result.stderr  # the masked URL
    assert _leaks(result.stdout + result.stderr, secrets) == []


def _agency_install(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """Two registered accounts, each a copy of the synced warehouse and each with the known
    token in its private token file: the All accounts page and the switcher are shown too."""
    data = tmp_path / "data"
    lines = []
    for name in ("alpha", "beta"):
        lines.append(f'[accounts.{name}]\nbase_url = "https://{name}.kommo.com"\n')
        shutil.copytree(base / "warehouse", tmp_path / "wh" / "accounts" / name,
                        ignore=shutil.ignore_patterns("*.lock"))  # fmt: skip
        (data / "accounts" / name).mkdir(parents=True)
        (data / "accounts" / name / ACCESS_TOKEN_FILE).write_text(token + "\n", encoding="utf-8")
    (data / "accounts.toml").write_text("".join(lines), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("KOMMO_BASE_URL", raising=False)
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv(ENV_DATABASE_URL, f"duckdb:///{tmp_path / 'wh' / 'kommo.duckdb'}")


@pytest.mark.parametrize("which", ["synced", "refusing", "agency"])
def test_no_dashboard_page_shows_a_secret(
    synced: tuple[Path, str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    which: str,
) -> None:
    base, url, secrets = synced
    monkeypatch.setenv(ENV_DATABASE_URL, url if which == "synced" else REFUSING_PG)
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", secrets[0])
    monkeypatch.setenv("KOMMO_CLIENT_SECRET", CLIENT_SECRET)
    if which == "agency":
        _agency_install(base, tmp_path, monkeypatch, secrets[0])
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params.update({"lang": "en"})
    app.run()
    # The All accounts page is in the navigation only with two accounts or more.
    pages = PAGES if which == "agency" else [p for p in PAGES if p != "all_accounts.py"]
    for page in pages:
        app.switch_page(f"app_pages/{page}").run()
        assert not app.exception, (page, [e.value for e in app.exception])
        # The whole test app: rendered elements and session state (a repr reaches logs).
        assert _leaks(repr(app), secrets) == [], page


def test_the_probe_of_a_url_with_a_password_never_shows_it() -> None:
    state = probe(REFUSING_PG)
    shown = [repr(state), state.where, str(state.error), getattr(state.error, "hint", "")]
    shown += [repr(parse_database_url(REFUSING_PG)), parse_database_url(REFUSING_PG).display]
    assert DB_PASSWORD not in " ".join(str(s) for s in shown)

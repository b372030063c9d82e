"""`kommo-analytics sync` and `auth`: what a person sees when something is missing or wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from kommo_analytics.cli import sync_cmd
from kommo_analytics.cli.main import app
from kommo_analytics.settings import Settings
from kommo_analytics.sync.engine import SyncResult
from kommo_analytics.sync.streams import STREAM_NAMES, STREAMS, parse_streams

runner = CliRunner()


def test_sync_without_an_account_says_how_to_configure_one(clean_env: Path) -> None:
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "no Kommo account is configured" in result.stderr
    assert "KOMMO_BASE_URL" in result.stderr and "demo" in result.stderr


def test_an_address_without_a_token_names_the_missing_settings(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOMMO_BASE_URL", "https://acme.kommo.com")
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "no Kommo account is configured" not in result.stderr
    assert "KOMMO_ACCESS_TOKEN" in result.stderr
    for name in ("KOMMO_CLIENT_ID", "KOMMO_CLIENT_SECRET", "KOMMO_REDIRECT_URI", "auth --code"):
        assert name in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_half_of_the_oauth_keys_names_the_other_half(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOMMO_BASE_URL", "https://acme.kommo.com")
    monkeypatch.setenv("KOMMO_CLIENT_ID", "id")
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "KOMMO_CLIENT_SECRET" in result.stderr and "KOMMO_REDIRECT_URI" in result.stderr


def test_a_token_without_an_address_asks_for_kommo_base_url(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", "t")
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "no Kommo account is configured" not in result.stderr
    assert "KOMMO_BASE_URL" in result.stderr and "kommo.com" in result.stderr


def test_the_demo_does_not_quietly_replace_a_half_configured_account(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOMMO_BASE_URL", "https://acme.kommo.com")
    result = runner.invoke(app, ["demo", "--no-dashboard"])
    assert result.exit_code == 2
    assert "KOMMO_ACCESS_TOKEN" in result.stderr
    assert "demo account" not in result.stdout


@pytest.mark.parametrize("entities", ["leads,deals", "notes", "account", "leads,users"])
def test_unknown_entities_are_one_line_listing_the_stream_names(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, entities: str
) -> None:
    monkeypatch.setenv("KOMMO_BASE_URL", "https://acme.kommo.com")
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", "t")
    result = runner.invoke(app, ["sync", "--entities", entities], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    unknown = [n for n in entities.split(",") if n not in STREAM_NAMES]
    assert f"unknown --entities: {', '.join(unknown)}" in result.stderr
    assert ", ".join(STREAM_NAMES) in result.stderr


def test_the_entities_are_the_stream_names_the_sync_prints() -> None:
    # The progress and the summary name what they show after the stream declarations.
    assert ("dictionaries", *(s.name for s in STREAMS)) == STREAM_NAMES
    assert {"leads", "events", "lead_calls", "contact_calls"} <= set(STREAM_NAMES)
    assert parse_streams("leads,events") == frozenset({"leads", "events"})  # README's example
    assert parse_streams(" Lead_Calls , contact_calls,") == frozenset(
        {"lead_calls", "contact_calls"}
    )
    assert parse_streams(None) is None and parse_streams("") is None


def test_sync_help_lists_the_stream_names(clean_env: Path) -> None:
    result = runner.invoke(app, ["sync", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    assert ", ".join(STREAM_NAMES) in result.stdout
    assert "notes" not in result.stdout and "custom_fields" not in result.stdout


@pytest.mark.server
def test_a_dead_database_is_one_line_naming_it_without_the_password(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOMMO_BASE_URL", "https://acme.kommo.com")
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", "t")
    result = runner.invoke(
        app, ["sync", "--db", "postgresql+psycopg://kommo:hunter2@127.0.0.1:1/kommo"]
    )
    assert result.exit_code == 1
    assert "cannot use the database postgresql+psycopg://kommo@127.0.0.1:1/kommo" in result.stderr
    assert "server is running" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_auth_without_keys_lists_the_missing_settings(clean_env: Path) -> None:
    result = runner.invoke(app, ["auth", "--code", "abc"])
    assert result.exit_code == 2
    for name in ("KOMMO_BASE_URL", "KOMMO_CLIENT_ID", "KOMMO_CLIENT_SECRET", "KOMMO_REDIRECT_URI"):
        assert name in result.stderr


@pytest.mark.slow
def test_auth_then_sync_with_oauth_against_a_served_account(clean_env: Path) -> None:
    """The OAuth path as a user runs it: `auth --code`, then `sync`, as real processes."""
    import os
    import stat
    import subprocess
    import sys

    import duckdb

    from kommo_analytics.emulator.app import create_app
    from kommo_analytics.emulator.config import EmulatorConfig
    from kommo_analytics.emulator.server import serve_in_thread
    from kommo_analytics.emulator.state import get_state
    from tests.sync.harness import NOW, Clock, account

    acc = account(seed=3)
    app = create_app(acc.store, EmulatorConfig(rate_limit_per_second=1000), clock=Clock(NOW + 60))
    state = get_state(app)
    config = state.config
    with serve_in_thread(app) as base:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KOMMO_")}
        env.update(
            KOMMO_BASE_URL=base,
            KOMMO_CLIENT_ID=config.client_id,
            KOMMO_CLIENT_SECRET=config.client_secret,
            KOMMO_REDIRECT_URI=config.redirect_uri,
            KOMMO_RATE_LIMIT_PER_SECOND="40",
        )
        command = [sys.executable, "-m", "kommo_analytics"]
        code = state.tokens.issue_auth_code()
        auth = subprocess.run(
            [*command, "auth", "--code", code], cwd=clean_env, env=env, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert auth.returncode == 0, auth.stderr
        tokens = clean_env / "data" / "kommo_tokens.json"
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
        assert code not in auth.stdout + auth.stderr
        again = subprocess.run(
            [*command, "auth", "--code", code], cwd=clean_env, env=env, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert again.returncode == 1 and "authorization code" in again.stderr.lower()
        synced = subprocess.run(
            [*command, "sync", "--entities", "leads,deleted_leads"], cwd=clean_env, env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert synced.returncode == 0, synced.stdout + synced.stderr
    con = duckdb.connect(str(clean_env / "data" / "kommo.duckdb"), read_only=True)
    try:
        (leads,) = con.execute("SELECT count(*) FROM kommo_raw.leads").fetchone() or (0,)
    finally:
        con.close()
    assert leads == acc.store.count("leads")


def test_the_sync_summary_ends_with_the_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    console = Console(width=400, record=True)
    monkeypatch.setattr(sync_cmd, "console", console)
    result = SyncResult("r", "ok", "full", datetime.now(UTC))
    url = f"duckdb:///{data / 'kommo.duckdb'}"
    sync_cmd.print_summary(result, Settings(data_dir=data, database_url=url), None, 1.0)
    last = console.export_text().strip().splitlines()[-1]
    assert last.startswith("warning: other users of this computer can read or change 1 ")
    assert last.endswith(f"make them private: chmod 700 {data}")


@pytest.mark.slow
def test_a_failed_load_is_one_line_on_screen_and_its_traceback_goes_to_the_log(
    clean_env: Path,
) -> None:
    import os
    import stat
    import subprocess
    import sys

    import duckdb

    from kommo_analytics.emulator.app import create_app
    from kommo_analytics.emulator.config import EmulatorConfig
    from kommo_analytics.emulator.server import serve_in_thread
    from kommo_analytics.emulator.state import get_state
    from tests.sync.harness import NOW, Clock, account

    data = clean_env / "data"
    data.mkdir()
    # A users table no Kommo user fits: the first load (the dictionaries) fails inside dlt.
    with duckdb.connect(str(data / "kommo.sync.duckdb")) as con:
        con.execute("CREATE SCHEMA kommo_raw")
        con.execute("CREATE TABLE kommo_raw.users (id BIGINT PRIMARY KEY CHECK (id < 0))")
    acc = account(seed=3)
    emulator = create_app(acc.store, EmulatorConfig(), clock=Clock(NOW + 60))
    with serve_in_thread(emulator) as base:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KOMMO_")}
        env.update(KOMMO_BASE_URL=base, KOMMO_ACCESS_TOKEN=get_state(emulator).tokens.demo_token)
        result = subprocess.run(
            [sys.executable, "-m", "kommo_analytics", "sync", "--entities", "leads"],
            cwd=clean_env, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown and "dlt" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "CHECK constraint failed" in result.stderr
    log = data / "logs" / "sync.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    text = log.read_text()
    assert "Traceback" in text and "CHECK constraint failed" in text
    assert f"see {log}" in result.stderr  # where the details are

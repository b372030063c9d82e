"""Starting the CLI's sync from the dashboard (service/sync_start.py), with a stand-in for the
child process: what is run, with which warehouse, and when it is refused."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kommo_analytics.service import sync_start
from kommo_analytics.service.sync_start import SyncNotStarted
from kommo_analytics.settings import Settings, load_settings
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.warehouse.target import parse_database_url

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


@dataclass
class FakeChild:
    pid: int = 4242
    code: int | None = None
    calls: list[tuple[list[str], dict[str, str], Path]] = field(default_factory=list)

    def poll(self) -> int | None:
        return self.code

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], output: Path) -> FakeChild:
        self.calls.append((list(argv), dict(env), output))
        return self


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    url = f"duckdb:///{tmp_path / 'kommo.duckdb'}"
    yield url
    sync_start.forget(url)


def account(tmp_path: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        kommo_base_url="https://acme.kommo.com",
        kommo_access_token="token",
    )


def test_it_runs_the_clis_sync_of_the_dashboards_warehouse_and_keeps_its_outcome(
    tmp_path: Path, url: str
) -> None:
    child = FakeChild()
    launch = sync_start.start(account(tmp_path), url, full=True, now=NOW, spawn=child.spawn)
    ((argv, env, output),) = child.calls
    assert argv == [sys.executable, "-m", "kommo_analytics", "sync", "--full"]
    # The URL goes in the environment, not the command line that `ps` shows.
    assert env["DATABASE_URL"] == url and url not in argv
    assert output == tmp_path / "data" / "logs" / "dashboard-sync.log"
    assert launch.running and launch.full and launch.started_at == NOW

    with pytest.raises(SyncNotStarted) as refused:  # its own child still runs
        sync_start.start(account(tmp_path), url, full=False, now=NOW, spawn=child.spawn)
    assert refused.value.reason == "busy" and len(child.calls) == 1

    child.code = 1
    last = sync_start.last(url)
    assert last is not None and not last.running and last.returncode == 1
    again = sync_start.start(account(tmp_path), url, full=False, now=NOW, spawn=child.spawn)
    assert child.calls[-1][0][-1] == "sync" and not again.full


def test_it_is_refused_while_another_writer_holds_the_lock_or_without_an_account(
    tmp_path: Path, url: str
) -> None:
    child = FakeChild()
    settings = account(tmp_path)
    with writer_lock(parse_database_url(url), settings.data_dir, "import"):
        assert sync_start.busy(settings, url)
        with pytest.raises(SyncNotStarted) as refused:
            sync_start.start(settings, url, full=False, now=NOW, spawn=child.spawn)
        assert refused.value.reason == "busy"
    assert not sync_start.busy(settings, url)

    no_account = load_settings(data_dir=tmp_path / "data")
    if no_account.kommo_account_error() is None:
        pytest.skip("a Kommo account is configured in this environment")
    with pytest.raises(SyncNotStarted) as refused:
        sync_start.start(no_account, url, full=False, now=NOW, spawn=child.spawn)
    assert refused.value.reason == "no_account"
    assert not child.calls and sync_start.last(url) is None


def test_the_child_writes_its_output_to_a_private_file(tmp_path: Path) -> None:
    output = tmp_path / "data" / "logs" / "dashboard-sync.log"
    child = sync_start._spawn([sys.executable, "-c", "print('synced')"], dict(os.environ), output)
    assert isinstance(child, subprocess.Popen)
    assert child.wait(timeout=20) == 0
    assert output.read_text(encoding="utf-8") == "synced\n"
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    launch = sync_start.Launch(False, NOW, output, child.pid, 0)
    assert sync_start.output_tail(launch) == ["synced"]


def test_the_child_syncs_the_account_on_screen(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    install = tmp_path / "data"
    install.mkdir()
    (install / "accounts.toml").write_text('[accounts.acme]\nbase_url = "https://a.kommo.com"\n')
    (install / "accounts" / "acme").mkdir(parents=True)
    (install / "accounts" / "acme" / "access_token").write_text("token")
    main = account(tmp_path)
    acme = main.for_account("acme")
    monkeypatch.setenv("KOMMO_ACCOUNT", "beta")  # the dashboard was started on another account
    child = FakeChild()
    # The account of .env: its URL as DATABASE_URL, as before, and never the process's account.
    sync_start.start(main, url, full=False, now=NOW, spawn=child.spawn)
    assert child.calls[-1][1]["KOMMO_ACCOUNT"] == "main"
    assert child.calls[-1][1]["DATABASE_URL"] == url
    # A registered account: the child derives the same warehouse from the install's settings.
    own = acme.resolved_database_url
    sync_start.start(acme, own, full=False, now=NOW, spawn=FakeChild().spawn)
    env = sync_start.child_environment(acme, own)
    assert env["KOMMO_ACCOUNT"] == "acme" and "DATABASE_URL" not in env
    sync_start.forget(own)
    # A warehouse the child would not derive is refused rather than a sync of another one.
    child.code = 0
    with pytest.raises(SyncNotStarted) as refused:
        sync_start.start(acme, url, full=False, now=NOW, spawn=child.spawn)
    assert refused.value.reason == "not_started" and len(child.calls) == 1

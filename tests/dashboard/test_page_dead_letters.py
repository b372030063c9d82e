"""The Data health page's list of jobs the workers gave up on (service/dead_letters.py): shown
with their account, job, time and error, dismissed by an admin, and an empty state in the
reader's language when a queue is configured and nothing was given up on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kommo_analytics.dashboard.app_pages.data_health import dead_letters_frame
from kommo_analytics.service import dead_letters
from kommo_analytics.service.dead_letters import DeadLetter
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse.target import parse_database_url
from tests.conftest import SyncedSources, synced_database
from tests.dashboard.conftest import MakeApp

HEALTH = "app_pages/data_health.py"
LETTER = DeadLetter(
    "m-1",
    "acme",
    "full_sync",
    "Kommo answered 502 three times — try again later",
    datetime(2026, 11, 24, 12, 30, tzinfo=UTC),
    4,
)


def test_a_dead_letter_reads_in_the_accounts_zone_and_the_readers_language() -> None:
    frame = dead_letters_frame([LETTER], ZoneInfo("America/Sao_Paulo"), "pt-BR")
    row = frame.iloc[0].to_dict()
    assert row["job"] == "Sincronização completa"
    assert row["account"] == "acme" and row["attempts"] == "4"
    assert "09:30" in row["failed_at"]  # 12:30 UTC is 09:30 in São Paulo
    assert row["error"] == LETTER.error
    # A job this version does not know keeps its name rather than a made-up label.
    other = dead_letters_frame([LETTER.__class__(**{**LETTER.__dict__, "job": "x"})], UTC, "en")
    assert other.iloc[0]["job"] == "x"


def test_the_page_lists_dead_letters_an_admin_dismisses_one_then_says_there_are_none(
    make_app: MakeApp,
    synced_sources: SyncedSources,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with synced_database(synced_sources("postgres"), tmp_path) as url:
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("DATABASE_URL", url)  # workers need a server warehouse
        monkeypatch.setenv("BROKER_URL", "redis://127.0.0.1:6379/0")
        dead_letters.record(Settings(data_dir=tmp_path / "data", database_url=url), LETTER)
        app = make_app(url, lang="en")
        app.run()
        app = app.switch_page(HEALTH).run()
        assert not app.exception
        headings = [s.value for s in app.subheader]
        assert "Jobs the workers gave up on" in headings, (headings, [e.value for e in app.error])
        found = [df.value for df in app.dataframe if "attempts" in df.value.columns]
        assert found and found[0].iloc[0]["job"] == "Full sync", found
        app.button(key="health.dead.go").click().run()
        assert not app.exception
        assert dead_letters.dead_letters(parse_database_url(url)) == []
        assert any("No job was given up on" in i.value for i in app.info)

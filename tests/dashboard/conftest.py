"""A warehouse synced once per session from the emulated small account, plus empty ones.

The dashboard's clock is pinned: the emulated history ends at ``harness.NOW`` and "today", the
presets and every "how long ago" must not depend on the day the tests run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics import dashboard
from kommo_analytics.dashboard import ENV_DATABASE_URL, filters
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync.harness import NOW, synced_copy

APP = Path(dashboard.__file__).parent / "app.py"

# Three hours after the emulated history ends at 15:00 UTC: 18:00 UTC, 15:00 in São Paulo.
PINNED_NOW = datetime.fromtimestamp(NOW, UTC) + timedelta(hours=3)


@pytest.fixture(scope="session")
def synced_url(small_synced: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The small account (seed 3) synced, in a copy of the session's own for these tests."""
    return synced_copy(small_synced, tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def missing_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'nowhere' / 'kommo.duckdb'}"


@pytest.fixture
def empty_url(tmp_path: Path) -> str:
    """A DuckDB file that exists but that no sync has written to."""
    path = tmp_path / "kommo.duckdb"
    duckdb.connect(str(path)).close()
    return f"duckdb:///{path}"


def sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Ask the warehouse directly; `{t}` in the statement stands for the schema-qualifier."""
    target = parse_database_url(url)
    return reader.query(target, statement.format(t=f'"{target.dataset}".'), params)


def listed(app: AppTest) -> list[int]:
    """How many rows each paged table of the page has in all, in page order: the N of its
    "Rows a–b of N · page x of y" line (English)."""
    found = (re.match(r"Rows \S+ of ([\d,]+) ·", c.value) for c in app.caption)
    return [int(m.group(1).replace(",", "")) for m in found if m]


MakeApp = Callable[..., AppTest]


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch) -> MakeApp:
    """An AppTest of the dashboard reading `url`, with the clock pinned and `params` in the URL,
    opening on `page` (a file under app_pages/) or the default page."""

    def make(url: str, page: str | None = None, **params: str) -> AppTest:
        monkeypatch.setenv(ENV_DATABASE_URL, url)
        monkeypatch.setattr(filters, "now_utc", lambda: PINNED_NOW)
        # A ceiling, not a budget: a first render on a loaded 2-core CI machine (a server
        # database, cold caches) took over 30 s once; a hung script still fails.
        app = AppTest.from_file(str(APP), default_timeout=120)
        app.query_params.update(params)
        if page is not None:  # else the default page, the overview
            app.switch_page(page)
        return app

    return make

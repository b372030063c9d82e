"""The dashboard's pages read MariaDB and PostgreSQL warehouses as they read DuckDB: the same
leads for the same filters (the pages' SQL must be portable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SyncedSources, synced_database
from tests.dashboard.conftest import MakeApp
from tests.dashboard.test_app import HEALTH, LEADS, no_exception, shown_count

PERIOD = {"period": "custom", "from": "2026-09-01", "to": "2026-11-25"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_pages_show_the_same_leads_on_every_backend(
    backend: str,
    make_app: MakeApp,
    synced_url: str,
    synced_sources: SyncedSources,
    tmp_path: Path,
) -> None:
    # The run's sync of the same account as the DuckDB warehouse, into this backend.
    with synced_database(synced_sources(backend), tmp_path) as url:
        same_pages(make_app, synced_url, url)


def same_pages(make_app: MakeApp, synced_url: str, url: str) -> None:
    reference = make_app(synced_url, LEADS, **PERIOD).run()
    no_exception(reference)
    app = make_app(url, LEADS, **PERIOD).run()
    no_exception(app)
    assert not app.error, [e.value for e in app.error]
    assert shown_count(app) == shown_count(reference) > 0
    assert list(app.dataframe[0].value["id"]) == list(reference.dataframe[0].value["id"])

    app.switch_page(HEALTH).run()
    no_exception(app)
    assert not app.error, [e.value for e in app.error]
    assert len(app.dataframe) == 4
    # The tracking codes the leads carry, counted alike by every backend.
    reference.switch_page(HEALTH).run()
    assert app.dataframe[2].value.equals(reference.dataframe[2].value)

    # The overview's cards: the same numbers from the same account on either backend.
    cards = [(m.label, m.value) for m in make_app(url, **PERIOD).run().metric]
    expected = [(m.label, m.value) for m in make_app(synced_url, **PERIOD).run().metric]
    assert cards == expected and len(cards) >= 10

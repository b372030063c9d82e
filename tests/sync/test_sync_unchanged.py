"""A sync that changed nothing rebuilds nothing and (DuckDB) publishes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from kommo_analytics.model.query import model_info
from kommo_analytics.sync.engine import NOTHING_CHANGED, SilentReporter
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync.harness import account, sync, synced_copy


class Messages(SilentReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


@pytest.mark.slow
def test_an_unchanged_sync_skips_the_rebuild_and_the_publish(
    small_synced: Path, tmp_path: Path
) -> None:
    acc = account(seed=3)
    url = synced_copy(small_synced, tmp_path)  # this account, synced
    target = parse_database_url(url)
    assert target.serving_path is not None
    built = model_info(target)["built_at"]
    served = target.serving_path.stat().st_ino

    acc.clock.now += 900
    said = Messages()
    second = sync(acc, tmp_path, url, reporter=said)
    assert second.status == "ok" and second.mode == "incremental" and second.unchanged
    assert said.lines == [NOTHING_CHANGED]
    assert target.serving_path.stat().st_ino == served  # not published: readers had it all
    assert model_info(target)["built_at"] == built
    # A run killed between a changing load and its rebuild leaves the model marked stale, which
    # the next sync rebuilds: tests/model/test_incremental.py.

"""The sync tests drive the real client through faults and broken pages; its retry pauses are
scaled down so that a test of "gives up after eight attempts" does not sleep for a minute.
The pauses themselves (exponential, capped, with jitter) are tested in tests/kommo/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kommo_analytics.kommo.client import KommoClient

SPEED_UP = 100.0


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    backoff = KommoClient._backoff

    def scaled(self: KommoClient, failures: int) -> float:
        return backoff(self, failures) / SPEED_UP

    monkeypatch.setattr(KommoClient, "_backoff", scaled)
    yield

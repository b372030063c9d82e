"""What a sync checks before it asks Kommo for anything: a channel-rules file that the model
build at the end would refuse stops it at once, not after the crawl."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kommo_analytics.errors import ConfigError
from kommo_analytics.sync.runner import run_sync
from tests.sync.harness import account, duckdb_url, settings_for


class CountingTransport(httpx.ASGITransport):
    def __init__(self, app: object) -> None:
        super().__init__(app=app)  # type: ignore[arg-type]
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await super().handle_async_request(request)


def test_a_bad_channel_rules_file_stops_the_sync_before_any_request(tmp_path: Path) -> None:
    acc = account(seed=3)
    rules = tmp_path / "channels.toml"
    rules.write_text('[channel]\nkey = "paid"\n')  # one pair of brackets: not a list of rules
    settings = settings_for("http://kommo.test", acc.state.tokens.demo_token, tmp_path,
                            duckdb_url(tmp_path)).model_copy(update={"channel_rules_file": rules})  # fmt: skip
    transport = CountingTransport(acc.app)
    with pytest.raises(ConfigError) as info:
        run_sync(settings, transport=transport, clock=acc.clock)
    assert transport.requests == 0
    assert str(rules) in info.value.one_line() and "[[channel]]" in info.value.one_line()
    assert not (tmp_path / "warehouse").exists()  # nothing written either

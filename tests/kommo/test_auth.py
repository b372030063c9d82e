"""Tokens: the token file, code exchange, refresh ahead of expiry and after a 401, and
refreshes serialised across tasks and processes so a refresh token is never used twice."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig, FaultSpec
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.server import serve_in_thread
from kommo_analytics.emulator.state import EmulatorState, get_state
from kommo_analytics.emulator.tokens import TokenStatus
from kommo_analytics.errors import AuthError, ConfigError
from kommo_analytics.kommo.auth import (
    OAUTH_HOW_TO,
    LongLivedTokenAuth,
    OAuthAuth,
    TokenFile,
    TokenPair,
    auth_from_settings,
    exchange_code,
)
from kommo_analytics.kommo.client import KommoClient
from kommo_analytics.kommo.entities import LEADS
from kommo_analytics.kommo.ratelimit import RateLimiter
from kommo_analytics.settings import Settings
from tests.emulator.harness import T0, FakeClock, protocol_app

BASE = "http://acme.kommo.test"
ROOT = Path(__file__).resolve().parents[2]


def oauth_requests(state: EmulatorState) -> int:
    return int(state.stats["by_prefix"].get("/oauth2", {}).get("requests", 0))


def oauth_for(
    state: EmulatorState, token_file: TokenFile, *, base_url: str = BASE, **options: Any
) -> OAuthAuth:
    config = state.config
    return OAuthAuth(
        base_url=base_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        redirect_uri=config.redirect_uri,
        token_file=token_file,
        limiter=options.pop("limiter", RateLimiter(1000)),
        **options,
    )


def client_with(app: ASGIApp, auth: OAuthAuth | LongLivedTokenAuth) -> KommoClient:
    return KommoClient(
        BASE,
        auth,
        limiter=RateLimiter(1000),
        transport=httpx.ASGITransport(app=app),
        backoff_base=0.01,
        backoff_max=0.1,
    )


def store_pair(state: EmulatorState, token_file: TokenFile, expires_at: float) -> TokenPair:
    issued = state.tokens.issue_pair()
    pair = TokenPair(issued.access_token, issued.refresh_token, expires_at)
    token_file.write(pair)
    return pair


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> ASGIApp:
    return protocol_app(EmulatorConfig(rate_limit_per_second=1000), clock)


@pytest.fixture
def state(app: ASGIApp) -> EmulatorState:
    return get_state(app)


@pytest.fixture
def token_file(tmp_path: Path) -> TokenFile:
    return TokenFile(tmp_path / "data" / "kommo_tokens.json")


# -- the pair and the file ------------------------------------------------------------------


def test_token_pair_never_shows_its_secrets() -> None:
    pair = TokenPair("access-secret", "refresh-secret", 123.0)
    assert "secret" not in repr(pair) and "secret" not in str(pair)
    assert TokenPair.from_json(json.loads(json.dumps(pair.to_json()))) == pair
    for bad in ({}, [], {"access_token": "a", "refresh_token": "r"}, {"expires_at": 1}):
        with pytest.raises(ValueError):
            TokenPair.from_json(bad)


def test_token_file_is_private_and_replaced_whole(token_file: TokenFile) -> None:
    assert token_file.read() is None
    first = TokenPair("a1", "r1", 100.0)
    token_file.write(first)
    assert stat.S_IMODE(token_file.path.stat().st_mode) == 0o600
    assert token_file.read() == first
    second = TokenPair("a2", "r2", 200.0)
    token_file.write(second)
    assert token_file.read() == second
    assert stat.S_IMODE(token_file.path.stat().st_mode) == 0o600
    # No temp files left next to it; the lock lives beside it under a fixed name.
    assert [p.name for p in token_file.path.parent.iterdir()] == ["kommo_tokens.json"]
    assert token_file.lock_path.name == "kommo_tokens.json.lock"
    token_file.path.write_text("{not json")
    with pytest.raises(AuthError) as raised:
        token_file.read()
    assert "kommo-analytics auth --code" in raised.value.one_line()


# -- exchanging a code ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_exchange_code_writes_a_private_token_file_that_works(
    app: ASGIApp, state: EmulatorState, clock: FakeClock, token_file: TokenFile
) -> None:
    config = state.config
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        pair = await exchange_code(
            http,
            base_url=BASE,
            client_id=config.client_id,
            client_secret=config.client_secret,
            redirect_uri=config.redirect_uri,
            code=state.tokens.issue_auth_code(),
            token_file=token_file,
            limiter=RateLimiter(1000),
            clock=clock,
        )
    assert pair.expires_at == clock.now + config.access_token_ttl
    assert token_file.read() == pair
    assert stat.S_IMODE(token_file.path.stat().st_mode) == 0o600
    auth = oauth_for(state, token_file, clock=clock)
    async with client_with(app, auth) as client:
        body, _ = await client.get_json("/ping")
    assert body == {"ok": True}
    assert auth.refreshes == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("used_code", ["has been revoked", "20 minutes"]),
        ("redirect_uri", ["Redirect URI mismatch", "KOMMO_REDIRECT_URI"]),
        ("client_secret", ["integration's keys", "KOMMO_CLIENT_SECRET"]),
    ],
)
async def test_exchange_code_names_the_likely_cause(
    app: ASGIApp, state: EmulatorState, token_file: TokenFile, change: str, expected: list[str]
) -> None:
    config = state.config
    params = {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "redirect_uri": config.redirect_uri,
        "code": state.tokens.issue_auth_code(),
    }
    if change == "used_code":
        state.tokens.exchange_code(params["code"], "localhost")
    else:
        params[change] += "/"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        with pytest.raises(AuthError) as raised:
            await exchange_code(
                http, base_url=BASE, token_file=token_file, limiter=RateLimiter(1000), **params
            )
    line = raised.value.one_line()
    for words in expected:
        assert words in line
    assert config.client_secret not in line and params["code"] not in line
    assert not token_file.path.exists()


# -- refreshing -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_refresh_ahead_of_expiry(
    app: ASGIApp, state: EmulatorState, token_file: TokenFile
) -> None:
    local = FakeClock(T0)  # the client's clock, apart from the server's
    old = store_pair(state, token_file, expires_at=local.now + 299)  # inside the 5-minute margin
    auth = oauth_for(state, token_file, clock=local)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        token = await auth.token(http)
        assert token != old.access_token
        stored = token_file.read()
        assert stored is not None and stored.access_token == token
        assert stored.expires_at == local.now + state.config.access_token_ttl
        assert state.tokens.check_access(token) is TokenStatus.VALID
        assert not state.tokens.refresh_token_valid(old.refresh_token)
        # Fresh now: no second refresh until it nears expiry again.
        assert await auth.token(http) == token
        local.advance(state.config.access_token_ttl - 200)
        assert await auth.token(http) != token
    assert auth.refreshes == 2
    assert oauth_requests(state) == 2


class Recorder(httpx.AsyncBaseTransport):
    """Notes, for every API call, the bearer token sent and what the token file held then."""

    def __init__(self, inner: httpx.AsyncBaseTransport, token_file: TokenFile) -> None:
        self.inner = inner
        self.token_file = token_file
        self.calls: list[tuple[str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v4/"):
            bearer = request.headers["authorization"].removeprefix("Bearer ")
            stored = self.token_file.read()
            self.calls.append((bearer, stored.access_token if stored else None))
        return await self.inner.handle_async_request(request)


@pytest.mark.anyio
async def test_401_refreshes_once_and_the_new_pair_is_on_disk_before_use(
    app: ASGIApp, state: EmulatorState, clock: FakeClock, token_file: TokenFile
) -> None:
    old = store_pair(state, token_file, expires_at=clock.now + 86400)
    state.tokens.expire_access_tokens()  # the server says no before our clock says so
    auth = oauth_for(state, token_file, clock=clock)
    recorder = Recorder(httpx.ASGITransport(app=app), token_file)
    async with KommoClient(BASE, auth, limiter=RateLimiter(1000), transport=recorder) as client:
        body, _ = await client.get_json("/ping")
    assert body == {"ok": True}
    (first, _), (second, on_disk) = recorder.calls
    assert first == old.access_token
    assert second != old.access_token and second == on_disk
    assert (client.stats.refreshes, auth.refreshes, client.stats.requests) == (1, 1, 2)


@pytest.mark.anyio
async def test_revoked_refresh_token_says_how_to_authorise_again(
    app: ASGIApp, state: EmulatorState, clock: FakeClock, token_file: TokenFile
) -> None:
    pair = store_pair(state, token_file, expires_at=clock.now + 86400)
    state.tokens.revoke(pair.refresh_token)  # e.g. the admin disconnected the integration
    state.tokens.expire_access_tokens()
    auth = oauth_for(state, token_file, clock=clock)
    async with client_with(app, auth) as client:
        with pytest.raises(AuthError) as raised:
            await client.get_json("/ping")
    line = raised.value.one_line()
    assert "Token has been revoked" in line
    assert OAUTH_HOW_TO in line
    assert "kommo-analytics auth --code <code>" in line and "20 minutes" in line
    assert pair.refresh_token not in line and pair.access_token not in line
    assert token_file.read() == pair  # nothing was overwritten
    assert client.stats.retries == 0  # an auth failure is not retried


@pytest.mark.anyio
async def test_a_pair_renewed_by_another_process_is_used_not_refreshed_again(
    app: ASGIApp, state: EmulatorState, clock: FakeClock, token_file: TokenFile
) -> None:
    old = store_pair(state, token_file, expires_at=clock.now + 86400)
    auth = oauth_for(state, token_file, clock=clock)
    async with client_with(app, auth) as client:
        assert (await client.get_json("/ping"))[0] == {"ok": True}  # `auth` now holds `old`
        # Another process refreshes: Kommo revokes `old`, the file gets the new pair.
        other = state.tokens.refresh(old.refresh_token, "localhost")
        token_file.write(TokenPair(other.access_token, other.refresh_token, clock.now + 86400))
        assert (await client.get_json("/ping"))[0] == {"ok": True}
    assert auth.refreshes == 0  # the spent refresh token was never sent
    assert oauth_requests(state) == 0
    assert client.stats.refreshes == 1


@pytest.mark.anyio
async def test_concurrent_401s_share_one_refresh(
    app: ASGIApp, state: EmulatorState, clock: FakeClock, token_file: TokenFile
) -> None:
    store_pair(state, token_file, expires_at=clock.now + 86400)
    state.tokens.expire_access_tokens()
    auth = oauth_for(state, token_file, clock=clock)
    async with client_with(app, auth) as client:
        results = await asyncio.gather(*(client.get_json("/ping") for _ in range(8)))
    assert all(body == {"ok": True} for body, _ in results)
    assert auth.refreshes == 1
    assert oauth_requests(state) == 1
    assert state.stats["by_prefix"]["/oauth2"].get("401", 0) == 0


@pytest.mark.anyio
async def test_crawl_survives_tokens_expiring_midway(tmp_path: Path) -> None:
    store = build_account(seed=3, scale="small", now=1_795_618_800)
    faults = FaultSpec.parse("expire_tokens_after=20")
    app = create_app(store, EmulatorConfig(rate_limit_per_second=200, faults=faults))
    state = get_state(app)
    token_file = TokenFile(tmp_path / "kommo_tokens.json")
    store_pair(state, token_file, expires_at=time.time() + 86400)
    auth = oauth_for(state, token_file)
    async with client_with(app, auth) as client:
        leads = await client.get_all(dataclasses.replace(LEADS, page_size=50))
    live = store.cursor().execute("SELECT count(*) FROM leads WHERE NOT is_deleted").fetchone()
    assert live is not None and len({lead["id"] for lead in leads}) == len(leads) == live[0]
    assert client.stats.refreshes >= 1
    assert client.stats.refreshes == auth.refreshes == oauth_requests(state)
    assert state.stats["401"] == client.stats.refreshes


# -- long-lived tokens and settings ---------------------------------------------------------


@pytest.mark.anyio
async def test_long_lived_token_cannot_be_renewed() -> None:
    auth = LongLivedTokenAuth("ll-secret")
    assert "ll-secret" not in repr(auth)
    async with httpx.AsyncClient() as http:
        assert await auth.token(http) == "ll-secret"
        with pytest.raises(AuthError) as raised:
            await auth.refresh_after_401(http, "ll-secret")
    assert "KOMMO_ACCESS_TOKEN" in raised.value.one_line()
    assert "Keys and scopes" in raised.value.one_line()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name in ("KOMMO_BASE_URL", "KOMMO_ACCESS_TOKEN", "KOMMO_CLIENT_ID", "KOMMO_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KOMMO_REDIRECT_URI", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    yield tmp_path


def test_auth_from_settings(settings_env: Path) -> None:
    limiter = RateLimiter(7)
    with pytest.raises(ConfigError):
        auth_from_settings(Settings(_env_file=None), limiter)
    long_lived = Settings(_env_file=None, kommo_access_token="tok", kommo_client_id="id")
    assert isinstance(auth_from_settings(long_lived, limiter), LongLivedTokenAuth)
    oauth = Settings(
        _env_file=None,
        kommo_base_url=BASE,
        kommo_client_id="id",
        kommo_client_secret="secret",
        kommo_redirect_uri="https://example.test/cb",
    )
    with pytest.raises(ConfigError) as raised:
        auth_from_settings(oauth, limiter)
    assert "run `kommo-analytics auth --code <code>` first" in raised.value.one_line()
    TokenFile(settings_env / "kommo_tokens.json").write(TokenPair("a", "r", 1.0))
    auth = auth_from_settings(oauth, limiter)
    assert isinstance(auth, OAuthAuth)
    assert "secret" not in repr(auth)


# -- two processes, one token file ----------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, hashlib, json, sys
    from kommo_analytics.kommo.auth import OAuthAuth, TokenFile
    from kommo_analytics.kommo.client import KommoClient
    from kommo_analytics.kommo.ratelimit import RateLimiter

    base_url, path, client_id, secret, redirect = sys.argv[1:]

    async def main() -> None:
        limiter = RateLimiter(100)
        auth = OAuthAuth(base_url=base_url, client_id=client_id, client_secret=secret,
                         redirect_uri=redirect, token_file=TokenFile(path), limiter=limiter)
        async with KommoClient(base_url, auth, limiter=limiter, max_attempts=2) as client:
            # Both processes are set up before either sends: the parent says "go" once it
            # has heard "ready" from both, however long starting them took.
            print("ready", flush=True)
            sys.stdin.readline()
            body, _ = await client.get_json("/ping")
            token = await auth.token(client._http)
        digest = hashlib.sha256(token.encode()).hexdigest()
        print(json.dumps({"ok": body == {"ok": True}, "token": digest,
                          "refreshes": auth.refreshes}))

    asyncio.run(main())
    """
)


class SlowTokenEndpoint:
    """Holds every token request for a while, so that the second process surely arrives
    while the first one is refreshing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/oauth2/"):
            await asyncio.sleep(0.3)
        await self.app(scope, receive, send)


@pytest.fixture
def server() -> Iterator[tuple[EmulatorState, str]]:
    app = protocol_app(EmulatorConfig(rate_limit_per_second=1000), time.time)
    with serve_in_thread(SlowTokenEndpoint(app)) as base:
        yield get_state(app), base


def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(
    server: tuple[EmulatorState, str], tmp_path: Path
) -> None:
    state, base_url = server
    token_file = TokenFile(tmp_path / "kommo_tokens.json")
    store_pair(state, token_file, expires_at=time.time() - 1)  # both must refresh first
    config = state.config
    args = [base_url, str(token_file.path), config.client_id]
    args += [config.client_secret, config.redirect_uri]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        assert child.stdout is not None and child.stdin is not None
        if child.stdout.readline().strip() != "ready":
            pytest.fail(f"a child failed to start: {child.communicate(timeout=120)[1]}")
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    assert all(r["ok"] for r in results)
    assert sorted(r["refreshes"] for r in results) == [0, 1]
    stored = token_file.read()
    assert stored is not None
    digest = hashlib.sha256(stored.access_token.encode()).hexdigest()
    assert [r["token"] for r in results] == [digest, digest]
    assert state.tokens.check_access(stored.access_token) is TokenStatus.VALID
    oauth = state.stats["by_prefix"]["/oauth2"]
    assert oauth == {"requests": 1, "200": 1}  # one refresh, no "Token has been revoked"

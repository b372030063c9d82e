"""Emulator conformance: Bearer auth on /api/v4, the OAuth token endpoint, long-lived tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.state import get_state
from kommo_analytics.emulator.tokens import decode_claims
from tests.emulator.harness import T0, FakeClock, client_for, protocol_app

ACCOUNT_ID = 31000001


def make_app(config: EmulatorConfig | None = None, clock: FakeClock | None = None) -> ASGIApp:
    """The protocol layer, OAuth and control routes, and a test-only API route."""
    return protocol_app(config, clock, account_id=ACCOUNT_ID)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> ASGIApp:
    return make_app(clock=clock)


@pytest.fixture
async def client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, authorised=False, base_url="http://acme.kommo.test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def grant(config: EmulatorConfig, **params: str) -> dict[str, str]:
    return {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "redirect_uri": config.redirect_uri,
        **params,
    }


async def exchange_code(client: httpx.AsyncClient, app: ASGIApp) -> dict[str, Any]:
    state = get_state(app)
    code = state.tokens.issue_auth_code()
    body = grant(state.config, grant_type="authorization_code", code=code)
    response = await client.post("/oauth2/access_token", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"title", "type", "detail"} <= body.keys()
    return body


# -- Bearer auth on /api/v4 -----------------------------------------------------------------


@pytest.mark.anyio
async def test_missing_token_is_401_problem_json(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v4/ping"), 401)
    assert body["title"] == "Unauthorized"
    assert "missing" in body["detail"]
    body = assert_problem(
        await client.get("/api/v4/ping", headers={"Authorization": "Basic x"}), 401
    )
    assert "Bearer" in body["detail"]


@pytest.mark.anyio
async def test_unknown_token_is_401(client: httpx.AsyncClient, app: ASGIApp) -> None:
    body = assert_problem(await client.get("/api/v4/ping", headers=bearer("nope")), 401)
    assert body["detail"] == "Token is not valid"
    # A refresh token or a code is not an access token.
    code = get_state(app).tokens.issue_auth_code()
    assert_problem(await client.get("/api/v4/ping", headers=bearer(code)), 401)


@pytest.mark.anyio
async def test_expired_access_token_is_401(
    client: httpx.AsyncClient, app: ASGIApp, clock: FakeClock
) -> None:
    tokens = await exchange_code(client, app)
    assert (await client.get("/api/v4/ping", headers=bearer(tokens["access_token"]))).is_success
    clock.advance(get_state(app).config.access_token_ttl)
    body = assert_problem(
        await client.get("/api/v4/ping", headers=bearer(tokens["access_token"])), 401
    )
    assert body["detail"] == "Token has expired"


@pytest.mark.anyio
async def test_paths_outside_api_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_emulator/health")).status_code == 200
    # Auth comes before routing: an unknown API path without a token is a 401, not a 404.
    assert (await client.get("/api/v4/nothing-here")).status_code == 401


# -- OAuth code exchange and refresh --------------------------------------------------------


@pytest.mark.anyio
async def test_code_exchange_issues_jwt_pair(
    client: httpx.AsyncClient, app: ASGIApp, clock: FakeClock
) -> None:
    tokens = await exchange_code(client, app)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 86400
    assert tokens["server_time"] == int(clock.now)
    assert tokens["refresh_token"].startswith("def50200")
    claims = decode_claims(tokens["access_token"])
    assert claims["exp"] == int(clock.now) + 86400
    assert claims["iat"] == int(clock.now)
    assert claims["account_id"] == ACCOUNT_ID
    assert claims["api_domain"] == "acme.kommo.test"
    assert len(claims["jti"]) >= 16
    response = await client.get("/api/v4/ping", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.json() == {"ok": True}


@pytest.mark.anyio
async def test_code_exchange_accepts_form_body(client: httpx.AsyncClient, app: ASGIApp) -> None:
    state = get_state(app)
    body = grant(state.config, grant_type="authorization_code", code=state.tokens.demo_code)
    response = await client.post("/oauth2/access_token", data=body)
    assert response.status_code == 200
    assert response.json()["access_token"]


@pytest.mark.anyio
async def test_code_is_single_use_and_expires(
    client: httpx.AsyncClient, app: ASGIApp, clock: FakeClock
) -> None:
    state = get_state(app)
    code = state.tokens.issue_auth_code()
    body = grant(state.config, grant_type="authorization_code", code=code)
    assert (await client.post("/oauth2/access_token", json=body)).status_code == 200
    reused = assert_problem(await client.post("/oauth2/access_token", json=body), 400)
    assert reused["hint"] == "Authorization code has been revoked"

    late = state.tokens.issue_auth_code()
    clock.advance(state.config.auth_code_ttl)
    body = grant(state.config, grant_type="authorization_code", code=late)
    expired = assert_problem(await client.post("/oauth2/access_token", json=body), 400)
    assert expired["hint"] == "Authorization code has expired"

    body = grant(state.config, grant_type="authorization_code", code="def50200bogus")
    assert_problem(await client.post("/oauth2/access_token", json=body), 400)


@pytest.mark.anyio
async def test_refresh_rotates_and_reuse_is_revoked(
    client: httpx.AsyncClient, app: ASGIApp
) -> None:
    config = get_state(app).config
    first = await exchange_code(client, app)
    body = grant(config, grant_type="refresh_token", refresh_token=first["refresh_token"])
    response = await client.post("/oauth2/access_token", json=body)
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v4/ping", headers=bearer(second["access_token"]))).is_success

    reused = assert_problem(await client.post("/oauth2/access_token", json=body), 401)
    assert reused["hint"] == "Token has been revoked"
    assert reused["type"] == "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
    # The access token that came with the used refresh token is revoked with it.
    old = assert_problem(
        await client.get("/api/v4/ping", headers=bearer(first["access_token"])), 401
    )
    assert old["hint"] == "Token has been revoked"
    # The rotated refresh token still works once.
    body = grant(config, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert (await client.post("/oauth2/access_token", json=body)).status_code == 200


@pytest.mark.anyio
async def test_unknown_and_expired_refresh_tokens(
    client: httpx.AsyncClient, app: ASGIApp, clock: FakeClock
) -> None:
    config = get_state(app).config
    body = grant(config, grant_type="refresh_token", refresh_token="def50200unknown")
    unknown = assert_problem(await client.post("/oauth2/access_token", json=body), 401)
    assert unknown["hint"] == "Token has been revoked"

    tokens = await exchange_code(client, app)
    clock.advance(config.refresh_token_ttl)
    body = grant(config, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    expired = assert_problem(await client.post("/oauth2/access_token", json=body), 401)
    assert expired["hint"] == "Token has expired"


@pytest.mark.anyio
async def test_token_endpoint_rejects_bad_requests(client: httpx.AsyncClient, app: ASGIApp) -> None:
    state = get_state(app)
    ok = grant(state.config, grant_type="authorization_code", code=state.tokens.issue_auth_code())

    wrong_secret = {**ok, "client_secret": "guess"}
    body = assert_problem(await client.post("/oauth2/access_token", json=wrong_secret), 401)
    assert body["detail"] == "Client authentication failed"

    slash = {**ok, "redirect_uri": state.config.redirect_uri + "/"}
    assert_problem(await client.post("/oauth2/access_token", json=slash), 400)
    for missing in ("client_id", "redirect_uri", "code", "grant_type"):
        partial = {k: v for k, v in ok.items() if k != missing}
        body = assert_problem(await client.post("/oauth2/access_token", json=partial), 400)
        assert missing in body["hint"]
    assert_problem(
        await client.post("/oauth2/access_token", json={**ok, "grant_type": "password"}), 400
    )
    assert_problem(
        await client.post(
            "/oauth2/access_token", content=b"{", headers={"content-type": "application/json"}
        ),
        400,
    )
    # None of these used up the code.
    assert (await client.post("/oauth2/access_token", json=ok)).status_code == 200


@pytest.mark.anyio
async def test_subdomain_discovery(client: httpx.AsyncClient, app: ASGIApp) -> None:
    tokens = await exchange_code(client, app)
    response = await client.get(
        "/oauth2/account/current/subdomain", headers={"X-Refresh-Token": tokens["refresh_token"]}
    )
    assert response.json() == {
        "id": ACCOUNT_ID,
        "subdomain": "acme",
        "domain": "acme.kommo.com",
        "top_level_domain": "com",
    }
    assert (await client.get("/oauth2/account/current/subdomain")).status_code == 401


# -- long-lived tokens ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_demo_long_lived_token_works_and_is_deterministic(
    client: httpx.AsyncClient, app: ASGIApp
) -> None:
    token = get_state(app).tokens.demo_token
    assert (await client.get("/api/v4/ping", headers=bearer(token))).status_code == 200
    claims = decode_claims(token)
    assert claims["exp"] > claims["iat"]
    assert claims["account_id"] == ACCOUNT_ID

    same_seed = get_state(make_app(clock=FakeClock(T0 + 12345))).tokens.demo_token
    other_seed = get_state(make_app(EmulatorConfig(seed=2))).tokens.demo_token
    assert same_seed == token
    assert other_seed != token


@pytest.mark.anyio
async def test_long_lived_token_cannot_refresh_and_expires(
    client: httpx.AsyncClient, app: ASGIApp, clock: FakeClock
) -> None:
    state = get_state(app)
    body = grant(state.config, grant_type="refresh_token", refresh_token=state.tokens.demo_token)
    refused = assert_problem(await client.post("/oauth2/access_token", json=body), 401)
    assert refused["hint"] == "Token has been revoked"

    short = state.tokens.issue_long_lived(ttl_seconds=60)
    assert decode_claims(short)["exp"] == int(clock.now) + 60
    assert (await client.get("/api/v4/ping", headers=bearer(short))).status_code == 200
    clock.advance(60)
    body = assert_problem(await client.get("/api/v4/ping", headers=bearer(short)), 401)
    assert body["detail"] == "Token has expired"
    # The demo token is good for years.
    assert (await client.get("/api/v4/ping", headers=bearer(state.tokens.demo_token))).is_success


@pytest.mark.anyio
async def test_revoked_long_lived_token_is_401(client: httpx.AsyncClient, app: ASGIApp) -> None:
    tokens = get_state(app).tokens
    token = tokens.issue_long_lived()
    assert tokens.revoke(token)
    body = assert_problem(await client.get("/api/v4/ping", headers=bearer(token)), 401)
    assert body["detail"] == "Token has been revoked"

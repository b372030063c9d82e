"""Kommo's OAuth 2.0 token endpoint (docs/kommo-api.md §2.1) and subdomain discovery (§1).

``POST /oauth2/access_token`` takes JSON (as Kommo documents) or a form-encoded body (as
generic OAuth libraries send) with ``grant_type`` ``authorization_code`` or ``refresh_token``.
Errors are league/oauth2-server problem JSON with a ``hint``, as in §11.5.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kommo_analytics.emulator.http import problem
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.emulator.tokens import HINT_REVOKED, GrantError

OAUTH_PROBLEM_TYPE = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
_INVALID = "Some request parameters are missing or invalid"


def _oauth_problem(status: int, title: str, detail: str, hint: str | None = None) -> Response:
    extra: dict[str, Any] = {"type": OAUTH_PROBLEM_TYPE}
    if hint is not None:
        extra["hint"] = hint
    response = problem(status, title, detail, **extra)
    response.headers["Cache-Control"] = "no-store"
    return response


def _invalid(hint: str) -> Response:
    return _oauth_problem(400, "Invalid request", _INVALID, hint)


async def _params(request: Request) -> dict[str, str] | None:
    """The body as flat string parameters, JSON or form-encoded; None when unreadable."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").lower()
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        if "json" in content_type:
            return None
        # No (or an odd) content type: a form body is the other thing clients send.
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    if not isinstance(data, dict):
        return None
    return {k: str(v) for k, v in data.items() if v is not None and not isinstance(v, dict | list)}


def _api_domain(request: Request) -> str:
    # Tokens name the host that serves the account's API; for the emulator that is whatever
    # host the client reached it on.
    return request.headers.get("host") or "localhost"


def routes(state: EmulatorState) -> list[BaseRoute]:
    config = state.config

    async def access_token(request: Request) -> Response:
        params = await _params(request)
        if params is None:
            return _invalid("The request body is not valid JSON")
        grant_type = params.get("grant_type", "")
        if grant_type not in ("authorization_code", "refresh_token"):
            if not grant_type:
                return _invalid("Check the `grant_type` parameter")
            return _oauth_problem(
                400,
                "Unsupported grant type",
                "The authorization grant type is not supported by the authorization server.",
                "Check that all required parameters have been provided",
            )
        for name in ("client_id", "client_secret"):
            if not params.get(name):
                return _invalid(f"Check the `{name}` parameter")
        if (
            params["client_id"] != config.client_id
            or params["client_secret"] != config.client_secret
        ):
            return _oauth_problem(401, "Invalid client", "Client authentication failed")
        # UNCERTAIN (docs/kommo-api.md §12 item 9): Kommo documents redirect_uri for the refresh
        # grant too but may not check it there; we require the exact registered value for both
        # grants, the stricter choice (a client that sends it works either way).
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            return _invalid("Check the `redirect_uri` parameter")
        if redirect_uri != config.redirect_uri:
            return _invalid("Redirect URI mismatch")

        try:
            if grant_type == "authorization_code":
                code = params.get("code", "")
                if not code:
                    return _invalid("Check the `code` parameter")
                pair = state.tokens.exchange_code(code, _api_domain(request))
            else:
                refresh_token = params.get("refresh_token", "")
                if not refresh_token:
                    return _invalid("Check the `refresh_token` parameter")
                pair = state.tokens.refresh(refresh_token, _api_domain(request))
        except GrantError as exc:
            return _oauth_problem(exc.status, exc.title, exc.detail, exc.hint)
        return JSONResponse(pair.as_json(), headers={"Cache-Control": "no-store"})

    async def current_subdomain(request: Request) -> Response:
        """`GET /oauth2/account/current/subdomain` with `X-Refresh-Token`: finds an account's
        (possibly renamed) subdomain from a refresh token."""
        refresh_token = request.headers.get("x-refresh-token", "")
        if not refresh_token or not state.tokens.refresh_token_valid(refresh_token):
            return _oauth_problem(401, "Invalid request", _INVALID, HINT_REVOKED)
        row = state.store.cursor().execute("SELECT id, subdomain FROM account LIMIT 1").fetchone()
        account_id, subdomain = (int(row[0]), str(row[1])) if row else (0, "")
        return JSONResponse(
            {
                "id": account_id,
                "subdomain": subdomain,
                "domain": f"{subdomain}.kommo.com",
                "top_level_domain": "com",
            }
        )

    return [
        Route("/oauth2/access_token", access_token, methods=["POST"]),
        Route("/oauth2/account/current/subdomain", current_subdomain, methods=["GET"]),
    ]

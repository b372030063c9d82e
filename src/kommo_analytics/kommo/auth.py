"""Kommo authentication: a long-lived token, or OAuth 2.0 with rotating refresh tokens.

Kommo's refresh tokens are single-use: exchanging one invalidates it everywhere, and a second
use answers 401 "Token has been revoked" (docs/kommo-api.md §2.1 item 8). Two rules make reusing one
impossible by construction:

* the new pair is on disk (atomically, fsynced) before the new access token is used, so a crash
  can never lose the only valid refresh token;
* refreshes are serialised across processes with a file lock, and whoever gets the lock first
  re-reads the token file: if another process has refreshed meanwhile, its tokens are used
  instead of refreshing again with a refresh token that is already spent.

Tokens and secrets never appear in reprs, messages or logs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import filelock
import httpx

from kommo_analytics import files
from kommo_analytics.errors import (
    AuthError,
    ConfigError,
    MalformedResponseError,
    RateLimitedError,
)
from kommo_analytics.kommo.client import classify, classify_exception, decode_json
from kommo_analytics.kommo.ratelimit import RateLimiter
from kommo_analytics.settings import Settings

# An endpoint's path and a file name, not credentials (the hard-coded-secret rule asks).
TOKEN_PATH = "/oauth2/access_token"  # nosec B105
TOKEN_FILE_NAME = "kommo_tokens.json"  # nosec B105
DEFAULT_TTL = 86400  # docs/kommo-api.md §2.1 item 6: `expires_in` is 86400 in every example
LOCK_WAIT_SECONDS = 120.0

LONG_LIVED_HOW_TO = (
    "generate a new long-lived token in Kommo → Settings → Integrations → your integration → "
    "Keys and scopes, and put it in KOMMO_ACCESS_TOKEN"
)
OAUTH_HOW_TO = (
    "open the integration's Keys and scopes tab (Kommo → Settings → Integrations → your "
    "integration), copy a new authorization code (valid 20 minutes) and run "
    "`kommo-analytics auth --code <code>`"
)
CODE_HOW_TO = (
    "authorization codes live 20 minutes and work once: copy a fresh one from the "
    "integration's Keys and scopes tab and run `kommo-analytics auth --code <code>` at once; "
    "KOMMO_REDIRECT_URI must match the integration's redirect URI character for character "
    "(trailing slash included), and KOMMO_CLIENT_ID/KOMMO_CLIENT_SECRET must be this "
    "integration's keys"
)
# Advice naming the settings, not a secret.
SECRET_HOW_TO = (  # nosec B105
    "KOMMO_CLIENT_ID and KOMMO_CLIENT_SECRET must be the integration's ID and secret key from its "
    "Keys and scopes tab"
)


@dataclass(frozen=True)
class TokenPair:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float  # Unix seconds, by the local clock

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> TokenPair:
        """Raises ValueError when ``data`` is not a stored pair."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        access, refresh, expires = (
            data.get("access_token"),
            data.get("refresh_token"),
            data.get("expires_at"),
        )
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            raise ValueError("tokens missing")
        if isinstance(expires, bool) or not isinstance(expires, int | float):
            raise ValueError("expires_at missing")
        return cls(access, refresh, float(expires))

    @classmethod
    def from_grant(cls, body: Any, now: float) -> TokenPair:
        """From the token endpoint's answer, ``expires_in`` counted from our own ``now``."""
        if not isinstance(body, dict):
            raise MalformedResponseError("Kommo's token answer is not a JSON object")
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            raise MalformedResponseError("Kommo's token answer lacks the tokens")
        expires_in = body.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            # UNCERTAIN (docs/kommo-api.md §2.1 item 6): always present in examples; fall back to
            # the JWT's own expiry, then to the documented day.
            exp = jwt_expiry(access)
            expires_in = exp - now if exp is not None else DEFAULT_TTL
        return cls(access, refresh, now + float(expires_in))


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT-shaped token, read without checking the signature."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform or filesystem allows it.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class TokenFile:
    """The OAuth pair on disk, mode 0600, replaced atomically; ``<path>.lock`` serialises
    refreshes between processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> TokenPair | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return TokenPair.from_json(json.loads(text))
        except ValueError:
            raise AuthError(f"the token file {self.path} is damaged", hint=OAUTH_HOW_TO) from None

    def write(self, pair: TokenPair) -> None:
        """Temp file in the same folder, fsync, rename over the old file, fsync the folder: a
        reader sees the old pair or the new one, never half of one, even after a crash."""
        directory = self.path.parent
        files.private_dir(directory)
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        temp = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                json.dump(pair.to_json(), handle)
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(directory)

    def lock(self) -> filelock.FileLock:
        return filelock.FileLock(str(self.lock_path), mode=files.PRIVATE_FILE)


@contextlib.asynccontextmanager
async def _holding(lock: filelock.FileLock) -> AsyncIterator[None]:
    """Hold a file lock without blocking the event loop while another process has it."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            lock.acquire(timeout=0)
            break
        except filelock.Timeout:
            if time.monotonic() > deadline:
                raise AuthError(
                    f"another kommo-analytics process has held {lock.lock_file} for "
                    f"{LOCK_WAIT_SECONDS:.0f} s while renewing the Kommo token",
                    hint="wait for the other run to finish, or stop it, then try again",
                ) from None
            await asyncio.sleep(0.05)
    try:
        yield
    finally:
        lock.release()


class Auth(Protocol):
    async def token(self, http: httpx.AsyncClient) -> str:
        """The current bearer token (renewed ahead of expiry when it can be)."""
        ...

    async def refresh_after_401(self, http: httpx.AsyncClient, rejected: str) -> str:
        """A token to try instead of ``rejected`` after a 401, or raise AuthError."""
        ...


class LongLivedTokenAuth(Auth):
    """A private integration's long-lived token: nothing to renew (docs/kommo-api.md §2.2)."""

    how_to_fix = LONG_LIVED_HOW_TO

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "LongLivedTokenAuth(<hidden>)"

    async def token(self, http: httpx.AsyncClient) -> str:
        return self._token

    async def refresh_after_401(self, http: httpx.AsyncClient, rejected: str) -> str:
        exp = jwt_expiry(self._token)
        if exp is not None and exp <= time.time():
            when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%d %H:%M UTC")
            why = f"it expired on {when}"
        else:
            why = "it was revoked, or belongs to another account"
        raise AuthError(
            f"Kommo rejected the long-lived token (HTTP 401): {why}",
            status=401,
            hint=LONG_LIVED_HOW_TO,
        )


async def _grant(
    http: httpx.AsyncClient,
    base_url: str,
    body: dict[str, str],
    limiter: RateLimiter,
    now: Callable[[], float],
) -> TokenPair:
    """POST the token endpoint once; every outcome but a new pair raises."""
    grant_type = body["grant_type"]
    await limiter.acquire()
    try:
        response = await http.post(
            f"{base_url}{TOKEN_PATH}", json=body, headers={"Accept": "application/json"}
        )
    except httpx.HTTPError as exc:
        raise classify_exception(exc, TOKEN_PATH) from exc
    if response.status_code in (400, 401):
        raise _grant_error(response, grant_type)
    error = classify(response, TOKEN_PATH)
    if error is not None:
        raise error
    return TokenPair.from_grant(decode_json(response), now())


def _grant_error(response: httpx.Response, grant_type: str) -> AuthError:
    """A 400/401 from the token endpoint, with the likely cause (docs/kommo-api.md §2.1 item 9)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    words = [str(body[k]) for k in ("hint", "detail") if isinstance(body.get(k), str)]
    said = f": {'; '.join(words)}" if words else ""
    status = response.status_code
    bad_client = "client authentication" in " ".join(words).lower()
    if bad_client:
        return AuthError(
            f"Kommo did not accept the integration's keys (HTTP {status}{said})",
            status=status,
            hint=SECRET_HOW_TO,
        )
    if grant_type == "authorization_code":
        return AuthError(
            f"Kommo refused the authorization code (HTTP {status}{said})",
            status=status,
            hint=CODE_HOW_TO,
        )
    return AuthError(
        f"Kommo refused to renew the OAuth token (HTTP {status}{said})",
        status=status,
        hint=OAUTH_HOW_TO
        if status == 401
        else f"check KOMMO_REDIRECT_URI and the integration's keys; if they are right, {OAUTH_HOW_TO}",
    )


async def exchange_code(
    http: httpx.AsyncClient,
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    token_file: TokenFile,
    limiter: RateLimiter,
    clock: Callable[[], float] = time.time,
) -> TokenPair:
    """Trade an authorization code for a token pair and store it in ``token_file``.

    Not retried beyond a 429: a code works once, so after an answer lost in transit a retry
    could only be refused — better to say so and let the person copy a fresh code.
    """
    body = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
    }
    base = base_url.rstrip("/")
    for attempt in range(1, 4):
        try:
            pair = await _grant(http, base, body, limiter, clock)
            break
        except RateLimitedError:
            # A 429 is refused before the code is looked at, so trying again is safe.
            if attempt == 3:
                raise
            limiter.pause(float(attempt))
    async with _holding(token_file.lock()):
        token_file.write(pair)
    return pair


class OAuthAuth(Auth):
    """OAuth 2.0 with the pair kept in a :class:`TokenFile` shared by every process."""

    how_to_fix = OAUTH_HOW_TO

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        token_file: TokenFile,
        limiter: RateLimiter,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = 300.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._redirect_uri = redirect_uri
        self.token_file = token_file
        self._limiter = limiter
        self._clock = clock
        self._margin = refresh_margin
        self._pair: TokenPair | None = None
        # One asyncio lock per event loop: a lock bound to one loop cannot be awaited in another.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.refreshes = 0  # grants this object actually sent

    def __repr__(self) -> str:
        return f"OAuthAuth({self._base_url!r}, {self.token_file!r})"

    def _stored(self) -> TokenPair:
        pair = self.token_file.read()
        if pair is None:
            raise AuthError(
                f"no Kommo tokens in {self.token_file.path}",
                hint="run `kommo-analytics auth --code <code>` first",
            )
        return pair

    def _usable(self, pair: TokenPair, rejected: str | None) -> bool:
        fresh = pair.expires_at - self._margin > self._clock()
        return fresh and pair.access_token != rejected

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def token(self, http: httpx.AsyncClient) -> str:
        if self._pair is None:
            self._pair = self._stored()
        if self._usable(self._pair, None):
            return self._pair.access_token
        return await self._renew(http, None)

    async def refresh_after_401(self, http: httpx.AsyncClient, rejected: str) -> str:
        return await self._renew(http, rejected)

    async def _renew(self, http: httpx.AsyncClient, rejected: str | None) -> str:
        async with self._loop_lock():
            # Another task of this process may have renewed while this one waited.
            if self._pair is not None and self._usable(self._pair, rejected):
                return self._pair.access_token
            async with _holding(self.token_file.lock()):
                # Another process may have renewed: its refresh token is the only live one now.
                stored = self._stored()
                if self._usable(stored, rejected):
                    self._pair = stored
                    return stored.access_token
                body = {
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                    "grant_type": "refresh_token",
                    "refresh_token": stored.refresh_token,
                    # UNCERTAIN (docs/kommo-api.md §12 item 9): whether refresh needs redirect_uri
                    # is unknown; the docs list it and sending it costs nothing.
                    "redirect_uri": self._redirect_uri,
                }
                self.refreshes += 1
                pair = await _grant(http, self._base_url, body, self._limiter, self._clock)
                # On disk before use: the old refresh token is dead from this moment on.
                self.token_file.write(pair)
                self._pair = pair
                return pair.access_token


def token_file_for(settings: Settings) -> TokenFile:
    return TokenFile(settings.data_dir / TOKEN_FILE_NAME)


def auth_from_settings(settings: Settings, limiter: RateLimiter) -> Auth:
    """The long-lived token when KOMMO_ACCESS_TOKEN is set, else OAuth with the token file in
    DATA_DIR (written by `kommo-analytics auth --code <code>`)."""
    if settings.kommo_access_token is not None:
        return LongLivedTokenAuth(settings.kommo_access_token.get_secret_value())
    if settings.kommo_client_id is None or settings.kommo_client_secret is None:
        raise ConfigError(
            "no Kommo credentials: set KOMMO_ACCESS_TOKEN, or KOMMO_CLIENT_ID, "
            "KOMMO_CLIENT_SECRET and KOMMO_REDIRECT_URI",
            hint=f"for a long-lived token: {LONG_LIVED_HOW_TO}",
        )
    missing = [
        name
        for name, value in (
            ("KOMMO_BASE_URL", settings.kommo_base_url),
            ("KOMMO_REDIRECT_URI", settings.kommo_redirect_uri),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"OAuth needs {' and '.join(missing)} to be set")
    token_file = token_file_for(settings)
    if not token_file.exists():
        raise ConfigError(
            f"no Kommo tokens yet ({token_file.path} is missing)",
            hint="run `kommo-analytics auth --code <code>` first",
        )
    assert settings.kommo_base_url is not None and settings.kommo_redirect_uri is not None
    return OAuthAuth(
        base_url=settings.kommo_base_url,
        client_id=settings.kommo_client_id,
        client_secret=settings.kommo_client_secret.get_secret_value(),
        redirect_uri=settings.kommo_redirect_uri,
        token_file=token_file,
        limiter=limiter,
    )

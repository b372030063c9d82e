"""The emulator's token store: OAuth access and refresh tokens, long-lived tokens, auth codes.

Kommo's token endpoint is built on league/oauth2-server (its error bodies carry league's
``hint`` strings, docs/kommo-api.md §2.1 item 9), so where the reference is silent the emulator
follows league's behaviour.

Access tokens and long-lived tokens are JWT-shaped (``header.payload.signature``, base64url)
with ``exp``, ``iat``, ``api_domain``, ``account_id`` and a random ``jti``, because real clients
read ``exp`` from the token itself (docs/kommo-api.md §2.2). The store, not the signature, decides
whether a token is valid: a token is accepted only if this store issued it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kommo_analytics.emulator.config import EmulatorConfig

# Real refresh tokens and authorization codes are defuse/php-encryption ciphertexts, which
# always start with this version header; clients sometimes sniff it.
OPAQUE_PREFIX = "def50200"
BEARER = "Bearer"  # the OAuth token type of every answer

# The demo long-lived token must be the same string on every start with the same seed (README
# and curl examples print it), so its times are fixed instead of taken from the clock.
DEMO_ISSUED_AT = 1_767_225_600  # 2026-01-01T00:00:00Z
DEMO_EXPIRES_AT = DEMO_ISSUED_AT + 5 * 365 * 86400  # the longest expiry Kommo offers (§2.2)

HINT_REVOKED = "Token has been revoked"
HINT_EXPIRED = "Token has expired"


class TokenKind(StrEnum):
    ACCESS = "access"  # OAuth access token, renewed through its refresh token
    REFRESH = "refresh"
    LONG_LIVED = "long_lived"  # private-integration token: no refresh token, fixed expiry
    CODE = "code"  # authorization code


class TokenStatus(StrEnum):
    """Why an access token is (not) accepted; the value is the 401 detail."""

    VALID = "valid"
    UNKNOWN = "Token is not valid"
    EXPIRED = "Token has expired"
    REVOKED = "Token has been revoked"


@dataclass
class TokenRecord:
    kind: TokenKind
    issued_at: float
    expires_at: float
    revoked: bool = False
    # For a refresh token: the access token issued with it, revoked when this one is exchanged.
    access_token: str | None = None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    server_time: int

    def as_json(self) -> dict[str, Any]:
        return {
            "token_type": BEARER,
            "expires_in": self.expires_in,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "server_time": self.server_time,
        }


class GrantError(Exception):
    """The token endpoint refuses a grant; ``oauth.py`` renders it as problem JSON."""

    def __init__(self, status: int, title: str, detail: str, hint: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.hint = hint


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")


def decode_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT-shaped token, without checking the signature (as the SDK does)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    claims = json.loads(base64.urlsafe_b64decode(payload))
    if not isinstance(claims, dict):
        raise ValueError("JWT payload is not an object")
    return claims


class TokenStore:
    """Every token and code the emulator issued, with its expiry and revocation.

    Thread-safe: the protocol middleware checks tokens on the event loop while OAuth handlers
    or tests may issue them from other threads.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        clock: Callable[[], float],
        *,
        account_id: int = 0,
        user_id: int = 0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._account_id = account_id
        self._user_id = user_id
        self._lock = threading.Lock()
        self._records: dict[str, TokenRecord] = {}
        seed_bytes = str(config.seed).encode()
        self._key = hmac.new(b"kommo-emulator-signing-key", seed_bytes, hashlib.sha256).digest()
        self._issued_since_prune = 0

        demo_jti = hmac.new(self._key, b"demo-long-lived-token", hashlib.sha256).hexdigest()[:32]
        self.demo_token: str = self._jwt(DEMO_ISSUED_AT, DEMO_EXPIRES_AT, "localhost", demo_jti)
        self._records[self.demo_token] = TokenRecord(
            TokenKind.LONG_LIVED, DEMO_ISSUED_AT, DEMO_EXPIRES_AT
        )
        # A deterministic code so that the docs can show a working exchange; single-use and
        # valid `auth_code_ttl` from start like any other code.
        now = clock()
        digest = hmac.new(self._key, b"demo-authorization-code", hashlib.sha256).hexdigest()
        self.demo_code: str = OPAQUE_PREFIX + digest
        self._records[self.demo_code] = TokenRecord(TokenKind.CODE, now, now + config.auth_code_ttl)

    # -- issuing ----------------------------------------------------------------------------

    def _jwt(self, iat: int, exp: int, api_domain: str, jti: str) -> str:
        # Kommo signs with RS256; nobody but this store ever checks ours, so an HMAC will do,
        # and the header says so rather than pretend.
        header = _b64(_json({"typ": "JWT", "alg": "HS256"}))
        claims = {
            "aud": self._config.client_id,
            "jti": jti,
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "sub": str(self._user_id),
            "account_id": self._account_id,
            "base_domain": "kommo.com",
            "api_domain": api_domain,
            "version": 2,
            "scopes": ["crm", "files", "files_delete", "notifications", "push_notifications"],
        }
        payload = _b64(_json(claims))
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def _add(self, token: str, record: TokenRecord) -> None:
        # Caller holds the lock.
        self._records[token] = record
        self._issued_since_prune += 1
        if self._issued_since_prune >= 1000:
            self._issued_since_prune = 0
            self._prune(record.issued_at)

    def _prune(self, now: float) -> None:
        # Forgetting a dead refresh token is invisible to clients (unknown and revoked refresh
        # tokens get the same 401), and a dead access token only changes the 401 detail.
        horizon = now - 86400
        dead = [t for t, r in self._records.items() if r.expires_at < horizon]
        for token in dead:
            del self._records[token]

    def issue_auth_code(self) -> str:
        """A fresh single-use authorization code, valid ``config.auth_code_ttl`` seconds."""
        now = self._clock()
        code = OPAQUE_PREFIX + secrets.token_hex(96)
        with self._lock:
            self._add(code, TokenRecord(TokenKind.CODE, now, now + self._config.auth_code_ttl))
        return code

    def issue_long_lived(
        self, ttl_seconds: int = 365 * 86400, api_domain: str = "localhost"
    ) -> str:
        """A long-lived token (private integration): no refresh token, expires after the TTL."""
        now = self._clock()
        token = self._jwt(int(now), int(now + ttl_seconds), api_domain, secrets.token_hex(16))
        with self._lock:
            self._add(token, TokenRecord(TokenKind.LONG_LIVED, now, now + ttl_seconds))
        return token

    def _issue_pair_locked(self, now: float, api_domain: str) -> TokenPair:
        ttl = self._config.access_token_ttl
        access = self._jwt(int(now), int(now + ttl), api_domain, secrets.token_hex(16))
        refresh = OPAQUE_PREFIX + secrets.token_hex(160)
        self._add(access, TokenRecord(TokenKind.ACCESS, now, now + ttl))
        self._add(
            refresh,
            TokenRecord(
                TokenKind.REFRESH,
                now,
                now + self._config.refresh_token_ttl,
                access_token=access,
            ),
        )
        return TokenPair(access, refresh, ttl, int(now))

    def issue_pair(self, api_domain: str = "localhost") -> TokenPair:
        """An OAuth access/refresh pair without going through a code (test helper)."""
        with self._lock:
            return self._issue_pair_locked(self._clock(), api_domain)

    # -- grants -----------------------------------------------------------------------------

    def exchange_code(self, code: str, api_domain: str) -> TokenPair:
        now = self._clock()
        with self._lock:
            record = self._records.get(code)
            if record is None or record.kind is not TokenKind.CODE:
                raise GrantError(
                    400,
                    "Invalid request",
                    "Some request parameters are missing or invalid",
                    "Cannot decrypt the authorization code",
                )
            # UNCERTAIN (docs/kommo-api.md §2.1 item 3): Kommo does not document the error for a
            # used or expired code; these are league/oauth2-server's 400 hints.
            if record.revoked:
                raise GrantError(
                    400,
                    "Invalid request",
                    "Some request parameters are missing or invalid",
                    "Authorization code has been revoked",
                )
            if now >= record.expires_at:
                raise GrantError(
                    400,
                    "Invalid request",
                    "Some request parameters are missing or invalid",
                    "Authorization code has expired",
                )
            record.revoked = True
            return self._issue_pair_locked(now, api_domain)

    def refresh(self, refresh_token: str, api_domain: str) -> TokenPair:
        """Rotate a refresh token: the old one is revoked for good (docs/kommo-api.md §2.1
        item 8)."""
        now = self._clock()
        with self._lock:
            record = self._records.get(refresh_token)
            if record is None or record.kind is not TokenKind.REFRESH or record.revoked:
                raise GrantError(
                    401,
                    "Invalid request",
                    "Some request parameters are missing or invalid",
                    HINT_REVOKED,
                )
            # UNCERTAIN (docs/kommo-api.md §2.1 item 7): the body for a refresh token past its 3
            # months is undocumented; league/oauth2-server answers 401 "Token has expired".
            if now >= record.expires_at:
                raise GrantError(
                    401,
                    "Invalid request",
                    "Some request parameters are missing or invalid",
                    HINT_EXPIRED,
                )
            record.revoked = True
            # UNCERTAIN (docs/kommo-api.md §2.1 item 8): league/oauth2-server also revokes the
            # access token issued with the old refresh token; Kommo does not say. Revoking is the
            # stricter choice: a client that keeps using the old access token after a refresh
            # (e.g. another process) must cope with a 401 either way.
            if record.access_token is not None:
                old = self._records.get(record.access_token)
                if old is not None:
                    old.revoked = True
            return self._issue_pair_locked(now, api_domain)

    def refresh_token_valid(self, refresh_token: str) -> bool:
        now = self._clock()
        with self._lock:
            record = self._records.get(refresh_token)
            return (
                record is not None
                and record.kind is TokenKind.REFRESH
                and not record.revoked
                and now < record.expires_at
            )

    # -- checks and test helpers ------------------------------------------------------------

    def check_access(self, token: str) -> TokenStatus:
        """Whether a Bearer token may call the API (OAuth access token or long-lived token)."""
        now = self._clock()
        with self._lock:
            record = self._records.get(token)
            if record is None or record.kind not in (TokenKind.ACCESS, TokenKind.LONG_LIVED):
                return TokenStatus.UNKNOWN
            if record.revoked:
                return TokenStatus.REVOKED
            if now >= record.expires_at:
                return TokenStatus.EXPIRED
            return TokenStatus.VALID

    def kind_of(self, token: str) -> TokenKind | None:
        with self._lock:
            record = self._records.get(token)
            return None if record is None else record.kind

    def expire_access_tokens(self) -> int:
        """Expire every OAuth access token issued so far (not long-lived ones); returns how many
        were still alive. Used by the ``expire_tokens_after`` fault."""
        now = self._clock()
        expired = 0
        with self._lock:
            for record in self._records.values():
                if record.kind is TokenKind.ACCESS and now < record.expires_at:
                    record.expires_at = now
                    expired += 1
        return expired

    def revoke(self, token: str) -> bool:
        """Revoke any token or code, as an admin would by disconnecting the integration."""
        with self._lock:
            record = self._records.get(token)
            if record is None:
                return False
            record.revoked = True
            return True

"""The async HTTP client for Kommo's API v4: limits, retries, token renewal and pagination.

Every response and every transport failure is sorted by :func:`classify` and
:func:`classify_exception` — and nowhere else — into "fine", "retry later" (a
:class:`RetriableApiError`) or "stop now" (a :class:`FatalApiError`). The retry loop only looks at
the class of what they return.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import ssl
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
)

from kommo_analytics import __version__
from kommo_analytics.errors import (
    ApiError,
    AuthError,
    BlockedError,
    ConfigError,
    FatalApiError,
    MalformedResponseError,
    RateLimitedError,
    RetriableApiError,
    SubscriptionEndedError,
    TokenRejectedError,
    causes,
)
from kommo_analytics.kommo.entities import API_PREFIX, Entity, Shape
from kommo_analytics.kommo.ratelimit import RateLimiter, Ticket, shared_limiter

if TYPE_CHECKING:
    from kommo_analytics.kommo.auth import Auth
    from kommo_analytics.settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = f"kommo-analytics/{__version__}"
GAVE_UP_HINT = "Kommo kept failing; run the sync again later — nothing stored was lost"
BLOCKED_MESSAGE = (
    "Kommo refused this integration's IP (HTTP 403) — the account has blocked this "
    "integration's IP; contact Kommo support with your IP address and account subdomain"
)
# This many 429 pauses in a row, or within the window (seconds), are shown as a warning.
_REPEATED_429_COUNT = 3
_REPEATED_429_WINDOW = 60.0
# Bounds the renew-and-resend loop of one request when other tasks keep renewing the token.
_MAX_AUTH_RENEWALS = 3
# The request extension carrying a request's limiter ticket to the departure hook.
_TICKET = "kommo_analytics.ticket"

Params = Mapping[str, str | int]


# -- sorting responses ------------------------------------------------------------------------

_INVALID: Any = object()
# Parsed bodies, so that classify() and the caller do not decode the same page twice.
_decoded: weakref.WeakKeyDictionary[httpx.Response, Any] = weakref.WeakKeyDictionary()


def decode_json(response: httpx.Response) -> Any:
    """The body as JSON, or the ``_INVALID`` sentinel when it is not JSON (a cut-off body)."""
    try:
        return _decoded[response]
    except KeyError:
        pass
    try:
        value: Any = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        value = _INVALID
    _decoded[response] = value
    return value


def _problem_text(response: httpx.Response) -> str:
    """Kommo's own words from a problem+json body (`detail`, else `title`), if any."""
    body = decode_json(response)
    if not isinstance(body, dict):
        return ""
    said = [v for v in (body.get("detail"), body.get("title")) if isinstance(v, str) and v]
    parts = said[:1]
    hint = body.get("hint")
    if isinstance(hint, str) and hint and hint not in parts:
        parts.append(hint)
    errors = body.get("validation-errors")
    if isinstance(errors, list):
        details = [
            f"{e.get('path')}: {e.get('detail')}"
            for item in errors
            if isinstance(item, dict)
            for e in item.get("errors", [])
            if isinstance(e, dict)
        ]
        parts.extend(details[:3])
    return "; ".join(parts)


def _with_text(prefix: str, response: httpx.Response) -> str:
    text = _problem_text(response)
    return f"{prefix}: {text}" if text else prefix


def _is_html(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    return "html" in content_type or response.content.lstrip()[:1] == b"<"


def classify(
    response: httpx.Response, path: str, *, embedded_key: str | None = None
) -> ApiError | None:
    """What a response means: None when it is usable, else the error to raise (retriable or not).

    A 200 must be a JSON object; with ``embedded_key`` it must also carry ``_embedded[key]`` as a
    list of objects — a truncated or garbled page is retried rather than taken as the end.
    """
    status = response.status_code
    if status == 204:
        return None
    if 200 <= status < 300:
        body = decode_json(response)
        if body is _INVALID:
            return MalformedResponseError(
                f"Kommo sent a cut-off or invalid JSON body for {path} (HTTP {status})",
                status=status,
            )
        if not isinstance(body, dict):
            return MalformedResponseError(
                f"Kommo sent JSON that is not an object for {path}", status=status
            )
        if embedded_key is not None:
            embedded = body.get("_embedded")
            items = embedded.get(embedded_key) if isinstance(embedded, dict) else None
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                return MalformedResponseError(
                    f"Kommo's answer for {path} lacks the `_embedded.{embedded_key}` list",
                    status=status,
                )
        return None
    if status == 429:
        # Kommo's 429 is an HTML page without Retry-After (docs/kommo-api.md §4).
        return RateLimitedError(f"Kommo's request limit was hit on {path} (HTTP 429)", status=429)
    if status >= 500:
        return RetriableApiError(
            _with_text(f"Kommo failed on {path} (HTTP {status})", response), status=status
        )
    if status == 401:
        return TokenRejectedError(
            _with_text(f"Kommo rejected the access token on {path} (HTTP 401)", response),
            status=401,
        )
    if status == 402:
        # UNCERTAIN (docs/kommo-api.md §6, §12 item 3): 402 is said to mean the paid or trial period
        # ended; its body is undocumented.
        return SubscriptionEndedError(
            "the Kommo subscription has ended — renew it in Kommo, then sync again", status=402
        )
    if status == 403:
        # UNCERTAIN (docs/kommo-api.md §4, §6): the block is nginx's HTML page; a JSON 403 comes
        # from the API itself (no rights, or an IP whitelist). A body that is not JSON at all is
        # taken as the block too, since only nginx sends those.
        if _is_html(response) or not isinstance(decode_json(response), dict):
            return BlockedError(BLOCKED_MESSAGE, status=403)
        return FatalApiError(
            _with_text(f"Kommo refused access to {path} (HTTP 403)", response),
            status=403,
            hint="the token's user lacks rights for this data, or the account only lets "
            "whitelisted IPs use the API: check the user's rights and the integration's scopes",
        )
    return FatalApiError(
        _with_text(f"Kommo refused the request {path} (HTTP {status})", response),
        status=status,
        hint="this request cannot succeed as sent; please report it with this message",
    )


def _wrong_address(exc: httpx.HTTPError) -> str | None:
    """Why no retry can reach the server at this address, or None when one might.

    A name the resolver says does not exist, or a certificate that does not match or verify, is
    the same on every attempt: retrying only turns a typo in KOMMO_BASE_URL into a minute of
    waiting. A resolver that cannot answer *now* (EAI_AGAIN) and a dropped handshake may pass.
    """
    no_such_name = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
    for cause in causes(exc):
        if isinstance(cause, socket.gaierror) and cause.errno in no_such_name:
            return "the host name does not exist"
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = getattr(cause, "verify_message", None) or cause
            return f"its TLS certificate is not valid ({detail})"
        if isinstance(cause, ssl.SSLError) and not isinstance(
            cause, ssl.SSLEOFError | ssl.SSLZeroReturnError
        ):
            return f"the TLS handshake failed ({getattr(cause, 'reason', None) or cause})"
    return None


def _host_of(exc: httpx.HTTPError) -> str:
    try:
        return exc.request.url.host
    except RuntimeError:  # an error raised without its request
        return "the configured host"


def classify_exception(exc: httpx.HTTPError, path: str) -> ApiError:
    """What a transport failure means: a timeout or a dropped connection is worth a retry; a
    request that cannot even be built or sent, a host that does not exist or a certificate that
    does not verify is not."""
    why = _wrong_address(exc)
    if why is not None:
        host = _host_of(exc)
        return FatalApiError(
            f"cannot reach Kommo at {host}: {why}",
            hint=f"check KOMMO_BASE_URL: {host} should be your account's address, "
            "like https://<subdomain>.kommo.com",
        )
    if isinstance(exc, httpx.TimeoutException):
        return RetriableApiError(f"Kommo did not answer {path} in time ({type(exc).__name__})")
    if isinstance(
        exc, httpx.NetworkError | httpx.RemoteProtocolError | httpx.DecodingError | httpx.ProxyError
    ):
        # RemoteProtocolError is what a connection closed mid-response looks like.
        return RetriableApiError(f"the connection to Kommo failed on {path}: {exc}")
    return FatalApiError(
        f"the request {path} could not be sent: {exc}",
        hint="check KOMMO_BASE_URL (it must look like https://<subdomain>.kommo.com)",
    )


def server_time(response: httpx.Response) -> int | None:
    """The response's HTTP ``Date`` as Unix seconds, or None when absent or unreadable.

    UNCERTAIN (docs/kommo-api.md §3): not documented for Kommo, but nginx sends it on every
    response; the sync bounds its windows by the server's clock rather than ours.
    """
    values = response.headers.get_list("date")
    if not values:
        return None
    value = values[0]  # two Date headers (app and server each adding one) must not mix
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


# -- the client -------------------------------------------------------------------------------


@dataclass
class Page:
    items: list[dict[str, Any]]
    has_next: bool
    page: int
    server_time: int | None


@dataclass
class RequestStats:
    requests: int = 0  # sent to the API (each retry is one more)
    retries: int = 0
    rate_limited: int = 0  # 429s received
    refreshes: int = 0  # 401s answered by renewing the token
    last_response_at: float | None = None  # time.time() of the last response
    last_server_time: int | None = None  # the server's clock at that response


class KommoClient:
    """Reads Kommo's API v4. Several calls may be in flight at once (e.g. under
    ``asyncio.gather``); the shared limiter alone decides how fast they go out."""

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        limiter: RateLimiter,
        transport: httpx.AsyncBaseTransport | None = None,
        max_attempts: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 60.0,
    ) -> None:
        if not base_url:
            raise ConfigError("KOMMO_BASE_URL is not set")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.stats = RequestStats()
        self.max_attempts = max_attempts
        self._auth = auth
        self._limiter = limiter
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._http = httpx.AsyncClient(
            base_url=f"{self.base_url}{API_PREFIX}",
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/hal+json, application/json"},
            follow_redirects=False,
            event_hooks={"request": [self._departing]},
        )
        self._consecutive_429 = 0
        self._last_pause_at = -float("inf")
        self._pauses: deque[float] = deque()  # when recent 429s paused everyone

    async def __aenter__(self) -> KommoClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"KommoClient({self.base_url!r}, {self.stats})"

    # -- one request, retried ----------------------------------------------------------------

    async def _send(
        self, path: str, params: Params | None, token: str
    ) -> tuple[httpx.Response, float]:
        ticket = await self._limiter.acquire(hand_back=True)
        self.stats.requests += 1
        try:
            # The request hook hands the ticket back as the request goes to the transport, so
            # the limiter times the send at its departure, not at the grant.
            response = await self._http.get(
                path,
                params=dict(params) if params else None,
                headers={"Authorization": f"Bearer {token}"},
                extensions={_TICKET: ticket},
            )
        except httpx.HTTPError as exc:
            raise classify_exception(exc, path) from exc
        finally:
            self._limiter.release(ticket)  # a no-op once sent
        self.stats.last_response_at = time.time()
        moment = server_time(response)
        if moment is not None:
            self.stats.last_server_time = moment
        return response, ticket.sent_at

    async def _departing(self, request: httpx.Request) -> None:
        ticket = request.extensions.get(_TICKET)
        if isinstance(ticket, Ticket):
            self._limiter.sent(ticket)

    def _rate_limited(self, sent_at: float) -> None:
        self.stats.rate_limited += 1
        # A 429 for a request sent before the last pause began is the same overload we already
        # reacted to (several requests were in flight); only one sent after it means the pause
        # was too short and earns a longer one.
        if sent_at < self._last_pause_at:
            return
        self._consecutive_429 += 1
        pause = min(self._backoff_max, 2 * self._backoff_base * 2 ** (self._consecutive_429 - 1))
        now = self._limiter.now()
        self._last_pause_at = now
        # Besides the pause, the pace itself slows (halved per 429, won back one small step per
        # success): the pause alone would resume at the pace that just earned the 429.
        self._limiter.slow_down(sent_at)
        self._limiter.pause(pause)
        # An occasional 429 is handled (everyone pauses) and costs little: a log line. A run of
        # them, or several within a minute, means the pace is wrong and a person should know.
        self._pauses.append(now)
        while self._pauses and now - self._pauses[0] > _REPEATED_429_WINDOW:
            self._pauses.popleft()
        repeated = max(self._consecutive_429, len(self._pauses)) >= _REPEATED_429_COUNT
        log.log(
            logging.WARNING if repeated else logging.INFO,
            "Kommo answered 429; all requests pause for %.2f s, then go at %.1f/s%s",
            pause,
            self._limiter.rate,
            f" ({len(self._pauses)} within a minute)" if repeated else "",
        )

    async def _with_auth(self, call: Awaitable[str]) -> str:
        # A token refresh is a request too: a 429 on it must pause everyone like any other.
        try:
            return await call
        except RateLimitedError:
            self._rate_limited(self._limiter.now())
            raise

    async def _attempt(
        self, path: str, params: Params | None, embedded_key: str | None
    ) -> httpx.Response:
        renewed_to: str | None = None
        renewals = 0
        while True:
            token = await self._with_auth(self._auth.token(self._http))
            response, sent_at = await self._send(path, params, token)
            error = classify(response, path, embedded_key=embedded_key)
            if error is None:
                self._consecutive_429 = 0
                self._limiter.succeeded()
                return response
            if isinstance(error, RateLimitedError):
                self._rate_limited(sent_at)
            else:
                self._consecutive_429 = 0
            if not isinstance(error, TokenRejectedError):
                raise error
            # A 401 gets one renewal. A token renewed for this very request and rejected again
            # means renewing does not help; a different one (another task renewed meanwhile)
            # may still deserve its own chance, within a bound.
            if token == renewed_to or renewals >= _MAX_AUTH_RENEWALS:
                raise AuthError(
                    f"{error.message}, even after renewing the token",
                    status=401,
                    hint=getattr(self._auth, "how_to_fix", None),
                ) from error
            try:
                renewed_to = await self._with_auth(self._auth.refresh_after_401(self._http, token))
            except AuthError as exc:
                raise exc from error
            renewals += 1
            self.stats.refreshes += 1

    def _backoff(self, failures: int) -> float:
        # Exponential with jitter, so that callers that failed together do not retry together.
        delay = min(self._backoff_max, self._backoff_base * 2.0 ** (failures - 1))
        return delay + random.uniform(0, self._backoff_base)

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        log.info("%s — retrying (attempt %d) in %.2f s", error, state.attempt_number + 1, sleep)

    async def _request(
        self, path: str, params: Params | None, *, embedded_key: str | None = None
    ) -> httpx.Response:
        # 429s do not use up the attempts meant for errors: a run of them is the server asking
        # us to slow down, and the growing pause sees to that. They get a budget of their own,
        # twice as large, so that a few bursts in a row are ridden out.
        failures = limited = 0

        def stop(state: RetryCallState) -> bool:
            return failures >= self.max_attempts or limited >= 2 * self.max_attempts

        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            if outcome is not None and isinstance(outcome.exception(), RateLimitedError):
                return 0.0  # the limiter is paused: every caller waits there, this one included
            return self._backoff(failures)

        response: httpx.Response | None = None
        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception_type(RetriableApiError),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        response = await self._attempt(path, params, embedded_key)
                    except RateLimitedError:
                        limited += 1
                        raise
                    except RetriableApiError:
                        failures += 1
                        raise
        except RetriableApiError as exc:
            raise type(exc)(
                f"{exc.message} (gave up after {failures + limited} attempts)",
                status=exc.status,
                hint=GAVE_UP_HINT,
            ) from exc
        assert response is not None
        return response

    async def _get(
        self, path: str, params: Params | None, *, embedded_key: str | None = None
    ) -> tuple[dict[str, Any] | None, int | None]:
        response = await self._request(path, params, embedded_key=embedded_key)
        moment = server_time(response)
        if response.status_code == 204:
            return None, moment
        body: dict[str, Any] = decode_json(response)  # classify() made sure it is an object
        return body, moment

    # -- public API ----------------------------------------------------------------------------

    async def get_json(
        self, path: str, params: Params | None = None
    ) -> tuple[dict[str, Any] | None, int | None]:
        """GET ``path`` (below /api/v4): the JSON object and the server's time; ``(None, time)``
        on 204."""
        return await self._get(path, params)

    async def get_page(
        self, entity: Entity, params: Params, page: int, *, path: str | None = None
    ) -> Page:
        """Page ``page`` of a paged entity (``page`` and ``limit`` are set here)."""
        key = _embedded_key(entity)
        query: dict[str, str | int] = {**params, "page": page}
        if entity.page_size is not None:
            query["limit"] = entity.page_size
        body, moment = await self._get(_path(entity, path), query, embedded_key=key)
        if body is None:
            return Page([], False, page, moment)
        links = body.get("_links")
        # UNCERTAIN (docs/kommo-api.md §5): whether `next` appears exactly when the page is full is
        # not known, so only its absence (or a 204) ends the list — never a short page.
        has_next = isinstance(links, dict) and bool(links.get("next"))
        return Page(list(body["_embedded"][key]), has_next, page, moment)

    async def pages(
        self, entity: Entity, params: Params, *, path: str | None = None
    ) -> AsyncIterator[Page]:
        """Page 1, 2, … until a 204 (yielded as an empty last page) or a page without
        ``_links.next``. Any error is raised, never taken as the end."""
        number = 1
        while True:
            page = await self.get_page(entity, params, number, path=path)
            yield page
            if not page.has_next:
                return
            number += 1

    async def get_object(
        self, entity: Entity, params: Params | None = None
    ) -> tuple[dict[str, Any], int | None]:
        """A single-object entity (the account)."""
        if entity.shape is not Shape.OBJECT:
            raise ValueError(f"{entity.name} is not a single object")
        body, moment = await self._get(_path(entity, None), params)
        if body is None:
            raise FatalApiError(f"Kommo sent no content for {entity.path}", status=204)
        return body, moment

    async def get_all(
        self, entity: Entity, params: Params | None = None, *, path: str | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a dictionary (one response) or of a paged entity (all pages)."""
        if entity.shape is Shape.DICTIONARY:
            key = _embedded_key(entity)
            body, _ = await self._get(_path(entity, path), params, embedded_key=key)
            return [] if body is None else list(body["_embedded"][key])
        if entity.shape is Shape.PAGED:
            items: list[dict[str, Any]] = []
            async for page in self.pages(entity, params or {}, path=path):
                items.extend(page.items)
            return items
        raise ValueError(f"{entity.name} is a single object: use get_object")


def _embedded_key(entity: Entity) -> str:
    if not entity.embedded_key:
        raise ValueError(f"{entity.name} has no `_embedded` list")
    return entity.embedded_key


def _path(entity: Entity, path: str | None) -> str:
    chosen = path or entity.path
    if "{" in chosen:
        raise ValueError(f"{entity.name}: fill in {chosen!r} and pass it as path=")
    return chosen


def client_from_settings(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> KommoClient:
    """A client for the configured account, sharing the process-wide limiter."""
    # Imported here: auth.py uses classify() from this module.
    from kommo_analytics.kommo.auth import auth_from_settings

    if settings.kommo_base_url is None:
        raise ConfigError(
            "KOMMO_BASE_URL is not set",
            hint="set KOMMO_BASE_URL to your account's address, e.g. https://acme.kommo.com",
        )
    limiter = shared_limiter(
        settings.kommo_rate_limit_per_second,
        settings.kommo_base_url,
        settings.resolved_limiter_url,
    )
    auth = auth_from_settings(settings, limiter)
    return KommoClient(settings.kommo_base_url, auth, limiter=limiter, transport=transport)

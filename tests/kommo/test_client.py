"""The HTTP client against the emulator (in-process) and against hand-made responses."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig, FaultSpec
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.state import get_state
from kommo_analytics.emulator.store import AccountStore
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
)
from kommo_analytics.kommo.auth import LongLivedTokenAuth
from kommo_analytics.kommo.client import (
    GAVE_UP_HINT,
    KommoClient,
    classify,
    classify_exception,
    client_from_settings,
    server_time,
)
from kommo_analytics.kommo.entities import ACCOUNT, LEADS, PIPELINES, STATUSES
from kommo_analytics.kommo.ratelimit import RateLimiter
from kommo_analytics.settings import Settings
from tests.emulator.harness import FakeClock
from tests.kommo.test_ratelimit import most_in_any_window

BASE = "http://acme.kommo.test"
NOW = 1_795_618_800
FAULTS = "5xx=0.1,429burst=0.05,drop=0.05,truncate=0.05"
# Smaller pages than Kommo's 250 make a crawl of the small account long enough to meet faults.
LEADS_50 = dataclasses.replace(LEADS, page_size=50)
LEADS_25 = dataclasses.replace(LEADS, page_size=25)


@pytest.fixture(scope="module")
def store() -> AccountStore:
    return build_account(seed=3, scale="small", now=NOW)


@pytest.fixture(scope="module")
def live_leads(store: AccountStore) -> int:
    row = (
        store.cursor()
        .execute("SELECT count(*) FROM leads WHERE NOT coalesce(is_deleted, false)")
        .fetchone()
    )
    assert row is not None
    return int(row[0])


def emulator(
    store: AccountStore,
    faults: str = "",
    *,
    rate: float = 200,
    clock: Callable[[], float] | None = None,
    **config: Any,
) -> ASGIApp:
    spec = FaultSpec.parse(faults)
    return create_app(
        store, EmulatorConfig(rate_limit_per_second=rate, faults=spec, **config), clock=clock
    )


def client_for(
    app: ASGIApp | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    token: str | None = None,
    rate: float = 200,
    **options: Any,
) -> KommoClient:
    if transport is None:
        assert app is not None
        transport = httpx.ASGITransport(app=app)
    if token is None:
        token = get_state(app).tokens.demo_token if app is not None else "test-token"
    options = {"backoff_base": 0.01, "backoff_max": 0.2, **options}
    return KommoClient(
        BASE,
        LongLivedTokenAuth(token),
        limiter=RateLimiter(rate),
        transport=transport,
        **options,
    )


class Scripted(httpx.AsyncBaseTransport):
    """Answers requests from a list of responses (or exceptions), recording what was asked."""

    def __init__(self, *answers: httpx.Response | Exception, repeat_last: bool = False) -> None:
        self.answers = list(answers)
        self.repeat_last = repeat_last
        self.requests: list[httpx.Request] = []
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.sent.append(time.monotonic())
        answer = self.answers[0] if self.repeat_last and len(self.answers) == 1 else None
        if answer is None:
            answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        # A fresh copy each time: a response body can be read only once.
        return httpx.Response(
            answer.status_code, headers=answer.headers, content=answer.content, request=request
        )


def page(ids: list[int], *, next_page: bool) -> httpx.Response:
    links: dict[str, Any] = {"self": {"href": f"{BASE}/api/v4/leads"}}
    if next_page:
        links["next"] = {"href": f"{BASE}/api/v4/leads?page=next"}
    body = {"_page": 1, "_links": links, "_embedded": {"leads": [{"id": i} for i in ids]}}
    return httpx.Response(200, json=body)


HTML_403 = httpx.Response(
    403,
    headers={"content-type": "text/html"},
    content=b"<html><head><title>403 Forbidden</title></head><body>nginx</body></html>",
)
HTML_429 = httpx.Response(429, headers={"content-type": "text/html"}, content=b"<html>429</html>")


def problem(status: int, detail: str, **extra: Any) -> httpx.Response:
    body = {"title": "Error", "type": "about:blank", "status": status, "detail": detail, **extra}
    return httpx.Response(
        status, headers={"content-type": "application/problem+json"}, content=json.dumps(body)
    )


# -- crawling the emulator ------------------------------------------------------------------


@pytest.mark.anyio
async def test_full_crawl_of_leads_matches_the_store(store: AccountStore, live_leads: int) -> None:
    app = emulator(store)
    async with client_for(app) as client:
        pages = [p async for p in client.pages(LEADS, {"order[id]": "asc"})]
    ids = [lead["id"] for p in pages for lead in p.items]
    assert len(ids) == len(set(ids)) == live_leads
    assert [p.page for p in pages] == list(range(1, len(pages) + 1))
    assert pages[-1].has_next is False and all(p.has_next for p in pages[:-1])
    # The last page is short and carries no `next`: that, not its size, ends the crawl.
    assert 0 < len(pages[-1].items) < 250
    assert client.stats.requests == len(pages) == -(-live_leads // 250)
    assert client.stats.retries == 0
    assert all(isinstance(p.server_time, int) for p in pages)


@pytest.mark.anyio
async def test_crawl_through_faults_loses_nothing_and_is_never_blocked(
    store: AccountStore, live_leads: int
) -> None:
    app = emulator(store, FAULTS, seed=5)  # meets two 429 bursts back to back
    async with client_for(app, rate=200) as client:
        leads = await client.get_all(LEADS_50, {"with": "contacts"})
    assert len(leads) == len({lead["id"] for lead in leads}) == live_leads
    stats = get_state(app).stats
    faults = stats["5xx"] + stats["429_burst"] + stats["dropped"] + stats["truncated"]
    # Every kind of fault was met (the seed is chosen for that) and each cost one retry.
    assert min(stats["5xx"], stats["429_burst"], stats["dropped"], stats["truncated"]) > 0
    assert client.stats.retries == faults
    assert client.stats.rate_limited == stats["429_burst"]
    assert client.stats.requests == stats["requests"]
    # The limiter kept the client under the server's limit: no rate 429, no 403 block.
    assert stats["429_rate"] == 0
    assert stats["403"] == 0
    assert stats["blocked"] == []


@pytest.mark.anyio
async def test_204_ends_the_pagination(store: AccountStore, live_leads: int) -> None:
    assert live_leads % 25 == 0  # every page full: the last `next` leads to a 204
    app = emulator(store, rate=1000)
    async with client_for(app, rate=1000) as client:
        pages = [p async for p in client.pages(LEADS_25, {})]
    assert sum(len(p.items) for p in pages) == live_leads
    assert all(len(p.items) == 25 for p in pages[:-1])
    last = pages[-1]
    assert (last.items, last.has_next, last.page) == ([], False, live_leads // 25 + 1)
    assert isinstance(last.server_time, int)
    assert get_state(app).stats["204"] == 1


@pytest.mark.anyio
async def test_object_and_dictionary_shapes(store: AccountStore) -> None:
    app = emulator(store)
    async with client_for(app) as client:
        account, moment = await client.get_object(ACCOUNT, {"with": "datetime_settings"})
        assert isinstance(account["id"], int) and isinstance(moment, int)
        pipelines = await client.get_all(PIPELINES)
        assert pipelines and all(p["_embedded"]["statuses"] for p in pipelines)
        first = pipelines[0]["id"]
        statuses = await client.get_all(STATUSES, path=f"/leads/pipelines/{first}/statuses")
        assert {142, 143} <= {s["id"] for s in statuses}
        with pytest.raises(ValueError):
            await client.get_all(STATUSES)  # the path has a placeholder
        with pytest.raises(ValueError):
            await client.get_all(ACCOUNT)


@pytest.mark.anyio
async def test_server_time_comes_from_the_date_header(store: AccountStore) -> None:
    clock = FakeClock(NOW + 0.75)
    app = emulator(store, clock=clock)
    async with client_for(app) as client:
        result = await client.get_page(LEADS, {}, 1)
        assert result.server_time == NOW
        clock.advance(3600)
        _, moment = await client.get_json("/leads/pipelines")
        assert moment == NOW + 3600
        assert client.stats.last_server_time == NOW + 3600
        assert client.stats.last_response_at is not None
    async with client_for(transport=Scripted(page([1], next_page=False))) as client:
        assert (await client.get_page(LEADS, {}, 1)).server_time is None
    doubled = httpx.Response(
        200,
        headers=[
            ("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
            ("date", "Fri, 02 Jan 2026 00:00:00 GMT"),
        ],
    )
    assert server_time(doubled) == 1_767_225_600
    assert server_time(httpx.Response(200, headers={"date": "yesterday"})) is None


# -- pagination rules -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_short_page_with_a_next_link_does_not_end_the_list() -> None:
    transport = Scripted(
        page([1, 2, 3], next_page=True),
        page([4], next_page=True),
        page([5, 6], next_page=False),
        page([7], next_page=False),  # never asked for
    )
    params: dict[str, str | int] = {
        "filter[updated_at][from]": 1700000000,
        "with": "contacts,loss_reason",
    }
    async with client_for(transport=transport) as client:
        items = await client.get_all(LEADS, params)
    assert [i["id"] for i in items] == [1, 2, 3, 4, 5, 6]
    sent = [r.url for r in transport.requests]
    assert [u.params["page"] for u in sent] == ["1", "2", "3"]
    assert all(u.params["limit"] == "250" for u in sent)
    # Bracket keys and comma lists go out as given (httpx percent-encodes the brackets).
    assert sent[0].params["filter[updated_at][from]"] == "1700000000"
    assert sent[0].params["with"] == "contacts,loss_reason"
    assert "filter%5Bupdated_at%5D%5Bfrom%5D=1700000000" in str(sent[0])
    assert sent[0].path == "/api/v4/leads"
    assert transport.requests[0].headers["authorization"] == "Bearer test-token"


@pytest.mark.anyio
async def test_a_page_without_the_list_is_retried_not_taken_as_the_end() -> None:
    transport = Scripted(
        httpx.Response(200, json={"_page": 2, "_embedded": {}}),
        httpx.Response(200, content=b'{"_page": 2, "_embedded": {"leads": [{"id": 1'),
        page([8, 9], next_page=False),
    )
    async with client_for(transport=transport) as client:
        result = await client.get_page(LEADS, {}, 2)
    assert [i["id"] for i in result.items] == [8, 9]
    assert client.stats.retries == 2
    assert client.stats.requests == 3


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_blocked_ip_stops_at_once(store: AccountStore) -> None:
    app = emulator(store)
    get_state(app).limiter.block("127.0.0.1")
    async with client_for(app) as client:
        with pytest.raises(BlockedError) as raised:
            await client.get_all(LEADS)
    assert client.stats.requests == 1
    assert raised.value.status == 403
    assert "Kommo refused this integration's IP (HTTP 403)" in raised.value.message
    assert "contact Kommo support with your IP address and account subdomain" in str(raised.value)


@pytest.mark.anyio
async def test_json_403_is_no_rights_not_a_block() -> None:
    transport = Scripted(problem(403, "User has no rights"))
    async with client_for(transport=transport) as client:
        with pytest.raises(FatalApiError) as raised:
            await client.get_json("/leads")
    assert not isinstance(raised.value, BlockedError)
    assert "User has no rights" in raised.value.message
    assert len(transport.requests) == 1


@pytest.mark.anyio
async def test_402_means_the_subscription_ended() -> None:
    transport = Scripted(httpx.Response(402, text="Payment Required"))
    async with client_for(transport=transport) as client:
        with pytest.raises(SubscriptionEndedError) as raised:
            await client.get_json("/account")
    assert "subscription has ended" in raised.value.message
    assert "renew" in raised.value.one_line()
    assert len(transport.requests) == 1


@pytest.mark.anyio
async def test_4xx_is_fatal_with_kommos_words_and_the_path(store: AccountStore) -> None:
    app = emulator(store)
    token = get_state(app).tokens.demo_token
    async with client_for(app) as client:
        with pytest.raises(FatalApiError) as raised:
            await client.get_json("/no-such-thing")
        assert raised.value.status == 404
        assert "/no-such-thing" in raised.value.message
        assert "Unknown route" in raised.value.message
        with pytest.raises(FatalApiError) as bad:
            await client.get_json("/leads", {"limit": "lots"})
        assert bad.value.status == 400
        assert client.stats.requests == 2 and client.stats.retries == 0
    for error in (raised.value, bad.value):
        assert token not in error.one_line()


@pytest.mark.anyio
async def test_5xx_is_retried_then_gives_up_with_a_hint(store: AccountStore) -> None:
    app = emulator(store, "5xx=1")
    async with client_for(app, max_attempts=4) as client:
        with pytest.raises(RetriableApiError) as raised:
            await client.get_json("/leads")
    assert raised.value.hint == GAVE_UP_HINT
    assert "gave up after 4 attempts" in raised.value.message
    assert (client.stats.requests, client.stats.retries) == (4, 3)
    assert get_state(app).stats["5xx"] == 4


@pytest.mark.anyio
async def test_transport_failures_are_retried() -> None:
    request = httpx.Request("GET", f"{BASE}/api/v4/leads")
    transport = Scripted(
        httpx.ReadTimeout("slow", request=request),
        httpx.RemoteProtocolError("Server disconnected", request=request),
        httpx.ConnectError("refused", request=request),
        httpx.Response(200, json={"ok": True}),
    )
    async with client_for(transport=transport) as client:
        body, _ = await client.get_json("/leads")
    assert body == {"ok": True}
    assert client.stats.retries == 3


@pytest.mark.anyio
async def test_401_with_a_long_lived_token_says_how_to_get_a_new_one(store: AccountStore) -> None:
    app = emulator(store)
    tokens = get_state(app).tokens
    token = tokens.issue_long_lived()
    tokens.revoke(token)
    async with client_for(app, token=token) as client:
        with pytest.raises(AuthError) as raised:
            await client.get_json("/account")
    line = raised.value.one_line()
    assert "Keys and scopes" in line and "KOMMO_ACCESS_TOKEN" in line
    assert token not in line
    assert isinstance(raised.value.__cause__, TokenRejectedError)
    assert (client.stats.requests, client.stats.refreshes, client.stats.retries) == (1, 0, 0)


# -- 429 and the shared limiter -------------------------------------------------------------


def record_pauses(client: KommoClient) -> list[float]:
    """The pauses the client asks of its limiter, in order (the limiter still pauses)."""
    limiter = client._limiter
    pauses: list[float] = []
    original = limiter.pause

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        original(seconds)

    limiter.pause = pause  # type: ignore[method-assign]
    return pauses


@pytest.mark.anyio
async def test_429_pauses_the_limiter_longer_each_time() -> None:
    transport = Scripted(HTML_429, HTML_429, HTML_429, httpx.Response(200, json={}))
    async with client_for(transport=transport, backoff_base=0.05, backoff_max=5) as client:
        pauses = record_pauses(client)
        await client.get_json("/leads")
    assert pauses == pytest.approx([0.1, 0.2, 0.4])
    gaps = [b - a for a, b in zip(transport.sent, transport.sent[1:], strict=False)]
    # Tenacity itself waits 0 after a 429: the gaps are the limiter's pauses. Only lower bounds:
    # a busy machine may add to any gap, never take from it.
    for gap, pause in zip(gaps, pauses, strict=True):
        assert gap >= pause - 0.01
    assert (client.stats.rate_limited, client.stats.retries) == (3, 3)


@pytest.mark.anyio
async def test_429s_of_requests_in_flight_together_pause_once() -> None:
    class SlowThen429(Scripted):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.sent.append(time.monotonic())
            await asyncio.sleep(0.02)  # all four are in flight when the first 429 lands
            first_wave = len(self.sent) <= 4
            return HTML_429 if first_wave else httpx.Response(200, json={})

    transport = SlowThen429()
    # A pace fast enough that all four leave before the first answer (pacing is tested apart).
    async with client_for(
        transport=transport, rate=10_000, backoff_base=0.05, backoff_max=5
    ) as client:
        pauses = record_pauses(client)
        await asyncio.gather(*(client.get_json("/leads") for _ in range(4)))
    assert client.stats.rate_limited == 4
    # One 0.1 s pause, not 0.1 + 0.2 + 0.4 + 0.8.
    assert pauses == pytest.approx([0.1])
    assert min(transport.sent[4:]) - transport.sent[0] >= 0.1


@pytest.mark.anyio
async def test_the_limiter_alone_caps_throughput_with_slow_responses() -> None:
    class Slow(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.sent: list[float] = []

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.sent.append(time.monotonic())
            await asyncio.sleep(0.3)
            return httpx.Response(200, json={"ok": True}, request=request)

    transport = Slow()
    queue = list(range(29))

    async def caller(client: KommoClient) -> None:
        while queue:
            queue.pop()
            await client.get_json("/leads")

    async with client_for(transport=transport, rate=7) as client:
        await asyncio.gather(*(caller(client) for _ in range(8)))
    sent = transport.sent
    assert len(sent) == 29
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    # One request at a time would make 3.3/s; eight in flight reach the limiter's 7 per 1.03 s.
    assert 6 <= rate <= 7
    assert most_in_any_window(sent, 1.0) == 7


# -- sorting --------------------------------------------------------------------------------


def response(status: int, content: bytes = b"", content_type: str = "") -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return httpx.Response(status, headers=headers, content=content)


GOOD_PAGE = json.dumps({"_embedded": {"leads": [{"id": 1}]}}).encode()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (response(204), None),
        (response(200, GOOD_PAGE, "application/hal+json"), None),
        (response(200, GOOD_PAGE[:-3], "application/hal+json"), MalformedResponseError),
        (
            response(200, b'{"_embedded": {"leads": {}}}', "application/json"),
            MalformedResponseError,
        ),
        (
            response(200, b'{"_embedded": {"leads": [1]}}', "application/json"),
            MalformedResponseError,
        ),
        (response(200, b"[]", "application/json"), MalformedResponseError),
        (response(429, b"<html>429</html>", "text/html"), RateLimitedError),
        (response(500, b'{"detail": "x"}', "application/problem+json"), RetriableApiError),
        (response(502, b"<html>bad gateway</html>", "text/html"), RetriableApiError),
        (response(401, b'{"detail": "Token has expired"}', "application/json"), TokenRejectedError),
        (response(402), SubscriptionEndedError),
        (response(403, b"<html>403 Forbidden</html>", "text/html"), BlockedError),
        (response(403, b"Forbidden", "text/plain"), BlockedError),
        (response(403, b'{"detail": "no rights"}', "application/problem+json"), FatalApiError),
        (response(400, b'{"detail": "bad"}', "application/problem+json"), FatalApiError),
        (response(404), FatalApiError),
        (response(301), FatalApiError),
    ],
)
def test_classify(answer: httpx.Response, expected: type[ApiError] | None) -> None:
    error = classify(answer, "/leads", embedded_key="leads")
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected
        assert error.status == answer.status_code


def test_classify_exception() -> None:
    request = httpx.Request("GET", f"{BASE}/api/v4/leads")
    retriable = [
        httpx.ConnectTimeout("t", request=request),
        httpx.ReadTimeout("t", request=request),
        httpx.ConnectError("c", request=request),
        httpx.ReadError("r", request=request),
        httpx.RemoteProtocolError("dropped", request=request),
    ]
    for exc in retriable:
        assert type(classify_exception(exc, "/leads")) is RetriableApiError
    fatal = classify_exception(httpx.UnsupportedProtocol("ftp", request=request), "/leads")
    assert isinstance(fatal, FatalApiError)


def _connect_error_from(cause: BaseException) -> httpx.ConnectError:
    """A ConnectError chained to its cause as httpx raises it (httpx ← httpcore ← the OS)."""
    request = httpx.Request("GET", f"{BASE}/api/v4/leads")
    try:
        try:
            raise cause
        except BaseException as low:
            raise httpx.ConnectError(str(low), request=request) from low
    except httpx.ConnectError as exc:
        return exc


@pytest.mark.anyio
async def test_a_host_name_that_does_not_resolve_fails_at_once_naming_the_setting() -> None:
    # `.invalid` never resolves (RFC 2606): a real lookup, through httpx's own transport.
    client = KommoClient(
        "https://nonexistent.invalid",
        LongLivedTokenAuth("test-token"),
        limiter=RateLimiter(200),
        backoff_base=0.01,
        backoff_max=0.02,
    )
    async with client:
        with pytest.raises(FatalApiError) as raised:
            await client.get_json("/account")
    assert (client.stats.requests, client.stats.retries) == (1, 0)
    line = raised.value.one_line()
    assert "KOMMO_BASE_URL" in line and "nonexistent.invalid" in line
    assert GAVE_UP_HINT not in line


@pytest.mark.anyio
async def test_https_to_a_server_that_does_not_speak_tls_fails_at_once() -> None:
    import socket
    import threading

    # A plain-HTTP server behind an https:// KOMMO_BASE_URL: a real TLS handshake failure.
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_in_plain_http() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer_in_plain_http, daemon=True).start()
    client = KommoClient(
        f"https://127.0.0.1:{port}",
        LongLivedTokenAuth("test-token"),
        limiter=RateLimiter(200),
        backoff_base=0.01,
        backoff_max=0.02,
    )
    try:
        async with client:
            with pytest.raises(FatalApiError) as raised:
                await client.get_json("/account")
    finally:
        server.close()
    assert client.stats.requests == 1
    assert "TLS" in raised.value.message and "KOMMO_BASE_URL" in raised.value.hint


def test_certificate_errors_are_fatal_and_a_dns_hiccup_is_not() -> None:
    import socket
    import ssl

    bad_cert = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed")
    error = classify_exception(_connect_error_from(bad_cert), "/leads")
    assert type(error) is FatalApiError
    assert "KOMMO_BASE_URL" in error.hint and "acme.kommo.test" in error.hint
    unknown = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert type(classify_exception(_connect_error_from(unknown), "/leads")) is FatalApiError
    # A resolver that cannot be reached right now says "try again": that one may pass.
    again = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert type(classify_exception(_connect_error_from(again), "/leads")) is RetriableApiError
    refused = ConnectionRefusedError(111, "Connection refused")
    assert type(classify_exception(_connect_error_from(refused), "/leads")) is RetriableApiError


@pytest.mark.anyio
async def test_one_handled_429_is_logged_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    transport = Scripted(HTML_429, httpx.Response(200, json={}))
    caplog.set_level(logging.DEBUG, logger="kommo_analytics.kommo.client")
    async with client_for(transport=transport, backoff_base=0.01, backoff_max=0.1) as client:
        await client.get_json("/leads")
    about_429 = [r for r in caplog.records if "429" in r.getMessage()]
    assert about_429 and all(r.levelno < logging.WARNING for r in about_429)


@pytest.mark.anyio
async def test_429s_in_a_row_warn(caplog: pytest.LogCaptureFixture) -> None:
    transport = Scripted(HTML_429, HTML_429, HTML_429, httpx.Response(200, json={}))
    caplog.set_level(logging.DEBUG, logger="kommo_analytics.kommo.client")
    async with client_for(transport=transport, backoff_base=0.01, backoff_max=0.1) as client:
        await client.get_json("/leads")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "429" in warnings[0].getMessage()


@pytest.mark.anyio
async def test_429s_spread_over_a_minute_warn(caplog: pytest.LogCaptureFixture) -> None:
    # Each 429 is followed by a success (so none is "in a row"), but three within a minute are
    # still more than an occasional one.
    ok = httpx.Response(200, json={})
    transport = Scripted(HTML_429, ok, HTML_429, ok, HTML_429, ok)
    caplog.set_level(logging.DEBUG, logger="kommo_analytics.kommo.client")
    async with client_for(transport=transport, backoff_base=0.01, backoff_max=0.1) as client:
        for _ in range(3):
            await client.get_json("/leads")
    levels = [r.levelno for r in caplog.records if "pause" in r.getMessage()]
    assert levels[:2] == [logging.INFO, logging.INFO] and levels[2] == logging.WARNING


# -- settings -------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (
        "KOMMO_BASE_URL",
        "KOMMO_ACCESS_TOKEN",
        "KOMMO_CLIENT_ID",
        "KOMMO_CLIENT_SECRET",
        "KOMMO_REDIRECT_URI",
        "DATA_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.mark.anyio
async def test_client_from_settings(store: AccountStore, clean_env: None) -> None:
    with pytest.raises(ConfigError):
        client_from_settings(Settings(_env_file=None, kommo_access_token="x"))
    app = emulator(store, rate=7)
    token = get_state(app).tokens.demo_token
    settings = Settings(_env_file=None, kommo_base_url=BASE, kommo_access_token=token)
    async with client_from_settings(settings, transport=httpx.ASGITransport(app=app)) as client:
        account, _ = await client.get_object(ACCOUNT)
    assert isinstance(account["id"], int)
    assert token not in repr(client) and token not in repr(client._auth)


@pytest.mark.anyio
async def test_a_429_slows_the_shared_pace_and_sends_are_timed_at_departure() -> None:
    transport = Scripted(HTML_429, httpx.Response(200, json={}), httpx.Response(200, json={}))
    async with client_for(transport=transport, rate=50, backoff_base=0.01) as client:
        limiter = client._limiter
        full = limiter.ceiling
        await client.get_json("/leads")
        # Halved by the 429, then one small step back for the success.
        assert full / 2 < limiter.rate < full * 0.6
        await client.get_json("/leads")
        assert limiter.rate < full * 0.6
        # Every ticket was handed back by the departure hook: none is held, three were recorded.
        assert not limiter._held and len(limiter._sends) == 3
        # Each recorded departure is no earlier than its grant and no later than the transport.
        assert all(a <= b + 1e-3 for a, b in zip(limiter._sends, transport.sent, strict=True))

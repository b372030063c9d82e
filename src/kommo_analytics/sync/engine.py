"""The sync: the dictionaries (T0), then every stream at once, each committing as it goes.

Guarantees, and how they are kept:

- **Nothing lost, nothing doubled.** Rows are upserted by primary key, so reading a row twice
  is harmless; a stream's watermark is written in a load of its own that starts only after the
  load of the rows it covers has committed. A sync killed at any moment resumes from the last
  committed watermark (minus the overlap) and reads the rest again.
- **As fast as Kommo allows.** Streams run concurrently, events keep several pages outstanding
  (``sync/paging.py``) and yield the limiter to the crawls that go a page at a time, and no
  request waits for a database step it does not need: the client's shared rate limiter, not
  latency, sets the pace.
- **Readers never blocked.** DuckDB warehouses are published to readers after the run (and every
  few minutes of a long one); see ``warehouse/loader.py``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kommo_analytics.errors import (
    DataDriftError,
    KommoAnalyticsError,
    MalformedResponseError,
    SyncError,
)
from kommo_analytics.kommo.client import KommoClient, Page
from kommo_analytics.kommo.entities import (
    ACCOUNT,
    LEAD_CUSTOM_FIELDS,
    LOSS_REASONS,
    PIPELINES,
    USERS,
    Entity,
)
from kommo_analytics.kommo.ratelimit import yielding
from kommo_analytics.model.store import MODEL_BUILD_STEPS
from kommo_analytics.sync import nulls, records
from kommo_analytics.sync.paging import PagePlan, read_pages
from kommo_analytics.sync.records import Json
from kommo_analytics.sync.streams import (
    CREATION_EVENT_TYPE,
    CURSOR_FIELDS,
    DICTIONARIES,
    MODEL,
    STREAMS,
    Crawl,
    Rows,
    Stream,
)
from kommo_analytics.warehouse.loader import Row, Warehouse
from kommo_analytics.warehouse.tables import LEAD_DELETIONS

DAY = 86400
# Kommo takes at most 10 ids in an events `filter[entity_id]` (docs/kommo-api.md §7.7).
CREATION_IDS_PER_REQUEST = 10


@dataclass(frozen=True)
class SyncOptions:
    full: bool = False
    streams: frozenset[str] | None = None  # names from STREAM_NAMES; None = everything
    overlap_seconds: int = 600
    commit_rows: int = 20_000
    event_pages_in_flight: int = 4
    windows_in_flight: int = 3
    publish_every_seconds: float = 300.0
    # A sync that changed nothing does not publish (DuckDB), unless the served file is older
    # than this: its bookkeeping (last run, stream freshness) must not look stale to `health`.
    republish_unchanged_seconds: float = 3600.0
    recheck_rounds: int = 3


class Reporter(Protocol):
    def stream_started(self, name: str) -> None: ...
    # The stream has `total` parts (windows, lists, steps) — said again when re-reads add some.
    def stream_planned(self, name: str, total: int, unit: str) -> None: ...
    def stream_part_done(self, name: str) -> None: ...
    def stream_advanced(self, name: str, rows: int, requests: int) -> None: ...
    def stream_finished(self, name: str) -> None: ...
    def message(self, text: str) -> None: ...


class SilentReporter:
    def stream_started(self, name: str) -> None:
        pass

    def stream_planned(self, name: str, total: int, unit: str) -> None:
        pass

    def stream_part_done(self, name: str) -> None:
        pass

    def stream_advanced(self, name: str, rows: int, requests: int) -> None:
        pass

    def stream_finished(self, name: str) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class SyncResult:
    run_id: str
    status: str
    mode: str
    started_at: datetime
    finished_at: datetime | None = None
    server_time: int | None = None
    rows: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    # What a person should look at although the run succeeded (``sync/nulls.py`` words them).
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # Nothing stored changed and the model was current: no rebuild, no after-build steps.
    unchanged: bool = False


NOTHING_CHANGED = "nothing changed; the model is current"


@dataclass(frozen=True)
class _Dictionaries:
    """The small lists as Kommo sent them, and what the streams need from them."""

    account: Json
    users: list[Json]
    pipelines: list[Json]
    reasons: list[Json]
    fields: list[Json]
    t0: int  # the server's time at the account's answer: every window's upper bound
    history_start: int  # the account's creation
    requests: int


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class WindowPlanner:
    """Consecutive inclusive ``[from, to]`` windows over ``start..end``, each sized from the
    density of the windows read so far to hold about ``target_rows``.

    Whatever their sizes, the windows are adjacent, ascending and cover ``start..end`` exactly
    (the first one also covers everything before ``history_start``, where an account has no
    data): sizing changes how many requests a crawl takes, never which rows it reads. The first
    window is a guess of ``first_seconds``; later ones follow the rows per second seen, recent
    windows weighing most, and grow fourfold over stretches where nothing was found.
    """

    def __init__(
        self,
        start: int,
        end: int,
        *,
        target_rows: int,
        first_seconds: int,
        history_start: int,
        min_seconds: int = 3600,
    ) -> None:
        self.spans: list[tuple[int, int]] = []
        self.end = end
        self.target_rows = target_rows
        self._next = start
        self._history_start = history_start
        self._first_seconds = first_seconds
        self._min_seconds = min_seconds
        self._density: float | None = None  # rows per second, a moving average
        self._last_length = first_seconds

    @property
    def done(self) -> bool:
        return self._next > self.end

    @property
    def informed(self) -> bool:
        """Whether a window has been read, so that the sizes are more than a guess."""
        return self._density is not None

    def _seconds(self, lo: int, hi: int) -> int:
        return max(0, hi - max(lo, self._history_start) + 1)

    def seconds(self, index: int) -> int:
        """How long window ``index`` is, leaving out what lies before the account existed."""
        return self._seconds(*self.spans[index])

    def expected_rows(self, index: int) -> float | None:
        """How many rows window ``index`` should hold, by the density known when asked."""
        if self._density is None:
            return None
        return self._density * self._seconds(*self.spans[index])

    def remaining(self) -> int:
        """About how many more windows the crawl needs."""
        if self.done:
            return 0
        if not self._density:
            return 1
        rows = self._density * (self.end - max(self._next, self._history_start) + 1)
        return max(1, math.ceil(rows / self.target_rows))

    def next(self) -> int:
        """The index of a new window in ``spans``, just after the last one."""
        if self.done:
            raise ValueError("every window has been handed out")
        lo = self._next
        if self._density is None:
            length = self._first_seconds
        elif self._density == 0:
            length = self._last_length * 4
        else:
            length = int(self.target_rows / self._density)
        length = max(self._min_seconds, length)
        self._last_length = length
        hi = min(self.end, max(lo, self._history_start) + length - 1)
        self.spans.append((lo, hi))
        self._next = hi + 1
        return len(self.spans) - 1

    def observed(self, index: int, rows: int) -> None:
        """Window ``index`` held ``rows`` rows."""
        seconds = self._seconds(*self.spans[index])
        if seconds <= 0:
            return
        density = rows / seconds
        self._density = density if self._density is None else (self._density + density) / 2


async def _run_windows(
    planner: WindowPlanner,
    in_flight: int,
    read: Callable[[int], Awaitable[int]],
    planned: Callable[[], None],
) -> None:
    """Read the planner's windows, ``in_flight`` at a time once the first one has set the pace
    (``read`` returns a window's row count). A failure cancels the others, as a TaskGroup does."""
    finished: asyncio.Queue[None] = asyncio.Queue()
    running = 0

    async def one(index: int) -> None:
        planner.observed(index, await read(index))
        finished.put_nowait(None)

    async with asyncio.TaskGroup() as group:
        while True:
            while running < (in_flight if planner.informed else 1) and not planner.done:
                group.create_task(one(planner.next()))
                running += 1
                planned()
            if running == 0:
                break
            await finished.get()
            running -= 1


class SyncEngine:
    def __init__(
        self,
        client: KommoClient,
        warehouse: Warehouse,
        options: SyncOptions | None = None,
        reporter: Reporter | None = None,
        *,
        clock: Callable[[], float] = time.time,
        after_load: Callable[[Callable[[], None]], str] | None = None,
        account_timezone: str | None = None,
        unchanged: Callable[[], str | None] | None = None,
        publish_needed: Callable[[], bool] | None = None,
    ) -> None:
        # After the loads: None when something changed (or the model is not current), else
        # what was done instead of the rebuild (a line for the progress output).
        self.unchanged = unchanged
        # Whether a sync that changed nothing must still publish (DuckDB: readers behind).
        self.publish_needed = publish_needed
        self.account_timezone = account_timezone  # the user's ACCOUNT_TIMEZONE, if set
        self._stored_nulls: dict[str, tuple[int, Counter[str]]] = {}
        self._seen_nulls = nulls.Seen()
        # Rebuilds what is derived from the raw tables, calling its argument after each step.
        self.after_load = after_load
        self.client = client
        self.warehouse = warehouse
        self.options = options or SyncOptions()
        self.reporter: Reporter = reporter or SilentReporter()
        self.clock = clock
        self._commit_lock = asyncio.Lock()
        self._failed_load: BaseException | None = None
        self._last_publish = time.monotonic()
        self.result = SyncResult(
            run_id=uuid.uuid4().hex,
            status="running",
            mode="full" if self.options.full else "incremental",
            started_at=_dt(clock()),
        )

    # -- the run ------------------------------------------------------------------------------

    def selected_streams(self) -> list[Stream]:
        chosen = self.options.streams
        return [s for s in STREAMS if chosen is None or s.name in chosen]

    async def run(self) -> SyncResult:
        # The dictionaries need nothing from the warehouse: they are asked for while it is checked
        # and the run logged (seconds on a fresh warehouse), and loaded while the streams crawl.
        fetching = asyncio.create_task(self._fetch_dictionaries())
        try:
            await asyncio.to_thread(self.warehouse.check)
            await self._locked(self._mark_interrupted)
            await self._log_run()
        except BaseException:
            fetching.cancel()
            await asyncio.wait([fetching])
            if not fetching.cancelled():
                fetching.exception()  # the warehouse's failure is the one to report
            raise
        try:
            # A run killed between a load and the deletion pass left flags to derive.
            await self._locked(self._apply_deletions)
            marks = {} if self.options.full else await asyncio.to_thread(self.warehouse.watermarks)
            if not marks:
                self.result.mode = "full"
            # Before this run's rows are loaded: what the warehouse held is the comparison.
            self._stored_nulls = await asyncio.to_thread(self._null_baseline)
            dictionaries = await fetching
            t0, history_start = dictionaries.t0, dictionaries.history_start
            self.result.server_time = t0
            try:
                # A failing stream cancels the others (each finishes the load it is in first).
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._store_dictionaries(dictionaries))
                    for stream in self.selected_streams():
                        group.create_task(self._stream(stream, marks, t0, history_start))
            except BaseExceptionGroup as failures:
                raise _first(failures) from None
            events = [s for s in self.selected_streams() if s.crawl is Crawl.EVENTS]
            if events:
                await self._creation_events(events[0])
            await self._locked(self._apply_deletions)
            self.result.warnings += nulls.jumps(self._stored_nulls, self._seen_nulls)
            instead = None
            if self.after_load is not None and self.unchanged is not None:
                instead = await asyncio.to_thread(self.unchanged)
            if instead is not None:
                self.result.unchanged = True
                self.reporter.message(instead)
            elif self.after_load is not None:
                # Before the final publish, so DuckDB readers get data and model together.
                self.reporter.stream_started(MODEL)
                self.reporter.stream_planned(MODEL, len(MODEL_BUILD_STEPS), "steps")
                summary = await asyncio.to_thread(
                    self.after_load, lambda: self.reporter.stream_part_done(MODEL)
                )
                self.reporter.stream_finished(MODEL)
                self.reporter.message(summary)
            self.result.status = "ok"
        except BaseException as exc:
            self.result.status = "failed"
            self.result.error = (
                exc.one_line() if isinstance(exc, KommoAnalyticsError) else repr(exc)
            )[:2000]
            raise
        finally:
            self.result.finished_at = _dt(self.clock())
            try:
                await self._log_run()
            except KommoAnalyticsError as log_exc:
                if self.result.status == "ok":
                    raise
                self.reporter.message(f"could not record the failed run: {log_exc.one_line()}")
            # What was committed reaches DuckDB's readers even when the run failed (and the log
            # could not be written after a failed load).
            try:
                if not (
                    self.result.status == "ok"
                    and self.result.unchanged
                    and self.publish_needed is not None
                    and not await asyncio.to_thread(self.publish_needed)
                ):
                    await asyncio.to_thread(self.warehouse.publish)
            except KommoAnalyticsError as publish_exc:
                if self.result.status == "ok":
                    raise
                self.reporter.message(f"could not publish: {publish_exc.one_line()}")
        return self.result

    def _mark_interrupted(self) -> None:
        # This run holds the writer lock, so no other run is still going: a `running` row is
        # one whose process was killed before it could write how it ended.
        if self.warehouse.has_table("sync_runs"):
            self.warehouse.execute(
                # SQL text: fixed statuses and this run's uuid4 hex; no user value.
                f"UPDATE {self.warehouse.table('sync_runs')} SET status = 'interrupted' "  # nosec B608
                f"WHERE status = 'running' AND run_id <> '{self.result.run_id}'"
            )

    async def _log_run(self) -> None:
        r = self.result
        stats = self.client.stats
        row: Row = {
            "run_id": r.run_id,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "status": r.status,
            "mode": r.mode,
            "entities": ",".join(sorted(self.options.streams)) if self.options.streams else "all",
            "rows_json": json.dumps(r.rows, sort_keys=True),
            "requests": stats.requests,
            "retries": stats.retries,
            "rate_limited": stats.rate_limited,
            "refreshes": stats.refreshes,
            "error": r.error,
            "warnings": json.dumps(r.warnings, sort_keys=True) if r.warnings else None,
        }
        await self._locked(lambda: self.warehouse.load({"sync_runs": [row]}))

    async def _locked(self, work: Callable[[], None]) -> None:
        # dlt runs one load at a time per pipeline; streams take turns.
        async with self._commit_lock:
            if self._failed_load is not None:
                # A failed load leaves its package pending, and dlt's next run loads that package
                # *instead of* the rows it is given: another stream's rows would be dropped while
                # its watermark, loaded next, moved past them. After a failure nothing more is
                # loaded in this run but its log line.
                raise SyncError(
                    "an earlier load of this sync failed, so nothing more was stored",
                    hint="run the sync again — it resumes where the last committed load ended",
                ) from self._failed_load
            load = asyncio.ensure_future(asyncio.to_thread(work))
            try:
                await asyncio.shield(load)
            except asyncio.CancelledError:
                # A thread cannot be stopped: let its load end before the lock is released, so
                # that no other load (or the run log) ever overlaps it.
                await asyncio.wait([load])
                if not load.cancelled() and load.exception() is not None:
                    self._failed_load = load.exception()
                raise
            except Exception as exc:
                self._failed_load = exc
                raise

    def _count(self, stream: str, rows: int, requests: int) -> None:
        self.result.rows[stream] = self.result.rows.get(stream, 0) + rows
        self.result.requests[stream] = self.result.requests.get(stream, 0) + requests
        self.reporter.stream_advanced(stream, rows, requests)

    def _null_baseline(self) -> dict[str, tuple[int, Counter[str]]]:
        wh = self.warehouse
        baseline: dict[str, tuple[int, Counter[str]]] = {}
        for table in nulls.WATCHED:
            if wh.has_table(table):
                (found,) = wh.query(nulls.stored_sql(table, wh.table(table)))
                baseline[table] = nulls.stored_nulls(table, found)
        return baseline

    # -- dictionaries: reloaded whole every run -----------------------------------------------

    async def _fetch_dictionaries(self) -> _Dictionaries:
        """Ask for the small lists; T0 is the server's time of the account's answer."""
        name = DICTIONARIES
        self.reporter.stream_started(name)
        requests_before = self.client.stats.requests
        account, server_time = await self.client.get_object(
            ACCOUNT, {"with": ",".join(ACCOUNT.with_options)}
        )
        t0 = server_time if server_time is not None else int(self.clock())
        self.reporter.stream_planned(name, 5, "lists")
        self.reporter.stream_part_done(name)

        async def listed(entity: Entity, params: dict[str, str] | None = None) -> list[Json]:
            items = await self.client.get_all(entity, params)
            self.reporter.stream_part_done(name)
            return items

        users, pipelines, reasons, fields = await asyncio.gather(
            listed(USERS, {"with": ",".join(USERS.with_options)}),
            listed(PIPELINES),
            listed(LOSS_REASONS),
            listed(LEAD_CUSTOM_FIELDS),
        )
        created = account.get("created_at")
        history_start = created if isinstance(created, int) and created > 0 else t0 - 5 * 365 * DAY
        return _Dictionaries(
            account,
            users,
            pipelines,
            reasons,
            fields,
            t0,
            history_start,
            self.client.stats.requests - requests_before,
        )

    async def _store_dictionaries(self, fetched: _Dictionaries) -> None:
        name = DICTIONARIES
        batches: dict[str, list[Row]] = {}
        with _located("account", {}, None):
            batches.update(records.account_rows(fetched.account))
        if not batches["account"][0]["timezone"] and not self.account_timezone:
            # The model then counts days in UTC (model_build.account_facts): say so, and how to
            # change it, rather than shift every day silently.
            self.result.warnings.append({"kind": "no_timezone", "used": "UTC"})
        with _located("users", {}, None):
            batches["users"] = [records.user_row(u) for u in fetched.users]
        with _located("pipelines", {}, None):
            batches.update(records.pipeline_rows(fetched.pipelines))
        with _located("loss reasons", {}, None):
            batches["loss_reasons"] = [records.loss_reason_row(r) for r in fetched.reasons]
        with _located("lead custom fields", {}, None):
            batches["lead_custom_fields"] = [records.custom_field_row(f) for f in fetched.fields]
        await self._locked(lambda: self.warehouse.load(batches))
        count = sum(len(v) for v in batches.values())
        self._count(name, count, fetched.requests)
        self.reporter.stream_finished(name)

    # -- streams ------------------------------------------------------------------------------

    async def _stream(
        self, stream: Stream, marks: dict[str, int], t0: int, history_start: int
    ) -> None:
        self.reporter.stream_started(stream.name)
        mark = marks.get(stream.name)
        start = 0 if mark is None else max(0, mark - self.options.overlap_seconds)
        if stream.crawl is Crawl.KEYSET:
            await self._keyset(stream, start, t0)
        elif stream.crawl is Crawl.WINDOWS:
            await self._windows(stream, start, t0, history_start)
        else:
            await self._events(stream, start, t0, history_start)
        self.reporter.stream_finished(stream.name)

    async def _commit(self, stream: Stream, rows: Rows, watermark: int | None) -> None:
        def work() -> None:
            if stream.judges_nulls:
                for table, stream_rows in rows.items():
                    self._seen_nulls.add(table, stream_rows)
            batches = self._prepare(stream, rows)
            self.warehouse.load(batches)
            if watermark is not None:
                state = {
                    "stream": stream.name,
                    "watermark": watermark,
                    "rows_total": self.result.rows.get(stream.name, 0),
                    "updated_at": _dt(self.clock()),
                }
                self.warehouse.load({"sync_state": [state]})
            if time.monotonic() - self._last_publish >= self.options.publish_every_seconds:
                self.warehouse.publish()
                self._last_publish = time.monotonic()

        await self._locked(work)

    def _prepare(self, stream: Stream, rows: Rows) -> dict[str, list[Row]]:
        """Turn what a stream read into table batches (runs inside the commit lock)."""
        batches = dict(rows)
        for table in stream.new_ids_only:
            listed = batches.get(table.name, [])
            if listed:
                known = self.warehouse.existing_ids(table.name, (r["id"] for r in listed))
                batches[table.name] = [r for r in listed if r["id"] not in known]
        facts = batches.get(LEAD_DELETIONS.name, [])
        if facts:
            # One fact per lead, its latest: the crawl reads them in no particular time order.
            latest: dict[int, Row] = {}
            for fact in sorted(facts, key=lambda f: f["changed_at"]):
                latest[fact["lead_id"]] = fact
            batches[LEAD_DELETIONS.name] = list(latest.values())
        return batches

    def _apply_deletions(self) -> None:
        """Derive ``leads.is_deleted`` from the deletion facts (idempotent)."""
        wh = self.warehouse
        if not (wh.has_table("lead_deletions") and wh.has_table("leads")):
            return
        leads, facts = wh.table("leads"), wh.table("lead_deletions")
        current = (
            # SQL text: table names the code qualifies; no user value.
            f"SELECT 1 FROM {facts} d WHERE d.lead_id = {leads}.id AND d.is_deleted "  # nosec B608
            f"AND ({leads}.updated_at IS NULL OR d.changed_at >= {leads}.updated_at)"
        )
        # The leads each statement flips, read first (one writer: the same rows), so that
        # DuckDB's publish copies those rows, not the whole table.
        flip = f"WHERE NOT is_deleted AND EXISTS ({current})"
        # SQL text: table names the code qualifies; no user value.
        ids = wh.query(f"SELECT id FROM {leads} {flip}")  # nosec B608
        if ids:
            wh.execute(
                # SQL text: table names the code qualifies; no user value.
                f"UPDATE {leads} SET is_deleted = TRUE, deleted_at = "  # nosec B608
                f"(SELECT max(d.changed_at) FROM {facts} d WHERE d.lead_id = {leads}.id) {flip}",
                keys=("leads", ("id",), ids),
            )
        back = f"WHERE is_deleted AND NOT EXISTS ({current})"
        # SQL text: table names the code qualifies; no user value.
        ids = wh.query(f"SELECT id FROM {leads} {back}")  # nosec B608
        if ids:
            wh.execute(
                # SQL text: table names the code qualifies; no user value.
                f"UPDATE {leads} SET is_deleted = FALSE, deleted_at = NULL {back}",  # nosec B608
                keys=("leads", ("id",), ids),
            )

    # -- keyset crawl ---------------------------------------------------------------------------

    async def _keyset(self, stream: Stream, start: int, t0: int) -> None:
        cursor, page = start, 1
        buffer: Rows = defaultdict(list)
        buffered = 0
        while True:
            # UNCERTAIN (docs/kommo-api.md §7.2): [from] and [to] are taken as inclusive. Were `to`
            # exclusive, rows of second T0 are read by the next run (the overlap); were `from`
            # exclusive, ties at the cursor would need the overlap of the next run too.
            params = stream.span(cursor, t0)
            with _located(stream.name, params, page):
                result = await self.client.get_page(stream.entity, params, page)
                buffered += _collect(stream, result.items, buffer)
            self._count(stream.name, len(result.items), 1)
            if not result.items or not result.has_next:
                break
            values = (stream.cursor_value(item) for item in result.items)
            newest = max((v for v in values if v is not None), default=None)
            if newest is not None and newest > cursor:
                cursor, page = newest, 1
            else:
                # A whole page of one second: page on within it.
                page += 1
            if buffered >= self.options.commit_rows:
                # Every row updated before `cursor` has been read.
                await self._commit(stream, buffer, cursor)
                buffer, buffered = defaultdict(list), 0
        await self._commit(stream, buffer, t0)

    # -- bounded windows with a re-check (tasks) ----------------------------------------------

    async def _window_pages(
        self, stream: Stream, params: dict[str, str], buffer: Rows
    ) -> list[Json]:
        items: list[Json] = []
        page = 1
        with _located(stream.name, params, lambda: page):
            async for result in self.client.pages(stream.entity, params):
                page = result.page
                items += result.items
                _collect(stream, result.items, buffer)
                self._count(stream.name, len(result.items), 1)
                page += 1  # a failure from here on is the next page's
        return items

    def _planner(self, stream: Stream, start: int, end: int, history_start: int) -> WindowPlanner:
        page_size = stream.entity.page_size or 1
        return WindowPlanner(
            start,
            end,
            target_rows=stream.window_pages * page_size,
            first_seconds=stream.window_seconds,
            history_start=history_start,
        )

    async def _windows(self, stream: Stream, start: int, t0: int, history_start: int) -> None:
        buffer: Rows = defaultdict(list)
        seen_in: dict[int, int] = {}  # record id → index of the window it was read in
        planner = self._planner(stream, start, t0, history_start)
        spans = planner.spans
        rereads = 0

        def planned() -> None:
            total = len(spans) + planner.remaining() + rereads
            self.reporter.stream_planned(stream.name, total, "windows")

        gate = asyncio.Semaphore(self.options.windows_in_flight)

        async def read(index: int) -> int:
            lo, hi = spans[index]
            params = stream.span(lo, hi)
            async with gate:
                items = await self._window_pages(stream, params, buffer)
            self.reporter.stream_part_done(stream.name)
            for item in items:
                if isinstance(item.get("id"), int):
                    seen_in[int(item["id"])] = index
            if sum(len(v) for v in buffer.values()) >= self.options.commit_rows:
                # Hand over what was read so far; other windows keep filling a fresh buffer.
                batch = {table: list(rows) for table, rows in buffer.items()}
                buffer.clear()
                await self._commit(stream, batch, None)
            return len(items)

        async def read_all(indexes: Iterable[int]) -> None:
            # Windows are independent, so several are paged at once (tasks cannot be keyset).
            async with asyncio.TaskGroup() as group:
                for index in indexes:
                    group.create_task(read(index))

        # Windows are sized from the density seen so far (about `window_pages` pages each).
        await _run_windows(planner, self.options.windows_in_flight, read, planned)
        # A record changed since T0 left its window while the crawl may have been inside it,
        # shifting the rows behind it one place towards pages already read: read that window
        # again. The changed records themselves are read here too.
        handled: set[int] = set()
        for _ in range(self.options.recheck_rounds):
            params = stream.span(t0 + 1)
            changed = {
                int(item["id"])
                for item in await self._window_pages(stream, params, buffer)
                if isinstance(item.get("id"), int)
            }
            fresh = changed - handled
            handled |= changed
            shifted = sorted({seen_in[i] for i in fresh if i in seen_in})
            if not shifted:
                break
            rereads += len(shifted)
            planned()
            await read_all(shifted)
        await self._commit(stream, buffer, t0)

    # -- creation events of leads known from the trash alone ----------------------------------

    def _undated_leads(self) -> list[int]:
        wh = self.warehouse
        if not (wh.has_table("leads") and wh.has_table("events")):
            return []
        leads, events = wh.table("leads"), wh.table("events")
        found = wh.query(
            # SQL text: table names the code qualifies and a fixed event type; no user value.
            f"SELECT l.id FROM {leads} l WHERE l.created_at IS NULL AND NOT EXISTS "  # nosec B608
            f"(SELECT 1 FROM {events} e WHERE e.type = '{CREATION_EVENT_TYPE}' "
            "AND e.entity_type = 'lead' AND e.entity_id = l.id) ORDER BY l.id"
        )
        return [int(row[0]) for row in found]

    async def _creation_events(self, stream: Stream) -> None:
        """The creation events of the leads that have no creation time (known from the trash
        listing alone), asked for by lead id: the crawl leaves the creation events out, since
        every other lead carries its own creation time."""
        ids = await asyncio.to_thread(self._undated_leads)
        if not ids:
            return
        buffer: Rows = defaultdict(list)
        gate = asyncio.Semaphore(self.options.windows_in_flight)
        step = CREATION_IDS_PER_REQUEST

        async def read(batch: list[int]) -> None:
            params = {
                "filter[type]": CREATION_EVENT_TYPE,
                "filter[entity]": "lead",
                "filter[entity_id]": ",".join(str(i) for i in batch),
            }
            async with gate:
                await self._window_pages(stream, params, buffer)

        async with asyncio.TaskGroup() as group:
            for start in range(0, len(ids), step):
                group.create_task(read(ids[start : start + step]))
        # No watermark: a lead still undated is asked about again by the next run.
        await self._commit(stream, buffer, None)

    # -- events: closed windows, several pages at once ----------------------------------------

    async def _events(self, stream: Stream, start: int, t0: int, history_start: int) -> None:
        buffer: Rows = defaultdict(list)
        end = t0 - 1  # events of second T0 may still be arriving
        planner = self._planner(stream, start, end, history_start)
        spans = planner.spans
        finished: set[int] = set()
        prefix = -1  # every window up to this index has been read whole

        def planned() -> None:
            total = len(spans) + planner.remaining()
            self.reporter.stream_planned(stream.name, total, "windows")

        async def read(index: int) -> int:
            nonlocal prefix
            lo, hi = spans[index]
            params = stream.span(lo, hi)
            rows = await self._parallel_pages(
                stream, params, buffer, planner.seconds(index), planner.expected_rows(index)
            )
            self.reporter.stream_part_done(stream.name)
            finished.add(index)
            while prefix + 1 in finished:
                prefix += 1
            if sum(len(v) for v in buffer.values()) >= self.options.commit_rows:
                batch = {table: list(rows) for table, rows in buffer.items()}
                buffer.clear()
                # Windows are read a few at a time, so the watermark is the end of the last
                # window before which every window is read — never one still being paged.
                await self._commit(stream, batch, spans[prefix][1] if prefix >= 0 else None)
            return rows

        # Several windows at once: the start of each window (one page, to learn whether there
        # are more) would otherwise leave the rate limit unused. Windows are sized from the
        # density seen so far, to about `window_pages` pages each.
        await _run_windows(planner, self.options.windows_in_flight, read, planned)
        await self._commit(stream, buffer, max(end, start))

    async def _event_page(self, stream: Stream, params: dict[str, str], page: int) -> Page:
        with _located(stream.name, params, page):
            return await self.client.get_page(stream.entity, params, page)

    async def _parallel_pages(
        self,
        stream: Stream,
        params: dict[str, str],
        buffer: Rows,
        seconds: int,
        expected: float | None = None,
    ) -> int:
        """All pages of one closed window, several requests outstanding at a time
        (``sync/paging.py``): the pages the estimate says are surely full, and each page a
        ``next`` link points at, go out as soon as a slot is free."""
        plan = PagePlan(stream.entity.page_size or 1, seconds, stream.cursor_value, expected)
        collected = 0

        def take(result: Page) -> None:
            nonlocal collected
            with _located(stream.name, params, result.page):
                collected += _collect(stream, result.items, buffer)
            self._count(stream.name, len(result.items), 1)

        # Event pages can be read in any order and at any time, so they let the crawls that go
        # a page at a time (keyset, task windows) have the limiter's slots first.
        with yielding():
            past_end = await read_pages(
                lambda number: self._event_page(stream, params, number),
                plan,
                self.options.event_pages_in_flight,
                take,
            )
        if past_end:
            # Asked for at once with the pages before them, past the end: counted, not read.
            self._count(stream.name, 0, past_end)
        return collected


def _first(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """The failure to report from a group: ours (they carry a hint) before anything else."""
    leaves: list[BaseException] = []

    def walk(group: BaseExceptionGroup[BaseException]) -> None:
        for exc in group.exceptions:
            if isinstance(exc, BaseExceptionGroup):
                walk(exc)
            else:
                leaves.append(exc)

    walk(failures)
    ours = [e for e in leaves if isinstance(e, KommoAnalyticsError)]
    return (ours or leaves)[0]


def _moment(value: str) -> str:
    try:
        return _dt(int(value)).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return value


def where(stream: str, params: Mapping[str, str], page: int | None) -> str:
    """Which request a problem came from, in words: stream, window and page."""
    parts = [stream]
    if page is not None:
        parts.append(f"page {page}")
    for key in CURSOR_FIELDS:
        lo, hi = params.get(f"filter[{key}][from]"), params.get(f"filter[{key}][to]")
        if lo is not None or hi is not None:
            span = f"{key} from {_moment(lo)}" if lo is not None else key
            parts.append(f"{span} to {_moment(hi)}" if hi is not None else span)
    return ", ".join(parts)


MALFORMED_HINT = (
    "Kommo kept answering this page with a broken body; nothing from it was stored and the "
    "warehouse is unchanged — run the sync again later, and report this message if it keeps "
    "failing on the same page"
)


@contextmanager
def _located(
    stream: str, params: Mapping[str, str], page: int | Callable[[], int] | None
) -> Iterator[None]:
    """Name the stream, window and page in a page's drift or give-up error: a user (or a bug
    report) can then tell which request and which field Kommo changed."""
    try:
        yield
    except DataDriftError as exc:
        raise exc.located(where(stream, params, page() if callable(page) else page)) from None
    except MalformedResponseError as exc:
        place = where(stream, params, page() if callable(page) else page)
        raise MalformedResponseError(
            f"{place}: {exc.message}", status=exc.status, hint=MALFORMED_HINT
        ) from exc


def _collect(stream: Stream, items: Iterable[Json], buffer: Rows) -> int:
    count = 0
    for item in items:
        for table, rows in stream.to_rows(item).items():
            buffer[table].extend(rows)
        count += 1
    return count


def describe(result: SyncResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "rows": result.rows,
        "requests": result.requests,
        "warnings": [nulls.describe(w) for w in result.warnings],
        "unchanged": result.unchanged,
    }

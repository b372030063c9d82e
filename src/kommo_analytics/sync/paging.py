"""The pages of one window of immutable records, several in flight at once.

A closed window of events cannot change while it is read, so its pages can be asked for in any
order: the crawl keeps up to ``in_flight`` of them outstanding and asks for the next one as soon
as one comes back — never a batch that waits for its slowest page before the next goes out. The
shared rate limiter, not latency, then sets the pace.

A page asked for past the end of the list is a wasted request (a 204), so a page is asked for
only when it is known to exist (the page before it had a ``next`` link) or when the window's
estimated row count says it is surely full (:class:`PagePlan`). Pages are handed on in page order,
so what the caller sees is exactly what a page-by-page crawl would see.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from kommo_analytics.kommo.client import Page
from kommo_analytics.sync.records import Json

# Ask for a little fewer pages than the estimate: a page past the end is a wasted request, while
# one too few only means the last pages follow the `next` links, one at a time.
SURELY = 0.95


class PagePlan:
    """How many pages of one window are worth asking for before knowing they exist.

    The estimate is the planner's ``expected`` rows until a full page has been read; from then on
    the window's own rows: the rows read so far, scaled from the stretch of the window their
    cursor values cover to the whole window (``seconds`` long). Events come newest first, so the
    rows read cover the window's end and the stretch grows page by page; whatever the order, an
    estimate only decides how many requests go out at once, never which rows are read.
    """

    def __init__(
        self,
        page_size: int,
        seconds: int,
        cursor: Callable[[Json], int | None],
        expected: float | None = None,
    ) -> None:
        self.page_size = max(1, page_size)
        self.seconds = max(1, seconds)
        self.expected = expected
        self._cursor = cursor
        self.rows = 0
        self._oldest: int | None = None
        self._newest: int | None = None

    def observe(self, page: Page) -> None:
        """A page of the window, read (in page order)."""
        self.rows += len(page.items)
        for item in page.items:
            value = self._cursor(item)
            if value is None:
                continue
            self._oldest = value if self._oldest is None else min(self._oldest, value)
            self._newest = value if self._newest is None else max(self._newest, value)

    def estimate(self) -> float | None:
        """The window's rows, as far as can be told now (None: no idea)."""
        if self.rows >= self.page_size and self._oldest is not None and self._newest is not None:
            covered = min(self.seconds, self._newest - self._oldest + 1)
            return self.rows * self.seconds / covered
        return self.expected

    def worth(self) -> int:
        """The highest page number worth asking for without a ``next`` link pointing at it."""
        rows = self.estimate()
        if rows is None:
            return 1
        return max(1, math.floor(SURELY * rows / self.page_size))


async def read_pages(
    fetch: Callable[[int], Awaitable[Page]],
    plan: PagePlan,
    in_flight: int,
    take: Callable[[Page], None],
) -> int:
    """Read a window's pages, up to ``in_flight`` outstanding, handing each page within the list
    to ``take`` in page order; return how many requests were spent on pages past its end.

    The list ends at the first page that is empty (a 204) or has no ``next`` link; pages asked
    for beyond it are awaited and counted, not read. A failing page cancels the others.
    """
    running: dict[asyncio.Future[Page], int] = {}
    returned: dict[int, Page] = {}
    asked = taken = past_end = 0
    ended = False
    try:
        while True:
            if not ended:
                # A page whose predecessor has a `next` link exists, whatever the estimate says.
                exists = max(
                    [taken + 1, *(n + 1 for n, p in returned.items() if p.items and p.has_next)]
                )
                limit = max(exists, plan.worth())
                # A page already back empty or without `next` ends the list at the latest there.
                ends = [n for n, p in returned.items() if not p.items or not p.has_next]
                if ends:
                    limit = min(limit, *ends)
                while len(running) < max(1, in_flight) and asked < limit:
                    asked += 1
                    running[asyncio.ensure_future(fetch(asked))] = asked
            if not running:
                return past_end
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            failure: BaseException | None = None
            for future in done:
                number = running.pop(future)
                if future.exception() is not None:
                    failure = failure or future.exception()
                elif ended:
                    past_end += 1
                else:
                    returned[number] = future.result()
            if failure is not None:
                raise failure
            while not ended and taken + 1 in returned:
                page = returned.pop(taken + 1)
                taken += 1
                take(page)
                plan.observe(page)
                ended = not page.items or not page.has_next
            if ended:
                past_end += len(returned)
                returned.clear()
    finally:
        for future in running:
            future.cancel()
        if running:
            await asyncio.wait(running)
            for future in running:
                if not future.cancelled():
                    future.exception()  # retrieved: a second failure is not logged as lost

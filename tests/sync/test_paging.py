"""The pages of one closed window, several in flight: every row once, in page order, few wasted
requests, never more outstanding than allowed."""

from __future__ import annotations

import asyncio

import pytest

from kommo_analytics.errors import RetriableApiError
from kommo_analytics.kommo.client import Page
from kommo_analytics.sync.paging import PagePlan, read_pages
from kommo_analytics.sync.records import Json

SIZE = 100


class Window:
    """A window of ``rows`` events, one per second ending at second ``rows - 1``, served newest
    first in pages of ``SIZE`` the way Kommo serves them: a 204 (an empty page) past the end,
    a `next` link on every page but the last."""

    def __init__(self, rows: int, *, fail_page: int | None = None) -> None:
        self.items: list[Json] = [{"id": i, "created_at": i} for i in reversed(range(rows))]
        self.fail_page = fail_page
        self.asked: list[int] = []
        self.outstanding = 0
        self.most_outstanding = 0

    async def fetch(self, number: int) -> Page:
        self.asked.append(number)
        self.outstanding += 1
        self.most_outstanding = max(self.most_outstanding, self.outstanding)
        try:
            # Later pages answer sooner, so pages come back out of order.
            await asyncio.sleep(0.001 * (number % 3))
            if number == self.fail_page:
                raise RetriableApiError("Kommo failed (HTTP 502)", status=502)
            items = self.items[(number - 1) * SIZE : number * SIZE]
            return Page(items, number * SIZE < len(self.items), number, None)
        finally:
            self.outstanding -= 1


def cursor(item: Json) -> int | None:
    value = item.get("created_at")
    return value if isinstance(value, int) else None


def read(window: Window, plan: PagePlan, in_flight: int = 4) -> tuple[list[int], list[int], int]:
    taken: list[int] = []
    rows: list[int] = []

    def take(page: Page) -> None:
        taken.append(page.page)
        rows.extend(int(item["id"]) for item in page.items)

    past_end = asyncio.run(read_pages(window.fetch, plan, in_flight, take))
    return taken, rows, past_end


def test_a_dense_window_is_read_several_pages_at_a_time_without_waste() -> None:
    # 1,000 rows over the window's 1,000 s: page 1 (the newest 100 s) says ~1,000 rows, so pages
    # up to 9 (95 % of 10) go out without waiting for a `next` link; page 10 follows page 9's.
    window = Window(1000)
    plan = PagePlan(SIZE, seconds=1000, cursor=cursor)
    taken, rows, past_end = read(window, plan)
    assert taken == list(range(1, 11))  # handed on in page order although they came back mixed
    assert sorted(rows) == list(range(1000))
    assert sorted(window.asked) == list(range(1, 11)) and past_end == 0
    assert window.most_outstanding == 4


def test_without_an_estimate_pages_follow_the_next_links_one_at_a_time() -> None:
    # No cursor values: nothing to estimate from, so no page is asked for before it is known to
    # exist, and none is wasted.
    window = Window(350)
    plan = PagePlan(SIZE, seconds=1000, cursor=lambda item: None)
    taken, rows, past_end = read(window, plan)
    assert taken == [1, 2, 3, 4] and len(rows) == 350
    assert window.asked == [1, 2, 3, 4] and past_end == 0
    assert window.most_outstanding == 1


def test_an_estimate_too_high_wastes_at_most_the_pages_in_flight() -> None:
    # The planner expected 2,000 rows; there are 250 (3 pages). Pages 1–4 go at once; the 204 of
    # page 4 and page 3 without `next` end the list there: one wasted request, no page 5.
    window = Window(250)
    plan = PagePlan(SIZE, seconds=1000, cursor=cursor, expected=2000)
    taken, rows, past_end = read(window, plan)
    assert taken == [1, 2, 3] and sorted(rows) == list(range(250))
    assert sorted(window.asked) == [1, 2, 3, 4] and past_end == 1


def test_an_empty_window_costs_one_request() -> None:
    window = Window(0)
    taken, rows, past_end = read(window, PagePlan(SIZE, seconds=1000, cursor=cursor, expected=0))
    assert (taken, rows, past_end, window.asked) == ([1], [], 0, [1])


def test_a_failing_page_stops_the_window_and_cancels_the_rest() -> None:
    window = Window(1000, fail_page=3)
    with pytest.raises(RetriableApiError):
        read(window, PagePlan(SIZE, seconds=1000, cursor=cursor, expected=1000))
    assert window.outstanding == 0  # nothing left running behind the failure


def test_the_estimate_follows_the_window_once_a_full_page_is_read() -> None:
    plan = PagePlan(SIZE, seconds=10_000, cursor=cursor, expected=500)
    assert plan.estimate() == 500 and plan.worth() == 4  # floor(0.95 × 5 pages)
    plan.observe(Page([{"created_at": t} for t in range(9999, 9949, -1)], True, 1, None))
    assert plan.estimate() == 500  # half a page says little: still the planner's figure
    plan.observe(Page([{"created_at": t} for t in range(9949, 9899, -1)], True, 2, None))
    # 100 rows over the window's last 100 s: 10,000 rows over its 10,000 s.
    assert plan.estimate() == pytest.approx(10_000)
    assert plan.worth() == 95
    assert PagePlan(SIZE, seconds=10, cursor=cursor).worth() == 1  # no idea yet: page 1 alone

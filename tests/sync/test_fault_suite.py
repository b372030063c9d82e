"""A seeded handful of the fault suite (`benchmarks/reliability.py` runs all of it): the
troubles the other sync tests do not already cover — answers slower than the timeout, 200s that
are not a page, a refresh token revoked mid-run, a database that dies mid-sync. Each: a faulted
full sync, a clean re-run, then nothing lost, nothing doubled, no IP block.

Covered elsewhere, so not repeated here: 5xx, 429 bursts, dropped connections, cut-off bodies
and token expiry (`test_sync_truth.py`), live changes during a crawl
(`test_sync_incremental.py`), schema drift (`test_sync_drift.py`), SIGKILL
(`test_sync_process.py`), a failing stream (`test_sync_failures.py`).
"""

from __future__ import annotations

import pytest

from kommo_analytics.sync.engine import SyncOptions, SyncResult
from tests.sync.fault_suite import (
    Context,
    Deadline,
    Garbling,
    Scenario,
    Tally,
    by_name,
    run_scenario,
)
from tests.sync.harness import compare

SEED = 7
FULL = ("full",)


def _slow_and_garbled(ctx: Context, options: SyncOptions) -> SyncResult:
    garbling = Garbling(ctx.transport(), rate=0.06, seed=ctx.seed)
    deadline = Deadline(garbling, seconds=0.3)
    try:
        return ctx.sync(options, deadline)
    finally:
        ctx.tally.faults_met += deadline.timeouts + garbling.garbled


def _passes(tally: Tally) -> None:
    assert tally.faults_met > 0, "the trouble never happened: the test proves nothing"
    assert tally.problems == []
    assert (tally.lost, tally.duplicated, tally.blocked) == (0, 0, 0)


def test_the_comparer_counts_missing_stale_doubled_and_foreign_rows() -> None:
    truth = [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    stored = [(1, "a"), (2, "B"), (4, "d"), (4, "d"), (9, "z")]
    gap = compare(truth, stored)
    # 3 is missing and 2 is stale: both lost; 4 twice and 9 (not in the account): doubled.
    assert (gap.lost, gap.duplicated) == (2, 2)
    assert "2" in gap.example
    assert not compare(truth, list(reversed(truth)))


@pytest.mark.slow
def test_answers_slower_than_the_timeout_and_bodies_that_are_no_page() -> None:
    tally = Tally()
    scenario = Scenario("slow+malformed", "", faults="slow=0.06,slow_ms=1s", run=_slow_and_garbled)
    run_scenario(scenario, "duckdb", SEED, tally, modes=FULL)
    _passes(tally)


@pytest.mark.slow
def test_a_refresh_token_revoked_mid_run() -> None:
    tally = Tally()
    run_scenario(by_name("revoked-refresh"), "duckdb", SEED, tally, modes=FULL)
    _passes(tally)


@pytest.mark.slow
@pytest.mark.server
def test_a_database_that_dies_mid_sync() -> None:
    tally = Tally()
    run_scenario(by_name("database-dies"), "postgres", SEED, tally, modes=FULL)
    _passes(tally)

"""Charts of distributions counted in the database: the funnel's time in stage (median and 80th
percentile per stage, from a few ranked rows or one quantile aggregate, numpy's linear
quantiles) and the first-response buckets an SLA is read against (the same leads as the
response cards of module 1)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from kommo_analytics.metrics import series
from kommo_analytics.metrics.common import Model
from tests.metrics.builders import (
    ANA,
    MODEL_COLUMNS,
    MODEL_SCHEMA,
    NEW,
    PROPOSAL,
    QUALIFIED,
    event,
    executor,
    lead,
    move,
    params,
    raw,
    run,
    stage,
    warehouse,
)
from tests.metrics.test_funnel import STORY

# -- time in stage ------------------------------------------------------------------------------


def test_time_in_stage_median_and_p80_are_those_of_every_finished_stay() -> None:
    # 11 leads through New and Qualified: New stays of 1…11 hours, Qualified stays of 2, 4, …
    # 16 hours with ties at 16 (leads 8–11); a lead still in New has no finished stay.
    leads, events = [], []
    for i in range(1, 12):
        leads.append(lead(i, f"2026-10-{i + 1:02d} 10:00", status=PROPOSAL))
        events.append(move(i, f"2026-10-{i + 1:02d} {10 + i:02d}:00", NEW, QUALIFIED))
        hours = 2 * min(i, 8)
        at = pd.Timestamp(f"2026-10-{i + 1:02d} {10 + i:02d}:00") + pd.Timedelta(hours=hours)
        events.append(move(i, at.strftime("%Y-%m-%d %H:%M"), QUALIFIED, PROPOSAL))
    leads.append(lead(12, "2026-10-20 10:00"))
    con = warehouse(raw(leads=leads, events=events))
    m, p = Model(MODEL_COLUMNS, MODEL_SCHEMA), params()
    run_sql = executor(con)
    results = run_sql({"all": series.stage_hours(m, p), "ranks": series.stage_hours_ranks(m, p)})
    every, ranks = results["all"], results["ranks"]
    assert len(ranks) < len(every)  # only the rows the quantiles need
    times = series.stage_times(ranks).set_index("status_id")
    assert set(times.index) == {NEW, QUALIFIED}
    # New: 1…11 h. Median: the 6th of 11 = 6 h. P80: rank 0.8 × 10 = 8 → the 9th stay, 9 h.
    assert times.loc[NEW, "n"] == 11
    assert times.loc[NEW, "median"] == pytest.approx(6.0)
    assert times.loc[NEW, "p80"] == pytest.approx(9.0)
    # Qualified: 2 4 6 8 10 12 14 16 16 16 16. Median: the 6th, 12 h; P80: the 9th, 16 h.
    assert times.loc[QUALIFIED, "median"] == pytest.approx(12.0)
    assert times.loc[QUALIFIED, "p80"] == pytest.approx(16.0)
    # The same numbers from the database's own quantile aggregate (DuckDB, PostgreSQL).
    aggregated = run_sql({"q": series.stage_hours_quantiles(m, p)})["q"].set_index("status_id")
    columns = ["n", "median", "p80"]
    assert np.allclose(aggregated.loc[times.index, columns].astype(float), times[columns])
    for status, stays in every.groupby("status_id"):
        hours = stays["hours"].astype(float).to_numpy()
        assert np.allclose(times.loc[status, ["median", "p80"]], np.percentile(hours, [50, 80]))
    con.close()


def test_the_charts_median_is_the_funnel_reports_median() -> None:
    # The funnel story (tests/metrics/test_funnel.py): New's stays 6 12 24 48 48, Qualified's
    # 12 24 48, Proposal's 12 24 48 48.
    con = warehouse(STORY)
    m, p = Model(MODEL_COLUMNS, MODEL_SCHEMA), params()
    times = executor(con)({"q": series.stage_hours_quantiles(m, p)})["q"].set_index("status_id")
    con.close()
    story: dict[str, Any] = run(STORY)
    for status in (NEW, QUALIFIED, PROPOSAL):
        assert times.loc[status, "median"] == pytest.approx(
            stage(story, status)["median_hours_in_stage"]
        )
        assert times.loc[status, "n"] == stage(story, status)["finished_stays"]
    # P80, linear between ranks: New, rank 0.8 × 4 = 3.2 → 48 h; Qualified, rank 1.6 →
    # 24 + 0.6 × 24 = 38.4 h; Proposal, rank 2.4 → 48 h.
    # (Lead 4's 48 h in Won, reopened since, is a finished stay too; the chart shows only the
    # pipeline's open stages, as the report does.)
    p80 = times["p80"].to_dict()
    assert [p80[s] for s in (NEW, QUALIFIED, PROPOSAL)] == pytest.approx([48.0, 38.4, 48.0])


def test_a_zero_hour_stay_counts_as_the_reports_does() -> None:
    # Lead 1 moved on the minute it was created (0 h in New), lead 2 after 10 h: the report's
    # median (metrics.common.median, over every stay with hours) is 5 h, so the chart's must be
    # too (the log axis of a box plot once dropped the 0 h stay).
    data = raw(
        leads=[lead(1, "2026-10-01 12:00", status=QUALIFIED),
               lead(2, "2026-10-02 12:00", status=QUALIFIED)],
        events=[move(1, "2026-10-01 12:00", NEW, QUALIFIED),
                move(2, "2026-10-02 22:00", NEW, QUALIFIED)],
    )  # fmt: skip
    con = warehouse(data)
    m, p = Model(MODEL_COLUMNS, MODEL_SCHEMA), params()
    ranks = executor(con)({"r": series.stage_hours_ranks(m, p)})["r"]
    con.close()
    (row,) = series.stage_times(ranks).to_dict("records")
    assert (row["n"], row["median"]) == (2, pytest.approx(5.0))
    assert row["p80"] == pytest.approx(8.0)  # rank 0.8: 0 + 0.8 × 10


def test_no_finished_stay_no_time() -> None:
    empty = pd.DataFrame(columns=["pipeline_id", "status_id", "n", "rn", "hours"])
    assert series.stage_times(empty).empty


# -- first-response buckets ---------------------------------------------------------------------


def _answered_after(lead_id: int, minutes: int, created: str = "2026-10-05 00:00") -> Any:
    at = pd.Timestamp(created) + pd.Timedelta(minutes=minutes)
    return event("outgoing_call", lead_id, "lead", at.strftime("%Y-%m-%d %H:%M"), ANA)


# Lead → minutes to the first answer; None: not answered. Edges are inclusive ("within").
RESPONSES = {
    1: 3,  # ≤ 5 min
    2: 5,  # ≤ 5 min: exactly on the edge
    3: 30,  # 5 min – 1 h
    4: 60,  # 5 min – 1 h: exactly an hour
    5: 90,  # 1 – 2 h
    6: 120,  # 1 – 2 h: exactly the default SLA
    7: 180,  # 2 – 24 h
    8: 25 * 60,  # over 24 h
    9: None,  # never answered
    10: 60 * 24 * 50,  # answered on 24 Nov, after as_of (15 Nov): not answered yet
}


def _bucket_data() -> Any:
    leads = [lead(i, "2026-10-05 00:00") for i in RESPONSES]
    # Not of the period: created in September (answered in 10 min), and a deleted lead.
    leads += [lead(11, "2026-09-20 00:00"), lead(12, "2026-10-05 00:00", deleted=True)]
    events = [_answered_after(i, m) for i, m in RESPONSES.items() if m is not None]
    events += [_answered_after(11, 10, "2026-09-20 00:00"), _answered_after(12, 1)]
    return raw(leads=leads, events=events)


@pytest.mark.parametrize(
    ("sla", "expected", "within"),
    [
        # Edges 5 min, 1 h, 2 h (the SLA), 24 h: 2, 2, 2, 1, 1, and 2 without a response.
        (2.0, [2, 2, 2, 1, 1, 2], [True, True, True, False, False, False]),
        # An SLA of 4 h becomes an edge of its own: 2–4 h holds lead 7 (3 h), 4–24 h none.
        (4.0, [2, 2, 2, 1, 0, 1, 2], [True, True, True, True, False, False, False]),
    ],
)
def test_response_buckets_add_up_to_the_response_cards(
    sla: float, expected: list[int], within: list[bool]
) -> None:
    data = _bucket_data()
    p = params(sla_hours=sla)
    con = warehouse(data)
    rows = executor(con)({"b": series.response_buckets(Model(MODEL_COLUMNS, MODEL_SCHEMA), p)})
    con.close()
    table = series.response_bucket_table(rows["b"], sla)
    assert table["leads"].tolist() == expected
    assert table["within_sla"].tolist() == within
    assert table["bucket"].iloc[-1] == series.NO_RESPONSE
    edges = series.response_edges(sla)
    assert table["high"].tolist()[:-2] == list(edges)
    assert table["low"].tolist()[1:-1] == list(edges)
    # The same leads as the cards: the buckets add up to leads.total (leads 1–10), the last is
    # without_response, and the buckets up to the SLA's are within_sla_pct of them.
    response = run(data, p)["leads"]
    assert table["leads"].sum() == response["total"] == 10
    assert table["leads"].iloc[-1] == response["response_time"]["without_response"]
    in_sla = table.loc[table["within_sla"], "leads"].sum()
    assert 100 * in_sla / 10 == pytest.approx(response["response_time"]["within_sla_pct"])


def test_every_bucket_is_listed_when_no_lead_was_answered() -> None:
    rows = pd.DataFrame({"bucket": [series.NO_RESPONSE], "leads": [3]})
    table = series.response_bucket_table(rows, 2.0)
    assert table["leads"].tolist() == [0, 0, 0, 0, 0, 3]
    assert series.response_bucket_table(rows.iloc[:0], 2.0)["leads"].sum() == 0

"""Charts of distributions counted in the database: the funnel's box plots from a few ranked
rows a stage (the quartiles, lowest and highest stay of every finished stay, numpy's linear
quartiles), and the first-response histogram's axis and bars (pandas' quantile, every lead's
hours binned)."""

from __future__ import annotations

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
    warehouse,
)


def test_the_boxes_are_those_of_every_finished_stay() -> None:
    # 11 leads through New and Qualified with stays of different lengths (hours 1…11 and
    # 2…22 plus ties), created in October; a lead still in New has no finished stay.
    leads, events = [], []
    for i in range(1, 12):
        leads.append(lead(i, f"2026-10-{i + 1:02d} 10:00", status=PROPOSAL))
        events.append(move(i, f"2026-10-{i + 1:02d} {10 + i:02d}:00", NEW, QUALIFIED))
        hours = 2 * min(i, 8)  # ties at 16 hours
        at = pd.Timestamp(f"2026-10-{i + 1:02d} {10 + i:02d}:00") + pd.Timedelta(hours=hours)
        events.append(move(i, at.strftime("%Y-%m-%d %H:%M"), QUALIFIED, PROPOSAL))
    leads.append(lead(12, "2026-10-20 10:00"))
    con = warehouse(raw(leads=leads, events=events))
    m, p = Model(MODEL_COLUMNS, MODEL_SCHEMA), params()
    run = executor(con)
    results = run({"all": series.stage_hours(m, p), "ranks": series.stage_hours_ranks(m, p)})
    every, ranks = results["all"], results["ranks"]
    assert len(ranks) < len(every)  # only the rows the boxes need
    boxes = series.stage_boxes(ranks).set_index("status_id")
    assert set(boxes.index) == {NEW, QUALIFIED}
    # The same boxes from the database's own quantile aggregate (DuckDB, PostgreSQL).
    quartiles = run({"q": series.stage_hours_quartiles(m, p)})["q"].set_index("status_id")
    columns = ["n", "low", "q1", "median", "q3", "high"]
    assert np.allclose(quartiles.loc[boxes.index, columns].astype(float), boxes[columns])
    for status, stays in every.groupby("status_id"):
        hours = stays["hours"].astype(float)
        hours = hours[hours > 0].to_numpy()
        box = boxes.loc[status]
        assert box["n"] == len(hours)
        expected = [hours.min(), *np.percentile(hours, [25, 50, 75]), hours.max()]
        got = [box["low"], box["q1"], box["median"], box["q3"], box["high"]]
        assert np.allclose(got, expected), (status, got, expected)
    con.close()


def test_no_finished_stay_no_box() -> None:
    empty = pd.DataFrame(columns=["pipeline_id", "status_id", "n", "rn", "hours"])
    assert series.stage_boxes(empty).empty


def test_the_response_histogram_is_counted_in_the_database() -> None:
    # 20 leads answered after 1, 2, … 20 hours (some minutes over, so bins are not edges).
    leads = [lead(i, "2026-10-05 00:00") for i in range(1, 21)]
    events = [
        event("outgoing_call", i, "lead", f"2026-10-05 {i:02d}:{10 + i:02d}", ANA)
        for i in range(1, 21)
    ]
    con = warehouse(raw(leads=leads, events=events))
    m, p = Model(MODEL_COLUMNS, MODEL_SCHEMA), params()
    run = executor(con)
    every = run({"all": series.response_hours(m, p)})["all"]
    hours = every["hours"].astype(float)
    assert len(hours) == 20
    ranks = run({"ranks": series.response_hours_ranks(m, p)})["ranks"]
    assert len(ranks) <= 3  # either side of the 95th percentile, and the slowest
    edge = series.rank_quantile(ranks, series.RESPONSE_EDGE_QUANTILE)
    assert edge == pytest.approx(hours.quantile(0.95))
    aggregated = run({"edge": series.response_hours_edge(m, p)})["edge"]  # DuckDB, PostgreSQL
    assert int(aggregated["n"].iloc[0]) == 20
    assert float(aggregated["hours"].iloc[0]) == pytest.approx(edge)
    size = 1.5
    got = run(
        {"bins": series.response_bins(m, p, size), "beyond": series.response_beyond(m, p, edge)}
    )
    bins = got["bins"]
    counted = dict(zip(bins["bin"].astype(int), bins["leads"].astype(int), strict=True))
    expected = (hours // size).astype(int).value_counts().to_dict()
    assert counted == expected
    assert int(got["beyond"]["leads"].iloc[0]) == int((hours > edge).sum()) == 1
    con.close()

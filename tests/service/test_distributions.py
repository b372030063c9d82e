"""The distributions the dashboard draws are counted in the database on every backend: the
funnel's time in stage (a quantile aggregate on DuckDB and PostgreSQL, ranked rows on MariaDB),
equal to numpy's linear quantiles of every stay, and the first-response buckets."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from kommo_analytics.metrics import series
from kommo_analytics.model import store as model_store
from kommo_analytics.model.schema import MODEL_TABLES
from kommo_analytics.service import reports
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import Kind, parse_database_url
from tests.metrics.builders import (
    ANA,
    NEW,
    PROPOSAL,
    QUALIFIED,
    event,
    lead,
    model,
    move,
    params,
    raw,
)


def test_stage_times_and_response_buckets_on_every_backend(warehouse_url: str) -> None:
    leads, events = [], []
    for i in range(1, 12):  # stays of 1…11 hours in New, 2…16 (ties at 16) in Qualified
        day = f"2026-10-{i + 1:02d}"
        leads.append(lead(i, f"{day} 10:00", status=PROPOSAL))
        events.append(move(i, f"{day} {10 + i:02d}:00", NEW, QUALIFIED))
        left = pd.Timestamp(f"{day} {10 + i:02d}:00") + pd.Timedelta(hours=2 * min(i, 8))
        events.append(move(i, left.strftime("%Y-%m-%d %H:%M"), QUALIFIED, PROPOSAL))
        events.append(event("outgoing_call", i, "lead", f"{day} {10 + i:02d}:{i:02d}", ANA))
    target = parse_database_url(warehouse_url)
    model_store.prepare_writer(target)
    if target.kind is Kind.DUCKDB:  # a sync's first load creates the file; here, an empty one
        assert target.sync_path is not None
        duckdb.connect(str(target.sync_path)).close()
    with reader.connect(target, write=True) as con:
        model_store.ensure_tables(con, target, MODEL_TABLES.values())
        model_store.replace_tables(con, target, model(raw(leads=leads, events=events)))
    if target.kind is Kind.DUCKDB:
        assert target.sync_path is not None
        Warehouse(target, target.sync_path.parent).publish()
    p = params()
    every = reports.series(target, p, ("stage_hours", "response_buckets"))
    times = reports.stage_times(target, p).set_index("status_id")
    assert set(times.index) == {NEW, QUALIFIED}
    for status, stays in every["stage_hours"].groupby("status_id"):
        h = stays["hours"].astype(float).to_numpy()
        row = times.loc[status]
        assert row["n"] == len(h)
        assert np.allclose([row["median"], row["p80"]], np.percentile(h, [50, 80]))
    # Lead i answered after i hours and i minutes: lead 1 (1 h 01) within 1–2 h, leads 2–11
    # (2 h 02 … 11 h 11) within 2–24 h.
    buckets = series.response_bucket_table(every["response_buckets"], p.sla_hours)
    assert buckets["leads"].tolist() == [0, 0, 1, 10, 0, 0]
    assert reports.stage_times(target, params("2026-01-01", "2026-01-31")).empty

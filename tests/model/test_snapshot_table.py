"""The forecast_snapshots table of an earlier version (other columns, never filled) is re-created
with this version's columns; a table holding rows is never dropped."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from kommo_analytics.errors import WarehouseError
from kommo_analytics.model import store as model_store
from kommo_analytics.model.schema import MODEL_TABLES, model_qualified
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import parse_database_url

OLD = "snapshot_at TIMESTAMP, month DATE, p10 DOUBLE, p50 DOUBLE, p90 DOUBLE, method VARCHAR"


def test_an_empty_old_snapshot_table_is_recreated_a_filled_one_refused(tmp_path: Path) -> None:
    t = parse_database_url(f"duckdb:///{tmp_path / 'kommo.duckdb'}")
    spec = MODEL_TABLES["forecast_snapshots"]
    name = model_qualified(t, spec.name)
    assert t.sync_path is not None
    t.sync_path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(t.sync_path)).close()  # the sync's private file, as a first sync makes it
    with reader.connect(t, write=True) as con:
        cur = con.cursor()
        cur.execute("CREATE SCHEMA IF NOT EXISTS kommo_model")
        cur.execute(f"CREATE TABLE {name} ({OLD})")
        model_store.ensure_tables(con, t, [spec])
        columns = backend_for(t).columns(con, "kommo_model", spec.name)
        assert columns == list(spec.column_names)
        cur.execute(f"DROP TABLE {name}")
        cur.execute(f"CREATE TABLE {name} ({OLD})")
        cur.execute(f"INSERT INTO {name} (month, p50) VALUES (DATE '2026-10-01', 1.0)")
        with pytest.raises(WarehouseError, match="columns this version does not know"):
            model_store.ensure_tables(con, t, [spec])

"""The model and the metrics on a real synced account, on DuckDB, MariaDB and PostgreSQL.

One small emulated account, synced into each backend once for the whole run (the sync builds the
model at its end); the module works on copies of those warehouses. The metric definitions are tested number by number on hand-built data in
``tests/metrics``; here the point is that the three backends agree, that the model is written
all-or-nothing, and that the earlier system's SQL still runs.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kommo_analytics.errors import InputFileError, WarehouseError
from kommo_analytics.model import compat
from kommo_analytics.model import store as model_store
from kommo_analytics.model.build import build_model
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.schema import model_qualified
from kommo_analytics.service import inputs, reports
from kommo_analytics.service.account import load_modelled
from kommo_analytics.service.scope import Scope
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import Kind, Target, parse_database_url
from tests.conftest import SyncedSources, synced_database
from tests.sync.harness import NOW, settings_for

BACKENDS = ("duckdb", "mariadb", "postgres")
AS_OF = datetime.fromtimestamp(NOW, UTC)


@pytest.fixture(scope="module")
def synced(
    synced_sources: SyncedSources, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[str, Path]]]:
    """Backend → (warehouse URL, data folder), each a copy of the run's sync of the same account
    into that backend (tests/conftest.py)."""
    base = tmp_path_factory.mktemp("model")
    with ExitStack() as stack:
        out = {}
        for backend in BACKENDS:
            folder = base / backend
            url = stack.enter_context(synced_database(synced_sources(backend), folder))
            out[backend] = (url, folder)
        yield out


def target(synced: dict[str, tuple[str, Path]], backend: str) -> Target:
    return parse_database_url(synced[backend][0])


def settings(synced: dict[str, tuple[str, Path]], backend: str) -> Any:
    url, folder = synced[backend]
    return settings_for("http://kommo.test", "unused", folder, url)


def report(t: Target, **filters: Any) -> dict[str, Any]:
    acc = load_modelled(t)
    scope = Scope(start=date(2026, 9, 1), end=date(2026, 10, 31), as_of=AS_OF, **filters)
    return reports.report(t, acc, reports.params(acc, scope, now=AS_OF)).to_json_dict()


def rounded(value: Any) -> Any:
    """Floats to 9 significant digits: backends sum in different orders."""
    if isinstance(value, float):
        return float(f"{value:.9g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items() if k != "model"}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def test_the_sync_builds_the_model_on_every_backend(synced: dict[str, tuple[str, Path]]) -> None:
    for backend in BACKENDS:
        t = target(synced, backend)
        raw = reader.query(t, f"SELECT COUNT(*), SUM(CASE WHEN is_deleted THEN 1 ELSE 0 END) "
                              f"FROM {t.qualified('leads')}")  # fmt: skip
        model = reader.query(
            t,
            f"SELECT COUNT(*), SUM(CASE WHEN is_deleted THEN 1 ELSE 0 END) "
            f"FROM {model_qualified(t, 'fact_leads')}",
        )
        # One model row per synced lead, the deleted ones flagged the same way.
        assert [tuple(int(v) for v in r) for r in model] == [
            tuple(int(v) for v in r) for r in raw
        ], backend
        info = load_modelled(t)
        assert (info.timezone, info.currency) == ("America/Sao_Paulo", "BRL"), backend


def test_metrics_are_equal_on_all_three_backends(synced: dict[str, tuple[str, Path]]) -> None:
    results = {b: rounded(report(target(synced, b))) for b in BACKENDS}
    assert results["duckdb"]["leads"]["total"] > 0
    assert results["mariadb"] == results["duckdb"]
    assert results["postgres"] == results["duckdb"]


# Each fact table's key, to line rows up: read_raw's rows come in each database's own order.
FACT_KEYS = {
    "fact_leads": ["lead_id"],
    "fact_stage_stays": ["lead_id", "seq"],
    "fact_tasks": ["task_id"],
    "fact_activities": ["event_id"],
}


def test_the_model_is_built_alike_from_every_backends_raw_tables(
    synced: dict[str, tuple[str, Path]],
) -> None:
    # DuckDB hands read_raw typed columns (Int64, datetimes with a time zone, str), the servers'
    # drivers Python values row by row; the model built from either must be the same, value for
    # value and dtype for dtype.
    built = {}
    for backend in BACKENDS:
        t = target(synced, backend)
        with reader.connect(t) as con:
            raw = model_store.read_raw(con, t)
        built[backend] = build_model(raw, ChannelRules.load(None), built_at=AS_OF)
    assert len(built["duckdb"]["fact_leads"]) > 0
    for name, key in FACT_KEYS.items():
        expected = built["duckdb"][name].sort_values(key).reset_index(drop=True)
        for backend in ("mariadb", "postgres"):
            got = built[backend][name].sort_values(key).reset_index(drop=True)
            pd.testing.assert_frame_equal(got, expected, obj=f"{name} from {backend}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rebuild_builds_the_model_a_part_at_a_time_as_build_model_does_it_whole(
    synced: dict[str, tuple[str, Path]], backend: str
) -> None:
    # model_frames reads each fact's rows and columns apart (on DuckDB the events' JSON ids in
    # SQL, on the servers from the texts) and builds the leads' stays a part at a time; put
    # together, its frames are build_model's, value for value and dtype for dtype.
    t = target(synced, backend)
    rules = ChannelRules.load(None)
    with reader.connect(t) as con:
        whole = build_model(model_store.read_raw(con, t), rules, built_at=AS_OF)
        half = len(whole["fact_leads"]) // 2 + 1
        parts: dict[str, list[pd.DataFrame]] = {}
        for name, frame in model_store.model_frames(
            con, t, rules, built_at=AS_OF, leads_per_part=half
        ):
            parts.setdefault(name, []).append(frame)
    assert list(parts) == list(whole)
    assert len(parts["fact_leads"]) == len(parts["fact_stage_stays"]) == 2
    for name, expected in whole.items():
        got = pd.concat(parts[name], ignore_index=True)
        key = FACT_KEYS.get(name, list(expected.columns[:1]))
        pd.testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True),
            expected.sort_values(key).reset_index(drop=True),
            obj=f"{name} on {backend}",
        )


def test_a_warehouse_without_raw_tables_builds_the_same_empty_model_a_part_at_a_time(
    tmp_path: Path,
) -> None:
    import duckdb

    duckdb.connect(str(tmp_path / "young.duckdb")).close()
    t = parse_database_url(f"duckdb:///{tmp_path / 'young.duckdb'}")
    rules = ChannelRules.load(None)
    with reader.connect(t) as con:
        whole = build_model(model_store.read_raw(con, t), rules, built_at=AS_OF)
        parts = list(model_store.model_frames(con, t, rules, built_at=AS_OF))
    # One (empty) part of each fact table, so that every table is created.
    assert [name for name, _ in parts] == list(whole)
    for name, frame in parts:
        pd.testing.assert_frame_equal(frame, whole[name], obj=name)
    assert len(whole["fact_leads"]) == 0 and len(whole["dim_channels"]) > 0


def test_filtered_metrics_are_equal_on_all_three_backends(
    synced: dict[str, tuple[str, Path]],
) -> None:
    t = target(synced, "duckdb")
    unfiltered = report(t)
    pipeline = unfiltered["funnel"][0]["pipeline_id"]
    seller = unfiltered["sellers"][0]["user_id"]
    filters = {"pipelines": [pipeline], "sellers": [seller], "channels": ["paid", "organic"]}
    results = {b: rounded(report(target(synced, b), **filters)) for b in BACKENDS}
    assert results["mariadb"] == results["duckdb"]
    assert results["postgres"] == results["duckdb"]
    # The filters narrow: fewer leads than without them, all of them this seller's.
    assert 0 < results["duckdb"]["leads"]["total"] < unfiltered["leads"]["total"]
    assert [s["user_id"] for s in results["duckdb"]["sellers"]] == [seller]


def test_deleted_leads_and_unpriced_sales_on_a_synced_account(
    synced: dict[str, tuple[str, Path]],
) -> None:
    for backend in BACKENDS:
        t = target(synced, backend)
        leads = t.qualified("leads")
        acc = load_modelled(t)
        # The whole generated history: every deleted lead was created in it.
        scope = Scope(start=date(2000, 1, 1), end=AS_OF.date(), as_of=AS_OF)
        params = reports.params(acc, scope, now=AS_OF)
        result = reports.report(t, acc, params, sections=["sales", "data_quality"]).to_json_dict()
        (deleted,) = reader.query(
            t, f"SELECT SUM(CASE WHEN is_deleted THEN 1 ELSE 0 END) FROM {leads}"
        )
        # The emulator records a `lead_added` event for every lead, so each deleted one — most
        # known only from the trash, without a creation time of their own — has a date.
        assert int(deleted[0]) > 0, backend
        assert result["data_quality"] == {
            "deleted_leads": int(deleted[0]),
            "deleted_leads_creation_unknown": 0,
        }, backend
        # Won deals without a value: Kommo sends 0 for an empty value (the emulator also leaves
        # a few NULL). Counted straight from the raw table.
        (unpriced,) = reader.query(
            t,
            f"SELECT COUNT(*) FROM {leads} WHERE NOT is_deleted AND status_id = 142 "
            "AND closed_at IS NOT NULL AND (price IS NULL OR price = 0)",
        )
        assert int(unpriced[0]) > 0, backend
        assert result["sales"]["won_without_price"] == int(unpriced[0]), backend


LEGACY_WIN_RATE = """
SELECT COUNT(DISTINCT lead_id) AS total_leads,
       COUNT(DISTINCT CASE WHEN status = 'won' THEN lead_id END) AS vendas_ganhas,
       ROUND(COUNT(DISTINCT CASE WHEN status = 'won' THEN lead_id END) /
             COUNT(DISTINCT lead_id) * 100, 2) AS win_rate
FROM leads_metrics;
"""
LEGACY_BY_SELLER = """
SELECT vendedor, COUNT(*) AS total_leads,
       COUNT(CASE WHEN status = 'won' THEN 1 END) AS vendas,
       ROUND(COUNT(CASE WHEN status = 'won' THEN 1 END) / COUNT(*) * 100, 2) AS win_rate
FROM sales_metrics GROUP BY vendedor ORDER BY vendas DESC;
"""


def legacy(t: Target, sql: str) -> list[tuple[Any, ...]]:
    """Run the earlier system's SQL exactly as written, unqualified, trailing `;` included."""
    with reader.connect(t) as con:
        cur = con.cursor()
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]


def test_the_earlier_systems_queries_run_unchanged(synced: dict[str, tuple[str, Path]]) -> None:
    expected_leads = None
    for backend in BACKENDS:
        t = target(synced, backend)
        (total, won, win_rate), = legacy(t, LEGACY_WIN_RATE)  # fmt: skip
        live = reader.query(
            t,
            f"SELECT COUNT(*), SUM(CASE WHEN outcome = 'won' THEN 1 ELSE 0 END) "
            f"FROM {model_qualified(t, 'fact_leads')} WHERE is_deleted = FALSE",
        )[0]
        # The view holds every lead that is not deleted; "won" is status 142.
        assert (int(total), int(won)) == (int(live[0]), int(live[1])), backend
        expected_leads = expected_leads or (int(total), int(won))
        assert (int(total), int(won)) == expected_leads
        if backend == "postgres":
            # PostgreSQL divides integers as integers: the query as written gives 0 there (the
            # documented difference; `100.0 * won / total` gives the rate).
            assert Decimal(win_rate) == 0
        else:
            assert float(win_rate) == pytest.approx(round(100 * int(won) / int(total), 2))
        by_seller = legacy(t, LEGACY_BY_SELLER)
        assert sum(int(r[1]) for r in by_seller) == int(total)
        assert sum(int(r[2]) for r in by_seller) == int(won)


def test_every_compatibility_view_answers(synced: dict[str, tuple[str, Path]]) -> None:
    wanted = {
        "leads_metrics": {"lead_id", "status", "created_date", "primary_source", "utm_source",
                          "utm_medium", "utm_campaign", "lead_value", "response_time_hours",
                          "pipeline_id", "status_id", "responsible_user_id"},
        "sales_metrics": {"lead_id", "vendedor", "status", "sale_price", "sales_cycle_days",
                          "closed_at", "loss_reason"},
    }  # fmt: skip
    for backend in BACKENDS:
        t = target(synced, backend)
        for view in compat.VIEWS:
            with reader.connect(t) as con:
                cur = con.cursor()
                cur.execute(f"SELECT * FROM {view} WHERE 1 = 0")
                columns = {d[0] for d in cur.description}
            assert wanted.get(view, set()) <= columns, (backend, view)
        # Activities: tasks and communication events of the account, none of a deleted lead.
        n = legacy(t, "SELECT COUNT(*) FROM commercial_activities")[0][0]
        assert int(n) > 0


def lead_count(t: Target) -> int:
    if t.kind is Kind.DUCKDB:
        import duckdb

        con = duckdb.connect(str(t.sync_path), read_only=True)
        try:
            row = con.execute(f"SELECT COUNT(*) FROM {model_qualified(t, 'fact_leads')}").fetchone()
        finally:
            con.close()
        assert row is not None
        return int(row[0])
    return int(reader.query(t, f"SELECT COUNT(*) FROM {model_qualified(t, 'fact_leads')}")[0][0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_rebuild_leaves_the_previous_model(
    synced: dict[str, tuple[str, Path]], backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = target(synced, backend)
    before = lead_count(t)
    real = model_store.insert_rows
    written: list[str] = []

    def failing(con: Any, target: Target, table: Any, frame: pd.DataFrame) -> None:
        written.append(table.name)
        if table.name == "fact_stage_stays":  # after fact_leads was emptied and refilled
            raise RuntimeError("disk full (simulated)")
        real(con, target, table, frame)

    monkeypatch.setattr(model_store, "insert_rows", failing)
    with pytest.raises(WarehouseError, match="disk full") as failed:
        model_store.rebuild(settings(synced, backend), t)
    assert "previous model is unchanged" in (failed.value.hint or "")
    assert "fact_leads" in written
    assert lead_count(t) == before


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_readers_never_see_a_half_built_model(
    synced: dict[str, tuple[str, Path]], backend: str
) -> None:
    t = target(synced, backend)
    expected = lead_count(t)
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(lead_count(t))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for _ in range(3):
            model_store.rebuild(settings(synced, backend), t)
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 3
    assert set(seen) == {expected}


GOOD_COSTS = 'date,channel,amount\n2026-10-01,paid,"1.234,56"\n2026-10-02,organic,100\n'
BAD_COSTS = "date,channel,amount\n2026-10-03,paid,50\n2026-10-04,tv,10\n2026-10-05,paid,abc\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bad_costs_file_is_refused_whole_and_keeps_earlier_costs(
    synced: dict[str, tuple[str, Path]], backend: str, tmp_path: Path
) -> None:
    t = target(synced, backend)
    s = settings(synced, backend)
    good, bad = tmp_path / "costs.csv", tmp_path / "bad.csv"
    good.write_text(GOOD_COSTS)
    bad.write_text(BAD_COSTS)
    added, _ = inputs.import_costs(s, t, good, replace=True, now=AS_OF)
    assert added == 2
    before = report(t)["leads"]["cost"]
    # 1,234.56 in the Brazilian format plus 100: what the period's leads cost.
    assert before["total"] == pytest.approx(1334.56)
    with pytest.raises(InputFileError) as refused:
        inputs.import_costs(s, t, bad, replace=True, now=AS_OF)
    # Line 3 names an unknown channel, line 4 an amount that is not one; line 2 is fine but is
    # not imported either, because the file is refused whole.
    assert [p.line for p in refused.value.problems] == [3, 4]
    assert report(t)["leads"]["cost"] == before


def test_monthly_forecasts_view_reads_the_snapshots(synced: dict[str, tuple[str, Path]]) -> None:
    """The earlier system's `monthly_forecasts` on all three backends: one row per stored month,
    the month's goals summed, and the won revenue once the month has closed (a later month has
    been forecast as the current one)."""
    made_late, made_now = datetime(2026, 9, 30, 15), datetime(2026, 11, 25, 15)

    def snapshot(made: datetime, month: date, p50: float) -> dict[str, Any]:
        return {"made_on": made.date(), "as_of": made, "month": month, "revenue_p10": p50 - 0.5,
                "revenue_p50": p50, "revenue_p90": p50 + 1000, "won_deals_p10": 1.0,
                "won_deals_p50": 2.0, "won_deals_p90": 3.0, "method": "holt_damped",
                "seed": 0}  # fmt: skip

    rows = [
        snapshot(made_late, date(2026, 10, 1), 2000.25),
        snapshot(made_now, date(2026, 11, 1), 3000.0),
        snapshot(made_now, date(2026, 12, 1), 4000.0),
    ]
    goals = [
        {"month": date(2026, 10, 1), "user_id": 1, "revenue_goal": 1000.5, "deals_goal": None,
         "imported_at": made_now, "source": "test"},
        {"month": date(2026, 10, 1), "user_id": 2, "revenue_goal": 2000, "deals_goal": None,
         "imported_at": made_now, "source": "test"},
    ]  # fmt: skip
    seen = {}
    for backend in BACKENDS:
        t = target(synced, backend)
        model_store.replace_input_rows(t, "forecast_snapshots", rows, delete_where="1 = 1")
        mark = reader.placeholder(t)
        model_store.replace_input_rows(
            t,
            "input_goals",
            goals,
            delete_where=f"month = {mark}",
            delete_params=[date(2026, 10, 1)],
        )
        Warehouse(t, settings(synced, backend).data_dir).publish()  # DuckDB: to the readers
        acc = load_modelled(t)
        scope = Scope(start=date(2026, 10, 1), end=date(2026, 10, 31), as_of=AS_OF)
        october = reports.report(t, acc, reports.params(acc, scope, now=AS_OF)).to_json_dict()
        won = october["sales"]["revenue"]
        assert won > 0
        got = legacy(
            t, "SELECT month, p10, p50, p90, goal, actual, made_at FROM monthly_forecasts "
            "ORDER BY month;"
        )  # fmt: skip
        plain = [
            (str(m)[:10], float(p10), float(p50), float(p90),
             None if g is None else float(g), None if a is None else float(a),
             str(made)[:16])
            for m, p10, p50, p90, g, a, made in got
        ]  # fmt: skip
        assert plain == [
            (
                "2026-10-01",
                1999.75,
                2000.25,
                3000.25,
                3000.5,
                pytest.approx(won),
                "2026-09-30 15:00",
            ),
            ("2026-11-01", 2999.5, 3000.0, 4000.0, None, None, "2026-11-25 15:00"),
            ("2026-12-01", 3999.5, 4000.0, 5000.0, None, None, "2026-11-25 15:00"),
        ], backend
        seen[backend] = plain
    assert seen["duckdb"] == seen["mariadb"] == seen["postgres"]

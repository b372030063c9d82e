"""The database boundary: catalog-based table existence, one translation of driver errors, the
writer's lock, money columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pandas as pd
import pytest

from kommo_analytics.errors import (
    ConfigError,
    MissingTableError,
    UnknownDatabaseError,
    WarehouseError,
)
from kommo_analytics.model.query import model_info
from kommo_analytics.model.schema import MODEL_TABLES, model_qualified
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import Backend, backend_for
from kommo_analytics.warehouse.target import Kind, parse_database_url


def _other_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


@pytest.mark.server
def test_a_postgres_database_that_does_not_exist_is_not_a_missing_model(
    postgres_url: str,
) -> None:
    target = parse_database_url(_other_database(postgres_url, "kommo_no_such_database"))
    with pytest.raises(UnknownDatabaseError) as info:
        model_info(target)
    line = info.value.one_line()
    assert "database kommo_no_such_database does not exist on server 127.0.0.1:5432" in line
    assert "DATABASE_URL" in line
    assert "model" not in line
    assert not reader.is_missing_table(info.value)


@pytest.mark.server
def test_a_mariadb_database_that_does_not_exist_is_named(mariadb_url: str) -> None:
    target = parse_database_url(_other_database(mariadb_url, "kommo_no_such_database"))
    with pytest.raises(UnknownDatabaseError, match="kommo_no_such_database does not exist"):
        reader.query(target, "SELECT 1")


def test_missing_tables_are_decided_by_the_catalog_not_by_error_text() -> None:
    assert not reader.is_missing_table(RuntimeError('relation "x" does not exist'))
    assert not reader.is_missing_table(RuntimeError("Table 'a.b' doesn't exist (1146)"))
    assert reader.is_missing_table(MissingTableError("gone", tables=("a.b",)))


def test_a_missing_table_on_every_backend(warehouse_url: str) -> None:
    target = parse_database_url(warehouse_url)
    backend = backend_for(target)
    if target.kind is Kind.DUCKDB:
        assert target.serving_path is not None
        target.serving_path.parent.mkdir(parents=True)
        duckdb.connect(str(target.serving_path)).close()
    assert "fact_leads" not in backend.existing_tables(backend.model_schema("kommo_model"))
    with pytest.raises(MissingTableError) as info:
        reader.query(target, f"SELECT COUNT(*) FROM {model_qualified(target, 'fact_leads')}")
    assert info.value.tables == (f"{backend.model_schema('kommo_model')}.fact_leads",)
    assert model_info(target) == {}
    # A statement that fails for another reason is not a missing table.
    with pytest.raises(WarehouseError) as other:
        reader.query(target, "SELECT no_such_function_xyz(1)")
    assert not reader.is_missing_table(other.value)


def test_a_mariadb_database_name_with_capitals_is_refused_with_the_lower_case_name() -> None:
    with pytest.raises(ConfigError) as info:
        parse_database_url("mysql+pymysql://root@127.0.0.1:3306/KommoDB")
    assert "kommodb" in info.value.one_line()
    assert parse_database_url("mysql+pymysql://root@127.0.0.1:3306/kommo_db").dataset == "kommo_db"


def test_a_read_only_data_folder_is_one_error_naming_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filelock

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / "data" / "x.lock"))

    monkeypatch.setattr(filelock.FileLock, "acquire", refuse)
    target = parse_database_url(f"duckdb:///{tmp_path / 'data' / 'kommo.duckdb'}")
    with pytest.raises(WarehouseError) as info, writer_lock(target, tmp_path / "data"):
        pass
    line = info.value.one_line()
    assert str(tmp_path / "data") in line
    assert "DATA_DIR" in line and "permission" in line


def test_the_lock_is_where_the_backend_says() -> None:
    duck = parse_database_url("duckdb:////srv/w/kommo.duckdb")
    assert backend_for(duck).lock_path(Path("/data")) == Path("/srv/w/kommo.sync.duckdb.lock")
    pg = parse_database_url("postgresql+psycopg://u@h/db")
    assert backend_for(pg).lock_path(Path("/data")) == Path(f"/data/sync-{pg.key}.lock")


def test_money_columns_are_decimal_on_every_backend() -> None:
    for url, expected in (
        ("duckdb:///w.duckdb", "DECIMAL(18, 2)"),
        ("mysql+pymysql://u@h/db", "DECIMAL(18, 2)"),
        ("postgresql+psycopg://u@h/db", "NUMERIC(18, 2)"),
    ):
        from kommo_analytics.model.schema import create_sql

        target = parse_database_url(url)
        for table, column in (("input_costs", "amount"), ("input_goals", "revenue_goal")):
            sql = create_sql(target, MODEL_TABLES[table])
            assert f"{backend_for(target).quote(column)} {expected}" in sql


@pytest.mark.parametrize(("amount", "converted"), [(1234.5, True), (1e26, False)])
def test_double_money_columns_of_an_older_warehouse_keep_their_rows(
    warehouse_url: str, amount: float, converted: bool
) -> None:
    from datetime import date

    from kommo_analytics.model import store
    from kommo_analytics.model.schema import model_schema

    target = parse_database_url(warehouse_url)
    backend = backend_for(target)
    if target.kind is Kind.DUCKDB:
        assert target.sync_path is not None
        target.sync_path.parent.mkdir(parents=True)
        duckdb.connect(str(target.sync_path)).close()
    schema, table = model_schema(target), model_qualified(target, "input_costs")
    with reader.connect(target, write=True) as con:
        cur = backend.cursor(con)
        create_schema = backend.create_schema_sql(schema)
        if create_schema is not None:
            cur.execute(create_schema)
        # The table as versions before DECIMAL money created it.
        cur.execute(
            f"CREATE TABLE {table} (day DATE, channel TEXT, utm_campaign TEXT, "
            f"amount {backend.type_name('double')}, imported_at {backend.type_name('timestamp')}, "
            "source TEXT)"
        )
        cur.execute(
            f"INSERT INTO {table} VALUES ('2024-03-01', 'paid', NULL, {amount!r}, NULL, 'old.csv')"
        )
        con.commit()
    new = {"day": date(2024, 3, 2), "channel": "organic", "utm_campaign": None}
    new |= {"amount": 10.25, "imported_at": None, "source": "new.csv"}
    store.replace_input_rows(target, "input_costs", [new], delete_where=None)
    with reader.connect(target, write=True) as con:
        kind = backend.column_type(con, schema, "input_costs", "amount")
        cur = backend.cursor(con)
        cur.execute(f"SELECT source, amount FROM {table} ORDER BY day")
        rows = [(str(s), float(a)) for s, a in cur.fetchall()]
    assert kind.startswith(("DECIMAL", "NUMERIC")) is converted
    assert rows == [("old.csv", amount), ("new.csv", 10.25)]


def test_a_data_folder_the_loader_cannot_write_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kommo_analytics.warehouse.loader import Warehouse

    data = tmp_path / "data"
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self == data / "dlt":
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    warehouse = Warehouse(parse_database_url("postgresql+psycopg://u@127.0.0.1:1/db"), data)
    with pytest.raises(WarehouseError) as info:
        warehouse.check()
    assert f"the data folder {data} is not writable" in info.value.one_line()
    assert "DATA_DIR" in info.value.one_line()


def _translated(url: str, exc: BaseException, *, write: bool = False) -> WarehouseError:
    try:
        raise RuntimeError("dlt's wrapper") from exc
    except RuntimeError as wrapped:
        return backend_for(parse_database_url(url)).translate(wrapped, write=write)


MYSQL = "mysql+pymysql://kommo:hunter2@127.0.0.1:3306/kommo"
POSTGRES = "postgresql+psycopg://kommo:hunter2@127.0.0.1:5432/kommo"


def test_driver_failures_are_sorted_by_code_not_by_wording() -> None:
    import psycopg.errors
    import pymysql

    def mysql(code: int) -> WarehouseError:
        return _translated(MYSQL, pymysql.err.OperationalError(code, "wording varies"))

    def postgres(state: str) -> WarehouseError:
        return _translated(POSTGRES, psycopg.errors.lookup(state)("wording varies"))

    assert isinstance(mysql(1049), UnknownDatabaseError)
    assert "database kommo does not exist on server 127.0.0.1:3306" in mysql(1049).message
    assert "refused this user" in mysql(1045).message
    assert "user name and password" in mysql(1045).hint
    assert "nothing answers at 127.0.0.1:3306" in mysql(2003).message
    assert "is full" in mysql(1021).message and "free disk space" in mysql(1021).hint
    assert "read-only" in mysql(1290).message
    assert "is full" in postgres("53100").message
    assert "read-only" in postgres("25006").message
    assert "refused this user" in postgres("28P01").message
    other = postgres("22012")  # division by zero: the driver's first line, as a QueryError
    assert (
        other.message
        == f"a statement on {parse_database_url(POSTGRES).display} failed: wording varies"
    )
    for error in (mysql(1049), mysql(1045), postgres("53100"), other):
        assert "hunter2" not in error.one_line()


@pytest.mark.server
def test_a_wrong_user_and_a_dead_port_are_told_apart(postgres_url: str, mariadb_url: str) -> None:
    for url in (postgres_url, mariadb_url):
        parts = urlsplit(url)
        wrong_user = urlunsplit(
            (parts.scheme, f"kommo_nobody:x@{parts.hostname}:{parts.port}", parts.path, "", "")
        )
        with pytest.raises(WarehouseError, match="refused this user"):
            reader.query(parse_database_url(wrong_user), "SELECT 1")
        dead = urlunsplit((parts.scheme, f"{parts.hostname}:1", parts.path, "", ""))
        with pytest.raises(WarehouseError, match=r"nothing answers at 127\.0\.0\.1:1"):
            reader.query(parse_database_url(dead), "SELECT 1")


def test_duckdb_reads_the_events_json_ids_as_the_model_does(tmp_path: Path) -> None:
    import pandas as pd

    from kommo_analytics.model.build import _ID, _PIPELINE, _extract
    from tests.model.test_build import EVENT_VALUES

    backend = backend_for(parse_database_url(f"duckdb:///{tmp_path / 'w.duckdb'}"))
    con = duckdb.connect()
    con.execute("CREATE TABLE e (n INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO e VALUES (?, ?)", list(enumerate(EVENT_VALUES)))
    for pattern in (_ID, _PIPELINE):
        sql = backend.regexp_int_sql("v", pattern.pattern)
        assert sql is not None
        got = [r[0] for r in con.execute(f"SELECT {sql} FROM e ORDER BY n").fetchall()]
        # The model's own reading: Arrow's regular expressions, Python's where Arrow cannot.
        expected = _extract(pd.Series(EVENT_VALUES, dtype="str"), pattern)
        assert got == [None if pd.isna(v) else int(v) for v in expected]
    # A number too large for an id fails loudly instead of becoming NULL.
    sql = backend.regexp_int_sql("'{\"id\": 99999999999999999999}'", _ID.pattern)
    with pytest.raises(duckdb.Error):
        con.execute(f"SELECT {sql}").fetchall()


def test_the_servers_leave_the_events_json_to_the_model() -> None:
    for url in ("mysql://u@h/db", "postgresql://u@h/db"):
        assert backend_for(parse_database_url(url)).regexp_int_sql("v", "(\\d+)") is None


_AWKWARD = """SELECT * FROM (VALUES
    (1::BIGINT, 1.5::DOUBLE, 'ação', TRUE, TIMESTAMP '2024-01-01 10:00:00.123456',
     DATE '2024-01-02', 12.34::DECIMAL(18, 2), 5::INTEGER, 7::HUGEINT,
     TIMESTAMPTZ '2024-01-01 10:00:00+00', NULL, 3::BIGINT, 2::SMALLINT, 1.5::FLOAT, FALSE,
     '{"a": [1, null]}'),
    (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 9007199254740993, NULL,
     NULL, TRUE, NULL)
) t(i, f, s, b, ts, d, money, i32, huge, tz, nothing, big, small, single, flag, json)"""


@pytest.mark.parametrize(
    ("sql", "by_rows"),
    [
        (_AWKWARD, False),
        (f"SELECT * FROM ({_AWKWARD}) WHERE i IS NOT NULL", False),  # no NULL: ints stay int64
        (f"SELECT * FROM ({_AWKWARD}) WHERE FALSE", False),  # no row: every column object
        ("SELECT [1, 2] AS list, INTERVAL 1 DAY AS span, 1 AS x", True),  # types Arrow changes
        ("SELECT 170141183460469231731687303715884105727::HUGEINT AS huge", True),  # > int64
        ("SELECT sum(x) AS total, count(*) AS n, x FROM (SELECT 1 AS x) GROUP BY x", False),
    ],
)
def test_duckdb_reads_columns_into_the_frame_rows_would_make(
    sql: str, by_rows: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metrics and the forecast read results in ``from_records``' dtypes and values; the
    Arrow read must give exactly those (same dtypes, same Python types, NULLs as before), and
    fall back on rows only for the types it cannot."""
    backend = backend_for(parse_database_url("duckdb:////nowhere/kommo.duckdb"))
    con = duckdb.connect()
    row_reads: list[str] = []
    by_tuples = Backend.fetch_records
    monkeypatch.setattr(
        Backend, "fetch_records", lambda self, c, q: row_reads.append(q) or by_tuples(self, c, q)
    )
    rows = con.execute(sql)
    columns = [d[0] for d in rows.description]
    old = pd.DataFrame.from_records([tuple(r) for r in rows.fetchall()], columns=columns)
    new = backend.fetch_records(con, sql)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert list(new.dtypes) == list(old.dtypes)
    for (_, a), (_, b) in zip(new.iterrows(), old.iterrows(), strict=True):
        assert [type(v) for v in a] == [type(v) for v in b]
        assert [repr(v) for v in a] == [repr(v) for v in b]
    assert bool(row_reads) is by_rows


def test_raw_frames_are_those_the_driver_rows_made(warehouse_url: str) -> None:
    """``fetch_frame`` (the model's raw read) may read columns instead of rows, but its frame is
    the one the driver's converted rows made: dtypes, NULLs, times, money and JSON texts."""
    target = parse_database_url(warehouse_url)
    backend = backend_for(target)
    if target.kind is Kind.DUCKDB:
        return  # its Arrow read has types of its own, which the model build reads
    t = backend.types
    table = target.qualified("awkward")
    declared = (
        f"id {t['bigint']}, n {t['bigint']}, x {t['double']}, money {t['money']}, "
        f"name {t['text']}, flag {t['bool']}, at {t['timestamp']}, day {t['date']}, "
        f"raw {t['text']}, none {t['text']}"
    )
    rows = [
        (1, 9007199254740993, 0.1, "12.34", "ação ✓", True, "2024-01-01 10:00:00.123456",
         "2024-01-02", '{"a": [1, null], "b": "ç"}', None),
        (2, None, None, None, None, None, None, None, None, None),
        (3, -5, 1e-320, "-0.01", "", False, "1970-01-01 00:00:00", "1999-12-31", "[]", None),
        (4, 7, 1.7976931348623157e308, "0", "x", True, "2024-02-29 23:59:59.999999",
         "2024-02-29", "null", None),
    ]  # fmt: skip
    with reader.connect(target) as con:
        cur = con.cursor()
        if target.kind is Kind.POSTGRES:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {target.dataset}")
        cur.execute(f"CREATE TABLE {table} ({declared})")
        marks = ", ".join([backend.placeholder] * len(rows[0]))
        cur.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        con.commit()
        columns = ["id", "n", "x", "money", "name", "flag", "at", "day", "raw", "none"]
        for where in ("", " WHERE id = 2", " WHERE id <> 2", " WHERE id > 9"):
            sql = f"SELECT {', '.join(columns)} FROM {table}{where} ORDER BY id"
            old = Backend.fetch_frame(backend, con, sql, columns)
            new = backend.fetch_frame(con, sql, columns)
            pd.testing.assert_frame_equal(new, old, check_exact=True)
            assert list(new.dtypes) == list(old.dtypes)
            for column in columns:
                assert [repr(v) for v in new[column]] == [repr(v) for v in old[column]]

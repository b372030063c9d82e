"""Publishing a DuckDB warehouse from a journal of what changed: after any mix of loads, model
rebuilds and imports the served file equals the private one; a change nobody journaled, or a
publish killed at any step, still leaves readers a whole, consistent file; readers never wait and
never see the warehouse go back."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from kommo_analytics.warehouse import journal, reader
from kommo_analytics.warehouse.backends import DuckDBBackend, backend_for
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url


@pytest.fixture(autouse=True)
def apply_tiny_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file under `APPLY_MIN_BYTES` is copied whole; these tests' files are tiny and the apply
    is what they test."""
    monkeypatch.setattr(journal, "APPLY_MIN_BYTES", 0)


def test_a_small_warehouse_is_copied_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = _backend(tmp_path)
    _start(backend)
    backend.publish()
    backend.publish()
    _load(backend, "leads", "id", [3], ["3, 'lead 3 again', 1"])
    monkeypatch.setattr(journal, "APPLY_MIN_BYTES", backend.private.stat().st_size + 1)
    backend.publish()
    assert backend.last_publish == "copied" and _differences(backend) == []
    monkeypatch.setattr(journal, "APPLY_MIN_BYTES", 0)
    _load(backend, "leads", "id", [4], ["4, 'lead 4 again', 1"])
    backend.publish()
    assert backend.last_publish == "applied" and _differences(backend) == []


def _backend(tmp_path: Path) -> DuckDBBackend:
    backend = backend_for(parse_database_url(f"duckdb:///{tmp_path / 'data' / 'kommo.duckdb'}"))
    assert isinstance(backend, DuckDBBackend)
    backend.private.parent.mkdir(parents=True, exist_ok=True)
    return backend


def _start(backend: DuckDBBackend) -> None:
    """A private file shaped like a synced one: raw tables, a model table, a view."""
    with duckdb.connect(str(backend.private)) as con:
        con.execute("CREATE SCHEMA kommo_raw")
        con.execute("CREATE SCHEMA kommo_model")
        con.execute(
            "CREATE TABLE kommo_raw.leads AS SELECT range AS id, 'lead ' || range AS name, "
            "range % 3 AS status FROM range(50)"
        )
        con.execute(
            "CREATE TABLE kommo_raw.lead_contacts AS SELECT range // 2 AS lead_id, "
            "range AS contact_id FROM range(60)"
        )
        con.execute("CREATE TABLE kommo_model.fact AS SELECT 1 AS status, 0 AS n")
        con.execute("CREATE TABLE kommo_model.input_goals (month VARCHAR, goal BIGINT)")
        con.execute("CREATE VIEW main.leads_v AS SELECT * FROM kommo_model.fact")


def _differences(backend: DuckDBBackend) -> list[str]:
    """What differs between the served file and the private one: tables, columns, rows, views
    (the journal's own schema aside)."""
    found: list[str] = []
    with duckdb.connect(str(backend.serving.resolve()), read_only=True) as con:
        con.execute(f"ATTACH '{backend.private}' AS src (READ_ONLY)")
        own = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        skip = (journal.SCHEMA, "kommo_raw_staging")
        mine, theirs = journal._tables(con, own, skip), journal._tables(con, "src", skip)
        if mine != theirs:
            found.append(f"catalog: {mine} != {theirs}")
        if journal._views(con, own, skip) != journal._views(con, "src", skip):
            found.append("views")
        for schema, table in theirs.keys() & mine.keys():
            a, b = f'"{own}".{schema}.{table}', f"src.{schema}.{table}"
            differ = con.execute(
                f"SELECT count(*) FROM ((SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) "
                f"UNION ALL (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}))"
            ).fetchone()
            if differ and differ[0]:
                found.append(f"{schema}.{table}: {differ[0]} rows")
        con.execute("DETACH src")
    return found


_COLUMNS = {"leads": "id, name, status", "lead_contacts": "lead_id, contact_id"}


def _load(backend: DuckDBBackend, table: str, key: str, keys: list[int], rows: list[str]) -> None:
    """What a dlt merge does: the keys journaled first, then their rows replaced (past our
    connections)."""
    backend.journal_load({table: ((key,), [(k,) for k in keys])})
    with duckdb.connect(str(backend.private)) as con:
        con.execute(f"DELETE FROM kommo_raw.{table} WHERE {key} IN ({', '.join(map(str, keys))})")
        for row in rows:
            con.execute(f"INSERT INTO kommo_raw.{table} ({_COLUMNS[table]}) VALUES ({row})")


def _rebuild_model(backend: DuckDBBackend) -> None:
    """What the model build does on DuckDB: drop, re-create and fill inside a transaction, and
    re-create the compatibility view."""
    with reader.connect(backend.target, write=True) as con, backend.transaction(con) as cur:
        cur.execute('DROP TABLE "kommo_model"."fact"')
        cur.execute('CREATE TABLE "kommo_model"."fact" (status BIGINT, n BIGINT)')
        cur.execute(
            'INSERT INTO "kommo_model"."fact" SELECT status, count(*) FROM kommo_raw.leads '
            "GROUP BY status"
        )
    with reader.connect(backend.target, write=True) as con:
        con.execute("DROP VIEW IF EXISTS main.leads_v")
        con.execute("CREATE VIEW main.leads_v AS SELECT status FROM kommo_model.fact")


def _import_goals(backend: DuckDBBackend, month: str, goals: list[int]) -> None:
    with reader.connect(backend.target, write=True) as con, backend.transaction(con) as cur:
        cur.execute("DELETE FROM kommo_model.input_goals WHERE month = ?", [month])
        backend.insert_rows(
            con, "kommo_model.input_goals", ["month", "goal"], [(month, g) for g in goals]
        )


def test_statements_journal_the_table_they_write() -> None:
    assert journal.classify("SELECT * FROM kommo_raw.leads") == journal.Written()
    assert journal.classify('  -- why\nINSERT INTO "kommo_model"."fact" SELECT 1').table == (
        "kommo_model.fact"
    )
    assert journal.classify("UPDATE kommo_raw.leads SET x = 1").counts_rows
    assert journal.classify("CREATE OR REPLACE TABLE t AS SELECT 1").table == "main.t"
    assert journal.classify("DROP TABLE IF EXISTS kommo_model.fact").table == "kommo_model.fact"
    assert journal.classify("CREATE VIEW v AS SELECT 1") == journal.Written()  # the catalog's
    # A statement it cannot place may write anything.
    assert journal.classify("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x").whole_file
    assert journal.classify("MERGE INTO t USING s ON t.id = s.id").whole_file


def test_a_write_in_a_transaction_opened_past_execute_is_journaled_in_it(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    _start(backend)
    with reader.connect(backend.target, write=True) as con:
        con.begin()
        con.execute("INSERT INTO kommo_model.input_goals VALUES ('2026-01', 5)")
        con.rollback()  # the entry goes with the change
        con.begin()
        con.execute("INSERT INTO kommo_model.input_goals VALUES ('2026-01', 6)")
        con.commit()
        entries = con.execute(f"SELECT tbl FROM {journal.SCHEMA}.journal").fetchall()
    assert entries == [("kommo_model.input_goals",)]


def test_the_served_file_equals_the_private_one_after_random_writes(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    _start(backend)
    backend.publish()
    backend.publish()  # both served files exist now, each vouched for by the private file
    rng = random.Random(15)
    for step in range(6):
        for _ in range(rng.randint(1, 3)):
            what = rng.choice(["leads", "links", "model", "goals", "update", "column"])
            if what == "leads":
                keys = rng.sample(range(70), 4)  # some new, some changed, one maybe removed
                rows = [f"{k}, 'lead {k} v{step}', {rng.randint(0, 2)}" for k in keys[1:]]
                _load(backend, "leads", "id", keys, rows)
            elif what == "links":
                leads = rng.sample(range(30), 2)
                _load(backend, "lead_contacts", "lead_id", leads, [f"{leads[0]}, {900 + step}"])
            elif what == "model":
                _rebuild_model(backend)
            elif what == "goals":
                _import_goals(backend, f"2026-{rng.randint(1, 3):02d}", [step, step + 1])
            elif what == "update":
                with reader.connect(backend.target, write=True) as con:
                    con.execute(
                        "UPDATE kommo_raw.leads SET status = status + 1 WHERE id = ?",
                        [rng.choice([5, 1000])],  # 1000 changes no row: nothing journaled
                    )
            else:  # dlt adding a column: only the catalogs tell
                with duckdb.connect(str(backend.private)) as con:
                    con.execute(f"ALTER TABLE kommo_raw.lead_contacts ADD COLUMN c{step} BIGINT")
        backend.publish()
        assert _differences(backend) == [], f"step {step}"
        assert backend.last_publish == "applied", f"step {step}"


def test_a_change_nobody_journaled_is_copied_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _backend(tmp_path)
    _start(backend)
    backend.publish()
    backend.publish()
    # Same row count, other values, in a table small enough to be compared row by row.
    with duckdb.connect(str(backend.private)) as con:
        con.execute("UPDATE kommo_model.fact SET n = 99")
    backend.publish()
    assert backend.last_publish == "copied" and _differences(backend) == []
    # In a table too large to compare row by row, a row count that moved tells.
    monkeypatch.setattr(journal, "COMPARE_ROWS", 10)
    with duckdb.connect(str(backend.private)) as con:
        con.execute("DELETE FROM kommo_raw.leads WHERE id = 7")
    backend.publish()
    backend.publish()
    assert backend.last_publish == "copied" and _differences(backend) == []


def test_a_large_share_rewritten_whole_is_copied_not_applied(tmp_path: Path) -> None:
    """Re-creating most of the file's rows through DuckDB is slower than copying the file: a
    rebuilt model that large publishes as a whole copy; a keyed change of it is applied."""
    backend = _backend(tmp_path)
    _start(backend)
    with duckdb.connect(str(backend.private)) as con:
        con.execute("CREATE TABLE kommo_raw.events AS SELECT range AS id FROM range(300000)")
        con.execute("CREATE TABLE kommo_model.big AS SELECT range AS id FROM range(150000)")
    backend.publish()
    backend.publish()
    # 150,000 of 450,000-odd rows (a third) re-created whole: copied.
    with reader.connect(backend.target, write=True) as con, backend.transaction(con) as cur:
        cur.execute("DROP TABLE kommo_model.big")
        cur.execute("CREATE TABLE kommo_model.big AS SELECT range + 1 AS id FROM range(150000)")
    backend.publish()
    assert backend.last_publish == "copied" and _differences(backend) == []
    backend.publish()  # the other served file catches up (copied too: the entry is still due)
    # The same rows changed by key: applied.
    with reader.connect(backend.target, write=True) as con, backend.transaction(con) as cur:
        backend.journal_keys(con, "kommo_model.big", ("id",), [(1,), (2,)])
        cur.execute("DELETE FROM kommo_model.big WHERE id IN (1, 2)")
    backend.publish()
    assert backend.last_publish == "applied" and _differences(backend) == []


def test_an_upgraded_install_keeps_its_served_file_readable(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    _start(backend)
    # An earlier version's layout: the served path a plain copy of the private file.
    backend.serving.write_bytes(backend.private.read_bytes())
    held = duckdb.connect(str(backend.serving), read_only=True)
    _load(backend, "leads", "id", [1], ["1, 'renamed', 0"])
    backend.publish()
    assert backend.serving.is_symlink()
    # The reader that had the old file open still reads it; the next one reads the new one.
    assert held.execute("SELECT name FROM kommo_raw.leads WHERE id = 1").fetchall() == [("lead 1",)]
    held.close()
    rows = reader.query(backend.target, "SELECT name FROM kommo_raw.leads WHERE id = 1")
    assert rows == [("renamed",)]
    backend.publish()  # the old file is not vouched for: copied once
    assert backend.last_publish == "copied"
    _load(backend, "leads", "id", [2], ["2, 'renamed too', 0"])
    backend.publish()
    assert backend.last_publish == "applied" and _differences(backend) == []


def test_loads_and_the_deletion_pass_journal_the_keys_they_write(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    warehouse = Warehouse(backend.target, tmp_path / "data")
    lead = {"id": 1, "name": "a", "is_deleted": False}
    warehouse.load({"leads": [lead, {**lead, "id": 2}], "users": [{"id": 7, "name": "Ana"}]})
    warehouse.publish()
    warehouse.publish()
    warehouse.load({"leads": [{**lead, "name": "a2"}], "users": [{"id": 8, "name": "Bia"}]})
    with duckdb.connect(str(backend.private), read_only=True) as con:
        entries = con.execute(f"SELECT tbl, keys FROM {journal.SCHEMA}.journal").fetchall()
        keys = con.execute(f'SELECT id FROM {journal.SCHEMA}."k:kommo_raw.leads"').fetchall()
    assert ("kommo_raw.leads", "id") in entries and keys == [(1,)]
    assert ("kommo_raw.users", None) in entries  # a replaced dictionary: the whole table
    warehouse.publish()
    assert warehouse.backend.last_publish == "applied"  # type: ignore[attr-defined]
    assert _differences(backend) == []
    names = reader.query(backend.target, "SELECT name FROM kommo_raw.leads ORDER BY id")
    assert names == [("a2",), ("a",)]
    # The deletion pass flips leads it has read first: their keys are journaled, not the whole
    # table (a million leads' rows copied for one deleted lead).
    warehouse.publish()
    leads = backend.target.qualified("leads")
    warehouse.execute(
        f"UPDATE {leads} SET is_deleted = TRUE WHERE id = 2", keys=("leads", ("id",), [(2,)])
    )
    with duckdb.connect(str(backend.private), read_only=True) as con:
        entries = con.execute(f"SELECT tbl, keys FROM {journal.SCHEMA}.journal").fetchall()
    assert entries == [("kommo_raw.leads", "id")]
    warehouse.publish()
    assert warehouse.backend.last_publish == "applied"  # type: ignore[attr-defined]
    assert reader.query(backend.target, f"SELECT id FROM {leads} WHERE is_deleted") == [(2,)]


# A publish in a child process that dies (os._exit: no cleanup, no exception handlers) at one
# step, after a change to the private file.
_KILLED = textwrap.dedent(
    """
    import os, sys
    from kommo_analytics.warehouse import backends, journal
    from kommo_analytics.warehouse.target import parse_database_url

    url, step = sys.argv[1], sys.argv[2]
    journal.APPLY_MIN_BYTES = 0  # these files are tiny: apply them all the same

    def die(*args, **kwargs):
        os._exit(9)

    if step == "mid-apply":  # inside the apply's transaction
        journal._verify = die
    elif step == "applied":  # committed, not checkpointed: the change is only in the .wal
        real = journal.apply
        journal.apply = lambda *a, **k: (real(*a, **k), die())
    elif step == "recorded":  # the file is up to date, the private file does not know yet
        journal.record = die
    elif step == "swapping":  # recorded, the link not moved yet
        backends.DuckDBBackend._point_at = die
    elif step == "copying":  # a whole copy made, not renamed into place
        journal.stamp = die
        journal.apply = lambda *a, **k: 0
    backends.backend_for(parse_database_url(url)).publish()
    """
)


@pytest.mark.parametrize("step", ["mid-apply", "applied", "recorded", "swapping", "copying"])
def test_a_publish_killed_at_any_step_leaves_readers_a_whole_file(
    tmp_path: Path, step: str
) -> None:
    backend = _backend(tmp_path)
    _start(backend)
    backend.publish()
    backend.publish()
    served = reader.query(backend.target, "SELECT count(*), sum(status) FROM kommo_raw.leads")
    _load(backend, "leads", "id", [3, 80], ["80, 'new', 2"])
    _rebuild_model(backend)
    died = subprocess.run(
        [sys.executable, "-c", _KILLED, backend.target.url, step], capture_output=True, text=True
    )
    assert died.returncode == 9, died.stderr
    # Readers: the file they were served before, whole.
    after = reader.query(backend.target, "SELECT count(*), sum(status) FROM kommo_raw.leads")
    assert after == served
    # The next publish finishes the job, and the one after it applies again.
    backend.publish()
    assert _differences(backend) == []
    backend.publish()
    assert backend.last_publish == "applied" and _differences(backend) == []


_READER = textwrap.dedent(
    """
    import os, sys
    from kommo_analytics.warehouse import reader
    from kommo_analytics.warehouse.target import parse_database_url

    target, stop = parse_database_url(sys.argv[1]), sys.argv[2]
    seen, failed = [], 0
    while not os.path.exists(stop):
        try:
            rows = reader.query(target, "SELECT max(n), count(*) FROM kommo_model.fact")
            seen.append(rows[0])
        except Exception as exc:
            failed += 1
            print(repr(exc), file=sys.stderr)
    print(failed, len(seen), len(set(seen)))
    print(all(a[0] <= b[0] for a, b in zip(seen, seen[1:])), all(c == 1 for _, c in seen))
    """
)


def test_readers_during_publishes_never_fail_nor_go_back(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    _start(backend)
    backend.publish()
    backend.publish()
    stop = tmp_path / "stop"
    child = subprocess.Popen(
        [sys.executable, "-c", _READER, backend.target.url, str(stop)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for n in range(1, 9):
            with reader.connect(backend.target, write=True) as con, backend.transaction(con) as cur:
                cur.execute("DELETE FROM kommo_model.fact")
                cur.execute("INSERT INTO kommo_model.fact VALUES (1, ?)", [n])
            backend.publish()
    finally:
        stop.touch()
        out, err = child.communicate(timeout=60)
    failed, reads, distinct = (int(x) for x in out.split()[:3])
    monotonic, whole = out.split()[3:]
    assert failed == 0, err
    assert reads > 0 and distinct > 1  # it read while the file changed
    assert monotonic == "True" and whole == "True"  # never an older model, never half of one

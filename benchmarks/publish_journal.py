"""Publishing a DuckDB warehouse after a small change: bringing the stale served file up to date
from the journal, against the whole copy the publish made before.

The cached warehouse (``benchmarks/million.py``) is copied to a temporary folder as the sync's
private file, and published twice (two whole copies: both served files then exist). Each run then
makes a small change the way a sync does — ``--leads`` leads rewritten through a dlt-style merge
(their keys journaled first, then their rows of ``leads``, ``lead_contacts`` and
``lead_tracking`` deleted and inserted again) and every model table re-created inside one
transaction, as the model build does — and times the publish. Then the same change with a
``*`` entry, which forces the whole copy, is timed. Median, min and max over ``--runs``.

    .venv/bin/python benchmarks/publish_journal.py --scale medium --runs 3
    flock /tmp/bench-1m.lock .venv/bin/python benchmarks/publish_journal.py --scale large --runs 3
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from kommo_analytics.warehouse import journal, reader
from kommo_analytics.warehouse.backends import DuckDBBackend, backend_for
from kommo_analytics.warehouse.target import parse_database_url

DEFAULT_CACHE = Path("~/.cache/kommo-analytics-bench").expanduser()
# What a merge of leads rewrites, keyed as the loader keys it.
LEAD_TABLES = {"leads": "id", "lead_contacts": "lead_id", "lead_tracking": "lead_id"}


def small_change(
    backend: DuckDBBackend, leads: int, run: int, whole: bool, model: bool = True
) -> None:
    """``leads`` leads' rows rewritten as a dlt merge would, then (``model``) the model
    re-created."""
    with duckdb.connect(str(backend.private), read_only=True) as con:
        ids = [
            int(r[0])
            for r in con.execute(
                # Literals: a sample clause takes no parameters.
                f"SELECT id FROM kommo_raw.leads USING SAMPLE reservoir({int(leads)} ROWS) "
                f"REPEATABLE ({int(run)})"
            ).fetchall()
        ]
    backend.journal_load({t: ((k,), [(i,) for i in ids]) for t, k in LEAD_TABLES.items()})
    with duckdb.connect(str(backend.private)) as con:
        con.execute("CREATE TEMP TABLE ids AS SELECT unnest(?::BIGINT[]) AS id", [ids])
        con.execute("BEGIN TRANSACTION")
        for table, key in LEAD_TABLES.items():
            con.execute(
                f"CREATE TEMP TABLE keep AS SELECT * FROM kommo_raw.{table} "
                f"WHERE {key} IN (SELECT id FROM ids)"
            )
            con.execute(f"DELETE FROM kommo_raw.{table} WHERE {key} IN (SELECT id FROM ids)")
            con.execute(f"INSERT INTO kommo_raw.{table} SELECT * FROM keep")
            con.execute("DROP TABLE keep")
        con.execute(
            f"UPDATE kommo_raw.leads SET name = name || ' {run}' WHERE id IN (SELECT id FROM ids)"
        )
        con.execute("COMMIT")
    with reader.connect(backend.target, write=True) as con:
        if whole:
            journal.add(con.raw, journal.WHOLE_FILE)
        if not model:
            return
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'kommo_model' "
                "AND database_name = current_database()"
            ).fetchall()
        ]
        with backend.transaction(con) as cur:
            for table in tables:
                cur.execute(f"CREATE TEMP TABLE copy AS SELECT * FROM kommo_model.{table}")
                cur.execute(f"DROP TABLE kommo_model.{table}")
                cur.execute(f"CREATE TABLE kommo_model.{table} AS SELECT * FROM copy")
                cur.execute("DROP TABLE copy")


def grow_model(backend: DuckDBBackend, copies: int) -> None:
    """The fact tables' rows repeated ``copies`` times: the size of the model a warehouse that
    many times larger has (the values do not matter to a copy)."""
    with duckdb.connect(str(backend.private)) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'kommo_model' "
                "AND table_name LIKE 'fact_%'"
            ).fetchall()
        ]
        for table in tables:
            con.execute(
                f"CREATE TABLE kommo_model.grown AS SELECT t.* FROM kommo_model.{table} t, "
                f"range({int(copies)})"
            )
            con.execute(f"DROP TABLE kommo_model.{table}")
            con.execute(f"ALTER TABLE kommo_model.grown RENAME TO {table}")


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    action()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return time.perf_counter() - started


cpu: list[float] = []  # CPU seconds of each timed action, in order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--no-model",
        action="store_true",
        help="leave the model alone (as a model update that journals its keys would)",
    )
    parser.add_argument(
        "--model-copies",
        type=int,
        default=1,
        help="repeat the model's fact tables' rows this many times first (the cached large "
        "warehouse holds the medium account's model: 20 gives a million leads' worth)",
    )
    args = parser.parse_args()
    source = args.cache / f"{args.scale}.duckdb"
    folder = Path(tempfile.mkdtemp(prefix="publish_journal_"))
    try:
        backend = backend_for(parse_database_url(f"duckdb:///{folder / 'kommo.duckdb'}"))
        assert isinstance(backend, DuckDBBackend)
        shutil.copyfile(source, backend.private)
        if args.model_copies > 1:
            grow_model(backend, args.model_copies)
        first = [timed(backend.publish), timed(backend.publish)]
        times: dict[str, list[float]] = {"applied": [], "copied": []}
        cpus: dict[str, list[float]] = {"applied": [], "copied": []}
        # A * entry sends both served files to a whole copy: those runs come last.
        for whole in (False, True):
            for run in range(args.runs):
                small_change(backend, args.leads, run + whole * args.runs, whole, not args.no_model)
                seconds = timed(backend.publish)
                times[backend.last_publish].append(seconds)
                cpus[backend.last_publish].append(cpu[-1])
        size = backend.private.stat().st_size / 1e9
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    table = Table(
        title=f"Publishing {args.scale} ({size:.2f} GB; model × {args.model_copies}) after "
        f"{args.leads:,} leads{'' if args.no_model else ' and the model'} rewritten, "
        f"{args.runs} runs"
    )
    for column in ("publish", "runs", "median s", "min s", "max s", "CPU s (median)"):
        table.add_column(column, justify="left" if column == "publish" else "right")
    rows = {
        "first two (whole copies)": (first, cpu[:2]),
        "from the journal": (times["applied"], cpus["applied"]),
        "whole copy (a * entry)": (times["copied"], cpus["copied"]),
    }
    for name, (values, spent) in rows.items():
        if values:
            table.add_row(
                name,
                str(len(values)),
                f"{statistics.median(values):.2f}",
                f"{min(values):.2f}",
                f"{max(values):.2f}",
                f"{statistics.median(spent):.2f}",
            )
    Console().print(table)


if __name__ == "__main__":
    main()

"""Readers opening a DuckDB warehouse while publishes swap the file under them, far faster than
a sync ever does: how many opens fail for a plain ``duckdb.connect`` of the path, and for the
project's reader (``warehouse/reader.py``), which opens again when the file changed under it.

DuckDB opens a file by its path three times while connecting; a rename in between mixes two
files' headers and blocks. The plain reader shows the failures; the project's should show none.

    .venv/bin/python benchmarks/publish_swaps.py --seconds 30
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

READER = textwrap.dedent(
    """
    import os, sys, duckdb
    from kommo_analytics.warehouse import reader
    from kommo_analytics.warehouse.target import parse_database_url
    path, stop, how = sys.argv[1], sys.argv[2], sys.argv[3]
    target = parse_database_url("duckdb:///" + path)
    sql = "SELECT count(*) FROM kommo_raw.leads"
    good = failed = 0
    while not os.path.exists(stop):
        try:
            if how == "plain":
                con = duckdb.connect(path, read_only=True)
                try:
                    con.execute(sql).fetchone()
                finally:
                    con.close()
            else:
                reader.query(target, sql)
            good += 1
        except Exception:
            failed += 1
    print(good, failed)
    """
)


def make(path: Path, leads: int, extra: bool) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA kommo_raw")
        con.execute(
            "CREATE TABLE kommo_raw.leads AS SELECT range AS id, "
            f"repeat('x', (range % 50)::INT) AS name FROM range({leads})"
        )
        if extra:  # a different layout, so that mixed headers and blocks do not line up
            con.execute("CREATE TABLE kommo_raw.events AS SELECT range AS id FROM range(50000)")


def run(how: str, seconds: float, every: float) -> tuple[int, int, int]:
    folder = Path(tempfile.mkdtemp(prefix="publish_swaps_"))
    try:
        versions = [folder / "a.duckdb", folder / "b.duckdb"]
        make(versions[0], 1_000, extra=False)
        make(versions[1], 300_000, extra=True)
        serving, stop = folder / "kommo.duckdb", folder / "stop"
        shutil.copyfile(versions[0], serving)
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(serving), str(stop), how],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        swaps, started = 0, time.monotonic()
        while time.monotonic() - started < seconds:
            tmp = folder / ".kommo.duckdb.tmp"
            shutil.copyfile(versions[swaps % 2], tmp)
            tmp.replace(serving)  # what a publish does, after its checkpoint and copy
            swaps += 1
            time.sleep(every)
        stop.touch()
        out, _ = reader.communicate(timeout=120)
        good, failed = (int(x) for x in out.split())
        return swaps, good, failed
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="per reader kind")
    parser.add_argument("--every", type=float, default=0.01, help="seconds between swaps")
    args = parser.parse_args()
    table = Table(title=f"Swaps every {args.every * 1000:.0f} ms for {args.seconds:.0f} s")
    for column in ("reader", "swaps", "reads", "failed opens"):
        table.add_column(column, justify="left" if column == "reader" else "right")
    for how in ("plain", "project"):
        swaps, good, failed = run(how, args.seconds, args.every)
        table.add_row(how, f"{swaps:,}", f"{good:,}", f"{failed:,}")
    Console().print(table)


if __name__ == "__main__":
    main()

"""The model updated after 1,000 leads changed, at a million leads (issue 15: < 10 s).

**Preparing** (once per invocation, not timed): the cached warehouse of ``--scale`` (built by
``million.py``; never rebuilt here) is copied to a temporary folder and its model is built whole
(``build_and_store``), as the sync before the changes would have left it.

**Each run** starts from a copy of that prepared file and changes ``--leads`` leads (an even
spread of open leads, the same ones every run) in SQL the way a sync's loads leave them: each
moves to the next open stage of its pipeline (its row's ``status_id`` and ``updated_at``, and a
new ``lead_status_changed`` event), and one open task of each such lead that has one is completed
(its row, and a ``task_completed`` event). The keys those writes touched are handed to
``model.update.update_model`` in a child process of its own (so its peak RSS is the update's),
exactly as the sync hands over ``Warehouse.touched``. Seconds per step (read the slice /
build / write) and the peak RSS (sampled every 10 ms) are printed, median (min–max).

``--publish``: the prepared warehouse is also published twice (both served files then hold the
built model), the runs follow one another on it instead of each starting from a copy, and after
each update the publish is timed — the served file one generation behind brought up to date
from the journal (the update journals the fact rows it rewrote), as a sync's publish would.

``--check``: after the last run, every fact table of the updated model is compared with
``build_model`` on the same raw tables (a full build in memory: ~6.5 GB at a million leads).

    flock /tmp/bench-1m.lock .venv/bin/python benchmarks/model_update.py --scale large --check
    .venv/bin/python benchmarks/model_update.py --scale medium --runs 1 --check
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from million import DEFAULT_CACHE, NOW, _fmt, _log, _rss_mb

STEPS = ("read", "build", "write")
CHANGED_AT = NOW + 3600  # an hour after the prepared model: every change is the newest


def _target(folder: Path) -> Any:
    from kommo_analytics.warehouse.target import parse_database_url

    return parse_database_url(f"duckdb:///{folder / 'kommo.duckdb'}")


def _settings(folder: Path) -> Any:
    from pydantic import SecretStr

    from kommo_analytics.settings import Settings

    return Settings(
        kommo_base_url="http://kommo.test",
        kommo_access_token=SecretStr("unused"),
        data_dir=folder / "data",
        database_url=f"duckdb:///{folder / 'kommo.duckdb'}",
    )


def prepare(source: Path, folder: Path, publish: bool = False) -> Path:
    """``source`` copied into ``folder`` with its model built whole; the writer's file."""
    from kommo_analytics.model.channels import ChannelRules
    from kommo_analytics.model.store import build_and_store

    target = _target(folder)
    folder.mkdir(parents=True)
    shutil.copyfile(source, target.serving_path)
    started = time.perf_counter()
    build_and_store(target, ChannelRules.load(None), now=lambda: NOW)
    _log(f"prepared: model built in {time.perf_counter() - started:.1f} s")
    if publish:
        from kommo_analytics.warehouse.backends import backend_for

        started = time.perf_counter()
        for _ in range(2):  # an upgraded single file, then both served files, copied whole
            backend_for(target).publish()
        _log(f"prepared: published twice in {time.perf_counter() - started:.1f} s")
    path: Path = target.sync_path
    return path


def change(folder: Path, leads: int) -> dict[str, list[list[Any]]]:
    """Move ``leads`` open leads one stage on and complete one open task of each; the keys a
    sync's loads would have touched, as JSON-friendly lists."""
    import duckdb

    target = _target(folder)
    con = duckdb.connect(str(target.sync_path))
    q = target.qualified
    con.execute("SET TimeZone = 'UTC'")
    at = f"to_timestamp({CHANGED_AT})"
    # The next open stage in the lead's pipeline (the funnel's order), for an even spread of
    # open leads that have one.
    con.execute(
        f"""CREATE TEMP TABLE moved AS
        WITH stages AS (
            SELECT pipeline_id, id, lead(id) OVER (PARTITION BY pipeline_id ORDER BY sort, id)
                AS next_id
            FROM {q("statuses")} WHERE id NOT IN (142, 143)
        ), candidates AS (
            SELECT l.id, l.pipeline_id, l.status_id, s.next_id, l.responsible_user_id,
                   row_number() OVER (ORDER BY hash(l.id)) AS n
            FROM {q("leads")} l JOIN stages s ON s.pipeline_id = l.pipeline_id
                 AND s.id = l.status_id
            WHERE NOT l.is_deleted AND s.next_id IS NOT NULL
        )
        SELECT * FROM candidates WHERE n <= {int(leads)}"""
    )
    con.execute(
        f"UPDATE {q('leads')} SET status_id = m.next_id, updated_at = {at} "
        f"FROM moved m WHERE {q('leads')}.id = m.id"
    )
    con.execute(
        f"""INSERT INTO {q("events")} (id, type, entity_id, entity_type, created_by, created_at,
            value_before, value_after)
        SELECT 'bench-move-' || id, 'lead_status_changed', id, 'lead', responsible_user_id, {at},
            '[{{"lead_status":{{"id":' || status_id || ',"pipeline_id":' || pipeline_id || '}}}}]',
            '[{{"lead_status":{{"id":' || next_id || ',"pipeline_id":' || pipeline_id || '}}}}]'
        FROM moved"""
    )
    con.execute(
        f"""CREATE TEMP TABLE done AS
        SELECT min(t.id) AS id FROM {q("tasks")} t JOIN moved m ON t.entity_id = m.id
        WHERE t.entity_type = 'leads' AND NOT t.is_completed GROUP BY m.id"""
    )
    con.execute(
        f"UPDATE {q('tasks')} SET is_completed = TRUE, updated_at = {at} "
        f"WHERE id IN (SELECT id FROM done)"
    )
    con.execute(
        f"""INSERT INTO {q("events")} (id, type, entity_id, entity_type, created_by, created_at,
            value_before, value_after)
        SELECT 'bench-done-' || id, 'task_completed', id, 'task', NULL, {at}, '[]', '[]'
        FROM done"""
    )
    moved = [int(r[0]) for r in con.execute("SELECT id FROM moved").fetchall()]
    done = [int(r[0]) for r in con.execute("SELECT id FROM done").fetchall()]
    con.close()
    return {
        "leads": [[i] for i in moved],
        "tasks": [[i] for i in done],
        "events": [[f"bench-move-{i}"] for i in moved] + [[f"bench-done-{i}"] for i in done],
    }


def _child(folder: Path, touched_file: Path) -> None:
    """One update of the model in ``folder``'s warehouse; prints seconds and peak RSS per step."""
    from kommo_analytics.model.update import update_model

    raw = json.loads(touched_file.read_text())
    touched = {table: {tuple(key) for key in keys} for table, keys in raw.items()}
    marks: list[float] = []
    peaks: list[float] = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peaks[-1] = max(peaks[-1], _rss_mb())
            stop.wait(0.01)

    def step() -> None:
        marks.append(time.perf_counter())
        peaks[-1] = max(peaks[-1], _rss_mb())
        peaks.append(_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    line = update_model(
        _settings(folder),
        _target(folder),
        set(touched),
        touched,
        now=lambda: CHANGED_AT,
        on_step=step,
    )
    stop.set()
    sampler.join()
    if line is None:
        raise SystemExit("the model was rebuilt, not updated")
    seconds = [b - a for a, b in itertools.pairwise([started, *marks])]
    print(
        json.dumps(
            {
                "seconds": dict(zip(STEPS, seconds, strict=False)),
                "peak_mb": dict(zip(STEPS, peaks, strict=False)),
                "total": marks[-1] - started,
                "max_rss_mb": max(peaks),
                "line": line,
            }
        )
    )


def run_once(prepared: Path, folder: Path, leads: int, publish: bool = False) -> dict[str, Any]:
    target = _target(folder)
    if not publish:
        folder.mkdir(parents=True, exist_ok=True)
        target.sync_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(prepared, target.sync_path)
        target.serving_path.touch()  # the writer wants the served file to exist (it is not read)
    touched = change(folder, leads)
    if publish:
        from kommo_analytics.warehouse.backends import backend_for

        # `change` writes past our connections, as dlt does: its rows are journaled by key the
        # way the loader journals a dlt load.
        backend_for(target).journal_load(
            {name: (("id",), [tuple(k) for k in rows]) for name, rows in touched.items()}
        )
    keys = folder / "touched.json"
    keys.write_text(json.dumps(touched))
    args = [sys.executable, __file__, "--child", str(folder), "--touched", str(keys)]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["touched"] = {name: len(keys) for name, keys in touched.items()}
    if publish:
        from kommo_analytics.warehouse.backends import DuckDBBackend, backend_for

        backend = backend_for(target)
        assert isinstance(backend, DuckDBBackend)
        started = time.perf_counter()
        backend.publish()
        result["publish"] = time.perf_counter() - started
        result["published"] = backend.last_publish
    return result


_KEYS = {
    "fact_leads": ["lead_id"],
    "fact_stage_stays": ["lead_id", "seq"],
    "fact_tasks": ["task_id"],
    "fact_activities": ["event_id"],
}


def _plain(frame: Any) -> Any:
    """Missing text as None whichever way it was read (the database gives None, a build NaN)."""
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype).startswith("str"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def check(folder: Path) -> None:
    """The updated model's fact tables equal ``build_model``'s on the same raw tables."""
    import pandas as pd

    from kommo_analytics.model.build import build_model
    from kommo_analytics.model.channels import ChannelRules
    from kommo_analytics.model.schema import MODEL_TABLES, model_qualified
    from kommo_analytics.model.store import read_raw
    from kommo_analytics.warehouse import reader
    from kommo_analytics.warehouse.backends import backend_for

    target = _target(folder)
    with reader.connect(target, write=True) as con:
        raw = read_raw(con, target)
        built_at = pd.Timestamp(CHANGED_AT, unit="s", tz="UTC").to_pydatetime()
        frames = build_model(raw, ChannelRules.load(None), built_at=built_at)
        del raw
        for name, key in _KEYS.items():
            columns = list(MODEL_TABLES[name].column_names)
            sql = f"SELECT {', '.join(columns)} FROM {model_qualified(target, name)}"
            stored = backend_for(target).fetch_frame(con, sql, columns)
            got = _plain(stored.sort_values(key, kind="stable").reset_index(drop=True))
            want = _plain(frames.pop(name).sort_values(key, kind="stable").reset_index(drop=True))
            # Stored rows come back through the database's types (BOOLEAN, TIMESTAMP): compared
            # by value, not dtype.
            pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=name)
            _log(f"{name}: {len(got):,} rows equal to a full build")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--check", action="store_true", help="compare with a full build")
    parser.add_argument("--publish", action="store_true", help="time the publish after each")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--touched", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.touched)
        return
    source = args.cache / f"{args.scale}.duckdb"
    if not source.exists():
        raise SystemExit(f"{source} is missing: build it with million.py --build-only")
    results = []
    with tempfile.TemporaryDirectory(prefix="kommo-update-", dir=source.parent) as tmp:
        prepared = prepare(source, Path(tmp) / "prepared", args.publish)
        for i in range(args.runs):
            run = Path(tmp) / ("prepared" if args.publish else f"run{i}")
            results.append(run_once(prepared, run, args.leads, args.publish))
            _log(
                f"run {i + 1}: {results[-1]['total']:.2f} s, {results[-1]['max_rss_mb']:.0f} MB; "
                f"{results[-1]['line']}"
            )
            if args.publish:
                _log(f"  published ({results[-1]['published']}) in {results[-1]['publish']:.2f} s")
            elif i < args.runs - 1 or not args.check:
                shutil.rmtree(run)
        if args.check:
            check(Path(tmp) / ("prepared" if args.publish else f"run{args.runs - 1}"))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"\nscale {args.scale}, {args.runs} runs, median (min–max); load average {' '.join(load)}"
    )
    print(f"touched: {results[0]['touched']}; {results[0]['line']}")
    print("| step | seconds | peak RSS MB |")
    print("|---|---|---|")
    for name in STEPS:
        print(
            f"| {name} | {_fmt([r['seconds'][name] for r in results], 's')} | "
            f"{_fmt([r['peak_mb'][name] for r in results], 'MB')} |"
        )
    print(
        f"| **total** | {_fmt([r['total'] for r in results], 's')} | "
        f"{_fmt([r['max_rss_mb'] for r in results], 'MB')} |"
    )
    if args.publish:
        how = ", ".join(str(r["published"]) for r in results)
        print(f"| publish ({how}) | {_fmt([r['publish'] for r in results], 's')} | |")


if __name__ == "__main__":
    main()

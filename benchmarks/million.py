"""A million-lead warehouse without the rate-limited API, and how fast the model rebuilds on it.

**Building the warehouse** (once per scale; the file is cached and reused):

- ``small`` and ``medium``: the emulator's account of that scale, synced by the real sync
  in-process (``httpx.ASGITransport``, no rate limit), exactly as ``sync_throughput.py``'s
  load-bound row does. Every raw row goes through the sync's own mappers and loader.
- ``large``: the ``medium`` warehouse scaled up twenty times in SQL. Each copy ``k`` (1…19) of
  every lead, contact, task, call note and event gets ``k × 10⁹`` added to its ids (and to the
  ids it refers to: an event's entity and call note, a task's entity, a link's lead and contact,
  an event id gets ``-k``), so the copies are distinct accounts' worth of the same shapes. The
  counts are then the emulator's ``large`` counts (1,000,000 leads, 2.5 M stage changes, 6.9 M
  events), which the generator makes by the same rules at twenty times the size; syncing them
  through the sync would take hours.

Files go to ``~/.cache/kommo-analytics-bench/<scale>.duckdb`` (``--cache`` to change; ``--fresh``
to rebuild).

**Measuring**: each run copies the cached file to a temporary folder and rebuilds the model there
with ``model.store.build_and_store`` in a child process of its own, so that its peak RSS is the
rebuild's alone. Per step (leads and stays / tasks / activities, each read, built and written;
the commit; the views) the seconds and the highest RSS seen during the step (sampled every
10 ms) are printed, with median, min and max over ``--runs``.

    .venv/bin/python benchmarks/million.py --scale medium --runs 3
    .venv/bin/python benchmarks/million.py --scale large --runs 3
    .venv/bin/python benchmarks/million.py --scale medium --profile   # cProfile of one build
    .venv/bin/python benchmarks/million.py --scale medium --save-reference  # before a change
    .venv/bin/python benchmarks/million.py --scale medium --check    # after: the model is equal
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

NOW = 1_795_618_800  # fixed, so runs are comparable (as the other benchmarks)
COPIES = 20  # medium (50,000 leads) × 20 = the large scale's 1,000,000
OFFSET = 1_000_000_000
STEPS = ("leads", "tasks", "activities", "commit", "views")  # model.store.MODEL_BUILD_STEPS
DEFAULT_CACHE = Path("~/.cache/kommo-analytics-bench").expanduser()


class Clock:
    def __init__(self, start: float) -> None:
        self.offset = start - time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- building the warehouse ---------------------------------------------------------------------


def _synced(scale: str, dest: Path) -> None:
    """The emulator's account of ``scale`` synced in-process into ``dest`` (served file)."""
    import httpx
    from pydantic import SecretStr

    from kommo_analytics.emulator.app import create_app
    from kommo_analytics.emulator.config import EmulatorConfig
    from kommo_analytics.emulator.generator import build_account
    from kommo_analytics.emulator.state import get_state
    from kommo_analytics.settings import Settings
    from kommo_analytics.sync.engine import SyncOptions
    from kommo_analytics.sync.runner import run_sync

    work = Path(tempfile.mkdtemp(prefix="kommo-million-", dir=dest.parent))
    try:
        _log(f"generating the {scale} account")
        store = build_account(seed=1, scale=scale, now=NOW)
        app = create_app(store, EmulatorConfig(rate_limit_per_second=1e9), clock=Clock(NOW + 60))
        settings = Settings(
            kommo_base_url="http://kommo.test",
            kommo_access_token=SecretStr(get_state(app).tokens.demo_token),
            kommo_rate_limit_per_second=50,  # the largest allowed; the app has no limit
            data_dir=work / "data",
            database_url=f"duckdb:///{work / 'kommo.duckdb'}",
        )
        _log("syncing it in-process (no rate limit)")
        started = time.perf_counter()
        result = run_sync(
            settings, SyncOptions(), transport=httpx.ASGITransport(app=app), clock=Clock(NOW + 60)
        )
        _log(f"synced {sum(result.rows.values()):,} rows in {time.perf_counter() - started:.0f} s")
        # The served name is a symlink to one of the two published files: move the file itself
        # (the link would dangle once the folder is removed).
        (work / "kommo.duckdb").resolve().replace(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# Per raw table: the columns holding an id that each copy shifts (besides the key).
_SHIFTED: dict[str, tuple[str, ...]] = {
    "leads": ("id", "main_contact_id"),
    "lead_contacts": ("lead_id", "contact_id"),
    "lead_tracking": ("lead_id",),
    "lead_deletions": ("lead_id",),
    "contacts": ("id",),
    "tasks": ("id", "entity_id"),
    "call_notes": ("id", "entity_id"),
}


def _scaled_up(source: Path, dest: Path, copies: int) -> None:
    """``source``'s raw tables ``copies`` times over, the copies' ids shifted (see the top)."""
    import duckdb

    from kommo_analytics.model.build import ACTIVITY_TYPES

    work = dest.with_name(f".{dest.name}.building")
    shutil.copyfile(source, work)
    con = duckdb.connect(str(work))
    try:
        present = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'kommo_raw'"
            ).fetchall()
        }
        for table, shifted in _SHIFTED.items():
            if table not in present:
                continue
            columns = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'kommo_raw' AND table_name = ? ORDER BY ordinal_position",
                    [table],
                ).fetchall()
            ]
            started = time.perf_counter()
            for k in range(1, copies):
                exprs = [f"{c} + {k * OFFSET}" if c in shifted else c for c in columns]
                con.execute(
                    f"INSERT INTO kommo_raw.{table} ({', '.join(columns)}) "
                    f"SELECT {', '.join(exprs)} FROM kommo_raw.{table} WHERE "
                    f"{shifted[0]} < {OFFSET}"
                )
            _log(f"{table}: ×{copies} in {time.perf_counter() - started:.1f} s")
        if "events" in present:
            started = time.perf_counter()
            activity = ", ".join(f"'{t}'" for t in ACTIVITY_TYPES)
            for k in range(1, copies):
                # Activity events name their call note in value_after ({"note": {"id": N}}).
                con.execute(
                    f"""
                    INSERT INTO kommo_raw.events
                    SELECT * REPLACE (
                        id || '-{k}' AS id,
                        entity_id + {k * OFFSET} AS entity_id,
                        CASE WHEN type IN ({activity})
                              AND regexp_matches(value_after, '"id":\\s*\\d+')
                             THEN regexp_replace(
                            value_after, '"id":\\s*\\d+', '"id":' || CAST(TRY_CAST(regexp_extract(
                                value_after, '"id":\\s*(\\d+)', 1) AS BIGINT) + {k * OFFSET}
                            AS VARCHAR))
                             ELSE value_after END AS value_after
                    )
                    FROM kommo_raw.events WHERE NOT contains(id, '-')
                    """
                )
            _log(f"events: ×{copies} in {time.perf_counter() - started:.1f} s")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    work.replace(dest)


def warehouse(scale: str, cache: Path, *, fresh: bool = False) -> Path:
    """The cached warehouse file of ``scale``, built first when missing (or ``fresh``)."""
    cache.mkdir(parents=True, exist_ok=True)
    dest = cache / f"{scale}.duckdb"
    if dest.exists() and not fresh:
        return dest
    if scale == "large":
        _scaled_up(warehouse("medium", cache), dest, COPIES)
    else:
        _synced(scale, dest)
    return dest


# -- measuring ----------------------------------------------------------------------------------


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(path: Path, profile: str | None) -> None:
    """One rebuild of the model in ``path``'s warehouse; prints seconds and peak RSS per step."""
    from kommo_analytics.model.channels import ChannelRules
    from kommo_analytics.model.store import build_and_store
    from kommo_analytics.warehouse.target import parse_database_url

    target = parse_database_url(f"duckdb:///{path}")
    rules = ChannelRules.load(None)
    marks: list[float] = []
    cpu: list[float] = []
    peaks: list[float] = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peaks[-1] = max(peaks[-1], _rss_mb())
            stop.wait(0.01)

    def step() -> None:
        cpu.append(time.process_time())
        marks.append(time.perf_counter())
        peaks[-1] = max(peaks[-1], _rss_mb())
        peaks.append(_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    cpu_started = time.process_time()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        counts = profiler.runcall(build_and_store, target, rules, now=lambda: NOW, on_step=step)
        profiler.dump_stats(profile)
    else:
        counts = build_and_store(target, rules, now=lambda: NOW, on_step=step)
    stop.set()
    sampler.join()
    bounds = [started, *marks]
    seconds = [b - a for a, b in itertools.pairwise(bounds)]
    print(
        json.dumps(
            {
                "seconds": dict(zip(STEPS, seconds, strict=True)),
                "cpu": dict(
                    zip(
                        STEPS,
                        [b - a for a, b in itertools.pairwise([cpu_started, *cpu])],
                        strict=True,
                    )
                ),
                "peak_mb": dict(zip(STEPS, peaks[: len(STEPS)], strict=True)),
                "total": marks[-1] - started,
                "max_rss_mb": max(peaks),
                "counts": counts,
            }
        )
    )


def _run_once(source: Path, profile: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kommo-million-run-", dir=source.parent) as tmp:
        copy = Path(tmp) / "kommo.duckdb"
        shutil.copyfile(source, copy)
        args = [sys.executable, __file__, "--child", str(copy)]
        if profile:
            args += ["--profile-out", profile]
        out = subprocess.run(args, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


_KEYS = {
    "fact_leads": ["lead_id"],
    "fact_stage_stays": ["lead_id", "seq"],
    "fact_tasks": ["task_id"],
    "fact_activities": ["event_id"],
    "dim_stages": ["pipeline_id", "status_id"],
}


def compare(source: Path, reference: Path, *, save: bool) -> None:
    """The model's frames for ``source``, as a rebuild builds them (``model_frames``: a table or
    a part of one at a time, the parts put together here), saved to ``reference`` (``save``), or
    checked equal to the ones saved there: a speed change must leave every value and dtype as it
    was. A reference saved by an older version (``build_model(read_raw(…))``) checks the same."""
    import pandas as pd

    from kommo_analytics.model.channels import ChannelRules
    from kommo_analytics.model.store import model_frames
    from kommo_analytics.warehouse import reader
    from kommo_analytics.warehouse.target import parse_database_url

    target = parse_database_url(f"duckdb:///{source}")
    built_at = pd.Timestamp(NOW, unit="s", tz="UTC").to_pydatetime()
    parts: dict[str, list[pd.DataFrame]] = {}
    with reader.connect(target) as con:
        for name, frame in model_frames(con, target, ChannelRules.load(None), built_at=built_at):
            parts.setdefault(name, []).append(frame)
            del frame
    frames = {
        name: pd.concat(p, ignore_index=True) if len(p) > 1 else p[0] for name, p in parts.items()
    }
    del parts
    if save:
        pd.to_pickle(frames, reference)
        _log(f"reference saved: {reference}")
        return
    expected: dict[str, pd.DataFrame] = pd.read_pickle(reference)  # our own file
    assert sorted(frames) == sorted(expected)
    for name in list(frames):
        frame = frames.pop(name)
        # Rows come in the scan's order, which DuckDB does not promise: lined up by key.
        key = _KEYS.get(name, list(frame.columns[:1]))
        got = frame.sort_values(key, kind="stable").reset_index(drop=True)
        want = expected.pop(name).sort_values(key, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=name)
        del frame, got, want
    _log(f"every model table equal to {reference}")


def _fmt(values: list[float], unit: str) -> str:
    digits = 2 if unit == "s" else 0
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    med, lo, hi = statistics.median(values), min(values), max(values)
    return f"{med:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached warehouse")
    parser.add_argument("--build-only", action="store_true", help="only build the warehouse")
    parser.add_argument("--profile", action="store_true", help="one run under cProfile")
    parser.add_argument("--save-reference", action="store_true", help="save the model's frames")
    parser.add_argument("--check", action="store_true", help="compare with the saved frames")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.profile_out)
        return
    source = warehouse(args.scale, args.cache, fresh=args.fresh)
    _log(f"warehouse: {source} ({source.stat().st_size / 2**30:.2f} GB)")
    if args.build_only:
        return
    if args.save_reference or args.check:
        compare(source, args.cache / f"{args.scale}.reference.pkl", save=args.save_reference)
        return
    if args.profile:
        out = str(args.cache / f"{args.scale}.prof")
        _run_once(source, out)
        import pstats

        pstats.Stats(out).sort_stats("cumulative").print_stats(45)
        return
    results = []
    for i in range(args.runs):
        results.append(_run_once(source, None))
        _log(f"run {i + 1}: {results[-1]['total']:.1f} s, {results[-1]['max_rss_mb']:.0f} MB")
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"\nscale {args.scale}, {args.runs} runs, median (min–max); load average {' '.join(load)}"
    )
    print(f"leads {results[0]['counts']['fact_leads']:,}, stays "
          f"{results[0]['counts']['fact_stage_stays']:,}, activities "
          f"{results[0]['counts']['fact_activities']:,}, tasks {results[0]['counts']['fact_tasks']:,}")  # fmt: skip
    print("| step | seconds | CPU seconds (all threads) | peak RSS MB |")
    print("|---|---|---|---|")
    for name in STEPS:
        print(
            f"| {name} | {_fmt([r['seconds'][name] for r in results], 's')} | "
            f"{_fmt([r['cpu'][name] for r in results], 's')} | "
            f"{_fmt([r['peak_mb'][name] for r in results], 'MB')} |"
        )
    print(
        f"| **total** | {_fmt([r['total'] for r in results], 's')} | "
        f"{_fmt([sum(r['cpu'].values()) for r in results], 's')} | "
        f"{_fmt([r['max_rss_mb'] for r in results], 'MB')} |"
    )


if __name__ == "__main__":
    main()

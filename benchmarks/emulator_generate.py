"""How long the synthetic account takes to generate, and how much memory it needs, per scale.

Each scale is built in a fresh child process so that its peak RSS is its own. After the build
the child also times live-mode changes on the generated store.

    .venv/bin/python benchmarks/emulator_generate.py                      # small, medium
    .venv/bin/python benchmarks/emulator_generate.py --scales small,medium,large
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

NOW = 1_795_618_800  # 2026-11-25 12:00 UTC: fixed so that runs are comparable
LIVE_TICKS = 20
LIVE_CHANGES = 5


def _child(scale: str, seed: int) -> None:
    from kommo_analytics.emulator.generator import build_account
    from kommo_analytics.emulator.live import LiveMutator

    phases: dict[str, float] = {}
    started = time.perf_counter()
    store = build_account(
        seed=seed, scale=scale, now=NOW, progress=lambda name, s: phases.update({name: s})
    )
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = {t: store.count(t) for t in ("leads", "contacts", "events", "tasks", "notes")}
    stage_changes = (
        store.cursor()
        .execute("SELECT count(*) FROM events WHERE type = 'lead_status_changed'")
        .fetchone()
    )
    mutator = LiveMutator(store, seed)
    live_started = time.perf_counter()
    for i in range(1, LIVE_TICKS + 1):
        mutator.tick(NOW + 60 * i, LIVE_CHANGES)
    live_ms = (time.perf_counter() - live_started) * 1000 / (LIVE_TICKS * LIVE_CHANGES)
    print(json.dumps({
        "scale": scale, "seconds": seconds, "peak_mb": peak_mb, "phases": phases,
        "stage_changes": stage_changes[0] if stage_changes else 0, "live_ms": live_ms, **counts,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="small,medium", help="comma-separated scales")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.seed)
        return

    console = Console(width=160)
    table = Table(title=f"Synthetic account generation (seed {args.seed})")
    for column in ("scale", "leads", "stage changes", "events", "tasks", "notes", "contacts",
                   "seconds", "peak RSS", "live ms/change"):  # fmt: skip
        table.add_column(column, justify="left" if column == "scale" else "right")
    for scale in [s.strip() for s in args.scales.split(",") if s.strip()]:
        with console.status(f"building {scale}…"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", scale, "--seed", str(args.seed)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            console.print(f"[red]{scale} failed[/]\n{done.stderr}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        table.add_row(
            r["scale"], f"{r['leads']:,}", f"{r['stage_changes']:,}", f"{r['events']:,}",
            f"{r['tasks']:,}", f"{r['notes']:,}", f"{r['contacts']:,}", f"{r['seconds']:.1f}",
            f"{r['peak_mb'] / 1024:.2f} GB", f"{r['live_ms']:.1f}",
        )  # fmt: skip
        phases = ", ".join(f"{name} {s:.1f} s" for name, s in r["phases"].items())
        console.print(f"{scale}: {phases}")
    console.print(table)


if __name__ == "__main__":
    main()

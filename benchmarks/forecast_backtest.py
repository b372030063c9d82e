"""The forecast's backtest on several emulator seeds, as the Markdown table in docs/forecast.md.

Each seed's account is generated, synced in-process into a DuckDB warehouse (the sync builds the
model), and backtested through the read service exactly as `kommo-analytics forecast --backtest`
does: 12 closed months, forecasts made on the 1st and the 15th, against the three baselines.

    .venv/bin/python benchmarks/forecast_backtest.py --seeds 3,5,8
    .venv/bin/python benchmarks/forecast_backtest.py --seeds 3,5,8 --scale medium
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import SecretStr

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.state import get_state
from kommo_analytics.service import account, forecasts
from kommo_analytics.service.forecasts import Backtest
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import Settings
from kommo_analytics.sync.runner import run_sync

NOW = 1_795_618_800  # the generated history ends here (2026-11-25 15:00 UTC)
KINDS = {"month_start": "1st", "mid_month": "15th"}
BASELINES = {"last_month": "last month", "same_month_last_year": "last year",
             "run_rate": "run-rate"}  # fmt: skip


def synced(seed: int, scale: str, work: Path) -> Settings:
    """The account of ``seed`` synced into a DuckDB warehouse under ``work``."""
    store = build_account(seed=seed, scale=scale, now=NOW)
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1e9))
    settings = Settings(
        kommo_base_url="http://kommo.test",
        kommo_access_token=SecretStr(get_state(app).tokens.demo_token),
        kommo_rate_limit_per_second=50,
        data_dir=work / "data",
        database_url=f"duckdb:///{work / 'kommo.duckdb'}",
    )
    assert run_sync(settings, transport=httpx.ASGITransport(app=app)).status == "ok"
    return settings


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def rows(seed: int, result: Backtest) -> list[str]:
    """One Markdown row per origin and horizon: the model's WAPE and MAPE, the best baseline's
    WAPE (by name), and the coverage; a miss in bold."""
    out = []
    for kind, kind_name in KINDS.items():
        for horizon in range(3):
            here = {
                s.method: s for s in result.scores if s.origin_kind == kind and s.horizon == horizon
            }
            if "model" not in here:
                continue
            model = here["model"]
            formed = {m: s.wape for m, s in here.items() if m != "model" and s.wape is not None}
            ranked = sorted(formed, key=formed.__getitem__)
            best = ranked[0] if ranked else None
            beaten = best is None or (model.wape is not None and model.wape < formed[best])
            best_text = f"{_pct(formed[best])} ({BASELINES[best]})" if best else "—"
            coverage = model.coverage
            inside = coverage is not None and 0.7 <= coverage <= 0.9
            out.append(
                f"| {seed} | {kind_name} | {horizon} | {model.points} | "
                + (f"{_pct(model.wape)}" if beaten else f"**{_pct(model.wape)}**")
                + f" | {_pct(model.mape)} | {best_text} | "
                + (f"{_pct(coverage)}" if inside else f"**{_pct(coverage)}**")
                + " |"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", default="3,5,8")
    parser.add_argument("--scale", default="small", choices=["small", "medium", "large"])
    parser.add_argument("--draws", type=int, default=forecasts.BACKTEST_DRAWS)
    args = parser.parse_args()
    now = datetime.fromtimestamp(NOW, UTC)
    lines = [
        "| seed | made on | horizon | forecasts | model WAPE | model MAPE "
        "| best baseline WAPE | coverage P10–P90 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            settings = synced(seed, args.scale, Path(tmp))
            target = account.target_for(settings)
            acc = account.load_modelled(target)
            result = forecasts.backtest(target, acc, Scope(), now=now, draws=args.draws)
        lines += rows(seed, result)
        notes += [f"- seed {seed}: {n}" for n in result.notes if "NOT" in n or "OUTSIDE" in n]
    print("\n".join(lines))
    print()
    print("\n".join(notes) or "Every target met.")


if __name__ == "__main__":
    main()

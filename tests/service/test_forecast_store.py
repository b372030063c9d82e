"""The company's forecast kept by the sync: read back exactly as it was made, and only when it is
the forecast the page would make (same model, goals, calendar, seed and draws, the company's
scope, the same account-local day)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from kommo_analytics.forecast import Goal
from kommo_analytics.forecast.result import Forecast
from kommo_analytics.service import forecast_store, forecasts
from kommo_analytics.service.account import Account
from kommo_analytics.service.scope import Scope
from kommo_analytics.workdays import WorkCalendar
from tests.forecast.builders import TZ, history

NOW = pd.Timestamp("2026-11-25 12:00", tz=TZ)
GOALS = (Goal(date(2026, 11, 1), 30_000.0), Goal(date(2026, 11, 1), 30_000.0, 1))
ACCOUNT = Account(
    "Loja", "loja", "BRL", TZ, info={"built_at": "2026-11-25T14:00:00"},
    calendar=WorkCalendar("BR", None, "setting"),
)  # fmt: skip
SEED, DRAWS = 0, 200


@pytest.fixture(scope="module")
def made() -> Forecast:
    """A real forecast of a small synthetic history (pacing and recommendations included)."""
    given = forecasts.ForecastInputs(
        history(start="2026-03-01", months=9, per_month=25),
        GOALS,
        NOW,
        stage_order={(1, 10): 1, (1, 20): 2, (1, 30): 3},
        last_activity={},
        calendar=ACCOUNT.calendar,
    )
    return forecasts.forecast_of(given, seed=SEED, draws=DRAWS)


def _load(data_dir: Path, *, scope: Scope = Scope(), at: pd.Timestamp = NOW,
          goals: tuple[Goal, ...] = GOALS, account: Account = ACCOUNT) -> Forecast | None:  # fmt: skip
    return forecast_store.load(
        data_dir, account, scope, at.to_pydatetime(), goals, seed=SEED, draws=DRAWS
    )


def test_the_stored_forecast_reads_back_as_it_was_made(made: Forecast) -> None:
    assert made.status == "ok" and made.company is not None and made.pacing
    back = forecast_store.from_json(forecast_store.to_json(made))
    assert back.to_dict() == made.to_dict()
    assert back.company is not None and made.company is not None
    assert back.company.months[0].month == made.company.months[0].month  # a date again
    assert back.now == made.now and back.calendar == made.calendar
    # Non-finite floats come back as they were, not as None.
    assert back.open_pipeline is not None and made.open_pipeline is not None
    for a, b in zip(back.open_pipeline.stages, made.open_pipeline.stages, strict=True):
        assert (a.raw_rate is None) == (b.raw_rate is None)
    assert all(isinstance(m.revenue.mean, float) and not math.isnan(m.revenue.mean)
               for m in back.company.months)  # fmt: skip


def test_only_the_forecast_the_page_would_make_is_used(tmp_path: Path, made: Forecast) -> None:
    key = forecast_store.key_of(ACCOUNT, GOALS, seed=SEED, draws=DRAWS)
    assert _load(tmp_path) is None  # nothing kept yet
    path = forecast_store.save(tmp_path, made, key)
    assert path.stat().st_mode & 0o077 == 0  # private, like the rest of the data folder
    kept = _load(tmp_path)
    assert kept is not None and kept.to_dict() == made.to_dict()
    assert _load(tmp_path, at=NOW + pd.Timedelta(hours=5)) is not None  # later the same day
    assert _load(tmp_path, at=NOW + pd.Timedelta(days=1)) is None  # the next day
    assert _load(tmp_path, at=NOW - pd.Timedelta(minutes=1)) is None  # before it was made
    assert _load(tmp_path, at=NOW - pd.Timedelta(seconds=30)) is not None  # its minute
    assert _load(tmp_path, scope=Scope(pipelines=(1,))) is None  # a filtered scope: live
    assert _load(tmp_path, scope=Scope(sellers=(1,))) is None
    assert _load(tmp_path, goals=(*GOALS, Goal(date(2026, 12, 1), 5.0, 2))) is None  # imported
    rebuilt = Account("Loja", "loja", "BRL", TZ, info={"built_at": "2026-11-26T09:00:00"},
                      calendar=ACCOUNT.calendar)  # fmt: skip
    assert _load(tmp_path, account=rebuilt) is None  # another model
    weekends = Account("Loja", "loja", "BRL", TZ, info=ACCOUNT.info)
    assert _load(tmp_path, account=weekends) is None  # another holiday calendar
    forecast_store.path_of(tmp_path).write_text("{not json", encoding="utf-8")
    assert _load(tmp_path) is None  # unreadable: the page forecasts live


def test_the_service_falls_back_on_the_live_forecast(
    tmp_path: Path, made: Forecast, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = made.__class__(**{**made.__dict__, "reason": "live"})
    monkeypatch.setattr(forecasts, "forecast", lambda *a, **k: live)
    monkeypatch.setattr(forecasts, "goals_of", lambda *a, **k: GOALS)
    key = forecast_store.key_of(ACCOUNT, GOALS, seed=SEED, draws=DRAWS)
    forecast_store.save(tmp_path, made, key)

    def run(scope: Scope, at: pd.Timestamp) -> Forecast:
        return forecasts.forecast_or_stored(
            None,  # type: ignore[arg-type]  # never read: goals_of and forecast are stubbed
            ACCOUNT, scope, now=at.to_pydatetime(), data_dir=tmp_path, seed=SEED, draws=DRAWS,
        )  # fmt: skip

    assert run(Scope(), NOW + timedelta(hours=1)).reason == made.reason
    assert run(Scope(pipelines=(1,)), NOW).reason == "live"
    assert run(Scope(), NOW + timedelta(days=2)).reason == "live"

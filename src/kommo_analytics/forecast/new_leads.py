"""Revenue from leads that do not exist yet: how many will come, how many of them will be won and
for how much, and in which month the wins land.

Three monthly series, by the month a lead was created:

- **volume** — leads created per closed month;
- **wins per lead** and **revenue per lead** — of the leads created that month, the wins and the
  won revenue so far, divided by the share of a month's wins that has normally arrived at that
  age (the creation-to-win delay below). Only months old enough that at least 80 % of their
  wins have normally arrived are used, so a young month's missing wins are not read as a drop.

Each series is forecast by exponential smoothing (statsmodels): with 24 or more months, additive
damped trend plus yearly seasonality (Holt-Winters); with 12–23, damped trend only; with fewer
than 12, the mean of the last six months. The result names the method and says why. The spread
of a forecast is the one-step residual standard deviation, growing with the square root of the
horizon.

**Delay.** Of the won leads, the share won in their creation month, the next month, … up to six
months later (later wins are lumped into the last share). It is measured on creation months at
least seven months old when they hold 30 wins or more, else on all wins (a short history sees
only the short delays, and says so through its method). Leads created during the rest of the
current month get the creation-month share pro rata to the days left, the remainder a month
later.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kommo_analytics.forecast.calendar import index_of, month_index, month_start
from kommo_analytics.forecast.inputs import History
from kommo_analytics.forecast.pipeline import closed_leads
from kommo_analytics.forecast.result import NewLeadsSummary, SeriesForecast

SEASONAL_MONTHS = 24
TREND_MONTHS = 12
RECENT_MONTHS = 6
MAX_DELAY = 6
MATURE_SHARE = 0.8
MIN_DELAY_WINS = 30


@dataclass(frozen=True)
class NewLeadsModel:
    """The forecast inputs for the simulation: per coming creation month (current month first)
    the mean and spread of volume and wins per lead, the ticket, and the delay shares."""

    summary: NewLeadsSummary
    volume_mean: np.ndarray
    volume_sd: np.ndarray
    wins_mean: np.ndarray
    wins_sd: np.ndarray
    ticket: np.ndarray
    ticket_sd: float
    delay: np.ndarray
    remaining_share: float  # share of the current month still to come


def _recent_mean(values: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    tail = values[-RECENT_MONTHS:]
    sigma = float(np.std(tail, ddof=1)) if len(tail) > 1 else 0.0
    steps = np.sqrt(np.arange(1, horizon + 1))
    return np.full(horizon, float(np.mean(tail))), sigma * steps


def forecast_series(values: np.ndarray, horizon: int, name: str) -> SeriesForecast:
    """Forecast ``horizon`` months after the last value of a monthly series."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    history = tuple(float(v) for v in values)
    if n == 0:
        zeros = (0.0,) * horizon
        return SeriesForecast(name, "none", "no month to learn from", history, zeros, zeros)
    if n < TREND_MONTHS:
        mean, sd = _recent_mean(values, horizon)
        reason = (
            f"only {n} months of history: a trend needs at least {TREND_MONTHS} and yearly "
            f"seasonality {SEASONAL_MONTHS}, so the mean of the last {min(n, RECENT_MONTHS)} "
            "months is used"
        )
        return SeriesForecast(name, "recent_mean", reason, history, _t(mean), _t(sd))
    seasonal = n >= SEASONAL_MONTHS
    try:
        mean, sigma = _smooth(values, horizon, seasonal=seasonal)
    except (ValueError, np.linalg.LinAlgError) as exc:
        mean, sd = _recent_mean(values, horizon)
        reason = f"exponential smoothing failed ({exc}); the mean of the last months is used"
        return SeriesForecast(name, "recent_mean", reason, history, _t(mean), _t(sd))
    sd = sigma * np.sqrt(np.arange(1, horizon + 1))
    if seasonal:
        reason = f"{n} months of history: damped additive trend with yearly seasonality"
        return SeriesForecast(name, "holt_winters_seasonal", reason, history, _t(mean), _t(sd))
    reason = (
        f"{n} months of history: damped additive trend; yearly seasonality needs at least "
        f"{SEASONAL_MONTHS} months"
    )
    return SeriesForecast(name, "holt_damped", reason, history, _t(mean), _t(sd))


def _t(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _smooth(values: np.ndarray, horizon: int, *, seasonal: bool) -> tuple[np.ndarray, float]:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with warnings.catch_warnings():
        # Convergence chatter on short or flat series; the fit is still usable and the method
        # is reported.
        warnings.simplefilter("ignore")
        model = ExponentialSmoothing(
            values,
            trend="add",
            damped_trend=True,
            seasonal="add" if seasonal else None,
            seasonal_periods=12 if seasonal else None,
            # Seasonal: heuristic start values (from the first two cycles), no brute-force
            # search; estimating the 12 seasonal start values as well took ~0.9 s a series on
            # 26 months against ~0.02 s, for forecasts as close to a known pattern. Without
            # seasonality estimating the three start values is cheap and was more accurate.
            initialization_method="heuristic" if seasonal else "estimated",
        )
        fit = model.fit(use_brute=not seasonal)
        mean = np.clip(np.asarray(fit.forecast(horizon), dtype=float), 0.0, None)
        resid = np.asarray(fit.resid, dtype=float)
    sigma = float(np.sqrt(np.mean(resid**2))) if len(resid) else 0.0
    return mean, sigma


def delay_shares(history: History, now: pd.Timestamp) -> np.ndarray:
    """Share of wins landing 0, 1, … MAX_DELAY (or more) months after the creation month."""
    now_index = index_of(now)
    won = closed_leads(history)
    won = won[won["won"]]
    created = month_index(won["created_at"])
    closed = month_index(won["closed_at"])
    delay = (closed - created).clip(lower=0, upper=MAX_DELAY)
    done = closed < now_index
    old = done & (created <= now_index - 1 - MAX_DELAY)
    use = old if int(old.sum()) >= MIN_DELAY_WINS else done
    counts = np.bincount(delay[use].astype(int).to_numpy(), minlength=MAX_DELAY + 1)
    if counts.sum() == 0:
        only_now = np.zeros(MAX_DELAY + 1)
        only_now[0] = 1.0
        return only_now
    shares: np.ndarray = np.asarray(counts / counts.sum(), dtype=float)
    return shares


def new_leads_model(history: History, now: pd.Timestamp, horizon: int) -> NewLeadsModel:
    """The new-lead side of the forecast as of ``now`` for the current month and the
    ``horizon − 1`` after it."""
    now_index = index_of(now)
    leads = history.leads
    created = month_index(leads["created_at"])
    first = int(created.min())
    months = np.arange(first, now_index)
    volume = created.value_counts().reindex(months, fill_value=0).to_numpy(dtype=float)

    delay = delay_shares(history, now)
    arrived = np.cumsum(delay)
    won = closed_leads(history)
    won = won[won["won"]]
    won_created = month_index(won["created_at"])
    won = won[month_index(won["closed_at"]) < now_index]
    won_created = won_created.loc[won.index]
    wins = won_created.value_counts().reindex(months, fill_value=0).to_numpy(dtype=float)
    revenue = (
        won["price"].fillna(0.0).groupby(won_created).sum().reindex(months, fill_value=0.0)
    ).to_numpy(dtype=float)
    ages = np.minimum(now_index - 1 - months, MAX_DELAY)
    share = arrived[ages] if len(months) else np.empty(0)
    mature = (share >= MATURE_SHARE) & (volume > 0)
    if not mature.any():
        mature = (share > 0) & (volume > 0)
    per_lead = np.divide(1.0, volume * share, out=np.zeros_like(volume), where=mature)
    wpl = (wins * per_lead)[mature]
    rpl = (revenue * per_lead)[mature]
    last = int(months[mature][-1]) if mature.any() else now_index - 1
    ahead = now_index + horizon - 1 - last

    volume_f = forecast_series(volume, horizon, "volume")
    wins_f = _tail(forecast_series(wpl, ahead, "wins_per_lead"), horizon)
    revenue_f = _tail(forecast_series(rpl, ahead, "revenue_per_lead"), horizon)

    recent = won[won["closed_at"] >= month_start(now, -12)]
    prices = recent["price"][recent["price"] > 0]
    average_ticket = float(prices.mean()) if len(prices) else 0.0
    ticket_sd = float(prices.std(ddof=1)) if len(prices) > 1 else 0.0
    wins_mean = np.asarray(wins_f.mean)
    ticket = np.divide(
        np.asarray(revenue_f.mean),
        wins_mean,
        out=np.full(horizon, average_ticket),
        where=wins_mean > 0,
    )
    month_days = (month_start(now, 1) - month_start(now)).total_seconds()
    remaining = (month_start(now, 1) - now).total_seconds() / month_days
    summary = NewLeadsSummary(
        volume=volume_f,
        revenue_per_lead=revenue_f,
        wins_per_lead=wins_f,
        delay_shares=_t(delay),
        average_ticket=average_ticket,
    )
    return NewLeadsModel(
        summary=summary,
        volume_mean=np.asarray(volume_f.mean),
        volume_sd=np.asarray(volume_f.sd),
        wins_mean=wins_mean,
        wins_sd=np.asarray(wins_f.sd),
        ticket=ticket,
        ticket_sd=ticket_sd,
        delay=delay,
        remaining_share=float(remaining),
    )


def _tail(series: SeriesForecast, horizon: int) -> SeriesForecast:
    """The last ``horizon`` months of a forecast that starts before the current month."""
    return SeriesForecast(
        series.name,
        series.method,
        series.reason,
        series.history,
        series.mean[-horizon:],
        series.sd[-horizon:],
    )

"""The forecast as of a moment: what was known then, in; ranges, out."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from kommo_analytics.forecast.calendar import index_of, month_index, month_start
from kommo_analytics.forecast.inputs import Goal, History
from kommo_analytics.forecast.new_leads import new_leads_model
from kommo_analytics.forecast.pipeline import PRIOR_STRENGTH, open_pipeline
from kommo_analytics.forecast.result import Forecast, OpenPipelineSummary
from kommo_analytics.forecast.simulate import simulate

MIN_CLOSED_MONTHS = 3
MONTHS = 3  # the current month and the two after it
DEFAULT_DRAWS = 2000


def closed_months(history: History, now: pd.Timestamp) -> int:
    """Calendar months from the first lead's month up to (not including) ``now``'s month."""
    if history.leads.empty:
        return 0
    first = int(month_index(history.leads["created_at"]).min())
    return max(index_of(now) - first, 0)


def forecast(
    history: History,
    *,
    now: pd.Timestamp,
    goals: Sequence[Goal] = (),
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
    prior_strength: float = PRIOR_STRENGTH,
) -> Forecast:
    """P10/P50/P90 revenue and won deals for ``now``'s month and the two after it, from what was
    known at ``now`` only (a later status in ``history`` is not seen)."""
    now = pd.Timestamp(now).tz_convert(history.tz)
    known = history.as_of(now)
    months = closed_months(known, now)
    if months < MIN_CLOSED_MONTHS:
        first = (
            f"the first lead was created on {known.leads['created_at'].min().date()}, "
            if not known.leads.empty
            else "there is no lead yet, "
        )
        reason = (
            f"{first}so the history holds {months} closed month(s); the forecast needs at least "
            f"{MIN_CLOSED_MONTHS} to learn lead volume, conversion and time to close"
        )
        return Forecast(
            "insufficient_history", reason, now.to_pydatetime(), seed, draws, closed_months=months
        )
    ends = [month_start(now, m + 1) for m in range(MONTHS)]
    pipeline = open_pipeline(known, now, ends, k=prior_strength)
    new = new_leads_model(known, now, MONTHS)
    sim = simulate(known, now, pipeline, new, goals, seed=seed, draws=draws)
    deals = pipeline.deals
    unpriced = deals[~deals["priced"]]
    summary = OpenPipelineSummary(
        open_deals=len(deals),
        priced_deals=int(deals["priced"].sum()),
        unpriced_deals=len(unpriced),
        unpriced_value=float(unpriced["value"].sum()),
        weighted_value=float((deals["value"] * deals["win_probability"]).sum()),
        prior_strength=prior_strength,
        stages=pipeline.stages,
    )
    methods = {new.summary.volume.method, new.summary.wins_per_lead.method}
    reason = f"{months} closed months of history; new leads forecast by " + " and ".join(
        sorted(methods)
    )
    return Forecast(
        "ok",
        reason,
        now.to_pydatetime(),
        seed,
        draws,
        company=sim.company,
        pipelines=sim.pipelines,
        sellers=sim.sellers,
        goals=sim.goals,
        open_pipeline=summary,
        new_leads=new.summary,
        closed_months=months,
    )

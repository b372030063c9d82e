"""What the forecast reads: two plain tables cut from the analytics model, and the user's goals.

``leads`` — one row per lead (from ``fact_leads``):

=============  =================================================================================
lead_id        int, unique
pipeline_id    int, the pipeline the lead is in now (or closed in)
user_id        int or NA, the responsible user (``responsible_user_id``)
created_at     tz-aware timestamp
closed_at      tz-aware timestamp or NaT (open leads)
status_id      int, the stage now; 142 won, 143 lost (``WON_STATUS_ID`` / ``LOST_STATUS_ID``)
price          float or NaN; a price of 0 counts as "no price" (Kommo's default for an empty field)
=============  =================================================================================

``stays`` — one row per stay of a lead in a stage (from ``fact_stage_stays``), including the
final stay in 142/143:

=============  =================================================================================
lead_id        int
pipeline_id    int
status_id      int
entered_at     tz-aware timestamp
left_at        tz-aware timestamp or NaT (the stay goes on)
=============  =================================================================================

Every timestamp is converted to the account's time zone (``tz``), which decides where a month
begins. ``History.as_of(t)`` rebuilds what was known at ``t`` from the stays, so a forecast made
"as of" a past moment cannot see a lead's later status. The one thing it cannot rebuild is the
price: the model keeps only a lead's latest price (see docs/forecast.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID

LEAD_COLUMNS = (
    "lead_id",
    "pipeline_id",
    "user_id",
    "created_at",
    "closed_at",
    "status_id",
    "price",
)
STAY_COLUMNS = ("lead_id", "pipeline_id", "status_id", "entered_at", "left_at")
_LEAD_TIMES = ("created_at", "closed_at")
_STAY_TIMES = ("entered_at", "left_at")
CLOSED_STATUSES = (WON_STATUS_ID, LOST_STATUS_ID)


class ForecastInputError(KommoAnalyticsError):
    """The tables handed to the forecast do not have the documented shape."""

    hint = (
        "build the forecast's History from fact_leads and fact_stage_stays (see forecast/inputs.py)"
    )


@dataclass(frozen=True)
class Goal:
    """A revenue goal set by the user for one month: the company's (``user_id=None``) or a
    seller's."""

    month: date
    amount: float
    user_id: int | None = None

    def __post_init__(self) -> None:
        if self.month.day != 1:
            object.__setattr__(self, "month", self.month.replace(day=1))


def _check(
    frame: pd.DataFrame, name: str, columns: tuple[str, ...], times: tuple[str, ...]
) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ForecastInputError(f"the {name} table has no column {', '.join(missing)}")
    for column in times:
        dtype = frame[column].dtype
        if not isinstance(dtype, pd.DatetimeTZDtype):
            raise ForecastInputError(
                f"{name}.{column} must hold time-zone-aware timestamps, not {dtype}"
            )


def _in_order(first: pd.Series, second: pd.Series) -> bool:
    """Whether the rows are sorted by ``first``, then ``second`` (no missing ``second``)."""
    if second.isna().any():
        return False
    a = np.asarray(first.values)
    b = np.asarray(second.values)  # zoned times as UTC datetime64, not Timestamp objects
    step = a[1:] - a[:-1]
    return bool(((step > 0) | ((step == 0) & (b[1:] >= b[:-1]))).all())


@dataclass(frozen=True)
class History:
    """Leads and stage stays, validated and converted to the account's time zone."""

    leads: pd.DataFrame
    stays: pd.DataFrame
    tz: str = "UTC"

    def __post_init__(self) -> None:
        _check(self.leads, "leads", LEAD_COLUMNS, _LEAD_TIMES)
        _check(self.stays, "stays", STAY_COLUMNS, _STAY_TIMES)
        leads = self.leads.loc[:, list(LEAD_COLUMNS)].copy()
        stays = self.stays.loc[:, list(STAY_COLUMNS)].copy()
        for column in _LEAD_TIMES:
            leads[column] = leads[column].dt.tz_convert(self.tz)
        for column in _STAY_TIMES:
            stays[column] = stays[column].dt.tz_convert(self.tz)
        leads["price"] = pd.to_numeric(leads["price"], errors="coerce").astype("float64")
        leads["user_id"] = leads["user_id"].astype("Int64")
        # Sorted so that the simulation meets deals in one order whatever order the rows came in
        # (same inputs + seed → same numbers).
        # A history cut from a sorted one (``as_of``) is sorted already: a stable sort would
        # leave it as it is, at the cost of sorting millions of rows again.
        if not leads["lead_id"].is_monotonic_increasing:
            leads = leads.sort_values("lead_id", kind="stable")
        if not _in_order(stays["lead_id"], stays["entered_at"]):
            stays = stays.sort_values(["lead_id", "entered_at"], kind="stable")
        leads = leads.reset_index(drop=True)
        stays = stays.reset_index(drop=True)
        object.__setattr__(self, "leads", leads)
        object.__setattr__(self, "stays", stays)

    def as_of(self, t: pd.Timestamp) -> History:
        """What was known at ``t``: leads created by then, stays entered by then (a stay left
        later is still going on), and each lead's stage and closing rebuilt from those stays."""
        t = pd.Timestamp(t).tz_convert(self.tz)
        stays = self.stays[self.stays["entered_at"] <= t].copy()
        stays.loc[stays["left_at"] > t, "left_at"] = pd.NaT
        leads = self.leads[self.leads["created_at"] <= t].copy()
        leads["status_id"] = leads["status_id"].astype("Int64")
        last = stays.groupby("lead_id", sort=False).tail(1).set_index("lead_id")
        has_stay = leads["lead_id"].isin(last.index)
        ids = leads.loc[has_stay, "lead_id"]
        leads.loc[has_stay, "status_id"] = last.loc[ids, "status_id"].to_numpy()
        leads.loc[has_stay, "pipeline_id"] = last.loc[ids, "pipeline_id"].to_numpy()
        closed = leads["status_id"].isin(CLOSED_STATUSES)
        # Closed by its stays: the lead's own closed_at when it is known by t, else the entry
        # into 142/143.
        own = leads["closed_at"].where(leads["closed_at"] <= t)
        leads["closed_at"] = own.where(closed)
        from_entry = closed & has_stay & own.isna()
        if from_entry.any():
            entry = leads.loc[from_entry, "lead_id"].map(last["entered_at"])
            leads.loc[from_entry, "closed_at"] = entry
        # A lead without stays falls back on its own columns: closed only if it closed by t,
        # and then in an unknown open stage.
        reopened = ~has_stay & closed & own.isna()
        leads.loc[reopened, "status_id"] = pd.NA
        leads.loc[reopened, "closed_at"] = pd.NaT
        return History(leads, stays, self.tz)

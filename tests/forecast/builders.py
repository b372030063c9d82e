"""Synthetic histories with known answers.

A lead walks the stages of ``STAGES`` in order, ``days_in_stage`` days in each; after each stage
it moves on with the stage's probability in ``p_next`` or is lost, and after the last stage it is
won with ``p_win_last``. So the probability that a deal in stage s is eventually won is the
product of the probabilities from s on: with the defaults (0.6, 0.5, 0.5) that is 0.15 from
stage 10, 0.25 from stage 20 and 0.5 from stage 30.

The builder writes the whole eventual history, future included; the forecast's ``now`` (through
``History.as_of``) decides what of it is known.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from kommo_analytics.forecast import History
from kommo_analytics.forecast.inputs import LEAD_COLUMNS, STAY_COLUMNS
from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID

TZ = "America/Sao_Paulo"
STAGES = (10, 20, 30)
PIPELINE = 1


def build(
    *,
    start: str = "2025-01-01",
    months: int = 12,
    per_month: int | Callable[[int], int] = 40,
    p_next: Sequence[float] = (0.6, 0.5, 0.5),
    days_in_stage: float = 5.0,
    price: float | None = 1000.0,
    users: Sequence[int] = (1, 2),
    seed: int = 1,
    pipeline: int = PIPELINE,
    first_id: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(leads, stays) frames; ``per_month`` may be a function of the month number."""
    rng = np.random.default_rng(seed)
    first = pd.Timestamp(start, tz=TZ)
    lead_rows: list[dict[str, object]] = []
    stay_rows: list[dict[str, object]] = []
    lead_id = first_id
    for m in range(months):
        month = first + pd.DateOffset(months=m)
        count = per_month(m) if callable(per_month) else per_month
        length = ((month + pd.DateOffset(months=1)) - month) / pd.Timedelta(days=1)
        for i in range(count):
            created = month + pd.Timedelta(days=length * i / count)
            t = created
            status = WON_STATUS_ID
            for s, p in zip(STAGES, p_next, strict=True):
                left = t + pd.Timedelta(days=days_in_stage)
                stay_rows.append(
                    {
                        "lead_id": lead_id,
                        "pipeline_id": pipeline,
                        "status_id": s,
                        "entered_at": t,
                        "left_at": left,
                    }
                )
                t = left
                if rng.random() >= p:
                    status = LOST_STATUS_ID
                    break
            stay_rows.append(
                {
                    "lead_id": lead_id,
                    "pipeline_id": pipeline,
                    "status_id": status,
                    "entered_at": t,
                    "left_at": pd.NaT,
                }
            )
            lead_rows.append(
                {
                    "lead_id": lead_id,
                    "pipeline_id": pipeline,
                    "user_id": users[lead_id % len(users)],
                    "created_at": created,
                    "closed_at": t,
                    "status_id": status,
                    "price": np.nan if price is None else price,
                }
            )
            lead_id += 1
    return frames(lead_rows, stay_rows)


def frames(
    lead_rows: Sequence[dict[str, object]], stay_rows: Sequence[dict[str, object]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Row dicts → the two frames, timestamps tz-aware even where a column is all NaT."""
    leads = pd.DataFrame(list(lead_rows), columns=list(LEAD_COLUMNS))
    stays = pd.DataFrame(list(stay_rows), columns=list(STAY_COLUMNS))
    for frame, columns in (
        (leads, ("created_at", "closed_at")),
        (stays, ("entered_at", "left_at")),
    ):
        for c in columns:
            frame[c] = pd.to_datetime(frame[c], utc=True).dt.tz_convert(TZ)
    return leads, stays


def history(**kwargs: object) -> History:
    leads, stays = build(**kwargs)  # type: ignore[arg-type]
    return History(leads, stays, TZ)


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ)

"""Random streams, time arithmetic in the account's timezone and small array helpers."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import unicodedata
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]

# The default (Brazilian) account's UTC offset. America/Sao_Paulo has had no daylight saving time
# since 2019, so a fixed offset is exact for any history this generator produces; the other
# profiles' zones are chosen for the same reason (profiles.py). Every local-time helper takes the
# account's offset.
TZ_OFFSET = -3 * 3600
DAY = 86_400
HOUR = 3_600
MINUTE = 60
NEVER = np.iinfo(np.int64).max // 4  # "no such time": later than any real timestamp

# Independent random streams: each phase draws from its own, so changing how one phase uses
# randomness never shifts the numbers another phase sees.
STREAM_SETUP = 1
STREAM_TIMES = 2
STREAM_FUNNEL = 3
STREAM_OWNERS = 4
STREAM_PEOPLE = 5
STREAM_ACTIVITY = 6
STREAM_TASKS = 7
STREAM_LIFECYCLE = 8
STREAM_EVENTS = 9
STREAM_LIVE = 10
STREAM_REASSIGN = 11
STREAM_LIFETIME = 12
STREAM_LEAD_IDS = 13
# The shapes real accounts send beyond the basics (service and e-mail notes, null labor costs,
# extra tracking codes): a stream of their own, so adding them left every other number as it was.
STREAM_SHAPES = 14
STREAM_TRACKING = 15
STREAM_LEAD_EXTRAS = 16


def stream(seed: int, stream_id: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed % (1 << 63), stream_id]))


def lognormal(rng: np.random.Generator, median: Arr | float, sigma: float, size: int) -> Arr:
    return np.asarray(median * np.exp(rng.normal(0.0, sigma, size)), dtype=np.float64)


def pick(rng: np.random.Generator, weights: Arr | tuple[float, ...], size: int) -> Arr:
    """Indices drawn with the given (unnormalised) weights."""
    w = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    return np.searchsorted(cum, rng.random(size), side="right").astype(np.int64)


def pick_rows(rng: np.random.Generator, weights: Arr) -> Arr:
    """One column index per row of a (rows × choices) weight matrix; rows need a positive sum."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0]) * cum[:, -1]
    chosen: Arr = np.minimum((cum <= u[:, None]).sum(axis=1), weights.shape[1] - 1)
    return chosen.astype(np.int64)


def local_parts(t: Arr, offset: int = TZ_OFFSET) -> tuple[Arr, Arr, Arr]:
    """(local day number, seconds into the local day, weekday with Monday = 0) of Unix times, at
    ``offset`` seconds from UTC."""
    local = t + offset
    day = local // DAY
    # 1970-01-01 was a Thursday.
    return day, local - day * DAY, (day + 3) % 7


def local_year_month(t: Arr, offset: int = TZ_OFFSET) -> tuple[Arr, Arr]:
    days = ((t + offset) // DAY).astype("datetime64[D]")
    months = days.astype("datetime64[M]").astype(np.int64)
    return months // 12 + 1970, months % 12 + 1


# Hours 08..18 at which work deferred from the night or the weekend gets done.
_DEFERRED_HOURS = (4.0, 4.5, 4.2, 3.6, 2.2, 3.2, 3.6, 3.4, 3.0, 2.4, 1.4)


def business_hours(
    rng: np.random.Generator, t: Arr, keep_off_hours: float = 0.06, *, offset: int = TZ_OFFSET
) -> Arr:
    """Move times that fall outside 08:00–19:00 Mon–Fri (local) into the next working day: people,
    unlike robots, act in business hours. Deferred work spreads over that day (a bit more in the
    morning) rather than piling up at 08:00. A few stay put (evening WhatsApp)."""
    day, sec, weekday = local_parts(t, offset)
    before = sec < 8 * HOUR
    after = sec >= 19 * HOUR
    weekend = weekday >= 5
    move = (before | after | weekend) & (rng.random(t.size) >= keep_off_hours)
    target = day + after.astype(np.int64)
    target_weekday = (target + 3) % 7
    target += np.where(target_weekday == 5, 2, np.where(target_weekday == 6, 1, 0))
    hour = 8 + pick(rng, _DEFERRED_HOURS, t.size)
    shifted = target * DAY + hour * HOUR + rng.integers(0, HOUR, t.size) - offset
    return np.where(move, shifted, t).astype(np.int64)


def increasing_ids(rng: np.random.Generator, base: int, n: int, mean_gap: float) -> Arr:
    """Ids that grow with creation order but skip numbers, as ids shared by all accounts of a
    Kommo server do."""
    gaps = rng.geometric(1.0 / mean_gap, n) if mean_gap > 1 else np.ones(n, np.int64)
    return (base + np.cumsum(gaps)).astype(np.int64)


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


def sql_list(values: tuple[str, ...] | list[str]) -> str:
    """A DuckDB list literal, indexed 1-based in SQL: used to turn small integer codes into text
    inside one vectorised INSERT."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"[{quoted}]"


@cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release_memory() -> None:
    """Hand freed heap memory back to the OS between phases.

    glibc keeps the space of freed numpy temporaries in its heap, while DuckDB allocates from
    its own allocator and cannot reuse it; without a trim the `large` build's peak RSS grows by
    about 2 GB of memory nobody uses.
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)

"""What a reader asks about: a period, the moment of reading, and the filters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from kommo_analytics.errors import ConfigError


@dataclass(frozen=True)
class Scope:
    """A period (None: the defaults of :func:`kommo_analytics.service.reports.params`), "as of"
    (None: now) and the filters; an empty filter means all. Frozen and hashable, so it can key a
    cache.

    ``allowed_sellers`` is the viewer's reach (None: everyone). It narrows the seller filter in
    one place, :meth:`seller_ids`, which every reader of sellers goes through.
    """

    start: date | None = None
    end: date | None = None
    as_of: datetime | None = None
    pipelines: tuple[int, ...] = ()
    sellers: tuple[int, ...] = ()
    channels: tuple[str, ...] = ()
    allowed_sellers: tuple[int, ...] | None = None

    def with_period(self, start: date, end: date) -> Scope:
        return replace(self, start=start, end=end)

    def seller_ids(self) -> tuple[int, ...]:
        """The sellers to filter on (empty: all), within the viewer's reach."""
        if self.allowed_sellers is None:
            return self.sellers
        allowed = set(self.allowed_sellers)
        chosen = tuple(s for s in self.sellers if s in allowed) if self.sellers else None
        # An empty filter means "everyone", so an empty reach must not fall through to it.
        ids = chosen if chosen is not None else tuple(sorted(allowed))
        if not ids:
            raise ConfigError(
                "none of the sellers asked for is visible to this viewer",
                hint="choose among the sellers you are allowed to see",
            )
        return ids

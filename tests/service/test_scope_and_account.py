"""The read service's pure rules: the account's time zone, a scope's sellers and the local days
of the Leads explorer as UTC bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kommo_analytics.errors import ConfigError
from kommo_analytics.service.account import Account, timezone_of, zone_of
from kommo_analytics.service.leads import status_key, utc_bounds
from kommo_analytics.service.scope import Scope

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def test_the_model_zone_wins_then_the_override_then_the_account_own() -> None:
    # A built model's local-time columns are in its zone (the override applied at the build).
    assert timezone_of(model="Asia/Tokyo", override="Europe/Berlin", account="UTC") == "Asia/Tokyo"
    assert timezone_of(model=None, override="Europe/Berlin", account="Asia/Tokyo") == (
        "Europe/Berlin"
    )
    assert timezone_of(model=None, override=None, account="Asia/Tokyo") == "Asia/Tokyo"
    assert timezone_of(model=None, override=None, account=None) == "UTC"


def test_today_is_the_account_day_and_an_unknown_zone_is_utc() -> None:
    account = Account("Acme", "acme", "BRL", "Asia/Tokyo")
    assert account.today(datetime(2026, 11, 25, 18, 0, tzinfo=UTC)) == date(2026, 11, 26)
    assert zone_of("Not/AZone") is UTC and zone_of(None) is UTC


def test_a_scope_is_hashable_and_changes_its_period_only() -> None:
    scope = Scope(date(2026, 10, 1), date(2026, 10, 31), pipelines=(1,), sellers=(7,))
    moved = scope.with_period(date(2026, 9, 1), date(2026, 9, 30))
    assert hash(scope) != hash(moved)
    assert (moved.pipelines, moved.sellers) == ((1,), (7,))


def test_allowed_sellers_narrow_the_seller_filter_in_one_place() -> None:
    assert Scope(sellers=(1, 2)).seller_ids() == (1, 2)
    assert Scope().seller_ids() == ()  # everyone
    assert Scope(sellers=(1, 2), allowed_sellers=(2, 3)).seller_ids() == (2,)
    assert Scope(allowed_sellers=(3, 2)).seller_ids() == (2, 3)
    # Nobody within reach must not become "no filter", which would mean everyone.
    with pytest.raises(ConfigError):
        Scope(sellers=(1,), allowed_sellers=(2,)).seller_ids()
    with pytest.raises(ConfigError):
        Scope(allowed_sellers=()).seller_ids()


def test_local_days_become_utc_bounds_in_the_account_zone() -> None:
    lower, upper = utc_bounds(date(2026, 11, 1), date(2026, 11, 25), SAO_PAULO)
    # São Paulo is UTC−3 all year: local midnight is 03:00 UTC.
    assert lower == datetime(2026, 11, 1, 3, tzinfo=UTC)
    assert upper == datetime(2026, 11, 26, 3, tzinfo=UTC)
    late_evening = datetime(2026, 11, 25, 23, 30, tzinfo=SAO_PAULO)  # 02:30 UTC on the 26th
    assert late_evening.astimezone(UTC).day == 26
    assert lower <= late_evening < upper
    # A zone with daylight saving time: the day of the spring change is 23 hours long.
    lower, upper = utc_bounds(date(2026, 3, 29), date(2026, 3, 29), ZoneInfo("Europe/Berlin"))
    assert upper - lower == timedelta(hours=23)


def test_won_and_lost_are_kommo_fixed_stages() -> None:
    assert [status_key(s) for s in (142, 143, 73810801, None)] == ["won", "lost", "open", "open"]

"""Each trigger on tiny hand-built facts, each expected number worked out in the comment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from kommo_analytics.automation.alerts import triggers
from kommo_analytics.automation.alerts.conditions import Level, Money, Percent
from kommo_analytics.automation.alerts.gather import GATHERERS
from kommo_analytics.automation.alerts.messages import line_text
from kommo_analytics.service.health_checks import Check
from kommo_analytics.service.health_checks import Level as CheckLevel
from kommo_analytics.service.watch import OpenStay, StageTimes, StageWatch
from kommo_analytics.settings import ALERT_TRIGGERS

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_every_trigger_setting_name_has_a_gatherer() -> None:
    assert tuple(GATHERERS) == ALERT_TRIGGERS


def test_sync_failed_looks_at_the_newest_finished_run() -> None:
    failed = triggers.RunFact("failed", NOW, "HTTP 502")
    ok = triggers.RunFact("ok", NOW)
    running = triggers.RunFact("running", NOW)
    assert triggers.sync_failed([ok, failed]) == []
    [found] = triggers.sync_failed([failed, ok])
    assert (found.key, found.level) == ("sync_failed", Level.CRITICAL)
    assert "HTTP 502" in line_text(found.lines[0], "en")
    # A run in progress neither clears nor raises it: the failed one before it still counts.
    assert [c.key for c in triggers.sync_failed([running, failed])] == ["sync_failed"]
    assert triggers.sync_failed([running, ok]) == []
    [killed] = triggers.sync_failed([triggers.RunFact("interrupted", NOW)])
    assert killed.level is Level.WARNING
    assert triggers.sync_failed([]) == []


def test_data_stale_is_one_condition_as_stale_as_its_stalest_stream() -> None:
    checks = [
        Check("freshness", CheckLevel.OK, "check.freshness.ok", {"hours": "1.0"}, "leads"),
        Check(
            "freshness",
            CheckLevel.WARNING,
            "check.freshness.warning",
            {"hours": "3.0", "warning": "2", "critical": "24"},
            "contacts",
        ),
        Check(
            "freshness",
            CheckLevel.CRITICAL,
            "check.freshness.critical",
            {"hours": "30.0", "warning": "2", "critical": "24"},
            "events",
        ),
        Check("disk", CheckLevel.WARNING, "check.disk.warning", {}),  # not a freshness matter
    ]
    [found] = triggers.data_stale(checks)
    assert (found.key, found.level) == ("data_stale", Level.CRITICAL)
    assert [line.subject for line in found.lines] == ["contacts", "events"]
    assert line_text(found.lines[1], "en").startswith("events: Read 30.0 h ago")
    assert triggers.data_stale(checks[:1]) == []


def test_token_expiring_uses_the_health_checks_level_and_message() -> None:
    soon = Check(
        "token",
        CheckLevel.WARNING,
        "check.token.kommo_access_token.soon",
        {"at": "2026-06-10 00:00 UTC", "days": "8"},
        "KOMMO_ACCESS_TOKEN",
    )
    [found] = triggers.token_expiring(soon)
    assert (found.key, found.level) == ("token_expiring", Level.WARNING)
    assert "(8 days)" in line_text(found.lines[0], "en")
    assert triggers.token_expiring(Check("token", CheckLevel.OK, "check.token.ok")) == []
    assert triggers.token_expiring(None) == []


def test_quality_errors_are_one_condition_per_failing_rule() -> None:
    errors = [
        triggers.RuleFailure("won_without_price", 3, 120),
        triggers.RuleFailure("closed_without_closed_at", 1, 0),
    ]
    found = triggers.quality_errors(errors)
    assert [c.key for c in found] == [
        "quality_errors:closed_without_closed_at",
        "quality_errors:won_without_price",
    ]
    # 3 of 120 = 2.5 %
    assert found[1].lines[0].values["share"] == Percent(0.025)
    assert "3 of 120 records fail (2.5 %)" in line_text(found[1].lines[0], "en")
    assert triggers.quality_errors(None) == [] and triggers.quality_errors([]) == []


def test_goal_at_risk_only_for_a_high_risk_goal() -> None:
    goal = triggers.GoalFact(date(2026, 6, 1), 100_000.0, 62_000.0, 0.31, "high", "BRL")
    [found] = triggers.goal_at_risk(goal)
    assert found.key == "goal_at_risk:2026-06"
    assert found.lines[0].values["goal"] == Money(100_000.0, "BRL")
    text = line_text(found.lines[0], "pt-BR")
    assert "31 %" in text and "R$\xa0100.000,00" in text and "R$\xa062.000,00" in text
    medium = triggers.GoalFact(date(2026, 6, 1), 100_000.0, 90_000.0, 0.6, "medium", "BRL")
    assert triggers.goal_at_risk(medium) == []
    assert triggers.goal_at_risk(None) == []  # no goal imported for the month


def _stay(lead: int, user: int, status: int, hours: float) -> OpenStay:
    return OpenStay(
        lead, f"Deal {lead}", user, f"Seller {user}", 1, status, "Sales", f"S{status}", hours
    )


def test_stuck_deals_are_past_their_stages_80th_percentile_per_seller() -> None:
    # Stage 10's closed stays: 1, 2, …, 20 days (in hours). numpy's linear 80th percentile of
    # 20 values sits at rank 0.8 × 19 = 15.2: 16 + 0.2 × (17 − 16) = 16.2 days = 388.8 h.
    stage10 = StageTimes(1, 10, tuple(24.0 * d for d in range(1, 21)))
    # Stage 20 has only 5 closed stays: too few to say what is usual, so never "stuck".
    stage20 = StageTimes(1, 20, (1.0, 2.0, 3.0, 4.0, 5.0))
    watch = StageWatch(
        (stage10, stage20),
        (
            _stay(1, 7, 10, 400.0),  # 400 h > 388.8 h: stuck
            _stay(2, 7, 10, 388.0),  # just under: not stuck
            _stay(3, 7, 10, 800.0),  # stuck, further over: listed first
            _stay(4, 8, 10, 500.0),  # stuck, another seller
            _stay(5, 8, 20, 9999.0),  # a stage without enough history
        ),
    )
    assert triggers.stage_thresholds(watch) == {(1, 10): 388.8}
    found = triggers.stuck_deals(watch)
    assert [(c.key, c.title.values["count"]) for c in found] == [
        ("stuck_deals:7", 2),
        ("stuck_deals:8", 1),
    ]
    assert [line.values["lead_id"] for line in found[0].lines] == [3, 1]
    # 800 h = 33.3 days; the stage's usual 388.8 h = 16.2 days
    assert "33.3 days in S10 (Sales)" in line_text(found[0].lines[0], "en")
    assert "within 16.2 days" in line_text(found[0].lines[0], "en")


def _is_weekday(day: date) -> bool:
    return day.weekday() < 5


def test_lead_volume_compares_a_day_with_the_same_kind_of_day() -> None:
    last = date(2026, 6, 1)  # a Monday
    window = [last - timedelta(days=n) for n in range(1, 29)]
    weekdays = [d for d in window if _is_weekday(d)]  # 20 working days
    # "paid": 20 leads on every working day, 2 on weekends; MAD 0, so the spread is the floor
    # √20 = 4.47 and the range 20 ± 13.4 = 6.6 … 33.4.
    paid = {d: (20 if _is_weekday(d) else 2) for d in window}
    # "referral": median 3 a day, under the 5-lead minimum: never watched.
    referral = dict.fromkeys(window, 3)
    assert len(weekdays) == 20
    quiet = triggers.lead_volume({"paid": paid, "referral": referral}, last, _is_weekday, 5)
    assert [c.key for c in quiet] == ["lead_volume:paid"]  # 0 leads on Monday: a form broke
    line = quiet[0].lines[0]
    assert line.key == "alert.lead_volume.low"
    assert (line.values["median"], line.values["low"], line.values["high"]) == (20.0, 6.6, 33.4)
    assert line.values["days"] == 20
    # 25 on Monday is inside; on Sunday, 2 leads is compared with the 8 weekend days: inside.
    assert triggers.lead_volume({"paid": {**paid, last: 25}}, last, _is_weekday, 5) == []
    sunday = last - timedelta(days=1)
    assert triggers.lead_volume({"paid": {**paid, sunday: 2}}, sunday, _is_weekday, 1) == []
    # 40 on Monday is above 33.4
    [high] = triggers.lead_volume({"paid": {**paid, last: 40}}, last, _is_weekday, 5)
    assert high.lines[0].key == "alert.lead_volume.high"


def test_lead_range_uses_the_scaled_mad_when_it_is_wider_than_the_poisson_floor() -> None:
    # counts 10, 20, 30, 40, 50: median 30, |x − 30| = 20, 10, 0, 10, 20 → MAD 10;
    # 1.4826 × 10 = 14.826 > √30 = 5.48, so 30 ± 44.478: low 0 (not negative), high 74.478.
    bounds = triggers.lead_range([10, 20, 30, 40, 50])
    assert bounds.median == 30.0 and bounds.low == 0.0
    assert abs(bounds.high - 74.478) < 1e-9

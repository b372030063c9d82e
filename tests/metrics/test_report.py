"""The whole report: every key the contract lists, valid JSON, and an account with no data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.metrics.builders import (
    ANA,
    BRUNO,
    CURRENCY,
    LOST,
    NEW,
    PRICE_TOO_HIGH,
    PROPOSAL,
    TZ,
    WON,
    cost,
    event,
    goal,
    lead,
    move,
    raw,
    run,
    task,
)

# The key list at the end of the contract (`kommo-analytics metrics --json`), as data:
# a dict is an object with at least these keys, a one-element list a list of such objects,
# None a value of any kind.
CONTRACT_KEYS: dict[str, Any] = {
    "period": {"from": None, "to": None, "timezone": None},
    "currency": None,
    "leads": {
        "total": None,
        "by_channel": dict.fromkeys(
            ("paid", "referral", "organic", "outbound", "other", "unknown")
        ),
        "response_time": dict.fromkeys(
            ("avg_hours", "median_hours", "within_sla_pct", "without_response")
        ),
        "cost": {"total": None, "per_lead": None, "by_channel": {}},
    },
    "funnel": [
        {
            "pipeline_id": None,
            "name": None,
            "stages": [
                dict.fromkeys(
                    (
                        "status_id",
                        "name",
                        "reached",
                        "conversion_to_next_pct",
                        "avg_hours_in_stage",
                        "median_hours_in_stage",
                        "abandonment_pct",
                    )
                )
            ],
        }
    ],
    "activities": dict.fromkeys(
        (
            "tasks_total",
            "tasks_completed",
            "completion_rate_pct",
            "on_time_rate_pct",
            "overdue",
            "meetings_scheduled",
            "meetings_held",
            "calls_outgoing",
            "calls_incoming",
            "call_minutes",
            "messages_outgoing",
            "messages_incoming",
        )
    ),
    "sales": {
        **dict.fromkeys(
            (
                "won",
                "lost",
                "win_rate_pct",
                "revenue",
                "avg_ticket",
                "sales_cycle_avg_days",
                "sales_cycle_median_days",
            )
        ),
        "loss_reasons": [dict.fromkeys(("reason", "count", "share_pct", "value"))],
    },
    "sellers": [
        dict.fromkeys(
            (
                "user_id",
                "name",
                "leads",
                "won",
                "lost",
                "win_rate_pct",
                "revenue",
                "avg_ticket",
                "response_time_avg_hours",
                "tasks_completed",
                "calls",
                "goal",
                "attainment_pct",
            )
        )
    ],
    "channels": [dict.fromkeys(("channel", "leads", "won", "revenue", "cost", "cpl", "roi_pct"))],
    "forecast": {},
}


def missing_keys(spec: Any, value: Any, path: str = "") -> Iterator[str]:
    """Every contract key path absent from ``value`` (empty lists count as missing: the walk
    needs one element to look into)."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            yield f"{path or '<root>'} (not an object)"
            return
        for key, inner in spec.items():
            if key not in value:
                yield f"{path}.{key}".lstrip(".")
            else:
                yield from missing_keys(inner, value[key], f"{path}.{key}")
    elif isinstance(spec, list):
        if not isinstance(value, list) or not value:
            yield f"{path}[] (no element to check)"
            return
        for i, item in enumerate(value):
            yield from missing_keys(spec[0], item, f"{path}[{i}]")


def a_little_of_everything() -> dict[str, Any]:
    data = raw(
        leads=[
            lead(1, "2026-10-01 12:00", status=WON, price=1000, closed="2026-10-06 12:00"),
            lead(2, "2026-10-02 12:00", status=LOST, closed="2026-10-07 12:00",
                 loss_reason=PRICE_TOO_HIGH, responsible=BRUNO, utm_medium="cpc"),
            lead(3, "2026-10-03 12:00", status=PROPOSAL),
        ],
        events=[
            move(1, "2026-10-02 12:00", NEW, PROPOSAL),
            move(1, "2026-10-06 12:00", PROPOSAL, WON),
            move(2, "2026-10-03 12:00", NEW, LOST, by=BRUNO),
            event("outgoing_call", 1, "lead", "2026-10-01 13:00", ANA),
        ],
        tasks=[task(1, "2026-10-10 18:00", lead=3, completed=True)],
    )  # fmt: skip
    return run(
        data,
        costs=[cost("2026-10-01", "paid", 100.0)],
        goals=[goal("2026-10", ANA, 2000.0), goal("2026-11", ANA, 2000.0)],
        whole=True,
    )


def test_every_contract_key_is_there() -> None:
    result = a_little_of_everything()
    assert list(missing_keys(CONTRACT_KEYS, result)) == []
    assert result["period"] == {"from": "2026-10-01", "to": "2026-10-31", "timezone": TZ}
    assert result["currency"] == CURRENCY


def test_the_walk_would_notice_a_missing_key() -> None:
    result = a_little_of_everything()
    del result["sales"]["loss_reasons"][0]["share_pct"]
    del result["leads"]["by_channel"]["unknown"]
    assert list(missing_keys(CONTRACT_KEYS, result)) == [
        "leads.by_channel.unknown",
        "sales.loss_reasons[0].share_pct",
    ]


@pytest.mark.parametrize("configured", [True, False], ids=["empty-account", "empty-warehouse"])
def test_the_report_is_strict_json(configured: bool) -> None:
    result = a_little_of_everything() if configured else run(raw(configured=False), whole=True)
    # No NaN, no numpy types, no dates: exactly what `--json` can print.
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text) == result


# -- no data at all ---------------------------------------------------------------------------------

# Values that are rates, averages or ratios: with nothing to divide by they are null, never 0.
RATE_KEYS = {
    "avg_hours",
    "median_hours",
    "within_sla_pct",
    "per_lead",
    "conversion_to_next_pct",
    "avg_hours_in_stage",
    "median_hours_in_stage",
    "abandonment_pct",
    "completion_rate_pct",
    "on_time_rate_pct",
    "win_rate_pct",
    "avg_ticket",
    "sales_cycle_avg_days",
    "sales_cycle_median_days",
    "response_time_avg_hours",
    "cpl",
    "roi_pct",
    "conversion_pct",
    "sales_velocity_per_day",
    "attainment_pct",
}
# Numbers that are not counts of data: ids, settings and the calendar.
NOT_COUNTS = {
    "pipeline_id",
    "status_id",
    "user_id",
    "rank",
    "sla_hours",
    "days_left_in_month",
    "working_days_left",
}


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(inner, dict | list):
                yield from leaves(inner, f"{path}.{key}")
            else:
                yield f"{path}.{key}", key, inner
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from leaves(inner, f"{path}[{i}]")


@pytest.mark.parametrize("configured", [True, False], ids=["empty-account", "empty-warehouse"])
def test_no_data_at_all(configured: bool) -> None:
    result = run(raw(configured=configured), whole=True)
    for path, key, value in leaves(result):
        if key in RATE_KEYS:
            assert value is None, f"{path} should be null with no data, not {value!r}"
        elif key in NOT_COUNTS or isinstance(value, str | bool) or value is None:
            continue
        else:
            assert value == 0, f"{path} should be 0 with no data, not {value!r}"
    assert result["leads"]["total"] == 0
    assert result["leads"]["cost"]["total"] is None  # no cost imported: unknown
    assert result["sales"]["loss_reasons"] == []
    assert result["goals_imported"] is False
    assert result["forecast"]["month_goal"] is None
    if configured:
        # The account's pipelines and users are known, with nothing in them yet.
        assert [f["pipeline_id"] for f in result["funnel"]] == [10, 20]
        assert {s["user_id"] for s in result["sellers"]} == {11, 12, 13}
        assert all(s["goal"] is None for s in result["sellers"])
    else:
        assert result["funnel"] == [] and result["sellers"] == []

"""The typed report (metrics/results.py): today's ``metrics --json`` documents go through
``Report`` and come back exactly — same keys, same order, same JSON types — and anything the
models do not describe is refused."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kommo_analytics.forecast.result import (
    GoalOutlook,
    MonthForecast,
    NewLeadsSummary,
    ScopeForecast,
    SeriesForecast,
)
from kommo_analytics.metrics import report
from kommo_analytics.metrics.common import Model
from kommo_analytics.metrics.results import SECTION_FIELDS, Report
from kommo_analytics.model.channels import DEFAULT_CHANNELS
from kommo_analytics.model.schema import MODEL_SCHEMA
from kommo_analytics.service.forecasts import Forecast, Range
from kommo_analytics.service.reports import with_range
from tests.metrics.builders import (
    ANA,
    BRUNO,
    CURRENCY,
    LOST,
    MODEL_COLUMNS,
    NEW,
    PRICE_TOO_HIGH,
    PROPOSAL,
    WON,
    Row,
    cost,
    event,
    goal,
    lead,
    move,
    params,
    raw,
    run,
    task,
    warehouse,
)
from tests.metrics.builders import (
    executor as duckdb_executor,
)

SNAPSHOTS = Path(__file__).parents[1] / "cli" / "snapshots"


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SNAPSHOTS / name).read_text(encoding="utf-8"))
    return document


def snapshot_documents() -> list[Any]:
    """Both snapshot files; the second holds two documents (`whole`, `paid_and_referral`)."""
    imports = _load("metrics_small_seed3_imports.json")
    return [pytest.param(_load("metrics_small_seed3.json"), id="small_seed3")] + [
        pytest.param(document, id=f"imports-{name}") for name, document in imports.items()
    ]


def as_text(document: Any) -> str:
    # The text compare is the strict one: 2 == 2.0 in Python, but "2" != "2.0" in the output.
    return json.dumps(document, ensure_ascii=False, sort_keys=False, allow_nan=False)


def differences(expected: Any, actual: Any, where: str = "") -> Iterator[str]:
    """Where two documents differ (exact values, JSON types and key order), to say what broke."""
    if type(expected) is not type(actual):
        yield f"{where or '/'}: {expected!r} became {actual!r}"
    elif isinstance(expected, dict):
        if list(expected) != list(actual):
            yield f"{where or '/'}: keys {list(expected)} became {list(actual)}"
        for key in expected.keys() & actual.keys():
            yield from differences(expected[key], actual[key], f"{where}/{key}")
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            yield f"{where}: {len(expected)} items became {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            yield from differences(e, a, f"{where}[{i}]")
    elif expected != actual:
        yield f"{where}: {expected!r} became {actual!r}"


def assert_round_trip(document: dict[str, Any]) -> Report:
    typed = Report.from_dict(document)
    back = typed.to_json_dict()
    assert list(differences(document, back)) == []
    assert as_text(back) == as_text(document)
    return typed


# -- today's documents, as the snapshot test pins them -----------------------------------------------


@pytest.mark.parametrize("document", snapshot_documents())
def test_a_snapshot_document_round_trips_exactly(document: dict[str, Any]) -> None:
    typed = assert_round_trip(document)
    assert typed.period.start == date.fromisoformat(document["period"]["from"])
    assert typed.period.end == date.fromisoformat(document["period"]["to"])
    assert typed.as_of == datetime.fromisoformat(document["as_of"])
    assert typed.as_of.tzinfo is not None
    assert typed.leads is not None and typed.leads.total == document["leads"]["total"]
    assert typed.funnel is not None and typed.funnel[0].stages[0].name is not None
    assert typed.model == document["model"]


@pytest.mark.parametrize("section", SECTION_FIELDS)
def test_a_document_with_one_section_round_trips(section: str) -> None:
    full = _load("metrics_small_seed3_imports.json")["whole"]
    frame = [k for k in full if k not in SECTION_FIELDS]
    partial = {k: v for k, v in full.items() if k in frame or k == section}
    typed = assert_round_trip(partial)
    assert list(typed.to_json_dict()) == [
        "period",
        "as_of",
        "currency",
        "filters",
        section,
        "model",
    ]
    for other in SECTION_FIELDS:
        assert (getattr(typed, other) is None) == (other != section)


def test_the_sections_are_the_reports() -> None:
    # results.py keeps its own list (report.py will import results, not the other way round).
    assert tuple(report.SECTIONS) == SECTION_FIELDS


# -- what the models refuse ---------------------------------------------------------------------------


def _base() -> dict[str, Any]:
    return copy.deepcopy(_load("metrics_small_seed3_imports.json")["whole"])


def _at(document: dict[str, Any], path: Sequence[str | int]) -> Any:
    here: Any = document
    for step in path:
        here = here[step]
    return here


@pytest.mark.parametrize(
    "path",
    [
        (),
        ("period",),
        ("leads",),
        ("leads", "response_time"),
        ("leads", "cost", "by_channel", "paid"),
        ("leads", "utm"),
        ("leads", "utm", "utm_source", 0),
        ("funnel", 0),
        ("funnel", 0, "stages", 0),
        ("activities",),
        ("sales", "loss_reasons", 0),
        ("sellers", 0),
        ("channels", 0),
        ("marketing",),
        ("forecast",),
        ("forecast", "open_pipeline", 0),
        ("forecast", "months", 0),
        ("data_quality",),
    ],
    ids=lambda path: "/".join(map(str, path)) or "root",
)
def test_an_unknown_key_fails(path: Sequence[str | int]) -> None:
    document = _base()
    _at(document, path)["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        Report.from_dict(document)


def test_a_missing_key_fails() -> None:
    document = _base()
    del document["sellers"][0]["rank"]
    with pytest.raises(ValidationError, match="rank"):
        Report.from_dict(document)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("leads", "total"), 118.0),  # a count as a float
        (("sales", "won"), True),  # a bool is not a number
        (("sales", "revenue"), "1000"),  # no number from text
        (("period", "timezone"), None),  # null where the document never has one
        (("filters", "sellers"), ["6886327"]),
        (("model", "model_version"), 3),
        (("sales", "avg_ticket"), float("nan")),  # no value is null, never NaN
        (("forecast", "status"), "maybe"),  # only the statuses the forecast has
        (("forecast", "months", 0, "risk"), "extreme"),
        (("forecast", "months", 0, "won_deals_p50"), "34"),
    ],
    ids=lambda v: "/".join(map(str, v)) if isinstance(v, tuple) else None,
)
def test_a_value_of_the_wrong_type_fails(path: tuple[str, ...], value: Any) -> None:
    document = _base()
    _at(document, path[:-1])[path[-1]] = value
    with pytest.raises(ValidationError):
        Report.from_dict(document)


def test_the_report_is_frozen() -> None:
    typed = Report.from_dict(_base())
    with pytest.raises(ValidationError):
        typed.currency = "USD"
    assert typed.sales is not None
    with pytest.raises(ValidationError):
        typed.sales.won = 0


# -- reports computed from hand-built accounts ----------------------------------------------------

INFO = {"timezone": "America/Sao_Paulo", "currency": CURRENCY, "built_at": "2026-11-15T15:00"}


def compute(
    data: Any,
    p: Any = None,
    *,
    costs: Sequence[Row] = (),
    goals: Sequence[Row] = (),
    sections: Iterable[str] | None = None,
) -> dict[str, Any]:
    """``builders.run`` with the model's facts and a choice of sections."""
    con = warehouse(data, costs=costs, goals=goals)
    try:
        return report.compute(
            Model(MODEL_COLUMNS, MODEL_SCHEMA),
            p or params(),
            duckdb_executor(con),
            currency=CURRENCY,
            channels=DEFAULT_CHANNELS,
            info=INFO,
            sections=sections,
        )
    finally:
        con.close()


def story() -> Any:
    return raw(
        leads=[
            lead(1, "2026-10-01 12:00", status=WON, price=1000, closed="2026-10-06 12:00",
                 utm_source="google", utm_medium="cpc", gclid="g1"),
            lead(2, "2026-10-02 12:00", status=LOST, closed="2026-10-07 12:00",
                 loss_reason=PRICE_TOO_HIGH, responsible=BRUNO, utm_medium="cpc"),
            lead(3, "2026-10-03 12:00", status=PROPOSAL),
            lead(4, "2026-10-04 12:00", status=LOST, closed="2026-10-08 12:00"),
            lead(5, "2026-10-05 12:00", deleted=True),
        ],
        events=[
            move(1, "2026-10-02 12:00", NEW, PROPOSAL),
            move(1, "2026-10-06 12:00", PROPOSAL, WON),
            move(2, "2026-10-03 12:00", NEW, LOST, by=BRUNO),
            move(4, "2026-10-08 12:00", NEW, LOST),
            event("outgoing_call", 1, "lead", "2026-10-01 13:00", ANA),
            event("incoming_chat_message", 3, "lead", "2026-10-03 15:00", 0),
        ],
        tasks=[
            task(1, "2026-10-10 18:00", lead=3, completed=True),
            task(2, "2026-10-12 18:00", lead=3),
        ],
    )  # fmt: skip


COSTS = [cost("2026-10-01", "paid", 100.0), cost("2026-10-15", "referral", 40.5)]
GOALS = [
    goal("2026-10", ANA, 2000.0, deals=2),
    goal("2026-11", ANA, 2000.0),
    goal("2026-10", BRUNO, 500.0),
]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"channels": ("paid", "referral")},
        {"sellers": (ANA,)},
        {"pipelines": (10,)},
    ],
    ids=["whole", "channel-filter", "seller-filter", "pipeline-filter"],
)
def test_a_computed_report_round_trips(options: dict[str, Any]) -> None:
    document = compute(story(), params(**options), costs=COSTS, goals=GOALS)
    typed = assert_round_trip(document)
    assert typed.goals_imported is True
    assert typed.leads is not None
    # Under a seller or pipeline filter costs cannot be split: their figures are null.
    split_by_filter = bool(options.get("sellers") or options.get("pipelines"))
    assert typed.leads.cost.not_split_by_filter == split_by_filter
    assert (typed.leads.cost.total is None) == typed.leads.cost.not_split_by_filter


def test_a_computed_report_without_costs_or_goals_round_trips() -> None:
    typed = assert_round_trip(compute(story()))
    assert typed.goals_imported is False
    assert typed.leads is not None and typed.leads.cost.imported is False
    assert typed.marketing is not None and typed.marketing.cost is None
    assert typed.sellers is not None and all(s.goal is None for s in typed.sellers)


@pytest.mark.parametrize("configured", [True, False], ids=["empty-account", "empty-warehouse"])
def test_a_report_with_zero_leads_round_trips_with_its_nulls(configured: bool) -> None:
    typed = assert_round_trip(run(raw(configured=configured), whole=True))
    assert typed.leads is not None and typed.leads.total == 0
    assert typed.leads.response_time.within_sla_pct is None
    assert typed.leads.cost.per_lead is None
    assert typed.sales is not None and typed.sales.win_rate_pct is None
    assert typed.sales.avg_ticket is None and typed.sales.loss_reasons == []
    assert typed.activities is not None and typed.activities.completion_rate_pct is None
    assert typed.channels is not None and all(c.conversion_pct is None for c in typed.channels)
    assert typed.forecast is not None and typed.forecast.month_goal is None
    assert typed.model == {}
    if configured:
        assert typed.funnel is not None
        assert all(s.conversion_to_next_pct is None for f in typed.funnel for s in f.stages)
    else:
        assert typed.funnel == [] and typed.sellers == []


def test_a_partial_report_round_trips() -> None:
    document = compute(story(), costs=COSTS, goals=GOALS, sections=["sales", "sellers"])
    assert list(document) == ["period", "as_of", "currency", "filters", "sales", "sellers", "model"]
    typed = assert_round_trip(document)
    assert typed.leads is None and typed.funnel is None and typed.goals_imported is None
    assert typed.sellers is not None and typed.sellers[0].goal is not None


def test_as_of_in_utc_keeps_its_offset() -> None:
    # pydantic would write a UTC time with "Z"; the document has always had "+00:00".
    document = compute(story(), params(as_of=datetime(2026, 11, 15, 15, 0, tzinfo=UTC)))
    assert document["as_of"] == "2026-11-15T15:00:00+00:00"
    typed = assert_round_trip(document)
    assert typed.as_of == datetime(2026, 11, 15, 15, 0, tzinfo=UTC)


# -- the forecast's range, as the read service adds it ---------------------------------------------


def forecast_result(*, goal: float | None = 15000.0) -> Forecast:
    """A forecast made on 15 Nov 2026 for November (2000 already won, a company goal) and the
    two months after it: the model's own result type, with numbers chosen by hand."""
    months = tuple(
        MonthForecast(
            month=date(2026 + (10 + i) // 12, (10 + i) % 12 + 1, 1),
            revenue=Range(8000.0 + i, 12000.5 + i, 17000.0 + i, 12100.0),
            won_deals=Range(3.0, 4.5, 6.0, 4.4),
            won_to_date=2000.0 if i == 0 else 0.0,
            won_deals_to_date=2 if i == 0 else 0,
            from_open_pipeline=6000.0,
            from_new_leads=6100.0,
        )
        for i in range(3)
    )
    series = SeriesForecast("volume", "holt_damped", "short history", (1.0,), (1.0,), (0.1,))
    goals = (
        ()
        if goal is None
        else (
            GoalOutlook(date(2026, 11, 1), None, goal, 12000.5, goal - 12000.5, 0.3125, "high"),
            GoalOutlook(date(2026, 11, 1), ANA, 10000.0, 9000.0, 1000.0, 0.9, "low"),
        )
    )
    return Forecast(
        status="ok",
        reason="5 closed months of history; new leads forecast by holt_damped",
        now=datetime(2026, 11, 15, 12, 0, tzinfo=UTC),
        seed=0,
        draws=100,
        company=ScopeForecast("company", None, months),
        goals=goals,
        new_leads=NewLeadsSummary(series, series, series, (1.0,), 3000.0),
    )


def test_the_range_fills_the_forecast_section_and_keeps_its_facts() -> None:
    document = compute(story(), goals=GOALS)
    facts = document["forecast"]
    assert (facts["status"], facts["months"], facts["method"], facts["seed"]) == (
        "not_built",
        [],
        "none",
        None,
    )
    section = with_range(facts, forecast_result())
    # Every fact stays, in its place; the forecast's keys follow them.
    assert list(section) == list(facts)
    added = {"status", "note", "months", "method", "seed"}
    assert {k: v for k, v in section.items() if k not in added} == {
        k: v for k, v in facts.items() if k not in added
    }
    assert section["status"] == "ok"
    assert section["note"] == "5 closed months of history; new leads forecast by holt_damped"
    assert (section["method"], section["seed"]) == ("holt_damped", 0)
    assert [m["month"] for m in section["months"]] == ["2026-11", "2026-12", "2027-01"]
    november, december = section["months"][:2]
    assert november == {
        "month": "2026-11",
        "revenue_p10": 8000.0,
        "revenue_p50": 12000.5,
        "revenue_p90": 17000.0,
        "won_deals_p10": 3.0,
        "won_deals_p50": 4.5,
        "won_deals_p90": 6.0,
        "revenue_to_date": 2000.0,
        "goal": 15000.0,  # the company's goal, not Ana's
        "goal_probability_pct": 31.25,
        "risk": "high",
    }
    assert (december["goal"], december["goal_probability_pct"], december["risk"]) == (
        None,
        None,
        None,
    )
    document["forecast"] = section
    typed = assert_round_trip(document)
    assert typed.forecast is not None and typed.forecast.months[0].risk == "high"


def test_without_history_the_section_says_why_and_has_no_range() -> None:
    document = compute(story())
    short = Forecast(
        status="insufficient_history",
        reason="the history holds 1 closed month(s); the forecast needs at least 3",
        now=datetime(2026, 11, 15, 12, 0, tzinfo=UTC),
        seed=0,
        draws=100,
    )
    document["forecast"] = with_range(document["forecast"], short)
    typed = assert_round_trip(document)
    assert typed.forecast is not None
    assert typed.forecast.status == "insufficient_history"
    assert typed.forecast.note.startswith("the history holds 1 closed month")
    assert (typed.forecast.months, typed.forecast.method, typed.forecast.seed) == ([], "none", 0)

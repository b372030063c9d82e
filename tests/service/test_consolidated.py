"""The consolidated view of several accounts: tiny hand-built reports, every number explained.

Three accounts, January and February 2026, as of 10 March 2026:

- ``br`` (BRL, São Paulo): 10 leads; 4 won, 6 lost; revenue R$ 4,000 (January R$ 1,000 with
  1 deal, February R$ 3,000 with 3); costs R$ 500 (January 200, February 300); 5 open deals
  worth R$ 2,000.
- ``us`` (USD, New York): 5 leads; 1 won, 1 lost; revenue US$ 200, all in January; costs
  US$ 30 (January 10, February 20); 2 open deals worth US$ 100.
- ``mx`` (MXN): only in the missing-rate test.

Rates into BRL: USD January 5.0, February 5.5, March (as_of's month) 6.0.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from filelock import FileLock

from kommo_analytics.errors import ConfigError, InputFileError
from kommo_analytics.metrics.consolidated import (
    AccountReports,
    MapRow,
    MissingRate,
    Rates,
    consolidate,
    month_slices,
)
from kommo_analytics.metrics.results import Report
from kommo_analytics.model import inputs
from kommo_analytics.service import consolidated as service
from kommo_analytics.service.forecasts import Labels
from kommo_analytics.settings import Settings
from tests.service.consolidated_builders import direct_report, two_account_install
from tests.sync.harness import NOW

START, END = date(2026, 1, 1), date(2026, 2, 28)
AS_OF = datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))


def report(
    currency: str | None,
    *,
    start: date = START,
    end: date = END,
    timezone: str = "America/Sao_Paulo",
    leads: int = 0,
    answered: int = 0,
    avg_hours: float | None = None,
    median_hours: float | None = None,
    within_sla_pct: float | None = None,
    won: int = 0,
    lost: int = 0,
    revenue: float = 0.0,
    cycle_avg: float | None = None,
    cost: float | None = None,
    open_deals: tuple[tuple[int, float], ...] = (),
    funnel: list[dict[str, Any]] | None = None,
    tasks: tuple[int, int, float | None] = (0, 0, None),
) -> Report:
    """A report with only the figures a test sets (everything else zero or empty)."""
    tasks_total, tasks_completed, on_time_pct = tasks
    zero_acts = dict.fromkeys(
        ["overdue", "overdue_in_period", "follow_ups_total", "follow_ups_completed",
         "meetings_scheduled", "meetings_held", "calls_outgoing", "calls_incoming",
         "messages_outgoing", "messages_incoming", "emails_outgoing", "emails_incoming",
         "sms_outgoing"], 0)  # fmt: skip
    document = {
        "period": {"from": start.isoformat(), "to": end.isoformat(), "timezone": timezone},
        "as_of": AS_OF.isoformat(),
        "currency": currency,
        "filters": {"pipelines": [], "sellers": [], "channels": []},
        "leads": {
            "total": leads,
            "by_channel": {"paid": leads},
            "response_time": {
                "avg_hours": avg_hours, "median_hours": median_hours,
                "within_sla_pct": within_sla_pct, "without_response": leads - answered,
                "answered": answered, "sla_hours": 2.0,
            },
            "cost": {"total": cost, "per_lead": None, "by_channel": {}, "imported": cost is not None,
                     "not_split_by_filter": False},
            "utm": {"utm_source": [], "utm_medium": [], "utm_campaign": []},
            "unknown": {"total": 0, "no_tracking_field": 0, "no_tag": 0, "created_by_robot": 0},
        },
        "funnel": funnel or [],
        "activities": {
            "tasks_total": tasks_total, "tasks_completed": tasks_completed,
            "completion_rate_pct": None, "on_time_rate_pct": on_time_pct,
            "call_minutes": 0.0, **zero_acts,
        },
        "sales": {
            "won": won, "lost": lost, "win_rate_pct": None, "revenue": revenue,
            "avg_ticket": None, "won_without_price": 0, "sales_cycle_avg_days": cycle_avg,
            "sales_cycle_median_days": None, "loss_reasons": [],
        },
        "forecast": {
            "status": "not_built", "note": "", "month": f"{AS_OF:%Y-%m}",
            "month_revenue_to_date": 0.0, "month_won_deals": 0, "month_goal": None,
            "month_gap_to_goal": None, "days_left_in_month": 21, "working_days_left": 15,
            "holiday_calendar": None,
            "open_pipeline": [
                {"pipeline_id": 1, "status_id": 100 + i, "name": None, "deals": n, "value": v}
                for i, (n, v) in enumerate(open_deals)
            ],
            "months": [], "method": "none", "seed": None,
        },
        "model": {},
    }  # fmt: skip
    return Report.from_dict(document)


def pipeline(pid: int, name: str, won: int, stages: list[tuple[int, str, int]]) -> dict[str, Any]:
    return {
        "pipeline_id": pid, "name": name, "leads": stages[0][2] if stages else 0, "won": won,
        "stages": [
            {"status_id": sid, "name": sname, "reached": reached, "conversion_to_next_pct": None,
             "avg_hours_in_stage": None, "median_hours_in_stage": None, "finished_stays": 0,
             "abandoned": 0, "abandonment_pct": None}
            for sid, sname, reached in stages
        ],
        "bottleneck_status_id": None, "open_deals": 0, "sales_velocity_per_day": None,
    }  # fmt: skip


JAN, FEB = (date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 2, 1), date(2026, 2, 28))

BR_FUNNEL = [
    pipeline(1, "Vendas", 4, [(11, "Novo", 10), (12, "Proposta", 6)]),
    pipeline(2, "Parceiros", 0, [(21, "Conversa", 2)]),
]
US_FUNNEL = [pipeline(7, "Sales", 1, [(71, "New", 5), (72, "Qualified", 3), (73, "Proposal", 2)])]


def br() -> AccountReports:
    whole = report("BRL", leads=10, answered=8, avg_hours=2.0, median_hours=1.0,
                   within_sla_pct=50.0, won=4, lost=6, revenue=4000.0, cycle_avg=10.0,
                   cost=500.0, open_deals=((5, 2000.0),), funnel=BR_FUNNEL, tasks=(10, 8, 75.0))  # fmt: skip
    # Already in BRL: no month slices needed.
    return AccountReports("br", "Brasil", whole, {})


def us(*, cost: bool = True) -> AccountReports:
    whole = report("USD", timezone="America/New_York", leads=5, answered=2, avg_hours=7.0,
                   median_hours=9.0, within_sla_pct=40.0, won=1, lost=1, revenue=200.0,
                   cycle_avg=40.0, cost=30.0 if cost else None, open_deals=((2, 100.0),),
                   funnel=US_FUNNEL, tasks=(4, 2, 50.0))  # fmt: skip
    months = {
        "2026-01": report("USD", start=JAN[0], end=JAN[1], won=1, revenue=200.0,
                          cost=10.0 if cost else None),
        "2026-02": report("USD", start=FEB[0], end=FEB[1], cost=20.0 if cost else None),
    }  # fmt: skip
    return AccountReports("us", "USA", whole, months)


RATES = Rates("BRL", {("2026-01", "USD"): 5.0, ("2026-02", "USD"): 5.5, ("2026-03", "USD"): 6.0})


def test_the_period_is_cut_into_calendar_months() -> None:
    assert month_slices(date(2026, 1, 15), date(2026, 3, 2)) == [
        ("2026-01", date(2026, 1, 15), date(2026, 1, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026-03", date(2026, 3, 1), date(2026, 3, 2)),
    ]


def test_the_consolidated_report_is_the_sum_of_the_accounts_converted_at_the_rates() -> None:
    result = consolidate([br(), us()], RATES)
    assert result.missing_rates == [] and result.money is not None
    # Revenue: br R$ 4,000 as it is; us US$ 200 of January at 5.0 + US$ 0 of February at 5.5.
    assert result.money.revenue == pytest.approx(4000 + 200 * 5.0 + 0 * 5.5) == 5000
    # The same, from the per-account (per-month) reports and the rates, by the done-when rule.
    expected = br().report.sales.revenue + sum(  # type: ignore[union-attr]
        r.sales.revenue * RATES.table[(m, "USD")]  # type: ignore[union-attr]
        for m, r in us().months.items()
    )
    assert result.money.revenue == pytest.approx(expected)
    # Costs: 500 + 10 × 5.0 + 20 × 5.5 = 660; per lead over 15 leads = 44.
    assert result.money.cost == pytest.approx(660.0)
    assert result.money.cost_per_lead(result.counts) == pytest.approx(44.0)
    # Open pipeline valued at as_of's month (March, 6.0): 2,000 + 100 × 6 = 2,600.
    assert result.money.open_value == pytest.approx(2600.0)
    assert result.counts.open_deals == 5 + 2
    # Each account's column: own currency and converted.
    us_column = result.accounts[1]
    assert (us_column.money.revenue, us_column.currency) == (200.0, "USD")
    assert us_column.converted is not None and us_column.converted.revenue == pytest.approx(1000)


def test_ratios_are_recomputed_from_the_sums_never_averaged() -> None:
    result = consolidate([br(), us()], RATES)
    counts = result.counts
    assert (counts.leads, counts.won, counts.lost) == (15, 5, 7)
    # Win rate 5 / 12 = 41.67 %, not the mean of 40 % and 50 % (45 %).
    assert counts.win_rate_pct == pytest.approx(100 * 5 / 12)
    # Average ticket: R$ 5,000 over 5 deals (br alone: 1,000; us alone: US$ 200 = R$ 1,000).
    assert result.money is not None and result.money.avg_ticket(counts) == pytest.approx(1000.0)
    # First response: (8 × 2 h + 2 × 7 h) / 10 answered = 3 h, not (2 + 7) / 2 = 4.5 h.
    assert counts.response_avg_hours == pytest.approx(3.0)
    # Within SLA: 50 % of 10 = 5 leads, 40 % of 5 = 2 → 7 / 15.
    assert counts.within_sla_pct == pytest.approx(100 * 7 / 15)
    # Sales cycle: (4 × 10 + 1 × 40) / 5 = 16 days.
    assert counts.sales_cycle_avg_days == pytest.approx(16.0)
    # Tasks: 8 + 2 completed of 14; on time 75 % of 8 = 6 and 50 % of 2 = 1 → 7 / 10.
    assert counts.completion_rate_pct == pytest.approx(100 * 10 / 14)
    assert counts.on_time_rate_pct == pytest.approx(70.0)
    # Medians stay per account.
    assert [a.response_median_hours for a in result.accounts] == [1.0, 9.0]
    assert "response_median_hours" not in result.to_json_dict()["total"]


def test_a_missing_rate_refuses_the_money_total_and_names_it() -> None:
    rates = Rates("BRL", {("2026-01", "USD"): 5.0, ("2026-03", "USD"): 6.0})
    mx = AccountReports("mx", "México", report("MXN", leads=3), {
        "2026-01": report("MXN", start=JAN[0], end=JAN[1]),
        "2026-02": report("MXN", start=FEB[0], end=FEB[1]),
    })  # fmt: skip
    result = consolidate([br(), us(), mx], rates)
    assert result.money is None
    # Exactly the pairs lacking: USD of February; MXN of both months and of as_of's March.
    assert result.missing_rates == [
        MissingRate("2026-01", "MXN", ("mx",)),
        MissingRate("2026-02", "MXN", ("mx",)),
        MissingRate("2026-02", "USD", ("us",)),
        MissingRate("2026-03", "MXN", ("mx",)),
    ]
    # Counts need no rate; each account's own money is still there.
    assert result.counts.leads == 18
    assert [a.money.revenue for a in result.accounts] == [4000.0, 200.0, 0.0]
    assert result.accounts[0].converted is not None  # BRL is the reporting currency
    assert result.accounts[1].converted is None
    assert result.to_json_dict()["total"]["money"] is None


def test_an_account_without_imported_costs_leaves_the_cost_total_unknown() -> None:
    result = consolidate([br(), us(cost=False)], RATES)
    assert result.money is not None
    assert result.money.cost is None  # never br's 500 presented as the total
    assert result.money.revenue == pytest.approx(5000)


def test_the_mapping_sums_each_common_stage_over_the_accounts() -> None:
    mapping = [
        MapRow("br", "Vendas", "Novo", "Lead"),
        MapRow("br", "Vendas", "Proposta", "Proposal"),
        MapRow("us", "7", "71", "Lead"),
        MapRow("us", "Sales", "qualified", "Lead"),  # merged with New: counts max(5, 3) = 5
        MapRow("us", "Sales", "Proposal", "Proposal"),
        MapRow("us", "Sales", "Negotiation", "Proposal"),  # us has no such stage
    ]
    result = consolidate([br(), us()], RATES, mapping)
    assert result.funnel is not None
    lead, proposal = result.funnel.stages
    # Lead: br 10 + us 5 (New's 5, not New + Qualified = 8: the same leads).
    assert (lead.name, lead.reached, lead.by_account) == ("Lead", 15, {"br": 10, "us": 5})
    # Proposal: br 6 + us 2 = 8; Lead → Proposal 8 / 15.
    assert (proposal.reached, lead.conversion_to_next_pct) == (8, pytest.approx(100 * 8 / 15))
    # After the last stage: the mapped pipelines' won, 4 + 1 = 5, over 8.
    assert result.funnel.won == 5
    assert proposal.conversion_to_next_pct == pytest.approx(62.5)
    # Listed, not dropped: br's Parceiros stage and the row naming a stage us lacks.
    assert [(s.account, s.pipeline, s.stage) for s in result.funnel.unmapped] == [
        ("br", "Parceiros", "Conversa")
    ]
    assert [r.stage for r in result.funnel.unmatched] == ["Negotiation"]


def test_a_name_two_pipelines_or_stages_share_matches_neither() -> None:
    """Kommo lets two pipelines (or two stages of one) have the same name: a row naming it could
    be either, so it is listed as unmatched, never silently the first; by id it counts."""
    twins = [
        pipeline(1, "Vendas", 2, [(11, "Novo", 10), (12, "Novo", 4)]),
        pipeline(2, "Vendas", 1, [(21, "Novo", 3)]),
    ]
    item = AccountReports("br", "Brasil", report("BRL", funnel=twins), {})
    mapping = [
        MapRow("br", "Vendas", "Novo", "Lead"),  # pipeline 1 or 2?
        MapRow("br", "1", "Novo", "Lead"),  # pipeline 1, but stage 11 or 12?
        MapRow("br", "1", "11", "Lead"),
        MapRow("br", "2", "Novo", "Lead"),  # pipeline 2 has one "Novo"
    ]
    result = consolidate([item], Rates("BRL", {}), mapping)
    assert result.funnel is not None
    (lead,) = result.funnel.stages
    assert lead.reached == 10 + 3
    assert [(r.pipeline, r.stage) for r in result.funnel.unmatched] == [
        ("Vendas", "Novo"),
        ("1", "Novo"),
    ]


def test_the_grid_offers_a_shared_name_by_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mapping grid's rows: names, but the id of a pipeline (or stage) whose name another
    one has too — what the matching above can tell apart. Won and lost are never offered."""
    found = Labels(
        pipelines={1: "Vendas", 2: " vendas", 3: "Parceiros"},
        stages={(1, 11): "Novo", (1, 12): "Novo", (2, 21): "Novo", (3, 31): "Conversa",
                (3, 142): "Ganho"},
        stage_order={(1, 11): 1, (1, 12): 2, (2, 21): 1, (3, 31): 1, (3, 142): 9},
        sellers={},
    )  # fmt: skip
    monkeypatch.setattr(service, "account_settings", lambda name: Settings())
    monkeypatch.setattr(service.forecasts, "labels", lambda target: found)
    assert service.stages_of("br") == [
        ("1", "11"),
        ("1", "12"),
        ("2", "Novo"),
        ("Parceiros", "Conversa"),
    ]


# -- the files ---------------------------------------------------------------------------------


def test_a_rate_with_one_separator_is_a_decimal() -> None:
    # Unlike an amount, where "5,123" would be five thousand.
    assert str(inputs.parse_rate("5,123")) == "5.123"
    assert str(inputs.parse_rate("1.234,5678")) == "1234.5678"


def test_a_rates_file_with_a_bad_line_is_refused_whole(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    service.save_rates_text(settings, "month,from_currency,to_currency,rate\n2026-01,USD,BRL,5\n",
                            source="grid")  # fmt: skip
    bad = tmp_path / "rates.csv"
    bad.write_text(
        "month,from_currency,to_currency,rate\n"
        "2026-02,USD,BRL,5.5\n"  # good
        "2026-13,USD,BRL,5.6\n"  # line 3: no such month
        "2026-03,US,BRL,0\n"  # line 4: not a code, and a zero rate
        "2026-02,usd,brl,5.4\n",  # line 5: the same month and pair as line 2
        encoding="utf-8",
    )
    with pytest.raises(InputFileError) as caught:
        service.import_rates(settings, bad, replace=False)
    assert [(p.line, p.column) for p in caught.value.problems] == [
        (3, "month"),
        (4, "from_currency"),
        (4, "rate"),
        (5, None),
    ]
    # Nothing stored: the file still holds January only.
    assert [(f"{r.month:%Y-%m}", float(r.rate)) for r in service.read_rates(settings)] == [
        ("2026-01", 5.0)
    ]
    good = tmp_path / "good.csv"
    good.write_text("month;from_currency;to_currency;rate\n2026-02;USD;BRL;5,5\n", encoding="utf-8")
    assert service.import_rates(settings, good, replace=False) == (1, 1)
    rates = service.rates_for(service.read_rates(settings), "BRL")
    assert rates.table == {("2026-01", "USD"): 5.0, ("2026-02", "USD"): 5.5}
    assert service.rates_for(service.read_rates(settings), "USD").table == {}  # never inverted


def test_a_change_waits_for_another_and_is_refused_after_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rates file while another process changes it: refused with what to do, the stored
    rates as they were; once the other change is over, the import goes through."""
    settings = Settings(data_dir=tmp_path)
    service.save_rates_text(settings, "month,from_currency,to_currency,rate\n2026-01,USD,BRL,5\n",
                            source="test")  # fmt: skip
    monkeypatch.setattr(service, "LOCK_SECONDS", 0.1)
    path = service.rates_path(settings)
    other = FileLock(str(path.with_name(f".{path.name}.lock")))
    new = tmp_path / "new.csv"
    new.write_text("month,from_currency,to_currency,rate\n2026-02,USD,BRL,5.5\n", encoding="utf-8")
    with other, pytest.raises(ConfigError, match="being changed by someone else"):
        service.import_rates(settings, new, replace=False)
    assert [r.month.month for r in service.read_rates(settings)] == [1]
    assert service.import_rates(settings, new, replace=False) == (1, 1)


def test_a_stage_mapping_names_known_accounts_once_per_stage(tmp_path: Path) -> None:
    text = (
        "account,pipeline,stage,common_stage\n"
        "main,Vendas,Novo,Lead\n"
        "nobody,Sales,New,Lead\n"  # line 3: no such account
        "main,vendas,novo,Other\n"  # line 4: the same stage as line 2
    )
    with pytest.raises(InputFileError) as caught:
        inputs.parse_stage_map(text, accounts=["main", "us"], source="map.csv")
    assert [p.line for p in caught.value.problems] == [3, 4]


# -- end to end: the small account synced, registered twice ------------------------------------


@pytest.fixture
def two_accounts(small_synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return two_account_install(small_synced, tmp_path, monkeypatch)


E2E_START, E2E_END = date(2026, 9, 15), date(2026, 11, 10)
E2E_NOW = datetime.fromtimestamp(NOW, UTC)  # 2026-11-25: as_of falls in November
E2E_RATES = "month,from_currency,to_currency,rate\n2026-09,USD,BRL,2\n2026-10,USD,BRL,3\n2026-11,USD,BRL,4\n"


def _direct(name: str, first: date, last: date) -> Report:
    return direct_report(name, first, last, E2E_NOW)


def test_synced_accounts_consolidate_to_their_reports_converted(two_accounts: Path) -> None:
    settings = service.install_settings()
    # September to November, each month's rate (November's is as_of's month's too).
    service.save_rates_text(settings, E2E_RATES, source="test")
    result = service.consolidate(None, start=E2E_START, end=E2E_END, currency="BRL", now=E2E_NOW)
    assert result.money is not None
    alpha = _direct("alpha", E2E_START, E2E_END)
    slices = {
        m: _direct("beta", first, last) for m, first, last in month_slices(E2E_START, E2E_END)
    }
    rate = {"2026-09": 2.0, "2026-10": 3.0, "2026-11": 4.0}
    expected = alpha.sales.revenue + sum(  # type: ignore[union-attr]
        r.sales.revenue * rate[m]
        for m, r in slices.items()  # type: ignore[union-attr]
    )
    assert alpha.sales is not None and alpha.sales.revenue > 0
    assert result.money.revenue == pytest.approx(expected)
    # The month slices add up to the whole period (the same deals as alpha's).
    assert sum(r.sales.won for r in slices.values()) == alpha.sales.won  # type: ignore[union-attr]
    assert result.counts.won == 2 * alpha.sales.won
    assert result.counts.leads == 2 * alpha.leads.total  # type: ignore[union-attr]
    assert [a.currency for a in result.accounts] == ["BRL", "USD"]

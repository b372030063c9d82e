"""The forecast's inputs as the service reads them from the model: exactly the scope's leads and
their stays, in the account's zone, the goals of the forecast's months, on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pandas as pd
import pytest

from kommo_analytics.forecast import Goal
from kommo_analytics.model import store as model_store
from kommo_analytics.model.schema import MODEL_TABLES
from kommo_analytics.service import forecasts
from kommo_analytics.service.account import Account
from kommo_analytics.service.scope import Scope
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import Kind, parse_database_url
from tests.metrics.builders import (
    ANA,
    BRUNO,
    CARLA,
    LOST,
    NEW,
    PARTNER_TALK,
    PARTNERS,
    PROPOSAL,
    QUALIFIED,
    TZ,
    WON,
    goal,
    lead,
    model,
    move,
    raw,
)

NOW = datetime(2026, 11, 15, 15, 0, tzinfo=UTC)
ACCOUNT = Account("Loja Teste", "lojateste", "BRL", TZ, info={"timezone": TZ})


def _tiny() -> dict[str, pd.DataFrame]:
    return model(
        raw(
            leads=[
                lead(1, "2026-07-05 13:00", status=WON, price=1000, closed="2026-07-10 15:00"),
                lead(2, "2026-08-03 13:00", status=LOST, responsible=BRUNO,
                     closed="2026-08-05 13:00"),
                lead(3, "2026-10-05 13:00", status=PROPOSAL, price=2500),
                lead(4, "2026-09-01 13:00", status=PARTNER_TALK, pipeline=PARTNERS,
                     responsible=CARLA),
                lead(5, "2026-09-02 13:00", deleted=True),
            ],
            events=[
                move(1, "2026-07-06 13:00", NEW, QUALIFIED),
                move(1, "2026-07-10 15:00", QUALIFIED, WON),
                move(2, "2026-08-05 13:00", NEW, LOST, by=BRUNO),
                move(3, "2026-10-06 13:00", NEW, PROPOSAL),
            ],
        )
    )  # fmt: skip


GOALS = [goal("2026-10", ANA, 99), goal("2026-11", ANA, 1000), goal("2026-11", BRUNO, 500)]
GOALS += [goal("2027-01", BRUNO, 700), goal("2027-02", ANA, 1)]


@pytest.fixture
def tiny_url(warehouse_url: str) -> str:
    """The tiny account's model and goals written into a fresh warehouse, as a sync leaves it."""
    target = parse_database_url(warehouse_url)
    model_store.prepare_writer(target)
    if target.kind is Kind.DUCKDB:  # a sync's first load creates the file; here, an empty one
        assert target.sync_path is not None
        duckdb.connect(str(target.sync_path)).close()
    with reader.connect(target, write=True) as con:
        model_store.ensure_tables(con, target, MODEL_TABLES.values())
        model_store.replace_tables(con, target, _tiny())
    model_store.replace_input_rows(target, "input_goals", GOALS, delete_where=None)
    backend_for(target).publish()
    return warehouse_url


def _read(url: str, scope: Scope = Scope()) -> forecasts.ForecastInputs:
    return forecasts.inputs(parse_database_url(url), ACCOUNT, scope, now=NOW)


def test_the_history_holds_exactly_the_live_leads_and_their_stays(tiny_url: str) -> None:
    given = _read(tiny_url)
    leads = given.history.leads.set_index("lead_id")
    assert list(leads.index) == [1, 2, 3, 4]  # the deleted lead 5 is not there
    assert leads.loc[1, "status_id"] == WON and leads.loc[1, "price"] == 1000.0
    assert leads.loc[2, "user_id"] == BRUNO and leads.loc[4, "pipeline_id"] == PARTNERS
    assert leads["closed_at"].isna().tolist() == [False, False, True, True]
    assert leads["price"].isna().tolist() == [False, True, False, True]
    # Times are instants in the account's zone: 13:00 UTC is 10:00 in São Paulo.
    assert str(leads["created_at"].dt.tz) == TZ
    assert leads.loc[1, "created_at"] == pd.Timestamp("2026-07-05 10:00", tz=TZ)
    assert leads.loc[1, "closed_at"] == pd.Timestamp("2026-07-10 12:00", tz=TZ)
    stays = given.history.stays
    walks = stays.groupby("lead_id")["status_id"].apply(list).to_dict()
    assert walks == {1: [NEW, QUALIFIED, WON], 2: [NEW, LOST], 3: [NEW, PROPOSAL],
                     4: [PARTNER_TALK]}  # fmt: skip
    first = stays[stays["lead_id"] == 1].iloc[0]
    assert first["entered_at"] == pd.Timestamp("2026-07-05 10:00", tz=TZ)
    assert first["left_at"] == pd.Timestamp("2026-07-06 10:00", tz=TZ)
    assert stays[stays["lead_id"] == 3]["left_at"].isna().tolist() == [False, True]
    assert given.now == pd.Timestamp("2026-11-15 12:00", tz=TZ)


def test_goals_of_the_three_months_the_company_one_the_sum_of_the_sellers(tiny_url: str) -> None:
    assert _read(tiny_url).goals == (
        Goal(date(2026, 11, 1), 1500.0),
        Goal(date(2026, 11, 1), 1000.0, ANA),
        Goal(date(2026, 11, 1), 500.0, BRUNO),
        Goal(date(2027, 1, 1), 700.0),
        Goal(date(2027, 1, 1), 700.0, BRUNO),
    )


def test_the_scope_narrows_leads_stays_and_goals(tiny_url: str) -> None:
    by_pipeline = _read(tiny_url, Scope(pipelines=(PARTNERS,)))
    assert list(by_pipeline.history.leads["lead_id"]) == [4]
    assert set(by_pipeline.history.stays["lead_id"]) == {4}
    ana = _read(tiny_url, Scope(sellers=(ANA, BRUNO), allowed_sellers=(ANA, CARLA)))
    assert list(ana.history.leads["lead_id"]) == [1, 3]
    assert set(ana.history.stays["lead_id"]) == {1, 3}
    assert ana.goals == (Goal(date(2026, 11, 1), 1000.0), Goal(date(2026, 11, 1), 1000.0, ANA))
    # "As of" a past moment: the goals of that moment's months; a naive time is account time.
    past = _read(tiny_url, Scope(as_of=datetime(2026, 10, 1, 9, 0)))
    assert past.now == pd.Timestamp("2026-10-01 09:00", tz=TZ)
    assert past.goals[0] == Goal(date(2026, 10, 1), 99.0)


def test_a_short_history_gets_the_statement_not_a_number(tiny_url: str) -> None:
    target = parse_database_url(tiny_url)
    result = forecasts.forecast(target, ACCOUNT, Scope(), now=NOW, draws=100)
    # July to November: four closed months, so the forecast runs on this tiny account …
    assert result.status == "ok" and result.company is not None
    early = forecasts.forecast(
        target, ACCOUNT, Scope(as_of=datetime(2026, 9, 20, 12, 0)), now=NOW, draws=100
    )
    # … but as of September it has two, and says what is missing.
    assert early.status == "insufficient_history" and early.company is None
    assert "2 closed month(s)" in early.reason and "at least 3" in early.reason
    names = forecasts.labels(target)
    assert names.pipeline(PARTNERS) == "Partners" and names.stage(10, PROPOSAL) == "Proposal"
    assert names.seller(ANA) == "Ana" and names.stage_order[(10, PROPOSAL)] == 3

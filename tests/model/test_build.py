"""``build_model``: raw tables → model tables, checked row by row on tiny accounts."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

import pandas as pd

from kommo_analytics.model.build import (
    _ID,
    _PIPELINE,
    _extract,
    _per_value,
    build_model,
    tracking_values,
)
from kommo_analytics.model.channels import ChannelRules, parse_rules
from kommo_analytics.model.schema import DERIVED, MODEL_TABLES
from tests.metrics.builders import (
    ANA,
    BRUNO,
    FOLLOW_UP,
    JOAO,
    LOST,
    MARIA,
    MEETING,
    NEW,
    NO_BUDGET,
    PIPELINE,
    PROPOSAL,
    QUALIFIED,
    ROBOT,
    TZ,
    VISIT,
    WON,
    call_note,
    event,
    lead,
    link,
    model,
    move,
    raw,
    task,
    task_completed,
    tracking,
)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def row(frame: pd.DataFrame, **where: object) -> pd.Series:
    match = frame
    for column, value in where.items():
        match = match[match[column] == value]
    assert len(match) == 1, f"expected one row for {where}, found {len(match)}"
    return match.iloc[0]


def stays_of(tables: dict[str, pd.DataFrame], lead_id: int) -> list[tuple[int, float | None]]:
    """(status_id, hours) per stay in order; hours None while the stay goes on."""
    stays = tables["fact_stage_stays"]
    stays = stays[stays["lead_id"] == lead_id].sort_values("seq")
    return [
        (int(s.status_id), None if pd.isna(s.hours) else float(s.hours)) for s in stays.itertuples()
    ]


# -- shape ------------------------------------------------------------------------------------------


def test_an_empty_warehouse_builds_every_table_with_its_declared_columns() -> None:
    # A brand-new account: not even the account row. Nothing may fail, every table is there.
    tables = model(raw(configured=False))
    assert set(tables) == {t.name for t in DERIVED}
    for name, frame in tables.items():
        assert list(frame.columns) == list(MODEL_TABLES[name].column_names), name
        if name not in ("model_info", "dim_channels"):
            assert frame.empty, name
    info = dict(zip(tables["model_info"]["item"], tables["model_info"]["value"], strict=True))
    assert info["timezone"] == "UTC"  # no account row: UTC, until the account is synced


def test_model_info_carries_timezone_currency_and_an_override() -> None:
    tables = model(raw())
    info = dict(zip(tables["model_info"]["item"], tables["model_info"]["value"], strict=True))
    assert info["timezone"] == TZ
    assert info["currency"] == "BRL"
    assert info["channels"] == "paid,referral,organic,outbound,other,unknown"
    overridden = build_model(
        raw(),
        ChannelRules.default(),
        built_at=datetime(2026, 11, 15, tzinfo=UTC),
        timezone_override="Europe/Lisbon",
    )
    items = overridden["model_info"].set_index("item")["value"]
    assert items["timezone"] == "Europe/Lisbon"  # a setting beats the account's time zone


def test_stage_order_follows_sort_and_terminal_statuses_have_none() -> None:
    stages = model(raw())["dim_stages"]
    sales = stages[stages["pipeline_id"] == PIPELINE]
    order = dict(zip(sales["status_id"], sales["stage_order"], strict=True))
    # The statuses were listed Proposal, New, Qualified: `sort` puts them back in order.
    assert (order[NEW], order[QUALIFIED], order[PROPOSAL]) == (1, 2, 3)
    assert pd.isna(order[WON]) and pd.isna(order[LOST])  # terminal, not in the order
    assert row(sales, status_id=WON)["outcome"] == "won"
    assert row(sales, status_id=LOST)["outcome"] == "lost"


# -- leads and their stage history ---------------------------------------------------------------


def test_a_lead_with_no_events_stays_in_its_current_stage_since_creation() -> None:
    tables = model(raw(leads=[lead(1, "2026-10-05 13:00", status=QUALIFIED)]))
    stay = row(tables["fact_stage_stays"], lead_id=1)
    assert stay["seq"] == 0 and stay["status_id"] == QUALIFIED
    assert stay["entered_at"] == ts("2026-10-05 13:00")  # entered when it was created
    assert stay["entered_local"] == ts("2026-10-05 10:00")  # São Paulo is UTC−3
    assert pd.isna(stay["left_at"]) and pd.isna(stay["hours"])  # still there
    facts = row(tables["fact_leads"], lead_id=1)
    assert facts["entry_status_id"] == QUALIFIED
    assert facts["max_stage_order"] == 2  # Qualified is the 2nd stage
    assert facts["status_changes"] == 0


def test_a_closed_lead_with_no_events_reached_no_open_stage() -> None:
    # The contract: with no event, the lead's first (and only) stage is its current one, here
    # Lost. Its history therefore holds no open stage at all.
    tables = model(raw(leads=[lead(1, status=LOST, closed="2026-10-09 13:00")]))
    assert stays_of(tables, 1) == [(LOST, None)]
    facts = row(tables["fact_leads"], lead_id=1)
    assert pd.isna(facts["max_stage_order"])
    assert pd.isna(facts["last_open_status_id"])


def test_stays_follow_the_status_events_and_a_skipped_stage_counts_as_passed() -> None:
    leads = [lead(1, "2026-10-01 12:00", status=PROPOSAL)]
    events = [move(1, "2026-10-02 18:00", NEW, PROPOSAL, by=BRUNO)]  # straight from 1 to 3
    tables = model(raw(leads=leads, events=events))
    # 30 h in New lead (Oct 1 12:00 → Oct 2 18:00), then Proposal since.
    assert stays_of(tables, 1) == [(NEW, 30.0), (PROPOSAL, None)]
    first = row(tables["fact_stage_stays"], lead_id=1, seq=0)
    assert first["next_status_id"] == PROPOSAL and first["moved_by"] == BRUNO
    facts = row(tables["fact_leads"], lead_id=1)
    assert facts["max_stage_order"] == 3  # furthest: Proposal, so Qualified was passed too
    assert facts["entry_status_id"] == NEW  # the first event's value_before


def test_a_regression_keeps_the_furthest_stage_and_the_last_open_stage_before_the_loss() -> None:
    leads = [lead(1, "2026-10-01 12:00", status=LOST, closed="2026-10-04 12:00")]
    events = [
        move(1, "2026-10-02 00:00", NEW, PROPOSAL),  # 12 h in New lead
        move(1, "2026-10-03 00:00", PROPOSAL, QUALIFIED),  # 24 h in Proposal, back to 2
        move(1, "2026-10-04 12:00", QUALIFIED, LOST),  # 36 h in Qualified, then lost
    ]
    tables = model(raw(leads=leads, events=events))
    assert stays_of(tables, 1) == [(NEW, 12.0), (PROPOSAL, 24.0), (QUALIFIED, 36.0), (LOST, None)]
    facts = row(tables["fact_leads"], lead_id=1)
    assert facts["max_stage_order"] == 3  # it did reach Proposal once
    assert facts["last_open_status_id"] == QUALIFIED  # where it was when it was lost
    assert facts["status_changes"] == 3
    assert not facts["ever_won"]


def test_a_reopened_deal_is_ever_won_and_closes_at_its_final_date() -> None:
    leads = [lead(1, "2026-10-01 12:00", status=LOST, closed="2026-10-09 12:00", price=900)]
    events = [
        move(1, "2026-10-02 12:00", NEW, PROPOSAL),
        move(1, "2026-10-03 12:00", PROPOSAL, WON),
        move(1, "2026-10-05 12:00", WON, PROPOSAL),  # reopened
        move(1, "2026-10-09 12:00", PROPOSAL, LOST),
    ]
    facts = row(model(raw(leads=leads, events=events))["fact_leads"], lead_id=1)
    assert facts["ever_won"]  # it was in Won once
    assert facts["outcome"] == "lost"  # ...but is lost now
    assert facts["closed_at"] == ts("2026-10-09 12:00")  # by its final closing date
    assert facts["cycle_days"] == 8.0  # Oct 1 12:00 → Oct 9 12:00
    assert facts["last_open_status_id"] == PROPOSAL  # the stage it was reopened into


def test_an_open_lead_has_no_closing_date_whatever_kommo_kept() -> None:
    # Won, then reopened: Kommo may keep the old closed_at; an open deal is not closed.
    leads = [lead(1, status=QUALIFIED, closed="2026-10-08 12:00")]
    facts = row(model(raw(leads=leads))["fact_leads"], lead_id=1)
    assert facts["outcome"] == "open"
    assert pd.isna(facts["closed_at"]) and pd.isna(facts["closed_local"])
    assert pd.isna(facts["cycle_days"])


def test_loss_reason_name_only_for_lost_leads() -> None:
    leads = [
        lead(1, status=LOST, closed="2026-10-09 12:00", loss_reason=NO_BUDGET),
        lead(2, status=LOST, closed="2026-10-09 12:00"),  # no reason given
        lead(3, status=QUALIFIED, loss_reason=NO_BUDGET),  # an open lead keeps a stale id
    ]
    facts = model(raw(leads=leads))["fact_leads"].set_index("lead_id")
    assert facts.loc[1, "loss_reason"] == "No budget"
    assert facts.loc[2, "loss_reason"] is None
    assert facts.loc[3, "loss_reason"] is None


def test_local_twins_are_the_sao_paulo_wall_clock() -> None:
    leads = [lead(1, "2026-11-01 02:30", status=WON, closed="2026-11-01 03:30")]
    facts = row(model(raw(leads=leads))["fact_leads"], lead_id=1)
    assert facts["created_local"] == ts("2026-10-31 23:30")  # 02:30 UTC is 23:30 the day before
    assert facts["closed_local"] == ts("2026-11-01 00:30")


def test_channel_and_tags_are_stored() -> None:
    leads = [
        lead(1, gclid="Cj0K"),  # a click id: paid
        lead(2, tags=["VIP", "Indicação"]),  # a referral tag
        lead(3, created_by=ROBOT),  # a robot, no UTM: nothing to go by
    ]
    facts = model(raw(leads=leads))["fact_leads"].set_index("lead_id")
    assert facts.loc[1, "channel"] == "paid"
    assert facts.loc[2, "channel"] == "referral"
    assert json.loads(facts.loc[2, "tags"]) == ["VIP", "Indicação"]
    assert facts.loc[3, "channel"] == "unknown"


def test_every_tracking_code_of_a_lead_reaches_the_channel_rules() -> None:
    leads = [
        lead(1, created_by=ROBOT),  # only UTM_REFERRER: a web visit, so other
        lead(2, created_by=ROBOT),  # a Yandex Direct click id: paid
        lead(3, created_by=ROBOT),  # only an account-specific code the defaults ignore
        lead(4, created_by=ROBOT, tags=["vip"]),  # nothing to go by
        lead(5, created_by=ROBOT, utm_medium="cpc"),  # a typed column still counts
    ]
    data = raw(
        leads=leads,
        tracking=[
            tracking(1, "UTM_REFERRER", "https://blog.example.com"),
            tracking(2, "YCLID", "7263"),
            tracking(3, "SOURCE_DOMAIN", "blog.example.com", name="Source domain"),
            tracking(5, "UTM_MEDIUM", "cpc"),
            tracking(5, "ROISTAT", "  "),  # blank: not a value
        ],
    )
    facts = model(data)["fact_leads"].set_index("lead_id")
    assert facts["channel"].to_dict() == {
        1: "other",
        2: "paid",
        3: "unknown",
        4: "unknown",
        5: "paid",
    }
    # What the page explaining "unknown" counts: tracking fields with a value, and tags.
    assert facts["tracking_fields"].to_dict() == {1: 1, 2: 1, 3: 1, 4: 0, 5: 1}
    assert facts["tag_count"].to_dict() == {1: 0, 2: 0, 3: 0, 4: 1, 5: 0}

    # A rules file may name the account's own code.
    rules = parse_rules(
        '[[channel]]\nkey = "blog"\nfields = { source_domain = ["blog.example.com"] }\n'
        '[[channel]]\nkey = "rest"\nfallback = true\n',
        source="mine.toml",
    )
    built = build_model(data, rules, built_at=datetime(2026, 11, 15, tzinfo=UTC))
    channels = built["fact_leads"].set_index("lead_id")["channel"]
    assert channels.to_dict() == {1: "rest", 2: "rest", 3: "blog", 4: "rest", 5: "rest"}
    info = dict(zip(built["model_info"]["item"], built["model_info"]["value"], strict=True))
    assert info["tracking_fields_used"] == "source_domain"


def test_tracking_values_keep_each_leads_first_value_of_each_code() -> None:
    rows = pd.DataFrame(
        {
            "lead_id": pd.array([7, 7, 7, 9, 9, None, 8, 12], dtype="Int64"),
            "code": pd.Series(
                ["UTM_SOURCE", "utm_source ", "GCLID", "GCLID", "Roistat", "GCLID", "FROM", "X"],
                dtype="str",
            ),
            "value": pd.Series(["ads", "later", "g-7", " g-9 ", "  ", "orphan", None, "y"]),
        }
    )
    # Lead 12 is not asked for; lead 5 has no tracking row.
    got = tracking_values(rows, pd.Series([9, 5, 7, 8], dtype="Int64"))
    # Lead 7's second UTM_SOURCE (the same code once lower-cased and trimmed) is not its first;
    # blanks and missing values are no value; a row without a lead belongs to nobody.
    assert list(got.columns) == ["gclid", "utm_source", "x"]
    assert got.to_dict("list") == {
        "gclid": ["g-9", None, "g-7", None],
        "utm_source": [None, None, "ads", None],
        "x": [None, None, None, None],
    }
    assert list(got.index) == [0, 1, 2, 3]
    none = tracking_values(rows.iloc[:0], pd.Series([1, 2], dtype="Int64"))
    assert none.shape == (2, 0)


# -- first response ---------------------------------------------------------------------------------


def test_first_response_is_the_earliest_human_outgoing_touch_on_the_lead_or_its_contacts() -> None:
    leads = [
        lead(1, "2026-10-05 12:00"),
        lead(2, "2026-10-05 12:00"),
        lead(3, "2026-10-05 12:00"),
        lead(4, "2026-10-06 12:00"),  # Maria's second lead, created after she was answered
    ]
    contacts = [link(2, MARIA), link(4, MARIA), link(3, JOAO)]
    events = [
        event("outgoing_chat_message", 1, "lead", "2026-10-05 12:10", ROBOT),  # robot: no
        event("incoming_call", 1, "lead", "2026-10-05 12:20", ANA),  # incoming: no
        event("outgoing_mail", 1, "lead", "2026-10-05 13:30", ANA),  # 1.5 h
        event("outgoing_call", 1, "lead", "2026-10-05 15:00", ANA),  # later: not the first
        event("outgoing_chat_message", MARIA, "contact", "2026-10-05 14:00", BRUNO),  # 2 h
        event("outgoing_sms", 3, "lead", "2026-10-05 12:00", ANA),  # at creation: 0 h
        event("outgoing_call", JOAO, "contact", "2026-10-04 12:00", ANA),  # before: no
    ]
    facts = model(raw(leads=leads, events=events, contacts=contacts))["fact_leads"]
    facts = facts.set_index("lead_id")
    assert facts.loc[1, "response_hours"] == 1.5
    assert facts.loc[2, "response_hours"] == 2.0  # via the contact
    assert facts.loc[3, "response_hours"] == 0.0  # "at or after" creation
    assert pd.isna(facts.loc[4, "first_response_at"])  # Maria's chat came before lead 4 existed


# -- tasks and activities ---------------------------------------------------------------------------


def test_task_completion_time_kind_and_deleted_flag() -> None:
    leads = [lead(1), lead(2, deleted=True)]
    tasks = [
        # Done by its event at 17:00 though updated later: on time for an 18:00 deadline.
        task(1, "2026-10-10 18:00", lead=1, completed=True, updated="2026-10-12 09:00"),
        # No event: its updated_at is the completion time, after the deadline.
        task(2, "2026-10-10 18:00", type=MEETING, lead=1, completed=True, updated="2026-10-11"),
        task(3, "2026-10-10 18:00", type=VISIT, contact=MARIA),  # open, on a contact
        task(4, "2026-10-10 18:00", lead=2),  # on a deleted lead
        # An event, but the task was reopened: not completed.
        task(5, "2026-10-10 18:00", lead=1, completed=False),
    ]
    events = [
        task_completed(1, "2026-10-10 16:00"),
        task_completed(1, "2026-10-10 17:00"),  # the latest event counts
        task_completed(5, "2026-10-10 17:00"),
    ]
    facts = model(raw(leads=leads, tasks=tasks, events=events))["fact_tasks"].set_index("task_id")
    assert facts.loc[1, "completed_at"] == ts("2026-10-10 17:00")
    assert bool(facts.loc[1, "on_time"])
    assert facts.loc[2, "completed_at"] == ts("2026-10-11 00:00")
    assert not bool(facts.loc[2, "on_time"])
    assert pd.isna(facts.loc[5, "completed_at"])
    assert [facts.loc[i, "kind"] for i in (1, 2, 3)] == ["follow_up", "meeting", "other"]
    assert facts.loc[3, "type_name"] == "Visit"  # others keep their name
    assert pd.isna(facts.loc[3, "lead_id"])  # on a contact: no lead
    assert bool(facts.loc[4, "lead_deleted"]) and not bool(facts.loc[1, "lead_deleted"])
    assert facts.loc[1, "complete_till_local"] == ts("2026-10-10 15:00")
    assert facts.loc[1, "task_type_id"] == FOLLOW_UP


def test_call_seconds_come_from_the_note_on_the_same_entity() -> None:
    notes = [
        call_note(5, 1, 300),  # note 5 on lead 1: 5 minutes
        call_note(5, MARIA, 90, entity_type="contacts"),  # a different note 5, on a contact
    ]
    events = [
        event("outgoing_call", 1, "lead", note=5),
        event("incoming_call", MARIA, "contact", note=5),
        event("outgoing_call", 1, "lead"),  # no note: minutes unknown
        event("outgoing_chat_message", 1, "lead", note=5),  # not a call: no minutes
    ]
    acts = model(raw(leads=[lead(1)], events=events, notes=notes))["fact_activities"]
    seconds = list(acts["call_seconds"])
    assert seconds[:2] == [300.0, 90.0]
    assert all(math.isnan(s) for s in seconds[2:])
    assert list(acts["direction"]) == ["out", "in", "out", "out"]
    assert acts.iloc[1]["contact_id"] == MARIA and pd.isna(acts.iloc[1]["lead_id"])


def test_tasks_build_when_the_account_sent_no_task_types() -> None:
    # `/account` without `_embedded.task_types`, or a first `sync --entities users,tasks`:
    # the dictionary is empty (or lacks a type) while tasks exist. The model must still build.
    tasks = [
        task(1, "2026-10-10 18:00", lead=1),
        task(2, "2026-10-10 18:00", type=MEETING, lead=1),
        task(3, "2026-10-10 18:00", type=VISIT, lead=1),
    ]
    data = raw(leads=[lead(1)], tasks=tasks)
    data.task_types = data.task_types.iloc[0:0]
    facts = model(data)["fact_tasks"].set_index("task_id")
    # Kommo's fixed ids still give the kind; a custom type is "other", with no invented name.
    assert [facts.loc[i, "kind"] for i in (1, 2, 3)] == ["follow_up", "meeting", "other"]
    assert all(facts.loc[i, "type_name"] is None for i in (1, 2, 3))
    assert facts.loc[3, "task_type_id"] == VISIT  # the dashboard names it by this id

    partial = raw(leads=[lead(1)], tasks=tasks)
    partial.task_types = partial.task_types[partial.task_types["id"] == VISIT]
    facts = model(partial)["fact_tasks"].set_index("task_id")
    assert [facts.loc[i, "kind"] for i in (1, 2, 3)] == ["follow_up", "meeting", "other"]
    assert facts.loc[3, "type_name"] == "Visit" and facts.loc[1, "type_name"] is None


EVENT_VALUES = [
    '[{"lead_status": {"id": 142, "pipeline_id": 7001}}]',
    '[{"note": {"id": 53092337}}]',
    '[{"message": {"id": "b52e370c-ca03"}}, {"x": {"id": 9}}]',  # the first *number* counts
    '[{"note":{"id" :  12}}]',
    "[]",
    "",
    None,
]


def test_ids_are_read_from_event_values_alike_by_arrow_and_by_python() -> None:
    for dtype in (object, "str"):
        values = pd.Series(EVENT_VALUES, index=range(10, 17), dtype=dtype)
        for pattern in (_ID, _PIPELINE):
            got = _extract(values, pattern)
            # What the model did before Arrow read them: Python's `re`, row by row.
            found = [re.search(pattern, v) if isinstance(v, str) else None for v in EVENT_VALUES]
            expected = pd.Series(
                [int(m.group(1)) if m else None for m in found], index=values.index, dtype="Int64"
            )
            pd.testing.assert_series_equal(got, expected)
    assert _extract(pd.Series(EVENT_VALUES, dtype=object), _ID).tolist()[:4] == [
        142,
        53092337,
        9,
        12,
    ]


def test_per_value_maps_each_distinct_value_once() -> None:
    calls: list[object] = []

    def upper(value: object) -> object:
        calls.append(value)
        return str(value).upper()

    values = pd.Series(["a", None, "b", "a", "a", None], index=list("uvwxyz"), dtype="str")
    got = _per_value(values, upper, "missing")
    assert got.tolist() == ["A", "missing", "B", "A", "A", "missing"]
    assert list(got.index) == list("uvwxyz")
    assert sorted(calls) == ["a", "b"]

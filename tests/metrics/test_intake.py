"""Module 1 — lead intake: counts, channels, first response, costs, UTM tables.

Period: October 2026 in São Paulo (UTC−3); "now" (as_of) is 15 Nov 2026 12:00 local unless a test
says otherwise. Builder timestamps are UTC.
"""

from __future__ import annotations

import pytest

from tests.metrics.builders import (
    ANA,
    BRUNO,
    JOAO,
    MARIA,
    ROBOT,
    WON,
    cost,
    event,
    lead,
    link,
    local,
    params,
    raw,
    run,
    tracking,
    trashed,
)


def test_no_leads_means_zero_counts_and_unknown_rates() -> None:
    leads = run(raw())["leads"]
    assert leads["total"] == 0
    assert leads["by_channel"] == dict.fromkeys(
        ("paid", "referral", "organic", "outbound", "other", "unknown"), 0
    )
    rt = leads["response_time"]
    # No lead: there is no average to speak of, and 0 % would be a lie.
    assert rt["avg_hours"] is None
    assert rt["median_hours"] is None
    assert rt["within_sla_pct"] is None
    assert rt["without_response"] == 0
    # No cost imported: unknown, not zero.
    assert leads["cost"]["total"] is None
    assert leads["cost"]["per_lead"] is None
    assert leads["cost"]["by_channel"]["paid"] is None


def test_period_edges_are_local_days() -> None:
    data = raw(
        leads=[
            lead(1, local("2026-10-01 00:00")),  # the first local minute of the period: in
            lead(2, local("2026-09-30 23:59")),  # = 02:59 UTC on Oct 1, but Sep 30 locally: out
            lead(3, local("2026-10-31 23:30")),  # = 02:30 UTC on Nov 1, but Oct 31 locally: in
            lead(4, local("2026-11-01 00:30")),  # the day after the period: out
            lead(5, "2026-10-15 12:00"),  # plainly inside
        ]
    )
    assert local("2026-10-31 23:30") == "2026-11-01 02:30:00"  # the edge as Kommo stores it
    # Leads 1, 3 and 5.
    assert run(data)["leads"]["total"] == 3


def test_a_lead_created_after_as_of_is_not_counted_yet() -> None:
    data = raw(leads=[lead(1, "2026-10-10 12:00"), lead(2, "2026-10-20 12:00")])
    # "Now" is Oct 15: lead 2 does not exist yet as far as this report knows.
    p = params(as_of="2026-10-15T12:00:00-03:00")
    assert run(data, p)["leads"]["total"] == 1


def test_deleted_leads_are_left_out_and_restored_ones_count() -> None:
    data = raw(
        leads=[
            lead(1),
            lead(2, deleted=True),  # in the trash
            lead(3),  # deleted, then restored: the sync turned is_deleted back off
        ],
        events=[
            event("lead_deleted", 2, "lead", "2026-10-06 12:00"),
            event("lead_deleted", 3, "lead", "2026-10-06 12:00"),
            event("lead_restored", 3, "lead", "2026-10-07 12:00"),
        ],
    )
    assert run(data)["leads"]["total"] == 2  # leads 1 and 3


def test_deleted_leads_are_counted_by_their_creation_date() -> None:
    # The trash listing gives a deleted lead's id and deletion time only; its creation time comes
    # from its row when the lead was synced before it was deleted, else from its `lead_added`
    # event.
    data = raw(
        leads=[
            lead(1, "2026-10-05 13:00"),  # alive: not a deleted lead
            lead(2, "2026-10-06 13:00", deleted=True),  # synced alive, then deleted: Oct 6
            lead(3, "2026-09-10 13:00", deleted=True),  # September's by its row
            trashed(4),  # created Oct 8 by its event
            trashed(5),  # 23:30 local on Oct 31 (02:30 UTC Nov 1) by its event: October's
            trashed(6),  # created in September by its event
            trashed(7),  # created Nov 2 by its event: after the period
            trashed(8),  # no event at all: its creation date is unknown
        ],
        events=[
            event("lead_added", 1, "lead", "2026-10-05 13:00"),
            event("lead_added", 2, "lead", "2026-10-06 13:00"),
            event("lead_added", 4, "lead", "2026-10-08 13:00"),
            event("lead_added", 5, "lead", local("2026-10-31 23:30")),
            event("lead_added", 6, "lead", "2026-09-25 13:00"),
            event("lead_added", 7, "lead", "2026-11-02 13:00"),
            event("lead_deleted", 4, "lead", "2026-10-20 12:00"),
            # Lead 8's deletion event, but no `lead_added`: that says nothing about its creation.
            event("lead_deleted", 8, "lead", "2026-10-20 12:00"),
        ],
    )
    report = run(data)
    # Leads 2 (row), 4 and 5 (events). Not 3 or 6 (September), 7 (November), 1 (alive).
    assert report["data_quality"]["deleted_leads"] == 3
    # Lead 8 cannot be put in any period: counted apart, whatever the period, never dropped.
    assert report["data_quality"]["deleted_leads_creation_unknown"] == 1
    # Deleted leads stay out of every other number: only lead 1 is a lead of October.
    assert report["leads"]["total"] == 1
    september = run(data, params("2026-09-01", "2026-09-30"))["data_quality"]
    assert september == {"deleted_leads": 2, "deleted_leads_creation_unknown": 1}  # 3 and 6


def test_a_deleted_leads_row_creation_time_wins_over_its_event() -> None:
    # Kommo writes both at the same moment; should they ever differ, the lead's own field is the
    # one every other figure uses, so it is the one used here too.
    data = raw(
        leads=[lead(1, "2026-10-05 13:00", deleted=True)],
        events=[event("lead_added", 1, "lead", "2026-09-05 13:00")],
    )
    assert run(data)["data_quality"] == {"deleted_leads": 1, "deleted_leads_creation_unknown": 0}


def test_leads_by_channel_follow_the_default_rules() -> None:
    data = raw(
        leads=[
            lead(1, gclid="Cj0KCQ", created_by=ROBOT),  # click id → paid
            lead(2, utm_medium="CPC", created_by=ROBOT),  # paid medium, any case → paid
            lead(3, tags=["Indicação"]),  # referral tag (beats "human without UTM")
            lead(4, utm_medium="seo", created_by=ROBOT),  # → organic
            lead(5),  # a person typed it in, no UTM at all → outbound
            lead(6, utm_medium="newsletter", created_by=ROBOT),  # has UTM, no rule → other
            lead(7, created_by=ROBOT),  # robot, no UTM, no tag → unknown
            lead(8, created_by=ROBOT, deleted=True, gclid="x"),  # deleted: nowhere
        ]
    )
    leads = run(data)["leads"]
    assert leads["total"] == 7
    assert leads["by_channel"] == {
        "paid": 2,
        "referral": 1,
        "organic": 1,
        "outbound": 1,
        "other": 1,
        "unknown": 1,
    }


# -- first response ---------------------------------------------------------------------------------


def test_unknown_leads_are_counted_with_what_they_lack() -> None:
    data = raw(
        leads=[
            lead(1, created_by=ROBOT),  # nothing at all
            lead(2, created_by=ROBOT, tags=["vip"]),  # a tag no rule uses
            lead(3, created_by=ROBOT),  # only a code no default rule uses
            lead(4, created_by=ROBOT),  # only UTM_REFERRER: other, not unknown
            lead(5, created_by=ANA),  # a person, no tracking: outbound
            lead(6, "2026-09-10 12:00", created_by=ROBOT),  # before the period
        ],
        tracking=[
            tracking(3, "SOURCE_DOMAIN", "blog.example.com"),
            tracking(4, "UTM_REFERRER", "https://blog.example.com"),
        ],
    )
    leads = run(data)["leads"]
    assert leads["by_channel"]["unknown"] == 3
    assert leads["by_channel"]["other"] == 1
    assert leads["unknown"] == {
        "total": 3,
        "no_tracking_field": 2,  # leads 1 and 2
        "no_tag": 2,  # leads 1 and 3
        "created_by_robot": 3,
    }
    assert run(raw())["leads"]["unknown"] == dict.fromkeys(
        ("total", "no_tracking_field", "no_tag", "created_by_robot"), 0
    )


def test_response_time_with_an_odd_number_of_answered_leads() -> None:
    data = raw(
        leads=[lead(i, "2026-10-05 12:00") for i in range(1, 6)],
        contacts=[link(2, MARIA)],
        events=[
            event("outgoing_call", 1, "lead", "2026-10-05 13:00", ANA),  # lead 1: 1 h
            # Lead 2: a chat on its contact Maria answers it: 3 h.
            event("outgoing_chat_message", MARIA, "contact", "2026-10-05 15:00", BRUNO),
            # Lead 3: the robot's welcome at 12:30 is no response; the e-mail at 17:00 is: 5 h.
            event("outgoing_chat_message", 3, "lead", "2026-10-05 12:30", ROBOT),
            event("outgoing_mail", 3, "lead", "2026-10-05 17:00", ANA),
            # Lead 4: nothing. Lead 5: only the client called in, nobody answered.
            event("incoming_call", 5, "lead", "2026-10-05 12:05", ANA),
        ],
    )
    rt = run(data)["leads"]["response_time"]
    assert rt["avg_hours"] == pytest.approx(3.0)  # (1 + 3 + 5) / 3
    assert rt["median_hours"] == pytest.approx(3.0)  # the middle of 1, 3, 5
    assert rt["within_sla_pct"] == pytest.approx(20.0)  # only lead 1 within 2 h, of 5 leads
    assert rt["without_response"] == 2  # leads 4 and 5


def test_response_time_with_an_even_number_and_a_response_after_as_of() -> None:
    data = raw(
        leads=[lead(i, "2026-10-20 12:00") for i in range(1, 6)],
        events=[
            event("outgoing_call", 1, "lead", "2026-10-20 13:00"),  # 1 h
            event("outgoing_call", 2, "lead", "2026-10-20 14:00"),  # 2 h: exactly the SLA
            event("outgoing_sms", 3, "lead", "2026-10-20 16:00"),  # 4 h
            event("outgoing_call", 4, "lead", "2026-10-20 22:00"),  # 10 h
            event("outgoing_call", 5, "lead", "2026-11-02 12:00"),  # after as_of (Nov 1)
        ],
    )
    p = params(as_of="2026-11-01T12:00:00-03:00")
    rt = run(data, p)["leads"]["response_time"]
    assert rt["avg_hours"] == pytest.approx(4.25)  # (1 + 2 + 4 + 10) / 4
    assert rt["median_hours"] == pytest.approx(3.0)  # (2 + 4) / 2, the two middle values
    assert rt["within_sla_pct"] == pytest.approx(40.0)  # leads 1 and 2 (2 h counts) of 5
    assert rt["without_response"] == 1  # lead 5: its answer is in the future on Nov 1
    # Seen from Nov 15 the same lead has been answered (306 h later).
    assert run(data)["leads"]["response_time"]["without_response"] == 0


def test_a_contact_answer_counts_only_for_leads_that_existed_then() -> None:
    data = raw(
        leads=[lead(1, "2026-10-05 12:00"), lead(2, "2026-10-06 12:00")],
        contacts=[link(1, MARIA), link(2, MARIA)],
        events=[
            # Maria is answered on Oct 5 14:00: 2 h for lead 1; lead 2 did not exist yet.
            event("outgoing_chat_message", MARIA, "contact", "2026-10-05 14:00", ANA),
            # A chat to João, who is nobody's contact here, answers nothing.
            event("outgoing_chat_message", JOAO, "contact", "2026-10-06 13:00", ANA),
        ],
    )
    rt = run(data)["leads"]["response_time"]
    assert rt["answered"] == 1
    assert rt["avg_hours"] == pytest.approx(2.0)
    assert rt["without_response"] == 1  # lead 2
    assert rt["within_sla_pct"] == pytest.approx(50.0)  # lead 1 (2 h ≤ 2 h) of 2


def test_the_sla_is_a_parameter() -> None:
    data = raw(
        leads=[lead(1, "2026-10-05 12:00")],
        events=[event("outgoing_call", 1, "lead", "2026-10-05 12:45")],  # 0.75 h
    )
    assert run(data, params(sla_hours=0.5))["leads"]["response_time"]["within_sla_pct"] == 0.0
    assert run(data, params(sla_hours=1.0))["leads"]["response_time"]["within_sla_pct"] == 100.0


# -- costs and UTM ----------------------------------------------------------------------------------


def test_costs_in_the_period_per_lead_and_per_channel() -> None:
    data = raw(
        leads=[
            lead(1, utm_medium="cpc"),
            lead(2, utm_medium="cpc"),
            lead(3, utm_medium="cpc"),
            lead(4, utm_medium="organic"),
            lead(5),  # outbound: no cost imported for it
        ]
    )
    costs = [
        cost("2026-10-01", "paid", 300.0),  # a monthly cost, written on the 1st: in
        cost("2026-10-01", "organic", 100.0),
        cost("2026-09-30", "paid", 999.0),  # September: out
        cost("2026-11-01", "paid", 500.0),  # November: out
    ]
    c = run(data, costs=costs)["leads"]["cost"]
    assert c["total"] == 400.0  # 300 + 100
    assert c["per_lead"] == pytest.approx(80.0)  # 400 / 5 leads
    assert c["by_channel"]["paid"] == {"total": 300.0, "per_lead": 100.0}  # 300 / 3
    assert c["by_channel"]["organic"] == {"total": 100.0, "per_lead": 100.0}  # 100 / 1
    assert c["by_channel"]["outbound"] is None  # nothing imported: unknown, not 0


def test_utm_tables_count_leads_won_deals_and_revenue() -> None:
    data = raw(
        leads=[
            lead(1, utm_source="google", utm_medium="cpc", utm_campaign="black-friday",
                 status=WON, price=1000, closed="2026-10-20 12:00"),
            lead(2, utm_source="google", utm_medium="cpc", utm_campaign="brand"),
            lead(3, utm_source="instagram", utm_medium="social", utm_campaign="black-friday",
                 status=WON, price=None, closed="2026-10-21 12:00"),
            lead(4),  # no UTM at all
        ]
    )  # fmt: skip
    utm = run(data)["leads"]["utm"]
    sources = {r.pop("value"): r for r in utm["utm_source"]}
    assert utm["utm_source"][0] is sources["google"]  # most leads first
    # 2 leads, 1 won for 1000
    assert sources["google"] == {"leads": 2, "won": 1, "revenue": 1000.0, "conversion_pct": 50.0}
    # its won lead has no price: a won deal, no revenue
    assert sources["instagram"] == {"leads": 1, "won": 1, "revenue": 0.0, "conversion_pct": 100.0}
    # lead 4, without UTM
    assert sources["(none)"] == {"leads": 1, "won": 0, "revenue": 0.0, "conversion_pct": 0.0}
    campaigns = {r["value"]: (r["leads"], r["won"]) for r in utm["utm_campaign"]}
    assert campaigns == {"black-friday": (2, 2), "brand": (1, 0), "(none)": (1, 0)}

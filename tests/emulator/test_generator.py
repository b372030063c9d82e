"""The synthetic account: determinism, shape, internal consistency and realism."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from kommo_analytics.emulator.config import SCALES
from kommo_analytics.emulator.generator import SCALE_LEADS, build_account
from kommo_analytics.emulator.schema import TABLES
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.errors import EmulatorError
from tests.emulator.invariants import INVARIANTS, broken_rows

NOW = int(datetime(2026, 11, 25, 15, tzinfo=UTC).timestamp())
SEED = 7


@pytest.fixture(scope="module")
def store() -> AccountStore:
    return build_account(seed=SEED, scale="small", now=NOW)


def rows(store: AccountStore, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    return store.cursor().execute(sql, params or []).fetchall()


def one(store: AccountStore, sql: str, params: list[Any] | None = None) -> Any:
    result = rows(store, sql, params)
    assert len(result) == 1
    return result[0][0] if len(result[0]) == 1 else result[0]


def table_dump(store: AccountStore) -> dict[str, list[tuple[Any, ...]]]:
    return {t: rows(store, f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}


# -- determinism and API ------------------------------------------------------------------


def test_same_seed_same_tables(store: AccountStore) -> None:
    again = build_account(seed=SEED, scale="small", now=NOW)
    assert table_dump(again) == table_dump(store)


def test_different_seed_different_ids_and_names(store: AccountStore) -> None:
    other = build_account(seed=SEED + 1, scale="small", now=NOW)
    for sql in (
        "SELECT id FROM custom_fields ORDER BY id",
        "SELECT id FROM pipelines ORDER BY id",
        "SELECT id FROM statuses WHERE id NOT IN (142, 143) ORDER BY id",
        "SELECT id FROM users ORDER BY id",
        "SELECT id FROM account",
        "SELECT name FROM users ORDER BY id",
    ):
        assert rows(other, sql) != rows(store, sql), sql
    assert set(rows(other, "SELECT id FROM custom_fields")).isdisjoint(
        rows(store, "SELECT id FROM custom_fields")
    )


def test_unknown_scale_names_the_scales() -> None:
    with pytest.raises(EmulatorError) as info:
        build_account(seed=1, scale="huge")
    for scale in SCALES:
        assert scale in info.value.hint


def test_scales_match_config() -> None:
    assert set(SCALE_LEADS) == set(SCALES)
    assert SCALE_LEADS["small"] < SCALE_LEADS["medium"] < SCALE_LEADS["large"]


def test_default_now_is_the_current_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    # The clock is pinned: comparing with a second reading of it would race the hour's end.
    instant = datetime(2026, 11, 18, 14, 59, 59, tzinfo=UTC).timestamp()
    monkeypatch.setattr(time, "time", lambda: instant)
    store = build_account(seed=3)
    assert int(store.get_meta("now") or 0) == datetime(2026, 11, 18, 14, tzinfo=UTC).timestamp()


def test_meta(store: AccountStore) -> None:
    meta = dict(rows(store, "SELECT key, value FROM meta"))
    assert meta["seed"] == str(SEED)
    assert meta["scale"] == "small"
    assert meta["now"] == str(NOW)
    assert meta["demo_subdomain"] == one(store, "SELECT subdomain FROM account")
    assert int(meta["next_lead_id"]) > one(store, "SELECT max(id) FROM leads")
    assert int(meta["next_contact_id"]) > one(store, "SELECT max(id) FROM contacts")
    assert int(meta["next_task_id"]) > one(store, "SELECT max(id) FROM tasks")
    assert int(meta["next_note_id"]) > one(store, "SELECT max(id) FROM notes")
    assert int(meta["next_event_seq"]) == one(store, "SELECT max(seq) FROM events") + 1


# -- sizes and dictionaries -----------------------------------------------------------------


def test_small_scale_size(store: AccountStore) -> None:
    assert store.count("leads") == SCALE_LEADS["small"]
    assert store.count("contacts") > 1000
    assert store.count("events") > 5 * store.count("leads")
    assert store.count("tasks") > 1000
    assert store.count("notes") > 1000


def test_account(store: AccountStore) -> None:
    row = rows(store, "SELECT name, currency, currency_symbol, country, timezone, "
                      "timezone_offset, is_loss_reason_enabled, subdomain FROM account")  # fmt: skip
    assert len(row) == 1
    name, currency, symbol, country, tz, offset, loss_enabled, subdomain = row[0]
    assert (currency, symbol, country, tz, offset) == (
        "BRL",
        "R$",
        "BR",
        "America/Sao_Paulo",
        "-03:00",
    )
    assert loss_enabled is True
    assert re.fullmatch(r"[a-z0-9]+", subdomain)
    assert name.split()[-1] in ("Ltda", "S.A.", "ME", "EIRELI")


def test_users_and_groups(store: AccountStore) -> None:
    groups = dict(rows(store, "SELECT id, name FROM users_groups"))
    assert groups[0] == "Equipe principal"
    assert 2 <= len(groups) <= 3
    users = rows(store, "SELECT is_admin, is_active, group_id, email FROM users")
    assert 9 <= len(users) <= 16
    assert sum(u[0] for u in users) == 1
    assert any(not u[1] for u in users)
    assert {u[2] for u in users} <= set(groups)
    assert len({u[3] for u in users}) == len(users)
    # Deactivated users still own old leads.
    assert one(store, "SELECT count(*) FROM leads l JOIN users u ON u.id = l.responsible_user_id "
                      "WHERE NOT u.is_active") > 0  # fmt: skip


def test_task_types(store: AccountStore) -> None:
    types = rows(store, "SELECT id, name, code FROM task_types ORDER BY id")
    assert types[0] == (1, "Follow-up", "FOLLOW_UP")
    assert types[1] == (2, "Reunião", "MEETING")
    assert len(types) == 3 and types[2][2] is None


def test_pipelines_and_stages(store: AccountStore) -> None:
    pipelines = rows(store, "SELECT id, is_main FROM pipelines")
    assert 2 <= len(pipelines) <= 3
    assert sum(p[1] for p in pipelines) == 1
    for pid, _ in pipelines:
        stages = rows(store, "SELECT id, name, sort, type, color, is_editable FROM statuses "
                             "WHERE pipeline_id = ? ORDER BY sort", [pid])  # fmt: skip
        assert 5 <= len(stages) <= 7
        assert stages[0][1:] == ("Leads de entrada", 10, 1, "#c1c1c1", False)
        assert stages[-2][0] == 142 and stages[-2][2] == 10_000
        assert stages[-1][0] == 143 and stages[-1][2] == 11_000
        assert all(s[3] == 0 for s in stages[1:])
    # Regular stage ids are unique across the account.
    assert one(store, "SELECT count(*) - count(DISTINCT id) FROM statuses "
                      "WHERE id NOT IN (142, 143)") == 0  # fmt: skip


def test_custom_fields(store: AccountStore) -> None:
    fields = rows(
        store, "SELECT name, code, type, enums FROM custom_fields WHERE entity_type = 'leads'"
    )
    assert len(fields) > 50
    tracking = {f[1]: f for f in fields if f[2] == "tracking_data"}
    # The standard eight, then the extra codes and the account's own (test_real_shapes.py).
    assert set(tracking) >= {
        "UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM", "REFERRER",
        "GCLID", "FBCLID", "UTM_REFERRER", "YCLID", "GCLIENTID",
    }  # fmt: skip
    assert tracking["UTM_SOURCE"][0] == "utm_source"
    product = next(f for f in fields if f[0] == "Produto")
    assert product[1] is None and product[2] == "select"
    enums = json.loads(product[3])
    assert [e["sort"] for e in enums] == list(range(1, len(enums) + 1))
    assert {"id", "value", "sort"} == set(enums[0])
    product_enum_ids = {e["id"] for e in enums}
    used = {r[0] for r in rows(store, "SELECT DISTINCT product_enum_id FROM leads "
                                      "WHERE product_enum_id IS NOT NULL")}  # fmt: skip
    assert used and used <= product_enum_ids
    assert any(f[0] == "Quantidade" and f[2] == "numeric" for f in fields)


# -- consistency invariants -------------------------------------------------------------------


def test_no_timestamps_after_now(store: AccountStore) -> None:
    checks = {
        "leads": ["created_at", "updated_at", "closed_at", "deleted_at"],
        "contacts": ["created_at", "updated_at"],
        "companies": ["created_at", "updated_at"],
        "events": ["created_at"],
        "tasks": ["created_at", "updated_at", "completed_at"],
        "notes": ["created_at", "updated_at"],
        "unsorted": ["created_at", "sorted_at"],
    }
    for table, columns in checks.items():
        for column in columns:
            assert one(store, f"SELECT count(*) FROM {table} WHERE {column} > ?", [NOW]) == 0, (
                table, column,
            )  # fmt: skip


def test_history_spans_two_years(store: AccountStore) -> None:
    first = one(store, "SELECT min(created_at) FROM leads")
    assert NOW - first > 24 * 30.4 * 86400
    assert NOW - first < 27 * 30.5 * 86400


def test_lead_ids_grow_with_creation(store: AccountStore) -> None:
    assert (
        one(
            store,
            """
        SELECT count(*) FROM (
            SELECT id, lag(id) OVER (ORDER BY created_at, id) AS prev FROM leads
        ) WHERE id < prev""",
        )
        == 0
    )
    for table in ("contacts", "tasks", "notes"):
        assert (
            one(
                store,
                f"""
            SELECT count(*) FROM (
                SELECT created_at, lag(created_at) OVER (ORDER BY id) AS prev FROM {table}
            ) WHERE created_at < prev""",
            )
            == 0
        ), table
    assert one(store, "SELECT min(id) FROM leads") >= 10_000_000
    assert one(store, "SELECT max(id) FROM leads") < 100_000_000


@pytest.mark.parametrize("rule", sorted(INVARIANTS))
def test_consistency_rule_holds(store: AccountStore, rule: str) -> None:
    assert broken_rows(store, rule) == 0


def test_leads_that_never_moved_sit_where_they_were_created(store: AccountStore) -> None:
    # Leads that never moved sit in the stage they were created in: incoming or first regular.
    unmoved = rows(
        store,
        """
        SELECT s.type, s.sort FROM leads l
        JOIN statuses s ON s.id = l.status_id AND s.pipeline_id = l.pipeline_id
        WHERE l.id NOT IN (SELECT entity_id FROM events WHERE type = 'lead_status_changed')""",
    )
    assert unmoved
    assert all(t == 1 or sort == 20 for t, sort in unmoved)


def test_loss_reasons(store: AccountStore) -> None:
    assert one(store, "SELECT count(*) FROM leads WHERE loss_reason_id IS NOT NULL "
                      "AND status_id <> 143") == 0  # fmt: skip
    with_reason, lost = one(store, "SELECT count(loss_reason_id), count(*) FROM leads "
                                   "WHERE status_id = 143")  # fmt: skip
    assert 0.75 < with_reason / lost < 0.97
    assert one(store, "SELECT count(*) FROM leads l LEFT JOIN loss_reasons r "
                      "ON r.id = l.loss_reason_id WHERE l.loss_reason_id IS NOT NULL "
                      "AND r.id IS NULL") == 0  # fmt: skip


def test_events_follow_their_entity(store: AccountStore) -> None:
    assert (
        one(
            store,
            """
        SELECT count(*) FROM events e JOIN leads l ON l.id = e.entity_id
        WHERE e.entity_type = 'lead' AND e.created_at < l.created_at""",
        )
        == 0
    )
    assert (
        one(
            store,
            """
        SELECT count(*) FROM events e JOIN contacts c ON c.id = e.entity_id
        WHERE e.entity_type = 'contact' AND e.created_at < c.created_at""",
        )
        == 0
    )
    assert (
        one(
            store,
            """
        SELECT count(*) FROM events e JOIN tasks t ON t.id = e.entity_id
        WHERE e.entity_type = 'task' AND e.created_at < t.created_at""",
        )
        == 0
    )
    # Nothing refers to an entity that does not exist.
    assert (
        one(
            store,
            """
        SELECT count(*) FROM events e
        WHERE (e.entity_type = 'lead' AND e.entity_id NOT IN (SELECT id FROM leads))
           OR (e.entity_type = 'contact' AND e.entity_id NOT IN (SELECT id FROM contacts))
           OR (e.entity_type = 'task' AND e.entity_id NOT IN (SELECT id FROM tasks))""",
        )
        == 0
    )
    # Every lead was added exactly once, at its creation time.
    assert (
        one(
            store,
            """
        SELECT count(*) FROM leads l LEFT JOIN events e
            ON e.entity_id = l.id AND e.type = 'lead_added'
        WHERE e.created_at IS DISTINCT FROM l.created_at""",
        )
        == 0
    )


def test_updated_at_covers_changes(store: AccountStore) -> None:
    for table in ("leads", "contacts", "companies", "tasks", "notes"):
        assert one(store, f"SELECT count(*) FROM {table} WHERE updated_at < created_at") == 0
    assert (
        one(
            store,
            """
        SELECT count(*) FROM leads l JOIN (
            SELECT entity_id, max(created_at) AS t FROM events
            WHERE entity_type = 'lead' AND type IN ('lead_status_changed',
                'entity_responsible_changed', 'lead_deleted', 'lead_restored')
            GROUP BY entity_id
        ) e ON e.entity_id = l.id WHERE l.updated_at < e.t""",
        )
        == 0
    )


def test_event_ids_and_seq(store: AccountStore) -> None:
    ids = [r[0] for r in rows(store, "SELECT id FROM events ORDER BY seq")]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-hjkmnp-tv-z]{26}", i) for i in ids)
    seqs = [r[0] for r in rows(store, "SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    # seq follows time: ordering by seq never goes back in time.
    assert (
        one(
            store,
            """
        SELECT count(*) FROM (
            SELECT created_at, lag(created_at) OVER (ORDER BY seq) AS prev FROM events
        ) WHERE created_at < prev""",
        )
        == 0
    )


def test_event_value_shapes(store: AccountStore) -> None:
    seen: set[str] = set()
    for kind, entity_type, before, after in rows(
        store, "SELECT type, entity_type, value_before, value_after FROM events"
    ):
        seen.add(kind)
        b, a = json.loads(before), json.loads(after)
        assert isinstance(b, list) and isinstance(a, list)
        if kind == "lead_status_changed":
            assert set(b[0]["lead_status"]) == {"id", "pipeline_id"} == set(a[0]["lead_status"])
            assert entity_type == "lead"
        elif kind == "entity_responsible_changed":
            assert isinstance(b[0]["responsible_user"]["id"], int)
            assert b[0] != a[0]
        elif kind == "lead_added":
            # Leads an integration created point to its service note (test_real_shapes.py).
            assert b == [] and (a == [] or isinstance(a[0]["note"]["id"], int))
        elif kind in ("incoming_call", "outgoing_call", "outgoing_sms"):
            assert b == [] and isinstance(a[0]["note"]["id"], int)
        elif kind.endswith("chat_message"):
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
                                a[0]["message"]["id"])  # fmt: skip
        elif kind == "task_completed":
            assert entity_type == "task" and a == b == []
        else:
            assert a == b == [], kind
    assert {
        "lead_added", "lead_status_changed", "entity_responsible_changed", "incoming_call",
        "outgoing_call", "incoming_chat_message", "outgoing_chat_message", "incoming_mail",
        "outgoing_mail", "outgoing_sms", "task_completed", "lead_deleted", "lead_restored",
    } <= seen  # fmt: skip


def test_call_events_have_matching_notes(store: AccountStore) -> None:
    missing = one(
        store,
        """
        SELECT count(*) FROM events e LEFT JOIN notes n
            ON n.id = json_extract(e.value_after, '$[0].note.id')::BIGINT
           AND n.entity_id = e.entity_id
           AND n.entity_type = e.entity_type || 's'
           AND n.created_at = e.created_at
           AND n.note_type = CASE e.type WHEN 'incoming_call' THEN 'call_in'
                                         WHEN 'outgoing_call' THEN 'call_out' ELSE 'sms_out' END
        WHERE e.type IN ('incoming_call', 'outgoing_call', 'outgoing_sms') AND n.id IS NULL""",
    )
    assert missing == 0
    calls = rows(store, "SELECT params FROM notes WHERE note_type IN ('call_in', 'call_out')")
    answered = 0
    for (params,) in calls:
        p = json.loads(params)
        assert set(p) == {
            "uniq",
            "duration",
            "source",
            "link",
            "phone",
            "call_status",
            "call_result",
        }
        assert re.fullmatch(r"\+55 \d\d 9\d{4}-\d{4}", p["phone"])
        assert (p["duration"] > 0) == (p["call_status"] == 4)
        answered += p["duration"] > 0
    assert 0.3 < answered / len(calls) < 0.95
    for (params,) in rows(store, "SELECT params FROM notes WHERE note_type = 'common'"):
        assert set(json.loads(params)) == {"text"}


def test_tasks(store: AccountStore) -> None:
    assert one(store, "SELECT count(*) FROM tasks WHERE completed_at < created_at") == 0
    assert one(store, "SELECT count(*) FROM tasks "
                      "WHERE is_completed <> (completed_at IS NOT NULL)") == 0  # fmt: skip
    assert one(store, "SELECT count(*) FROM tasks WHERE is_completed "
                      "AND updated_at <> completed_at") == 0  # fmt: skip
    assert one(store, "SELECT count(*) FROM tasks WHERE task_type_id = 1 AND duration <> 0") == 0
    assert one(store, "SELECT count(*) FROM tasks WHERE task_type_id = 2 "
                      "AND duration NOT BETWEEN 1800 AND 3600") == 0  # fmt: skip
    done, overdue, future = one(
        store,
        """
        SELECT count(*) FILTER (is_completed),
               count(*) FILTER (NOT is_completed AND complete_till < ?),
               count(*) FILTER (NOT is_completed AND complete_till >= ?)
        FROM tasks""",
        [NOW, NOW],
    )
    total = store.count("tasks")
    assert done / total > 0.6 and overdue > 0 and future > 0
    late = one(store, "SELECT count(*) FROM tasks WHERE completed_at > complete_till")
    assert 0 < late < done
    assert 0 < one(store, "SELECT count(result_text) FROM tasks") < done
    types = {r[0] for r in rows(store, "SELECT DISTINCT task_type_id FROM tasks")}
    assert types == {1, 2, one(store, "SELECT max(id) FROM task_types")}
    entity_types = {r[0] for r in rows(store, "SELECT DISTINCT entity_type FROM tasks")}
    assert {"leads", "contacts"} <= entity_types
    assert one(store, "SELECT count(*) FROM tasks WHERE created_by = 0") > 0
    # A task_completed event for each completed task, at completion.
    assert (
        one(
            store,
            """
        SELECT count(*) FROM tasks t LEFT JOIN events e
            ON e.entity_id = t.id AND e.type = 'task_completed'
        WHERE t.is_completed AND e.created_at IS DISTINCT FROM t.completed_at""",
        )
        == 0
    )


def test_some_leads_have_an_open_task(store: AccountStore) -> None:
    assert one(store, "SELECT count(closest_task_at) FROM leads") > 0


def test_responsible_changes(store: AccountStore) -> None:
    wrong = one(
        store,
        """
        WITH last AS (
            SELECT entity_id, arg_max(value_after, seq) AS after
            FROM events WHERE type = 'entity_responsible_changed' GROUP BY entity_id
        )
        SELECT count(*) FROM leads l JOIN last ON last.entity_id = l.id
        WHERE json_extract(last.after, '$[0].responsible_user.id')::BIGINT
              <> l.responsible_user_id""",
    )
    assert wrong == 0
    assert one(store, "SELECT count(*) FROM events WHERE type = 'entity_responsible_changed'") > 20
    assert one(store, "SELECT count(*) FROM leads l JOIN users u ON u.id = l.responsible_user_id "
                      "WHERE l.group_id <> u.group_id") == 0  # fmt: skip


def test_contacts_and_links(store: AccountStore) -> None:
    assert one(store, "SELECT max(c) FROM (SELECT count(*) c FROM lead_contacts "
                      "WHERE is_main GROUP BY lead_id)") == 1  # fmt: skip
    assert one(store, "SELECT count(*) FROM lead_contacts WHERE NOT is_main") > 0
    assert one(store, "SELECT count(*) FROM (SELECT contact_id FROM lead_contacts "
                      "GROUP BY contact_id HAVING count(*) > 1)") > 20  # fmt: skip
    assert one(store, "SELECT count(*) FROM lead_contacts lc JOIN contacts c "
                      "ON c.id = lc.contact_id JOIN leads l ON l.id = lc.lead_id "
                      "WHERE c.created_at > l.created_at AND lc.is_main") == 0  # fmt: skip
    first, last, name = rows(store, "SELECT first_name, last_name, name FROM contacts LIMIT 1")[0]
    assert name == f"{first} {last}"
    assert one(store, "SELECT count(company_id) FROM contacts") > 0
    assert one(store, "SELECT count(*) FROM contacts c LEFT JOIN companies co "
                      "ON co.id = c.company_id WHERE c.company_id IS NOT NULL "
                      "AND co.id IS NULL") == 0  # fmt: skip


def test_unsorted(store: AccountStore) -> None:
    statuses = dict(rows(store, "SELECT status, count(*) FROM unsorted GROUP BY 1"))
    assert statuses.keys() == {"accepted", "declined", "pending"}
    assert statuses["accepted"] > statuses["declined"]
    # Pending items are exactly the leads still in an incoming stage.
    pending = {r[0] for r in rows(store, "SELECT lead_id FROM unsorted WHERE status = 'pending'")}
    incoming = {
        r[0]
        for r in rows(
            store,
            """
        SELECT l.id FROM leads l JOIN statuses s
            ON s.id = l.status_id AND s.pipeline_id = l.pipeline_id WHERE s.type = 1""",
        )
    }
    assert pending == incoming
    assert one(store, "SELECT count(*) FROM unsorted WHERE (status = 'pending') "
                      "<> (sorted_at IS NULL)") == 0  # fmt: skip
    assert one(store, "SELECT count(*) FROM unsorted u JOIN leads l ON l.id = u.lead_id "
                      "WHERE u.created_at <> l.created_at OR u.sorted_at < u.created_at") == 0  # fmt: skip
    categories = {r[0] for r in rows(store, "SELECT DISTINCT category FROM unsorted")}
    assert categories == {"forms", "chats", "sip", "mail"}


# -- realism ------------------------------------------------------------------------------------


def test_channel_mix(store: AccountStore) -> None:
    sources = dict(rows(store, "SELECT coalesce(utm_source, '-'), count(*) FROM leads GROUP BY 1"))
    for source in ("google", "facebook", "instagram", "newsletter", "-"):
        assert sources.get(source, 0) > 20, source
    mediums = {r[0] for r in rows(store, "SELECT DISTINCT utm_medium FROM leads")}
    assert {"cpc", "paid_social", "organic", "email", "referral"} <= mediums
    # No tracking at all, created by a robot / an integration.
    assert (
        one(store, "SELECT count(*) FROM leads WHERE utm_source IS NULL AND created_by = 0") > 100
    )
    # Manually created outbound leads: a seller, no UTMs, some tagged "prospecção".
    assert (
        one(
            store,
            """
        SELECT count(*) FROM leads l JOIN tags t ON list_contains(l.tag_ids, t.id)
        WHERE t.name = 'prospecção' AND l.created_by <> 0 AND l.utm_source IS NULL""",
        )
        > 5
    )
    assert (
        one(
            store,
            """
        SELECT count(*) FROM leads l JOIN tags t ON list_contains(l.tag_ids, t.id)
        WHERE t.name = 'indicação'""",
        )
        > 5
    )
    assert one(store, "SELECT count(gclid) FROM leads WHERE utm_source = 'google' "
                      "AND utm_medium = 'cpc'") > 20  # fmt: skip
    assert one(store, "SELECT count(fbclid) FROM leads") > 20
    assert one(store, "SELECT count(utm_term) FROM leads") > 5
    assert one(store, "SELECT count(referrer) FROM leads") > 20
    assert one(store, "SELECT count(*) FROM leads WHERE utm_campaign LIKE 'black_friday_20__'") > 0


def test_seasonality(store: AccountStore) -> None:
    by_weekday = dict(
        rows(
            store,
            """
        SELECT isodow(to_timestamp(created_at - 10800)::TIMESTAMP), count(*) FROM leads
        GROUP BY 1""",
        )
    )
    assert by_weekday[7] < by_weekday[2] / 3
    by_hour = dict(
        rows(
            store,
            """
        SELECT hour(to_timestamp(created_at - 10800)::TIMESTAMP), count(*) FROM leads
        GROUP BY 1""",
        )
    )
    assert by_hour.get(3, 0) < by_hour[10] / 5
    # Growth: the last 12 months bring more leads than the 12 before.
    recent, before = one(
        store,
        """
        SELECT count(*) FILTER (created_at >= ? - 365 * 86400),
               count(*) FILTER (created_at < ? - 365 * 86400 AND created_at >= ? - 730 * 86400)
        FROM leads""",
        [NOW, NOW, NOW],
    )
    assert recent > before * 1.1


def test_prices(store: AccountStore) -> None:
    zero, null, median = one(store, "SELECT count(*) FILTER (price = 0), "
                                    "count(*) FILTER (price IS NULL), median(price) FROM leads")  # fmt: skip
    n = store.count("leads")
    assert 0 < zero < n * 0.15
    assert null < n * 0.01
    assert 1_500 < median < 10_000


def test_outcomes(store: AccountStore) -> None:
    won, lost, open_ = one(
        store,
        """
        SELECT count(*) FILTER (status_id = 142), count(*) FILTER (status_id = 143),
               count(*) FILTER (status_id NOT IN (142, 143)) FROM leads""",
    )
    assert won > 100 and lost > won and open_ > 50
    # Recent leads are mostly still open, old ones mostly closed.
    recent_open = one(store, "SELECT avg((status_id NOT IN (142, 143))::INT) FROM leads "
                             "WHERE created_at > ? - 7 * 86400", [NOW])  # fmt: skip
    old_open = one(store, "SELECT avg((status_id NOT IN (142, 143))::INT) FROM leads "
                          "WHERE created_at < ? - 365 * 86400", [NOW])  # fmt: skip
    assert recent_open > 0.5 and old_open < 0.2


def test_stage_paths(store: AccountStore) -> None:
    moves = rows(
        store,
        """
        SELECT sb.sort, sa.sort, e.created_by FROM events e
        JOIN statuses sb ON sb.id = json_extract(e.value_before, '$[0].lead_status.id')::BIGINT
            AND sb.pipeline_id = json_extract(e.value_before, '$[0].lead_status.pipeline_id')::BIGINT
        JOIN statuses sa ON sa.id = json_extract(e.value_after, '$[0].lead_status.id')::BIGINT
            AND sa.pipeline_id = json_extract(e.value_after, '$[0].lead_status.pipeline_id')::BIGINT
        WHERE e.type = 'lead_status_changed'""",
    )
    regular = [(b, a) for b, a, _ in moves if b < 10_000 and a < 10_000]
    assert sum(a - b == 10 for b, a in regular) > len(regular) / 2  # mostly one step forward
    assert any(a - b >= 20 for b, a in regular)  # skipped stages
    assert any(a < b for b, a in regular)  # regressions
    reopened = [(b, a) for b, a, _ in moves if b >= 10_000 and a < 10_000]
    assert reopened  # won or lost deals that came back
    robots = sum(by == 0 for _, _, by in moves)
    assert 0.03 < robots / len(moves) < 0.4


def test_chat_events_often_on_contacts(store: AccountStore) -> None:
    on_contact, total = one(
        store,
        """
        SELECT count(*) FILTER (entity_type = 'contact'), count(*) FROM events
        WHERE type IN ('incoming_chat_message', 'outgoing_chat_message')""",
    )
    assert on_contact / total > 0.5


def test_first_response_differs_by_seller(store: AccountStore) -> None:
    delays = rows(
        store,
        """
        WITH first AS (
            SELECT l.responsible_user_id AS u, min(e.created_at) - l.created_at AS d
            FROM leads l JOIN events e ON e.entity_id = l.id AND e.entity_type = 'lead'
            WHERE e.type IN ('outgoing_call', 'outgoing_chat_message', 'outgoing_mail', 'outgoing_sms')
              AND l.created_by = 0
            GROUP BY l.id, l.responsible_user_id, l.created_at
        )
        SELECT u, median(d) FROM first GROUP BY u HAVING count(*) >= 20""",
    )
    medians = sorted(d for _, d in delays)
    assert len(medians) >= 3
    assert medians[-1] > 3 * medians[0]


def test_deleted_and_restored(store: AccountStore) -> None:
    deleted = one(store, "SELECT count(*) FROM leads WHERE is_deleted")
    assert 0 < deleted < store.count("leads") * 0.05
    restored = one(
        store, "SELECT count(DISTINCT entity_id) FROM events WHERE type = 'lead_restored'"
    )
    assert restored > 0
    # Restored leads are back in the lists; deleted ones have their event.
    assert (
        one(
            store,
            """
        SELECT count(*) FROM leads l JOIN events e ON e.entity_id = l.id
        WHERE e.type = 'lead_restored' AND l.is_deleted""",
        )
        == 0
    )
    assert (
        one(
            store,
            """
        SELECT count(*) FROM leads l LEFT JOIN events e
            ON e.entity_id = l.id AND e.type = 'lead_deleted'
        WHERE l.is_deleted AND e.created_at IS DISTINCT FROM l.deleted_at""",
        )
        == 0
    )


def test_robot_actions(store: AccountStore) -> None:
    assert one(store, "SELECT count(*) FROM leads WHERE created_by = 0") > 100
    assert one(store, "SELECT count(*) FROM events WHERE type = 'lead_status_changed' "
                      "AND created_by = 0") > 10  # fmt: skip
    assert one(store, "SELECT count(*) FROM tasks WHERE created_by = 0") > 10


def test_names_are_portuguese(store: AccountStore) -> None:
    names = [r[0] for r in rows(store, "SELECT name FROM leads")]
    assert any(n.startswith("Formulário do site - ") for n in names)
    assert any("ç" in n or "ã" in n or "é" in n for n in names)
    reasons = {r[0] for r in rows(store, "SELECT name FROM loss_reasons")}
    assert {"Preço alto", "Sem orçamento", "Escolheu concorrente"} <= reasons

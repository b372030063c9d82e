"""Consistency rules every account store must keep: freshly generated, and after live changes.

Each query counts the rows that break its rule, so a healthy store answers 0 to all of them.
"""

from __future__ import annotations

from kommo_analytics.emulator.store import AccountStore

INVARIANTS: dict[str, str] = {
    # A lead's stage is where its last stage move took it.
    "status_equals_last_status_event": """
        WITH last AS (
            SELECT entity_id, arg_max(value_after, seq) AS after
            FROM events WHERE type = 'lead_status_changed' GROUP BY entity_id
        )
        SELECT count(*) FROM leads l JOIN last ON last.entity_id = l.id
        WHERE json_extract(last.after, '$[0].lead_status.id')::BIGINT <> l.status_id
           OR json_extract(last.after, '$[0].lead_status.pipeline_id')::BIGINT <> l.pipeline_id""",
    # Each move starts where the previous one ended.
    "status_events_chain": """
        SELECT count(*) FROM (
            SELECT value_before,
                   lag(value_after) OVER (PARTITION BY entity_id ORDER BY seq) AS prev_after
            FROM events WHERE type = 'lead_status_changed'
        ) WHERE prev_after IS NOT NULL AND prev_after <> value_before""",
    # Stage ids other than 142/143 only mean something together with their pipeline.
    "lead_status_valid_for_pipeline": """
        SELECT count(*) FROM leads l LEFT JOIN statuses s
            ON s.id = l.status_id AND s.pipeline_id = l.pipeline_id
        WHERE s.id IS NULL""",
    "event_status_valid_for_pipeline": """
        SELECT count(*) FROM events e LEFT JOIN statuses s
            ON s.id = json_extract(e.value_after, '$[0].lead_status.id')::BIGINT
           AND s.pipeline_id = json_extract(e.value_after, '$[0].lead_status.pipeline_id')::BIGINT
        WHERE e.type = 'lead_status_changed' AND s.id IS NULL""",
    "closed_at_iff_won_or_lost": """
        SELECT count(*) FROM leads
        WHERE (closed_at IS NOT NULL) <> (status_id IN (142, 143))""",
    "closed_at_is_last_closing_move": """
        WITH closing AS (
            SELECT entity_id, max(created_at) AS t FROM events
            WHERE type = 'lead_status_changed'
              AND json_extract(value_after, '$[0].lead_status.id')::BIGINT IN (142, 143)
            GROUP BY entity_id
        )
        SELECT count(*) FROM leads l JOIN closing c ON c.entity_id = l.id
        WHERE l.status_id IN (142, 143) AND l.closed_at <> c.t""",
    "deleted_at_iff_deleted": """
        SELECT count(*) FROM leads WHERE is_deleted <> (deleted_at IS NOT NULL)""",
    "every_lead_has_a_main_contact": """
        SELECT count(*) FROM leads
        WHERE id NOT IN (SELECT lead_id FROM lead_contacts WHERE is_main)""",
    "event_ids_unique": "SELECT count(*) - count(DISTINCT id) FROM events",
    # closest_task_at is the nearest deadline of the entity's open tasks.
    "lead_closest_task_at": """
        SELECT count(*) FROM leads x LEFT JOIN (
            SELECT entity_id, min(complete_till) AS t FROM tasks
            WHERE NOT is_completed AND entity_type = 'leads' GROUP BY entity_id
        ) o ON o.entity_id = x.id
        WHERE x.closest_task_at IS DISTINCT FROM o.t""",
    "contact_closest_task_at": """
        SELECT count(*) FROM contacts x LEFT JOIN (
            SELECT entity_id, min(complete_till) AS t FROM tasks
            WHERE NOT is_completed AND entity_type = 'contacts' GROUP BY entity_id
        ) o ON o.entity_id = x.id
        WHERE x.closest_task_at IS DISTINCT FROM o.t""",
}


def broken_rows(store: AccountStore, name: str) -> int:
    row = store.cursor().execute(INVARIANTS[name]).fetchone()
    assert row is not None
    return int(row[0])


def violations(store: AccountStore) -> dict[str, int]:
    """Every rule the store breaks, with the number of rows breaking it; {} when healthy."""
    counts = {name: broken_rows(store, name) for name in INVARIANTS}
    return {name: n for name, n in counts.items() if n}

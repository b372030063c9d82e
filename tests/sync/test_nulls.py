"""Which columns' NULL share jumped between the warehouse and a run's rows."""

from __future__ import annotations

from collections import Counter

from kommo_analytics.sync import nulls


def seen(rows: int, **null_rows: int) -> nulls.Seen:
    s = nulls.Seen()
    batch = [
        {"id": i, **{c: None if i < n else 1 for c, n in null_rows.items()}} for i in range(rows)
    ]
    s.add("leads", batch)
    return s


def test_a_column_that_was_filled_and_is_now_mostly_empty_is_reported() -> None:
    stored = {"leads": (1000, Counter({"price": 10, "closed_at": 600}))}
    run = seen(200, price=150, closed_at=200, responsible_user_id=20)
    found = {w["column"]: w for w in nulls.jumps(stored, run)}
    assert found["price"]["run_null_share"] == 0.75
    assert found["score"]["run_null_share"] == 1.0  # a key absent from every row is NULL
    assert found["price"]["stored_null_share"] == 0.01
    assert "closed_at" not in found  # it was often empty before: nothing new
    assert "responsible_user_id" not in found  # 10 % empty now: not a jump
    assert "leads.price is empty in 75% of this run's 200 rows" in nulls.describe(found["price"])


def test_too_few_rows_on_either_side_judge_nothing() -> None:
    assert nulls.jumps({"leads": (1000, Counter())}, seen(99)) == []
    assert nulls.jumps({"leads": (99, Counter())}, seen(500)) == []
    assert nulls.jumps({}, seen(500)) == []  # a first sync has nothing to compare with


def test_derived_flags_and_unwatched_tables_are_left_out() -> None:
    assert "is_deleted" not in nulls.watched_columns("leads")
    assert "raw" not in nulls.watched_columns("leads")
    s = nulls.Seen()
    s.add("lead_contacts", [{"lead_id": None}] * 500)
    assert s.rows == Counter()

"""Whether the stored model is current: built by this version with these rules and this timezone
setting, and no load has changed the raw tables since (the mark a changing load leaves)."""

from __future__ import annotations

from pathlib import Path

from kommo_analytics.model import incremental
from kommo_analytics.model import store as model_store
from kommo_analytics.model.channels import ChannelRules, parse_rules
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url

OTHER_RULES = '[[channel]]\nkey = "all"\nlabel = "All"\nfallback = true\n'


def test_the_model_is_current_until_raw_rows_rules_or_timezone_change(
    warehouse_url: str, tmp_path: Path
) -> None:
    target = parse_database_url(warehouse_url)
    rules = ChannelRules.default()
    warehouse = Warehouse(target, tmp_path / "data")
    warehouse.before_change = lambda: incremental.mark_stale(target)
    warehouse.load({"leads": [{"id": 1, "name": "a", "is_deleted": False}]})
    assert not incremental.model_current(target, rules, None)  # no model yet

    model_store.build_and_store(target, rules)
    assert incremental.model_current(target, rules, None)
    assert not incremental.model_current(target, rules, "Europe/Lisbon")
    other = parse_rules(OTHER_RULES, source="other.toml")
    assert not incremental.model_current(target, other, None)

    # A load that changes a row marks the model stale before it commits (once per sync: a
    # warehouse object is one sync's); a rebuild clears it.
    warehouse = Warehouse(target, tmp_path / "data")
    warehouse.before_change = lambda: incremental.mark_stale(target)
    warehouse.load({"leads": [{"id": 1, "name": "a2", "is_deleted": False}]})
    assert not incremental.model_current(target, rules, None)
    model_store.build_and_store(target, rules, timezone_override="Europe/Lisbon")
    assert incremental.model_current(target, rules, "Europe/Lisbon")
    warehouse.publish()
    assert incremental.served_current(target)

"""Whether the stored model is current, so that a sync that changed nothing skips the rebuild.

The model is current when it was built by this version (``model_version``), with the same
channel rules (``rules_hash``: their content, file name included) and the same timezone setting
(``timezone_override``), and no load has changed the raw tables since. A sync's first changing
load writes ``raw_changed_at`` into ``model_info`` *before* it commits (``mark_stale``); a
rebuild empties and refills ``model_info`` in the transaction that writes the model, which
clears the mark with the commit that makes it untrue. So a sync killed after a load and before
its rebuild leaves the mark, and the next sync rebuilds even when it changes nothing itself.

See docs/architecture.md, "Unchanged syncs".
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from kommo_analytics.errors import NoSyncedDataError
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.schema import MODEL_VERSION, model_qualified, model_schema
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import Target

STALE_ITEM = "raw_changed_at"
RULES_ITEM = "rules_hash"
TIMEZONE_ITEM = "timezone_override"
# The writer's bookkeeping, not facts about the account: readers (`metrics --json`, the
# dashboard) never see these items.
BOOKKEEPING_ITEMS = frozenset({STALE_ITEM, RULES_ITEM, TIMEZONE_ITEM})


def rules_hash(rules: ChannelRules) -> str:
    """The rules' content (and where they came from), as a short stable digest."""
    text = repr((rules.source, rules.utm_fields, rules.rules))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_items(rules: ChannelRules, timezone_override: str | None) -> dict[str, str]:
    """What a build records in ``model_info`` beside the build's own facts."""
    return {RULES_ITEM: rules_hash(rules), TIMEZONE_ITEM: timezone_override or ""}


def stored_items(con: Any, target: Target) -> dict[str, str] | None:
    """The stored model's ``model_info`` items (None: no model yet)."""
    backend = backend_for(target)
    if backend.columns(con, model_schema(target), "model_info") is None:
        return None
    cur = backend.cursor(con)
    # SQL text: a model table's name; no user value.
    cur.execute(f"SELECT item, value FROM {model_qualified(target, 'model_info')}")  # nosec B608
    return {str(item): str(value) for item, value in cur.fetchall()}


def model_current(target: Target, rules: ChannelRules, timezone_override: str | None) -> bool:
    """Whether the writer's model was built from the raw tables as they are, with these rules
    and this timezone setting, by this version. The caller holds the writer lock."""
    backend_for(target).prepare_writer()
    with reader.connect(target, write=True) as con:
        info = stored_items(con, target)
    if info is None or STALE_ITEM in info:
        return False
    return (
        info.get("model_version") == str(MODEL_VERSION)
        and info.get(RULES_ITEM) == rules_hash(rules)
        and info.get(TIMEZONE_ITEM) == (timezone_override or "")
    )


def served_current(target: Target) -> bool:
    """Whether readers see the model the writer has (DuckDB: the served file's ``model_info``
    equals the private file's; a publish that failed after a rebuild leaves them different).
    On the servers readers and writer share the database: always True."""
    with reader.connect(target, write=True) as con:
        mine = stored_items(con, target)
    try:
        with reader.connect(target) as con:
            served = stored_items(con, target)
    except NoSyncedDataError:
        return False
    return mine is not None and mine == served


def mark_stale(target: Target, now: datetime | None = None) -> None:
    """Record that the raw tables are about to change under the model (before the load commits;
    a warehouse without a model has nothing to mark). The caller holds the writer lock."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    backend = backend_for(target)
    backend.prepare_writer()
    with reader.connect(target, write=True) as con:
        if backend.columns(con, model_schema(target), "model_info") is None:
            return
        name = model_qualified(target, "model_info")
        with backend.transaction(con) as cur:
            # SQL text: a model table's name and fixed item names; the moment is ours (ISO text).
            cur.execute(f"DELETE FROM {name} WHERE item = '{STALE_ITEM}'")  # nosec B608
            cur.execute(
                f"INSERT INTO {name} (item, value) VALUES ('{STALE_ITEM}', '{moment}')"  # nosec B608
            )

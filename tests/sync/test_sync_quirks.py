"""An account that answers the way some real accounts do — `/account` without `_embedded` (no
task types, no time zone) and pages without `_page` — syncs, builds the model, and says which
time zone it used instead of silently taking UTC."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from kommo_analytics.emulator.config import EmulatorConfig, Quirks
from tests.sync.harness import account, duckdb_url, sync

QUIRKS = "account_without_embedded,account_without_datetime,pages_without_page"


@pytest.mark.slow
def test_an_account_with_every_real_shape_quirk_syncs_and_builds_the_model(
    tmp_path: Path,
) -> None:
    config = EmulatorConfig(rate_limit_per_second=1000, quirks=Quirks.parse(QUIRKS))
    acc = account(seed=5, config=config, fresh=True)
    result = sync(acc, tmp_path, duckdb_url(tmp_path))

    assert result.status == "ok", result.error
    assert result.warnings == [{"kind": "no_timezone", "used": "UTC"}]
    con = duckdb.connect(str(tmp_path / "warehouse" / "kommo.duckdb"), read_only=True)
    try:
        (tasks,) = con.execute("SELECT count(*) FROM kommo_raw.tasks").fetchone() or (0,)
        (built, unnamed) = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE type_name IS NULL) FROM kommo_model.fact_tasks"
        ).fetchone() or (0, 0)
        (leads,) = con.execute("SELECT count(*) FROM kommo_model.fact_leads").fetchone() or (0,)
    finally:
        con.close()
    # Every task is in the model although the account named none of their types.
    assert tasks > 0 and built == tasks == unnamed
    assert leads == acc.store.count("leads")

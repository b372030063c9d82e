"""What every sync does after it has rebuilt the model, under its lock and before the DuckDB
publish: store the day's forecast snapshot, then run the data-quality checks (without the
reconciliation against the API, which would add requests to the sync). The `sync` command and
`serve`'s sync jobs hand this one step to ``run_sync``, so both leave the same results."""

from __future__ import annotations

from kommo_analytics.service.quality import quality_after_build
from kommo_analytics.service.snapshots import snapshot_after_build
from kommo_analytics.sync.runner import AfterBuild, after_build_steps

AFTER_BUILD: AfterBuild = after_build_steps(snapshot_after_build, quality_after_build)

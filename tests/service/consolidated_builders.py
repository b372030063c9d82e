"""An install with two registered accounts made of the synced small account, for the
consolidated view's end-to-end tests (service and dashboard), and an account's own report to
check the consolidated one against."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from kommo_analytics.metrics.results import Report
from kommo_analytics.service import account, reports
from kommo_analytics.service import consolidated as service
from kommo_analytics.service.scope import Scope


def direct_report(name: str, first: date, last: date, now: datetime) -> Report:
    """Account ``name``'s report as `metrics --json --from first --to last` computes it."""
    settings = service.account_settings(name)
    target = account.target_for(settings)
    acc = account.load_modelled(target)
    p = reports.params(acc, Scope(start=first, end=last, as_of=now), now=now)
    return reports.report(target, acc, p, ("leads", "sales"), forecast_range=False)


def alpha_url(install: Path) -> str:
    return f"duckdb:///{install / 'wh' / 'accounts' / 'alpha' / 'kommo.duckdb'}"


def two_account_install(
    small_synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An install with two registered accounts, ``alpha`` and ``beta``, each a copy of the
    synced small account; beta's model says USD (a fake second currency: the same deals)."""
    for name in ("KOMMO_BASE_URL", "KOMMO_ACCESS_TOKEN", "KOMMO_CLIENT_ID", "KOMMO_ACCOUNT",
                 "KOMMO_CLIENT_SECRET", "ACCOUNT_TIMEZONE", "HOLIDAYS_COUNTRY"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    data = tmp_path / "data"
    data.mkdir()
    (data / "accounts.toml").write_text(
        '[accounts.alpha]\nbase_url = "https://alpha.kommo.com"\n'
        '[accounts.beta]\nbase_url = "https://beta.kommo.com"\n',
        encoding="utf-8",
    )
    for name in ("alpha", "beta"):
        shutil.copytree(small_synced / "warehouse", tmp_path / "wh" / "accounts" / name,
                        ignore=shutil.ignore_patterns("*.lock"))  # fmt: skip
        (data / "accounts" / name).mkdir(parents=True)
    with duckdb.connect(str(tmp_path / "wh" / "accounts" / "beta" / "kommo.duckdb")) as con:
        con.execute("UPDATE kommo_model.model_info SET value = 'USD' WHERE item = 'currency'")
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("DATABASE_URL", f"duckdb:///{tmp_path / 'wh' / 'kommo.duckdb'}")
    return tmp_path

"""The Data health page's data quality: before any check, the advice and a button that runs
them; after, the overall score, its trend, each rule's result and its failing leads linked to
Kommo."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.service import quality
from kommo_analytics.settings import Settings
from tests.dashboard.conftest import MakeApp
from tests.service import quality_builders as qb

HEALTH = "app_pages/data_health.py"


def _health_page(make_app: MakeApp, url: str, lang: str) -> AppTest:
    # The navigation is set up by the first run; the page is opened after it.
    app = make_app(url, lang=lang)
    app.run()
    return app.switch_page(HEALTH).run()


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"
    qb.build(url, tmp_path / "data")
    for name in ("KOMMO_BASE_URL", "KOMMO_ACCESS_TOKEN", "KOMMO_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return url


def test_before_any_check_the_page_says_so_and_its_button_runs_them(
    make_app: MakeApp, seeded: str
) -> None:
    app = _health_page(make_app, seeded, "en")
    assert not app.exception
    assert any("No data-quality check has run yet" in i.value for i in app.info)
    assert not any("kommo-analytics check" in i.value for i in app.info)  # no terminal command
    app.button(key="quality.run").click().run()
    assert not app.exception
    run = quality.latest_quality(seeded)
    assert run is not None and run.exit_code == 1
    assert [m.value for m in app.metric] == ["71.4"]  # the overall score, shown
    captions = " ".join(c.value for c in app.caption)
    assert "Overall score: 71.4/100" in captions


def test_the_score_its_trend_each_rule_and_the_failing_leads_linked_to_kommo(
    make_app: MakeApp, seeded: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=seeded)
    quality.run_checks(settings, qb.NOW - timedelta(hours=1), reconcile=False)
    quality.run_checks(settings, qb.NOW, reconcile=False)
    app = _health_page(make_app, seeded, "pt-BR")
    assert not app.exception
    assert "Qualidade dos dados" in [s.value for s in app.subheader]
    assert [m.value for m in app.metric] == ["71,4"]
    rules = next(
        df.value for df in app.dataframe if "Regra" in df.value.columns or "rule" in df.value
    )
    assert len(rules) == len(quality.RULES)
    assert "Ganho sem valor" in set(rules["rule"])
    assert any("1 de 3 negócios ganhos" in m for m in rules["message"])
    # The first rule with failing leads, picked by default: unknown pipeline, lead 6.
    picked = app.selectbox(key="quality.pick.pt-BR")
    assert picked.value == "Funil desconhecido"
    leads = app.dataframe[-1].value
    # Linked to Kommo, named ("Lead 6" when it has no name of its own).
    assert list(leads["lead"]) == ["https://acme.kommo.com/leads/detail/6#Lead%206"]
    picked.set_value("Ganho sem valor").run()
    (link,) = app.dataframe[-1].value["lead"]
    assert link.startswith("https://acme.kommo.com/leads/detail/2#")

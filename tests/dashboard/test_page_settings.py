"""The Settings page's tabs in AppTest, and the empty states that lead to them.

What the grids save is checked against the CLI's imports in tests/service/test_settings_inputs.py
(AppTest cannot type into a data editor); here: who sees the editors, that a link opens its tab,
the KPI targets' local formats, and that no empty state sends anyone to a terminal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import auth
from kommo_analytics.service import targets, users
from kommo_analytics.text.i18n import LOCALES, MESSAGES
from tests.dashboard.conftest import MakeApp

SETTINGS = "app_pages/settings.py"
PERFORMANCE = "app_pages/performance.py"
OCTOBER = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}
SRC = Path(__file__).parents[2] / "src" / "kommo_analytics"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def no_exception(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]


def grids(app: AppTest) -> list[str]:
    return [d.key for d in app.dataframe if d.key]


def page_links(app: AppTest) -> list[str]:
    return [link.proto.label for link in app.get("page_link")]


@pytest.mark.parametrize(
    ("tab", "expected"),
    [("goals", ["goals.rev.2026", "goals.deals.2026"]), ("costs", ["costs.grid"]),
     ("channels", ["channels.grid"])],
)  # fmt: skip
def test_a_link_opens_its_tab_with_its_editor(
    make_app: MakeApp, synced_url: str, data_dir: Path, tab: str, expected: list[str]
) -> None:
    app = make_app(synced_url, SETTINGS, lang="pt-BR", tab=tab).run()
    no_exception(app)
    assert grids(app) == expected
    assert not app.text_input  # only the open tab runs: not the KPI targets
    assert "tab" not in app.query_params  # read once, not kept in the address


def test_a_tab_opened_by_a_link_stays_open_when_its_button_is_pressed(
    make_app: MakeApp, synced_url: str, data_dir: Path
) -> None:
    """The link's tab is selected through the tabs' state: on the press's run (the address no
    longer names it) the same tab is open and its button runs — here refusing an empty grid."""
    app = make_app(synced_url, SETTINGS, lang="en", tab="costs").run()
    (save,) = [b for b in app.button if b.key == "costs.save"]
    save.click().run()
    no_exception(app)
    assert grids(app) == ["costs.grid"]
    assert [w.value for w in app.warning] == [MESSAGES["en"]["costs.empty"]]


def test_kpi_targets_show_units_and_local_decimals_and_read_them_back(
    make_app: MakeApp, synced_url: str, data_dir: Path
) -> None:
    app = make_app(synced_url, SETTINGS, lang="pt-BR").run()
    no_exception(app)
    shown = {box.key: box.value for box in app.text_input}
    assert shown["target.avg_ticket"] == "R$\xa05.000,00"
    assert shown["target.win_rate_pct"] == "25 %"
    assert shown["target.first_response_hours"] == "2 h"
    app.text_input(key="target.avg_ticket").input("R$ 4.500,50")
    app.text_input(key="target.first_response_hours").input("1,5")
    app.button[0].click().run()  # the form's submit button
    no_exception(app)
    saved = targets.load(data_dir)
    assert (saved["avg_ticket"], saved["first_response_hours"]) == (4500.5, 1.5)
    assert saved["win_rate_pct"] == 25.0  # untouched, as it was

    app.text_input(key="target.win_rate_pct").input("muito")
    app.button[0].click().run()
    assert [e.value for e in app.error] == [
        "Taxa de ganho mínima (%): “muito” não é um número. Escreva, por exemplo, 25 %."
    ]
    assert targets.load(data_dir)["win_rate_pct"] == 25.0


def test_empty_states_link_admins_to_settings_and_tell_others_to_ask_one(
    make_app: MakeApp, synced_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(synced_url, PERFORMANCE, lang="en", **OCTOBER).run()
    no_exception(app)
    assert "Open Settings → Sales goals" in page_links(app)
    assert "Open Settings → Costs" in page_links(app)

    manager = auth.Access(users.User("caio", "manager", "x"))
    monkeypatch.setattr(auth, "current_access", lambda: manager)
    app = make_app(synced_url, PERFORMANCE, lang="en", **OCTOBER).run()
    no_exception(app)
    assert not page_links(app)  # the Settings page is not theirs to open
    said = [i.value for i in app.info]
    assert any("Ask a dashboard administrator to set the goals" in s for s in said)
    assert any("Ask a dashboard administrator to add the costs" in s for s in said)


def test_no_empty_state_names_a_terminal_command_for_goals_or_costs() -> None:
    keys = [key for key in MESSAGES["en"]
            if re.search(r"no_goals?$|no_month_goal|no_costs$|costs_missing|^inputs\.", key)]  # fmt: skip
    assert len(keys) >= 8
    for locale in LOCALES:
        for key in keys:
            assert "kommo-analytics" not in MESSAGES[locale][key], (locale, key)
    for path in (SRC / "dashboard").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(
            r"kommo-analytics (goals|costs) import|GOALS_COMMAND|COSTS_COMMAND", text
        ), path

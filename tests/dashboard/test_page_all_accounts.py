"""The All accounts page in AppTest: an install of two accounts (the synced small account twice,
the second said to be in USD), October 2026, as of 25 November 2026 (the pinned clock).

The figures behind the total are checked in tests/service/test_consolidated.py; here: the page
is in the navigation only with two accounts, names the missing rates and links to where they
are entered, and shows the converted total once they are.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.service import consolidated as service
from kommo_analytics.text import i18n
from tests.dashboard.conftest import MakeApp
from tests.service.consolidated_builders import alpha_url, two_account_install

PAGE = "app_pages/all_accounts.py"
OCTOBER = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31", "lang": "en"}
# The small account's revenue of October 2026 (tests/cli/snapshots/metrics_small_seed3.json).
OCTOBER_REVENUE = 145480.0


@pytest.fixture
def install(small_synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return two_account_install(small_synced, tmp_path, monkeypatch)


def open_page(make_app: MakeApp, install: Path) -> AppTest:
    # Run once first: before it, AppTest knows pages by file name, not by their url path.
    app = make_app(alpha_url(install), **OCTOBER).run()
    return app.switch_page(PAGE).run()


def no_exception(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]


def total_row(app: AppTest) -> dict[str, str]:
    frame = app.dataframe[0].value
    return dict(frame.iloc[-1])


def test_without_rates_the_page_names_them_and_where_to_enter_them(
    make_app: MakeApp, install: Path
) -> None:
    app = open_page(make_app, install)
    no_exception(app)
    # October's revenue, and November's rate for the open pipeline (as of 25 November).
    assert [w.value for w in app.warning] == [
        "No total in BRL: these exchange rates are missing (each account's figures, in its "
        "own currency, are still below):\n\n"
        "- October 2026: 1 USD in BRL (accounts: beta)\n"
        "- November 2026: 1 USD in BRL (accounts: beta)"
    ]
    links = {link.proto.label: link.proto.page for link in app.get("page_link")}
    assert links["Open Settings → Exchange rates"] == "settings"
    total = total_row(app)
    assert total["Account"] == "Total"
    assert total["Leads"] == i18n.number(
        2 * int(app.dataframe[0].value.iloc[0]["Leads"].replace(",", "")), "en"
    )
    assert total["Revenue in BRL"] == ""  # refused, not a partial sum
    # Each account in its own currency is still there.
    assert list(app.dataframe[0].value["Currency"]) == ["BRL", "USD", "BRL"]


def test_with_rates_the_total_is_converted(make_app: MakeApp, install: Path) -> None:
    service.save_rates_text(
        service.install_settings(),
        "month,from_currency,to_currency,rate\n2026-10,USD,BRL,2\n2026-11,USD,BRL,3\n",
        source="test",
    )
    app = open_page(make_app, install)
    no_exception(app)
    assert not app.warning
    # alpha's R$ 145,480 as it is, beta's US$ 145,480 of October at 2 BRL.
    assert total_row(app)["Revenue in BRL"] == i18n.money(3 * OCTOBER_REVENUE, "BRL", "en")


def test_the_settings_tabs_edit_the_rates_and_the_mapping(make_app: MakeApp, install: Path) -> None:
    service.save_rates_text(
        service.install_settings(),
        "month,from_currency,to_currency,rate\n2026-10,USD,BRL,2\n",
        source="test",
    )
    app = make_app(alpha_url(install), **OCTOBER).run()
    app.switch_page("app_pages/settings.py").run()
    no_exception(app)
    tabs = [tab.label for tab in app.tabs]
    assert tabs[-2:] == ["Exchange rates", "Stages across accounts"]
    app.query_params["tab"] = "rates"
    app.switch_page("app_pages/settings.py").run()
    grid = next(d for d in app.dataframe if d.key == "consolidated.rates.grid")
    assert grid.value.values.tolist() == [["2026-10", "USD", "BRL", "2"]]
    app.query_params["tab"] = "stage_map"
    app.switch_page("app_pages/settings.py").run()
    no_exception(app)
    grid = next(d for d in app.dataframe if d.key == "consolidated.stage_map.grid")
    rows = grid.value.values.tolist()
    # Nothing mapped yet: every open stage of both accounts (the small account's three
    # pipelines have 13), for the admin to name.
    assert len(rows) == 2 * 13
    assert rows[0][:3] == ["alpha", "Vendas", "Leads de entrada"]

"""The account switcher of an install of two accounts, and who may see which (AppTest).

Two registered accounts, `acme` and `beta`, each with a copy of the synced small account as its
own warehouse (its folder's default DuckDB file); beta's copy has lost five leads, so the Data
health page's count of leads tells which warehouse a page read.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import accounts, auth, filters
from kommo_analytics.service import users
from kommo_analytics.warehouse.target import parse_database_url
from tests.dashboard.conftest import MakeApp, sql
from tests.dashboard.test_access import LIVE_LEADS_BY_SELLER, PASSWORD, Clock, sign_in

HEALTH = "app_pages/data_health.py"
LEADS_GONE = 5


def leads_shown(app: AppTest) -> str:
    """The Leads row of the Data health page's row counts (its last table)."""
    counts = app.dataframe[-1].value
    return dict(zip(counts["table"], counts["rows"], strict=True))["Leads"]


def no_exception(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]


def health(app: AppTest) -> AppTest:
    """The Data health page (AppTest finds a page by its address only after a first run)."""
    app.switch_page(HEALTH).run()
    no_exception(app)
    return app


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synced_url: str) -> dict[str, str]:
    """The install's data folder with acme and beta registered and synced; account → URL.
    Nothing of the machine's own settings applies (no account of .env: the register's first,
    acme, is the one the process starts on)."""
    for name in list(os.environ):
        if name.startswith("KOMMO_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    data_dir.mkdir()
    (data_dir / "accounts.toml").write_text(
        '[accounts.acme]\nbase_url = "https://acme.kommo.com"\ndisplay_name = "Acme Brasil"\n'
        '[accounts.beta]\nbase_url = "https://beta.kommo.com"\ndisplay_name = "Beta Chile"\n'
    )
    source = parse_database_url(synced_url).serving_path
    assert source is not None
    urls = {}
    for name in ("acme", "beta"):
        folder = data_dir / "accounts" / name
        folder.mkdir(parents=True)
        shutil.copy(source, folder / "kommo.duckdb")
        urls[name] = f"duckdb:///{folder / 'kommo.duckdb'}"
    schema = parse_database_url(urls["beta"]).dataset
    with duckdb.connect(str(data_dir / "accounts" / "beta" / "kommo.duckdb")) as con:
        con.execute(
            f"DELETE FROM {schema}.leads WHERE id IN "
            f"(SELECT id FROM {schema}.leads ORDER BY id LIMIT {LEADS_GONE})"
        )
    return urls


def counted(url: str) -> str:
    ((count,),) = sql(url, "SELECT count(*) FROM {t}leads")
    return f"{count:,}"


def test_the_switcher_offers_both_accounts_and_every_page_reads_the_chosen_one(
    make_app: MakeApp, install: dict[str, str]
) -> None:
    acme, beta = counted(install["acme"]), counted(install["beta"])
    assert acme != beta
    # `kommo-analytics dashboard` hands the process the warehouse of the account it starts on.
    app = health(make_app(install["acme"], lang="en").run())
    switcher = app.sidebar.selectbox(key=accounts.K_ACCOUNT)
    assert switcher.options == ["Acme Brasil", "Beta Chile"] and switcher.value == "acme"
    assert leads_shown(app) == acme
    switcher.set_value("beta").run()
    no_exception(app)
    assert leads_shown(app) == beta
    assert app.query_params[filters.P_ACCOUNT] == "beta"
    # A page change keeps the choice (the session's), and so does the way back.
    app.switch_page("app_pages/overview.py").run()
    no_exception(app)
    app.switch_page(HEALTH).run()
    assert app.sidebar.selectbox(key=accounts.K_ACCOUNT).value == "beta"
    assert leads_shown(app) == beta
    # A link names the account it was copied on.
    linked = health(make_app(install["acme"], lang="en", account="beta").run())
    assert leads_shown(linked) == beta and not linked.warning


def test_a_user_limited_to_one_account_sees_only_it_and_a_link_cannot_widen_it(
    make_app: MakeApp, install: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = users.users_path(tmp_path / "data")
    known = ["acme", "beta"]
    users.add(path, "ana", "admin", PASSWORD)
    users.add(path, "caio", "manager", PASSWORD, accounts=["beta"], known_accounts=known)
    users.add(path, "zeca", "manager", PASSWORD, accounts=["gone"], known_accounts=[*known, "gone"])
    # A seller's Kommo user is an account's own: sofia is linked in beta only.
    seller, name, _ = sql(install["beta"], LIVE_LEADS_BY_SELLER)[0]
    users.add(path, "sofia", "seller", PASSWORD, kommo_user_ids=[seller], account="beta")
    monkeypatch.setattr(auth, "THROTTLE", users.LoginThrottle())
    monkeypatch.setattr(auth, "clock", Clock())
    beta = counted(install["beta"])

    admin = health(sign_in(make_app(install["acme"], lang="en", account="beta").run(), "ana"))
    assert admin.sidebar.selectbox(key=accounts.K_ACCOUNT).options == ["Acme Brasil", "Beta Chile"]
    assert leads_shown(admin) == beta

    # A link to acme, which caio may not see: refused, said, and beta shown instead.
    caio = sign_in(make_app(install["acme"], lang="en", account="acme").run(), "caio")
    assert [w.value for w in caio.warning] == [
        "The link asks for an account that is not available to you; showing another account "
        "instead."
    ]
    assert accounts.K_ACCOUNT not in [s.key for s in caio.sidebar.selectbox]
    assert leads_shown(health(caio)) == beta
    assert caio.query_params[filters.P_ACCOUNT] == "beta"

    # An account the install no longer has: nothing to show but what to ask for.
    zeca = sign_in(make_app(install["acme"], lang="es").run(), "zeca")
    assert [w.value for w in zeca.warning] == [
        "Su usuario aún no tiene acceso a ninguna cuenta de esta instalación. Pida a un "
        "administrador que habilite las cuentas que debe ver."
    ]
    assert not zeca.dataframe and not zeca.sidebar.multiselect

    sofia = sign_in(make_app(install["acme"], lang="en").run(), "sofia")
    assert [w.value for w in sofia.warning] == [
        "Your user is not linked to any Kommo seller yet, so there is no data to show. Ask an "
        "administrator to link it in Settings → Users."
    ]
    sofia.sidebar.selectbox(key=accounts.K_ACCOUNT).set_value("beta").run()
    no_exception(sofia)
    assert not sofia.warning
    (sellers,) = [m for m in sofia.sidebar.multiselect if m.label == "Sellers"]
    assert sellers.options == [name]  # only her own Kommo user of beta

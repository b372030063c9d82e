"""The in-app sync on the Data health page (dashboard/syncing.py) with a stand-in for the child
process, and the rule it serves: no text the dashboard shows names a terminal command."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import auth
from kommo_analytics.dashboard.app_pages import data_health
from kommo_analytics.service import sync_start, users
from kommo_analytics.service.quality import RULES, QualityRun, RuleResult
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import LOCALES, MESSAGES, t, t_app
from tests.dashboard.conftest import MakeApp

HEALTH = "app_pages/data_health.py"
LEADS = "app_pages/leads.py"
LOCALES_DIR = Path(i18n.__file__).parent / "locales"
# Catalogues only the command line and unattended jobs print (the terminal is theirs to name).
CLI_ONLY = {"alerts.toml", "health_checks.toml", "serve.toml"}
MANAGER = auth.Access(users.User("caio", "manager", "x"))


@dataclass
class FakeChild:
    pid: int = 4242
    code: int | None = None
    argv: list[list[str]] = field(default_factory=list)
    output: Path | None = None

    def poll(self) -> int | None:
        return self.code

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], output: Path) -> FakeChild:
        self.argv.append(list(argv))
        self.output = output
        return self


@pytest.fixture
def child(synced_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChild]:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KOMMO_BASE_URL", "https://acme.kommo.com")
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", "token")
    fake = FakeChild()
    monkeypatch.setattr(sync_start, "_spawn", fake.spawn)
    yield fake
    sync_start.forget(synced_url)


def buttons(app: AppTest) -> dict[str, bool]:
    """The sync's buttons, label → enabled."""
    return {b.label: not b.disabled for b in app.button if b.key in ("sync.now", "sync.full")}


def open_health(make_app: MakeApp, url: str, lang: str) -> AppTest:
    # AppTest opens the Data health page only from a page already run (the light Leads page).
    return make_app(url, LEADS, lang=lang).run().switch_page(HEALTH).run()


def no_exception(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]


def test_an_admin_starts_a_sync_sees_it_run_and_sees_how_it_ended(
    make_app: MakeApp, synced_url: str, child: FakeChild
) -> None:
    app = open_health(make_app, synced_url, "en")
    no_exception(app)
    assert "Sync" in [s.value for s in app.subheader]
    assert buttons(app) == {"Sync now": True, "Full sync": True}

    app.button(key="sync.full").click().run()
    no_exception(app)
    assert child.argv == [sync_start.command(full=True)]
    assert any(i.value.startswith("Full sync running, started ") for i in app.info)
    assert buttons(app) == {"Sync now": False, "Full sync": False}

    assert child.output is not None
    child.output.parent.mkdir(parents=True, exist_ok=True)
    child.output.write_text("error: the token was rejected\n", encoding="utf-8")
    child.code = 1
    app.run()
    no_exception(app)
    (failed,) = [e.value for e in app.error]
    assert failed.startswith("The sync started ") and "stopped with an error" in failed
    assert [c.value for c in app.code] == ["error: the token was rejected"]
    assert buttons(app) == {"Sync now": True, "Full sync": True}


def test_the_buttons_wait_while_another_writer_works_and_are_not_a_managers(
    make_app: MakeApp,
    synced_url: str,
    child: FakeChild,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sync_start, "busy", lambda settings, url: True)
    app = open_health(make_app, synced_url, "pt-BR")
    no_exception(app)
    assert t("sync.busy", "pt-BR") in [i.value for i in app.info]
    assert buttons(app) == {"Sincronizar agora": False, "Sincronização completa": False}

    monkeypatch.setattr(auth, "current_access", lambda: MANAGER)
    app = open_health(make_app, synced_url, "pt-BR")
    no_exception(app)
    assert not buttons(app) and "Sincronização" not in [s.value for s in app.subheader]
    assert not child.argv


@pytest.mark.parametrize("locale", LOCALES)
def test_the_quality_fixes_name_the_button_for_admins_and_an_admin_for_others(
    locale: i18n.Locale, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tuple(
        RuleResult(rule, severity, checked=10, failing=2, score=80.0, values={"periods": "x"})
        for rule, severity in RULES
    )
    run = QualityRun(datetime(2026, 11, 25, tzinfo=UTC), 80.0, rules)
    admin = data_health.rules_frame(run, locale)["message"].tolist()
    monkeypatch.setattr(auth, "current_access", lambda: MANAGER)
    other = data_health.rules_frame(run, locale)["message"].tolist()
    for text in admin + other:
        assert "kommo-analytics" not in text and "{" not in text, text
    # The CLI's own wording still names the command.
    assert "kommo-analytics sync --full" in t("quality.unknown_stage.fail", locale, failing=2,
                                             checked=10)  # fmt: skip
    fixable = [i for i, (rule, _) in enumerate(RULES) if f"quality.{rule}.fail.app" in
               MESSAGES[locale]]  # fmt: skip
    assert len(fixable) == 7
    for i in fixable:
        assert t("sync.full", locale) in admin[i] or t("sync.now", locale) in admin[i]
        assert t("sync.do.full.other", locale) in other[i] or (
            t("sync.do.incremental.other", locale) in other[i]
        )


def test_no_text_the_dashboard_can_show_names_a_terminal_command() -> None:
    """Every key of the dashboard's catalogues as the dashboard looks it up (its `.app` wording
    first); the CLI keeps its own words in the CLI-only catalogues and the keys `.app` replaces."""
    checked = 0
    for path in sorted(LOCALES_DIR.glob("*.toml")):
        if path.name in CLI_ONLY:
            continue
        catalogue = tomllib.loads(path.read_text(encoding="utf-8"))
        for locale in LOCALES:
            for key in catalogue[locale]:
                if key.endswith(i18n.APP_SUFFIX) or key in ("quality.exit.errors",):
                    continue
                text = MESSAGES[locale].get(key + i18n.APP_SUFFIX) or MESSAGES[locale][key]
                assert "kommo-analytics" not in text, (path.name, locale, key)
                assert "demo.sh" not in text, (path.name, locale, key)
                checked += 1
    assert checked > 1000
    assert t_app("quality.sync_gaps.fail", "en", failing=1, checked=2, sync="S").endswith("S.")

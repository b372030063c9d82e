"""The metric definitions (definitions.toml): complete, translated, and the same as docs/metrics.md.

Which report the keys are walked from: one computed end to end on a tiny hand-built account
(``tests/metrics/builders.py``: ``build_model`` → in-memory DuckDB → ``report.compute``), with
data chosen so that every list of the report has at least one row — a funnel with stages, sellers,
loss reasons, UTM values, open pipeline — and costs and goals imported, so the optional objects
are filled in too. An empty account would hide every list field; the emulator + sync path is
slower and adds nothing here, because the keys do not depend on the volume of data. The model's
build facts (``model.*``) are passed as ``service.reports.report`` passes them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from kommo_analytics.metrics import report
from kommo_analytics.metrics.common import Model
from kommo_analytics.model.channels import DEFAULT_CHANNELS
from kommo_analytics.model.schema import MODEL_SCHEMA
from kommo_analytics.service.reports import with_range
from kommo_analytics.text.definitions import (
    LANGUAGES,
    Definition,
    all_definitions,
    definition,
    metric_keys,
    module_name,
    render_markdown,
    report_keys,
    tooltip,
)
from tests.metrics.builders import (
    ANA,
    BRUNO,
    CURRENCY,
    LOST,
    MARIA,
    MEETING,
    MODEL_COLUMNS,
    NEW,
    PRICE_TOO_HIGH,
    PROPOSAL,
    QUALIFIED,
    WON,
    call_note,
    cost,
    event,
    executor,
    goal,
    lead,
    link,
    model,
    move,
    params,
    raw,
    task,
    task_completed,
    warehouse,
)
from tests.metrics.test_results import forecast_result

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "metrics.md"
TEXT_FIELDS = ("title", "definition", "basis", "edge_cases")


def _account() -> Any:
    return raw(
        leads=[
            lead(
                1,
                "2026-10-05 13:00",
                status=WON,
                price=1000,
                closed="2026-10-20 15:00",
                utm_source="google",
                utm_medium="cpc",
                utm_campaign="brand",
            ),
            lead(
                2,
                "2026-10-06 13:00",
                status=LOST,
                price=500,
                closed="2026-10-21 15:00",
                loss_reason=PRICE_TOO_HIGH,
                responsible=BRUNO,
            ),
            lead(3, "2026-10-07 13:00", status=QUALIFIED, price=700),
        ],
        events=[
            move(1, "2026-10-06 13:00", NEW, QUALIFIED),
            move(1, "2026-10-10 13:00", QUALIFIED, PROPOSAL),
            move(1, "2026-10-20 15:00", PROPOSAL, WON),
            move(2, "2026-10-21 15:00", NEW, LOST, by=BRUNO),
            move(3, "2026-10-08 13:00", NEW, QUALIFIED),
            event("outgoing_call", 1, "lead", "2026-10-05 14:00", note=501),
            event("incoming_call", 1, "lead", "2026-10-05 15:00", note=502),
            event("outgoing_chat_message", MARIA, "contact", "2026-10-06 14:00", BRUNO),
            event("incoming_chat_message", 2, "lead", "2026-10-06 15:00", BRUNO),
            event("outgoing_mail", 3, "lead", "2026-10-08 12:00"),
            event("incoming_mail", 3, "lead", "2026-10-08 13:00"),
            event("outgoing_sms", 3, "lead", "2026-10-09 12:00"),
            task_completed(11, "2026-10-09 12:00"),
        ],
        tasks=[
            task(11, "2026-10-10 12:00", lead=1, completed=True, updated="2026-10-09 12:00"),
            task(12, "2026-10-12 12:00", type=MEETING, lead=3),
        ],
        notes=[call_note(501, 1, 120), call_note(502, 1, 60)],
        contacts=[link(2, MARIA)],
    )


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    data = _account()
    # The build's facts, as ``service.account.load`` reads them from the model_info table.
    facts = model(data)["model_info"]
    info = {
        str(item): str(value)
        for item, value in zip(facts["item"], facts["value"], strict=True)
        if value is not None
    }
    con = warehouse(
        data,
        costs=[cost("2026-10-01", "paid", 300.0), cost("2026-10-01", "outbound", 100.0)],
        goals=[goal("2026-10", ANA, 2000.0, 2), goal("2026-11", ANA, 3000.0)],
    )
    try:
        document = report.compute(
            Model(MODEL_COLUMNS, MODEL_SCHEMA),
            params(),
            executor(con),
            currency=CURRENCY,
            channels=DEFAULT_CHANNELS,
            info=info,
        )
    finally:
        con.close()
    # The range is added by the read service from the forecast model, as service.reports.report
    # adds it; a hand-built forecast result fills every key of it.
    document["forecast"] = with_range(document["forecast"], forecast_result())
    return document


def test_the_report_fixture_fills_every_list(result: dict[str, Any]) -> None:
    # If one of these were empty, its fields would silently escape the coverage test below.
    assert result["funnel"] and result["funnel"][0]["stages"]
    assert result["sellers"] and result["channels"]
    assert result["sales"]["loss_reasons"]
    assert all(result["leads"]["utm"][dim] for dim in ("utm_source", "utm_medium", "utm_campaign"))
    assert result["forecast"]["open_pipeline"] and result["forecast"]["months"]
    assert result["model"]
    assert result["leads"]["cost"]["imported"] and result["goals_imported"]


def test_every_report_key_has_a_definition_in_every_language(result: dict[str, Any]) -> None:
    keys = report_keys(result)
    missing = [k for k in keys if k not in set(metric_keys())]
    assert not missing, f"add these keys to text/definitions.toml: {missing}"
    for key in keys:
        for lang in LANGUAGES:
            d = definition(key, lang)
            assert d.title and d.definition and d.basis, (key, lang)


def test_no_definition_is_left_over_from_a_key_the_report_no_longer_has(
    result: dict[str, Any],
) -> None:
    stale = sorted(set(metric_keys()) - set(report_keys(result)))
    assert not stale, f"remove or rename these entries of text/definitions.toml: {stale}"


def test_the_contract_keys_are_documented() -> None:
    for key in (
        "leads.total",
        "leads.by_channel",
        "leads.response_time.median_hours",
        "leads.cost.per_lead",
        "funnel.stages.conversion_to_next_pct",
        "activities.on_time_rate_pct",
        "sales.loss_reasons.share_pct",
        "sellers.attainment_pct",
        "channels.roi_pct",
        "forecast.month_gap_to_goal",
    ):
        assert definition(key).definition


def test_every_text_is_translated_and_none_is_empty() -> None:
    from kommo_analytics.text.definitions import _entries

    for entry in _entries().values():
        for field in TEXT_FIELDS:
            by_lang = entry.texts.get(field)
            if by_lang is None:
                assert field in ("basis", "edge_cases"), (entry.key, field)
                continue
            assert set(by_lang) == set(LANGUAGES), (entry.key, field, sorted(by_lang))
            for lang, text in by_lang.items():
                assert text.strip(), (entry.key, field, lang)
        if not entry.key.startswith("concept."):
            assert "basis" in entry.texts, f"{entry.key} says nothing about the period"
        assert entry.formula is None or entry.formula.strip()


def test_translations_are_not_copies_of_the_english() -> None:
    # Short titles such as "Leads" or "SMS" may legitimately be the same in every language.
    for d_en, d_pt, d_es in zip(
        all_definitions("en"), all_definitions("pt-BR"), all_definitions("es"), strict=True
    ):
        assert d_en.key == d_pt.key == d_es.key
        assert d_pt.definition != d_en.definition, d_en.key
        assert d_es.definition != d_en.definition, d_en.key
        assert d_pt.definition != d_es.definition, d_en.key


def test_the_concepts_are_defined() -> None:
    for name in (
        "period",
        "as_of",
        "channel",
        "deleted_leads",
        "human_action",
        "stage_history",
        "first_response",
        "costs_csv",
        "goals_csv",
        "compatibility_views",
    ):
        d = definition(f"concept.{name}", "pt-BR")
        assert isinstance(d, Definition) and d.title and d.definition


def test_definition_falls_back_and_normalises_the_language() -> None:
    assert definition("sales.win_rate_pct", "pt-BR").title == "Taxa de ganho (%)"
    assert definition("sales.win_rate_pct", "pt_BR").title == "Taxa de ganho (%)"
    assert definition("sales.win_rate_pct", "es-MX").title == "Tasa de cierre (%)"
    assert definition("sales.win_rate_pct", "fr").title == "Win rate (%)"
    assert definition("sales.win_rate_pct").module == "4"
    assert definition("concept.period").module == "common"


def test_unknown_key_raises_key_error() -> None:
    with pytest.raises(KeyError):
        definition("leads.nonexistent")
    with pytest.raises(KeyError):
        tooltip("concept.nonexistent", "es")


def test_tooltip_is_the_definition_and_the_formula() -> None:
    d = definition("sales.win_rate_pct", "es")
    tip = tooltip("sales.win_rate_pct", "es")
    assert tip.startswith(d.definition)
    assert "Fórmula: won ÷ (won + lost) × 100" in tip
    # Without a formula, just the definition.
    assert (
        tooltip("leads.response_time.sla_hours")
        == definition("leads.response_time.sla_hours").definition
    )
    assert all(len(tooltip(d.key, lang)) < 1200 for lang in LANGUAGES for d in all_definitions())


def test_all_definitions_follow_the_document_order() -> None:
    defs = all_definitions()
    text = render_markdown()

    def heading(d: Definition) -> str:
        key_line = "" if d.is_concept else f"`{d.key}`\n\n"
        return f"### {d.title}\n\n{key_line}{d.definition}"

    positions = [text.index(heading(d)) for d in defs]
    assert positions == sorted(positions)
    # Sections: the common rules, modules 1–6, then the report's context (common metrics).
    sections = [
        ("rules" if d.is_concept else "context") if d.module == "common" else d.module for d in defs
    ]
    assert list(dict.fromkeys(sections)) == ["rules", "1", "2", "3", "4", "5", "6", "context"]
    assert module_name("2", "pt-BR") == "2. Funil de conversão"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_renders(lang: str) -> None:
    text = render_markdown(lang)
    for d in all_definitions(lang):
        assert d.definition in text
    assert not re.search(r"\{[a-z_]+\}", text), "an unfilled placeholder"


def test_docs_metrics_md_is_the_rendering_of_the_definitions() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown("en"), (
        "docs/metrics.md differs from text/definitions.toml: "
        "run python scripts/render_metrics_doc.py"
    )
    first_line = DOC.read_text(encoding="utf-8").splitlines()[0]
    assert "definitions.toml" in first_line and "scripts/render_metrics_doc.py" in first_line


def test_the_definitions_ship_inside_the_package() -> None:
    from importlib import resources

    assert resources.files("kommo_analytics.text").joinpath("definitions.toml").is_file()

"""The data-quality checks: each rule on tiny hand-built frames, the scores' formulas, a
warehouse seeded with one of each defect (every rule fires with exactly the seeded count), the
stored runs on every backend, and the reconciliation against the emulated API."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from kommo_analytics.service import quality
from kommo_analytics.service.quality import Inputs, Severity
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url
from tests.service import quality_builders as qb


def _counts(rows: pd.DataFrame) -> tuple[int, int]:
    return len(rows), int(rows["failing"].sum())


def _leads(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame([qb._lead(i + 1, **row) for i, row in enumerate(rows)])


# -- each rule on tiny data ---------------------------------------------------------------------


def test_won_without_price_counts_missing_and_zero_prices_of_live_won_leads() -> None:
    leads = _leads(
        {**qb.WON, "price": 10.0},
        {**qb.WON, "price": None},  # fails
        {**qb.WON, "price": 0.0},  # fails: a zero price is no price
        {**qb.WON, "price": None, "is_deleted": True},  # in the trash: not checked
        {"price": None},  # open: not checked
    )
    assert _counts(quality.rule_won_without_price(Inputs.empty(leads=leads))) == (3, 2)


def test_lost_without_reason() -> None:
    leads = _leads({**qb.LOST, "loss_reason_id": 7}, {**qb.LOST}, {**qb.WON})
    assert _counts(quality.rule_lost_without_reason(Inputs.empty(leads=leads))) == (2, 1)


def test_unattributable_needs_neither_tracking_nor_tags() -> None:
    leads = _leads(
        {"tracking_fields": 0, "tag_count": 0},  # fails
        {"tracking_fields": 0, "tag_count": 2},  # a tag places it
        {"tracking_fields": 3, "tag_count": 0},
    )
    assert _counts(quality.rule_unattributable(Inputs.empty(leads=leads))) == (3, 1)


def test_unknown_users_pipelines_and_stages() -> None:
    leads = _leads(
        {"responsible_user_id": 1},
        {"responsible_user_id": None},  # no user at all: unknown too
        {"pipeline_id": 77},  # unknown pipeline, so its stage is not checked
        {"status_id": 555},  # unknown stage
        {**qb.WON},  # won (142) is a stage of every pipeline
    )
    given = Inputs.empty(
        leads=leads,
        users=pd.DataFrame(qb.USERS),
        pipelines=pd.DataFrame(qb.PIPELINES),
        stages=pd.DataFrame(qb.STAGES).query("status_id < 142"),
    )
    assert _counts(quality.rule_unknown_user(given)) == (5, 1)
    assert _counts(quality.rule_unknown_pipeline(given)) == (5, 1)
    assert _counts(quality.rule_unknown_stage(given)) == (4, 1)


def test_closed_without_closed_at() -> None:
    leads = _leads({**qb.WON, "closed_at": qb.CLOSED}, {**qb.LOST}, {})
    assert _counts(quality.rule_closed_without_closed_at(Inputs.empty(leads=leads))) == (2, 1)


def test_stage_moves_backwards_and_skipping_between_open_stages_of_one_pipeline() -> None:
    stays = pd.DataFrame(
        [
            qb._stay(1, 0, 101, 1.0, 102),  # forward one step: fine
            qb._stay(1, 1, 102, 1.0, 101),  # backwards
            qb._stay(1, 2, 101, 1.0, 103),  # skips 102
            qb._stay(1, 3, 103, 1.0, 142),  # into won: not a move between open stages
            {**qb._stay(2, 0, 103, 1.0, 101), "next_pipeline_id": 20},  # another pipeline
        ]
    )
    given = Inputs.empty(stays=stays, stages=pd.DataFrame(qb.STAGES))
    assert _counts(quality.rule_stage_backwards(given)) == (3, 1)
    assert _counts(quality.rule_stage_skipped(given)) == (3, 1)


def test_negative_durations_of_stays_cycles_and_responses() -> None:
    stays = pd.DataFrame([qb._stay(1, 0, 101, -2.0, 102), qb._stay(1, 1, 102, None, None)])
    leads = _leads(
        {"cycle_days": 3.0, "response_hours": -0.5},  # the response fails
        {"cycle_days": -1.0},  # fails
    )
    # Checked: the one ended stay, two cycles, one response time; failing: one of each kind.
    rows = quality.rule_negative_duration(Inputs.empty(stays=stays, leads=leads))
    assert _counts(rows) == (4, 3)
    assert sorted(set(rows.loc[rows["failing"], "lead_id"])) == [1, 2]


def test_tasks_without_a_lead_or_with_one_the_warehouse_lacks() -> None:
    tasks = pd.DataFrame(
        [
            {"task_id": 1, "entity_type": "leads", "entity_id": 1},
            {"task_id": 2, "entity_type": "leads", "entity_id": 404},  # fails; sample: 404
            {"task_id": 3, "entity_type": None, "entity_id": None},  # fails
            {"task_id": 4, "entity_type": "contacts", "entity_id": 9},
        ]
    )
    rows = quality.rule_task_without_lead(Inputs.empty(tasks=tasks, leads=_leads({})))
    assert _counts(rows) == (4, 2)
    assert quality._sample(rows) == (404,)


def test_duplicate_contacts_by_phone_digits_or_case_insensitive_email() -> None:
    contacts = pd.DataFrame(
        [
            {"contact_id": 1, "raw": qb._contact_raw(email="Ana@X.com")},
            {"contact_id": 2, "raw": qb._contact_raw(email=" ana@x.com ")},  # same e-mail
            {"contact_id": 3, "raw": qb._contact_raw(phone="+55 11 5555-0000")},
            {"contact_id": 4, "raw": qb._contact_raw(phone="123")},  # too short: not checked
            {"contact_id": 5, "raw": "not json"},  # not checked
        ]
    )
    links = pd.DataFrame([{"lead_id": 20, "contact_id": 2}])
    rows = quality.rule_duplicate_contacts(Inputs.empty(contacts=contacts, lead_contacts=links))
    assert _counts(rows) == (3, 2)
    assert quality._sample(rows) == (20,)  # only contact 2 has a lead


def test_deleted_leads_out_of_every_lead() -> None:
    leads = _leads({}, {"is_deleted": True})
    assert _counts(quality.rule_deleted_leads(Inputs.empty(leads=leads))) == (2, 1)


def test_sync_gaps_a_stream_left_behind_and_a_failed_last_run() -> None:
    streams = pd.DataFrame(
        [
            {"stream": "leads", "watermark": 100_000},
            {"stream": "events", "watermark": 100_000 - 3600},  # an hour behind: fine
            {"stream": "tasks", "watermark": 100_000 - 25 * 3600},  # more than 24 h: a gap
        ]
    )
    ok = Inputs.empty(streams=streams, runs=pd.DataFrame([{"status": "ok"}]))
    assert _counts(quality.rule_sync_gaps(ok)) == (4, 1)
    failed = replace(ok, runs=pd.DataFrame([{"status": "failed"}]))
    assert _counts(quality.rule_sync_gaps(failed)) == (4, 2)


# -- scores ---------------------------------------------------------------------------------------


def test_rule_and_weighted_scores() -> None:
    assert quality.rule_score(0, 0) == 100.0  # nothing to check
    assert quality.rule_score(8, 2) == 75.0
    # (3 × 50 + 1 × 100) / (3 + 1); the warning that checked nothing does not count.
    parts = [(Severity.ERROR, 4, 50.0), (Severity.INFO, 2, 100.0), (Severity.WARNING, 0, 100.0)]
    assert quality.weighted_score(parts) == 62.5


def test_an_empty_warehouse_scores_100_and_says_each_rule_had_nothing_to_check() -> None:
    run = quality.evaluate(Inputs.empty(), qb.NOW)
    assert run.score == 100.0 and run.exit_code == 0 and run.sellers == ()
    assert {r.status for r in run.rules} == {"empty"}
    assert {r.message_key for r in run.rules} == {"quality.empty"}


def test_per_seller_scores_use_only_the_sellers_leads() -> None:
    leads = _leads(
        {**qb.WON, "price": 10.0, "closed_at": qb.CLOSED, "responsible_user_id": 1},
        {**qb.WON, "price": None, "closed_at": qb.CLOSED, "responsible_user_id": 2},
    )
    given = Inputs.empty(
        leads=leads,
        users=pd.DataFrame(qb.USERS),
        pipelines=pd.DataFrame(qb.PIPELINES),
        stages=pd.DataFrame(qb.STAGES),
    )
    run = quality.evaluate(given, qb.NOW)
    sellers = {s.name: s for s in run.sellers}
    # Ana's lead passes everything. Bruno's fails one warning rule (won without a price) of the
    # six that checked it — errors unknown pipeline, unknown stage and closed without a date
    # (3 each), warnings unknown user and won without a price (2 each), info unattributable
    # (1): (3+3+3+2+0+1) × 100 / 14 = 85.7.
    assert sellers["Ana"].score == 100.0 and sellers["Ana"].failing == 0
    assert (sellers["Bruno"].checked, sellers["Bruno"].failing) == (6, 1)
    assert sellers["Bruno"].score == 85.7


# -- a warehouse with one of each defect ---------------------------------------------------------


def _settings(tmp_path: Path, url: str, **values: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=url, **values)  # type: ignore[arg-type]


def test_check_finds_each_seeded_defect_of_a_test_account(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"
    qb.build(url, tmp_path / "data")
    run = quality.run_checks(_settings(tmp_path, url), qb.NOW, reconcile=False)
    found = {r.rule: (r.checked, r.failing) for r in run.rules if r.rule != "reconciliation"}
    assert found == qb.EXPECTED
    samples = {r.rule: r.sample_lead_ids for r in run.rules}
    assert samples["won_without_price"] == (2,) and samples["unknown_stage"] == (7,)
    assert samples["duplicate_contacts"] == (1, 2)  # the leads of C1 and C2
    (recon,) = [r for r in run.rules if r.rule == "reconciliation"]
    assert recon.status == "skipped" and "--no-reconcile" in recon.values["reason"]
    errors = {r.rule for r in run.errors}
    assert errors == {
        "unknown_pipeline", "unknown_stage", "closed_without_closed_at", "negative_duration"
    }  # fmt: skip
    assert run.exit_code == 1


def test_runs_are_stored_and_read_back_on_every_backend(warehouse_url: str, tmp_path: Path) -> None:
    assert quality.latest_quality(warehouse_url) is None  # nothing there yet: no error
    assert quality.quality_trend(warehouse_url) == []
    qb.build(warehouse_url, tmp_path / "data")
    settings = _settings(tmp_path, warehouse_url)
    first = quality.run_checks(settings, qb.NOW, reconcile=False)
    later = qb.NOW + timedelta(hours=1, microseconds=5)  # stored to the second
    second = quality.run_checks(settings, later, reconcile=False)
    stored = quality.latest_quality(warehouse_url)
    assert stored == second
    assert stored.checked_at == later.replace(microsecond=0)
    assert quality.quality_trend(warehouse_url) == [
        (first.checked_at, first.score),
        (second.checked_at, second.score),
    ]
    # The sample's leads are named for the page.
    names = quality.failing_leads(warehouse_url, (2, 7))
    assert sorted(names["lead_id"].astype(int)) == [2, 7]
    assert set(names["pipeline_name"]) == {"Sales"}


def test_old_runs_keep_their_score_but_not_their_results(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"
    qb.build(url, tmp_path / "data")
    settings = _settings(tmp_path, url)
    for n in range(3):
        quality.run_checks(settings, qb.NOW + timedelta(minutes=n), reconcile=False)
    target = parse_database_url(url)
    kept = reader.query(
        target,
        "SELECT COUNT(DISTINCT checked_at) FROM "
        f"{quality.model_qualified(target, quality.RESULTS_TABLE)}",
    )
    assert kept == [(3,)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quality, "RESULTS_KEPT", 2)
        quality.run_checks(settings, qb.NOW + timedelta(minutes=5), reconcile=False)
    kept = reader.query(
        target,
        "SELECT COUNT(DISTINCT checked_at) FROM "
        f"{quality.model_qualified(target, quality.RESULTS_TABLE)}",
    )
    assert kept == [(2,)]  # the newest two runs' results
    assert len(quality.quality_trend(url)) == 4  # every run's score


def test_the_step_after_a_build_reports_a_failure_instead_of_raising(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'nowhere' / 'kommo.duckdb'}"
    line = quality.quality_after_build(_settings(tmp_path, url), parse_database_url(url), qb.NOW)
    assert line.startswith("data quality not checked:")


def test_the_step_after_a_build_stores_a_run_without_asking_the_api(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"
    qb.build(url, tmp_path / "data")
    target = parse_database_url(url)
    line = quality.quality_after_build(_settings(tmp_path, url), target, qb.NOW)
    assert line.startswith("data quality ") and "4 error-level rule(s) failing" in line
    from kommo_analytics.warehouse.loader import Warehouse

    Warehouse(target, tmp_path / "data").publish()  # as the sync does after its steps
    stored = quality.latest_quality(url)
    assert stored is not None
    (recon,) = [r for r in stored.rules if r.rule == "reconciliation"]
    assert recon.status == "skipped" and "inside a sync" in recon.values["reason"]


# -- the reconciliation ---------------------------------------------------------------------------


def test_reconciliation_is_skipped_with_the_reason_without_an_account(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"
    qb.build(url, tmp_path / "data")
    result = quality.reconciliation_result(
        _settings(tmp_path, url), parse_database_url(url), qb.NOW
    )
    assert result.status == "skipped" and result.score == 100.0
    assert "no Kommo account is configured" in result.values["reason"]


def test_reconciliation_periods_are_whole_utc_days_before_the_reference() -> None:
    periods = quality.reconcile_periods(qb.NOW)
    assert [(a.isoformat(), (b - a).days) for a, b in periods] == [
        ("2026-11-24T00:00:00+00:00", 1),
        ("2026-11-18T00:00:00+00:00", 1),
        ("2026-10-28T00:00:00+00:00", 1),
    ]

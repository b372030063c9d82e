"""The Settings page's writers: the goals grid, the costs grid and the channel rules, against the
CLI's imports and the model's own counts, on private copies of the session's synced account."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from kommo_analytics.errors import ConfigError, InputFileError
from kommo_analytics.service import channel_rules, inputs
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync.harness import synced_copy

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def copy(small_synced: Path, dest: Path) -> tuple[Settings, str]:
    url = synced_copy(small_synced, dest)
    return Settings(data_dir=dest / "data", database_url=url), url


def goals_rows(url: str) -> list[tuple[object, ...]]:
    return sorted(
        (g.month, g.user_id, g.revenue_goal, g.deals_goal)
        for g in inputs.stored_goals(parse_database_url(url))
    )


def test_goals_saved_from_the_grid_equal_a_cli_import_of_the_same_csv(
    small_synced: Path, tmp_path: Path
) -> None:
    grid_settings, grid_url = copy(small_synced, tmp_path / "grid")
    cli_settings, cli_url = copy(small_synced, tmp_path / "cli")
    target = parse_database_url(grid_url)
    first, second = inputs.sellers(target)[:2]
    cells = [
        inputs.GoalCell(date(2026, 10, 1), first.id, 120_000.5, 9),
        inputs.GoalCell(date(2026, 11, 1), first.id, 1.234, None),  # never a thousand
        inputs.GoalCell(date(2026, 11, 1), second.id, 80_000.0, 4.0),
    ]
    months = [date(2026, m, 1) for m in range(1, 13)]
    inputs.save_goal_grid(grid_settings, target, cells, months=months, now=NOW)
    csv = tmp_path / "goals.csv"
    csv.write_text(
        "month;user;revenue_goal;deals_goal\n"
        f"10/2026;{first.email or first.id};120.000,50;9\n"
        f"2026-11;{first.id};1,23;\n"
        f"2026-11;{second.name};80000;4\n",
        encoding="utf-8",
    )
    inputs.import_goals(cli_settings, parse_database_url(cli_url), csv, replace=True, now=NOW)
    assert goals_rows(grid_url) == goals_rows(cli_url)
    assert len(goals_rows(grid_url)) == 3

    # Emptying the grid's cells removes those months' goals; a bad cell refuses the whole grid.
    with pytest.raises(InputFileError) as refused:
        inputs.save_goal_grid(grid_settings, target,
                              [inputs.GoalCell(date(2026, 10, 1), first.id, -5.0, 2.5)],
                              months=months, now=NOW)  # fmt: skip
    assert [(p.line, p.column) for p in refused.value.problems] == [
        (2, "revenue_goal"),
        (2, "deals_goal"),
    ]
    assert len(goals_rows(grid_url)) == 3
    inputs.save_goal_grid(grid_settings, target, [], months=months, now=NOW)
    assert goals_rows(grid_url) == []


def test_a_bad_costs_file_lists_its_lines_and_stores_nothing(
    small_synced: Path, tmp_path: Path
) -> None:
    settings, url = copy(small_synced, tmp_path / "w")
    target = parse_database_url(url)
    text = "date;channel;amount\n2026-10-01;paid;1.500,00\n31/02/2026;paid;10\n2026-10-02;tv;-3\n"
    cells, layout = inputs.costs_cells(text)
    assert not layout
    assert [line for line, _ in cells] == [2, 3, 4]
    with pytest.raises(InputFileError) as refused:
        inputs.import_costs_text(settings, target, text, source="costs.csv", replace=False,
                                 now=NOW)  # fmt: skip
    assert [(p.line, p.column) for p in refused.value.problems] == [
        (3, "date"),
        (4, "channel"),
        (4, "amount"),
    ]
    assert inputs._stored(target, "input_costs") == []
    # Corrected in the grid, the rows are saved as the CLI saves a file.
    fixed = [dict(cells[0][1]), {**cells[1][1], "date": "28/02/2026"}]
    added, kept = inputs.import_costs_text(settings, target, inputs.costs_csv(fixed),
                                           source="dashboard", replace=False, now=NOW)  # fmt: skip
    assert (added, kept) == (2, 0)
    assert sorted(float(r["amount"]) for r in inputs._stored(target, "input_costs")) == [10, 1500]


def test_the_rules_preview_is_what_the_model_counts_after_saving(
    small_synced: Path, tmp_path: Path
) -> None:
    settings, url = copy(small_synced, tmp_path / "w")
    target = parse_database_url(url)
    now = channel_rules.current(settings)
    assert not now.named_file and now.save_to == settings.data_dir / "channel_rules.toml"
    unchanged = channel_rules.check(now.rows, now.utm_fields)
    assert channel_rules.preview(target, unchanged) == channel_rules.model_counts(target)

    # Leads from Google get a channel of their own, ahead of every other rule.
    google = {**dict.fromkeys(channel_rules.TEXT_COLUMNS, ""), "key": "google",
              "label": "Google", "utm_source": "google, Google Ads"}  # fmt: skip
    google |= dict.fromkeys(channel_rules.FLAG_COLUMNS, False)
    edited = channel_rules.check([google, *now.rows], now.utm_fields)
    counts = channel_rules.preview(target, edited)
    assert counts.get("google", 0) > 0
    assert sum(counts.values()) == sum((channel_rules.model_counts(target) or {}).values())
    assert channel_rules.save(settings, target, edited) is not None
    assert channel_rules.model_counts(target) == counts
    # The saved file is the one every later build reads (the setting names no file).
    reread = Settings(data_dir=settings.data_dir, database_url=url)
    assert reread.channel_rules_file == settings.data_dir / "channel_rules.toml"
    assert channel_rules.current(reread).rows[0]["utm_source"] == "google, google ads"


def test_a_rule_the_parser_refuses_is_named_with_its_fix() -> None:
    rows = [
        {"key": "Paid Ads", "utm_medium": "cpc", "fallback": False},
        {"key": "unknown", "fallback": True},
    ]
    with pytest.raises(ConfigError, match=r'rule 1 \("Paid Ads"\): key "Paid Ads" is not a valid'):
        channel_rules.check(rows, ["utm_source"])
    with pytest.raises(ConfigError, match="the last rule must be the fallback"):
        channel_rules.check(rows[:1] and [{"key": "paid", "utm_medium": "cpc"}], ["utm_source"])

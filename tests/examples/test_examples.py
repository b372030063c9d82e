"""The example files named in the README import cleanly into the demo account.

A newcomer's first import is one of these files; if a user in it is not one of the demo
account's sellers, or a number is written in a way we refuse, the README leads them to an error.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kommo_analytics.emulator.generator import build_account
from kommo_analytics.model.channels import DEFAULT_CHANNELS
from kommo_analytics.model.inputs import UserRef, parse_costs, parse_goals, read_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def demo_users() -> list[UserRef]:
    # The demo is seed 1, scale small (cli/emulator_cmd.py run_demo).
    store = build_account(seed=1, scale="small")
    rows = store.cursor().execute("SELECT id, name, email FROM users").fetchall()
    return [UserRef(id=int(i), name=n, email=e) for i, n, e in rows]


def test_costs_example_parses_with_brazilian_number_format() -> None:
    rows = parse_costs(
        read_text(EXAMPLES / "costs.csv"), channels=DEFAULT_CHANNELS, source="costs.csv"
    )
    # 13 weekly rows of 7 paid campaigns, plus referral and outbound for three months.
    assert len(rows) == 13 * 7 + 3 * 2
    assert {r.channel for r in rows} == {"paid", "referral", "outbound"}
    # "1.200,00" is one thousand two hundred, not 1.2.
    assert {r.amount for r in rows if r.channel == "referral"} == {Decimal("1200.00")}


def test_goals_example_names_demo_sellers() -> None:
    users = demo_users()
    rows = parse_goals(read_text(EXAMPLES / "goals.csv"), users=users, source="goals.csv")
    # 8 sellers x 4 months, every name resolved to a demo user.
    assert len(rows) == 32
    by_id = {u.id: u.name for u in users}
    assert {by_id[r.user_id] for r in rows} >= {"Camila Queiroz", "Antônio Mendes"}
    assert max(r.revenue_goal for r in rows) == Decimal("30000.00")

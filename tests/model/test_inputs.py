"""Costs and goals CSV files: both number formats, Excel's quirks, and every problem listed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from kommo_analytics.errors import InputFileError, Problem
from kommo_analytics.model.channels import DEFAULT_CHANNELS
from kommo_analytics.model.inputs import (
    CostRow,
    GoalRow,
    UserRef,
    parse_amount,
    parse_costs,
    parse_goals,
    read_text,
)


def costs(text: str) -> list[CostRow]:
    return parse_costs(text, channels=DEFAULT_CHANNELS, source="costs.csv")


def cost_problems(text: str) -> list[str]:
    with pytest.raises(InputFileError) as info:
        costs(text)
    return [str(p) for p in info.value.problems]


USERS = [
    UserRef(id=11, name="Ana Souza", email="ana@loja.com.br"),
    UserRef(id=12, name="Bruno Lima", email="Bruno@Loja.com.br"),
    UserRef(id=13, name="Carla", email=None),
    UserRef(id=14, name="carla ", email="carla2@loja.com.br"),  # same name as 13 once trimmed
]


def goals(text: str) -> list[GoalRow]:
    return parse_goals(text, users=USERS, source="goals.csv")


def goal_problems(text: str) -> list[str]:
    with pytest.raises(InputFileError) as info:
        goals(text)
    return [str(p) for p in info.value.problems]


# --- amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.56", "1234.56"),
        ("1.234,56", "1234.56"),  # pt-BR: dot groups thousands, comma is decimal
        ("1,234.56", "1234.56"),  # US: the other way round
        ("1234,56", "1234.56"),  # a lone comma followed by two digits is decimal
        ("R$ 1.234,56", "1234.56"),
        ("$1,234.56", "1234.56"),
        (" 1 234,56 ", "1234.56"),  # spaces (also as thousands separator) are ignored
        ("1.234.567", "1234567"),  # the same separator repeated can only group thousands
        ("12,5", "12.5"),
        ("0", "0"),
    ],
)
def test_both_number_formats(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The documented rule: one separator followed by exactly three digits, after 1–3
        # digits not starting with 0, groups thousands.
        ("1,234", "1234"),
        ("1.234", "1234"),
        ("1.500", "1500"),
        ("0,125", "0.125"),  # a leading 0 cannot start a thousands group: decimal
        ("1234.567", "1234.567"),  # four digits before it cannot be a thousands group
        ("1,2345", "1.2345"),  # four digits after it: not a group either
    ],
)
def test_the_ambiguous_rule(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["12,3,4", "1,23.45", "12.", "abc", "", "1.2.3,4,5"])
def test_not_an_amount(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not an amount \(write 1234.56 or 1.234,56\)"):
        parse_amount(text)


def test_parse_amount_keeps_the_sign() -> None:
    # Negatives are refused by the file parsers, not here, so the message can say why.
    assert parse_amount("R$ -1.000,00") == Decimal("-1000.00")


# --- costs ----------------------------------------------------------------------------------


def test_costs_comma_file() -> None:
    rows = costs(
        "date,channel,amount,utm_campaign\n"
        '2024-03-01,paid,"1,234.56",black_friday\n'
        "2024-03-01,paid,99,\n"  # the same day and channel without a campaign is another row
        "05/03/2024, Organic ,10,\n"  # DD/MM/YYYY; channel case and spaces are normalised
    )
    assert rows == [
        CostRow(date(2024, 3, 1), "paid", Decimal("1234.56"), "black_friday"),
        CostRow(date(2024, 3, 1), "paid", Decimal("99"), None),
        CostRow(date(2024, 3, 5), "organic", Decimal("10"), None),
    ]


def test_costs_excel_pt_br_file_with_bom_and_semicolons() -> None:
    # Excel's "CSV UTF-8" in pt-BR: BOM, ";" delimiter, capitalised headers in another order,
    # decimal commas unquoted, CRLF line ends and a trailing blank line.
    text = "\ufeffAmount;Date;CHANNEL\r\n1.234,56;01/03/2024;paid\r\n\r\n"
    assert costs(text) == [CostRow(date(2024, 3, 1), "paid", Decimal("1234.56"), None)]


def test_three_bad_lines_give_three_problems_and_no_rows() -> None:
    problems = cost_problems(
        "date,channel,amount\n"
        "2024-03-01,paid,10\n"  # line 2 is fine, yet nothing at all is returned
        '2024-03-02,paid,"12,3,4"\n'
        "2024-02-30,paid,10\n"
        "2024-03-04,facebook,10\n"
    )
    assert problems == [
        'line 3, column amount: "12,3,4" is not an amount (write 1234.56 or 1.234,56)',
        'line 4, column date: "2024-02-30" is not a real date (write 2024-03-31 or 31/03/2024)',
        'line 5, column channel: "facebook" is not a channel (use one of: paid, referral, '
        "organic, outbound, other, unknown)",
    ]


def test_the_error_message_is_short() -> None:
    with pytest.raises(InputFileError) as info:
        costs("date,channel,amount\n2024-03-01,paid,-5\n")
    # The CLI prints the problems itself; the message only counts them.
    assert info.value.message == "costs.csv: 1 problem; nothing was imported"
    assert info.value.problems == [
        Problem(2, "amount", "-5", "is negative; a cost cannot be below zero")
    ]
    assert info.value.hint


def test_duplicate_costs_name_both_lines() -> None:
    problems = cost_problems(
        "date,channel,amount,utm_campaign\n"
        "2024-03-01,paid,10,Promo\n"
        "2024-03-01,paid,10,other\n"
        "01/03/2024,PAID,5,promo\n"  # same key once the date, channel and campaign are read
    )
    assert problems == [
        "line 4: same date, channel and utm_campaign as line 2 (add the amounts together "
        "into one row)"
    ]


def test_empty_values_are_reported_per_column() -> None:
    assert cost_problems("date,channel,amount\n,paid,\n") == [
        "line 2, column date: is empty (write 2024-03-31 or 31/03/2024)",
        "line 2, column amount: is empty (write 1234.56 or 1.234,56)",
    ]


def test_an_unquoted_decimal_comma_in_a_comma_file_is_explained() -> None:
    [problem] = cost_problems("date,channel,amount\n2024-03-01,paid,12,50\n")
    assert problem.startswith("line 2: has 4 values but the header has 3 columns")
    assert "in quotes" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "date,channel,amount,total\n2024-03-01,paid,1,1\n",
            'line 1: "total" is not a column of a costs file (the header must be '
            "date,channel,amount[,utm_campaign])",
        ),
        (
            "date,channel\n2024-03-01,paid\n",
            "line 1, column amount: is missing from the header (the header must be "
            "date,channel,amount[,utm_campaign])",
        ),
        ("date,channel,amount\n", "line 1: the file has a header but no data rows below it"),
        (
            "",
            "line 1: the file is empty; the first line must be date,channel,amount[,utm_campaign]",
        ),
    ],
)
def test_header_problems(text: str, expected: str) -> None:
    assert cost_problems(text) == [expected]


# --- goals ----------------------------------------------------------------------------------


def test_goals_user_by_id_email_or_name_and_month_formats() -> None:
    rows = goals(
        "month;user;revenue_goal;deals_goal\n"
        "2024-03;11;50.000,00;10\n"  # id; pt-BR amount
        "04/2024;bruno@loja.COM.br;1,500.50;\n"  # e-mail ignores case; deals_goal optional
        "2024-05-01;  BRUNO   lima ;0;0\n"  # name ignores case and extra spaces; zero is fine
    )
    assert rows == [
        GoalRow(date(2024, 3, 1), 11, Decimal("50000.00"), 10),
        GoalRow(date(2024, 4, 1), 12, Decimal("1500.50"), None),
        GoalRow(date(2024, 5, 1), 12, Decimal("0"), 0),
    ]


def test_goal_problems_all_listed() -> None:
    problems = goal_problems(
        "month,user,revenue_goal,deals_goal\n"
        "2024-03,Carla,100,\n"  # two users are called Carla
        "2024-03,Zé,100,\n"
        "2024-03,99,100,\n"
        "2024-03-15,11,100,\n"
        "2024-04,11,-1,\n"
        "2024-05,11,100,2.5\n"
        "2024-13,11,100,\n"
        "2024-05,ana@loja.com.br,1,\n"  # ana is user 11, who already has May on line 7
    )
    assert problems == [
        'line 2, column user: "Carla" matches 2 users (ids 13 and 14); write the id or e-mail',
        'line 3, column user: "Zé" is not a user of this account (write the id, e-mail or '
        "name as in Kommo)",
        'line 4, column user: "99" is not the id of any user of this account',
        'line 5, column month: "2024-03-15" is not the first day of a month (write 2024-03 '
        "or 03/2024)",
        'line 6, column revenue_goal: "-1" is negative; a goal cannot be below zero',
        'line 7, column deals_goal: "2.5" is not a whole number of deals (write 12)',
        'line 8, column month: "2024-13" is not a real month (write 2024-03 or 03/2024)',
        "line 9: same month and user as line 7 (keep one row per month and user)",
    ]


def test_an_ambiguous_name_is_resolved_by_e_mail() -> None:
    # The second Carla has an e-mail, which is the way out the error message suggests.
    assert goals("month,user,revenue_goal\n2024-03,carla2@loja.com.br,1\n")[0].user_id == 14


# --- reading files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("\ufeffdate;channel;amount\n", "utf-8"),  # Excel "CSV UTF-8": with BOM
        ("date;channel;amount\n", "utf-8"),
        ("\ufeffdate;channel;amount\n", "utf-16"),  # Excel "Unicode text"
        ("date;channel;amount\n", "cp1252"),  # Excel's plain "CSV" in pt-BR
    ],
)
def test_read_text_decodes_what_spreadsheets_save(tmp_path: Path, data: str, encoding: str) -> None:
    path = tmp_path / "costs.csv"
    path.write_bytes((data + "2024-03-01;outbound;1.000,00\n").encode(encoding))
    text = read_text(path)
    assert costs(text) == [CostRow(date(2024, 3, 1), "outbound", Decimal("1000.00"), None)]


def test_read_text_falls_back_to_windows_1252(tmp_path: Path) -> None:
    # "João" saved by Excel's plain "CSV" is Windows-1252, which is not valid UTF-8.
    path = tmp_path / "goals.csv"
    path.write_bytes("user\nJoão\n".encode("cp1252"))
    assert read_text(path) == "user\nJoão\n"


def test_an_absurd_cost_is_refused_with_its_line_and_column() -> None:
    # Money is stored as DECIMAL(18, 2): at most 16 integer digits fit, and more than 12 (a
    # trillion) is a typo or a pasted figure, not a marketing cost.
    assert cost_problems("date,channel,amount\n2024-03-01,paid,100000000000000000000000000\n") == [
        'line 2, column amount: "100000000000000000000000000" is too large for an amount '
        "(at most 12 digits before the decimal separator)"
    ]
    assert costs("date,channel,amount\n2024-03-01,paid,999999999999.99\n")[0].amount == Decimal(
        "999999999999.99"
    )


def test_an_absurd_goal_is_refused_with_its_line_and_column() -> None:
    problems = goal_problems("month,user,revenue_goal\n2024-03,11,1.000.000.000.000.000\n")
    assert problems == [
        'line 2, column revenue_goal: "1.000.000.000.000.000" is too large for an amount '
        "(at most 12 digits before the decimal separator)"
    ]

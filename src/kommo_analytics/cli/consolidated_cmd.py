"""`kommo-analytics consolidated`, `rates import|list` and `stage-map import|list`: the accounts
of an install side by side and summed (docs/metrics.md, "Consolidated view")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.help import App
from kommo_analytics.cli.metrics_cmd import _date, _fmt, _hours, _money, _pct
from kommo_analytics.cli.tables import print_table
from kommo_analytics.errors import ConfigError, InputFileError
from kommo_analytics.metrics.consolidated import Consolidated, Counts, Money
from kommo_analytics.service import consolidated as service

console = Console()
err_console = Console(stderr=True)


def _rows(counts: Counts, own: Money | None, converted: Money | None) -> list[tuple[str, Any]]:
    """One column's figures: counts, then money in the account's own currency (for a total,
    ``own`` is None) and in the reporting currency."""
    rows: list[tuple[str, Any]] = [
        ("Leads", _fmt(counts.leads)),
        ("Won", _fmt(counts.won)),
        ("Lost", _fmt(counts.lost)),
        ("Win rate", _pct(counts.win_rate_pct)),
        ("First response (average)", _hours(counts.response_avg_hours)),
        ("Sales cycle (average)", _fmt(counts.sales_cycle_avg_days, suffix=" days")),
        ("Open deals", _fmt(counts.open_deals)),
        ("Tasks completed", _fmt(counts.tasks_completed)),
        ("Calls", _fmt(counts.calls_outgoing + counts.calls_incoming)),
    ]
    for label, money in (("own currency", own), ("converted", converted)):
        if label == "own currency" and own is None:
            continue
        rows += [
            (f"Revenue ({label})", "—" if money is None else _money(money.revenue, 2)),
            (f"Average ticket ({label})", "—" if money is None else _money(money.avg_ticket(counts), 2)),
            (f"Open pipeline ({label})", "—" if money is None else _money(money.open_value, 2)),
            (f"Cost ({label})", "—" if money is None else _money(money.cost, 2)),
        ]  # fmt: skip
    return rows


def print_consolidated(result: Consolidated, console: Console = console) -> None:
    console.print(
        f"[bold]{result.start.isoformat()} → {result.end.isoformat()}[/], each account in its "
        f"own time zone's days, as of {result.as_of.isoformat()}; converted money in "
        f"{result.currency}",
        highlight=False,
    )
    names = [f"{a.label}\n{a.currency or '?'} · {a.timezone}" for a in result.accounts]
    per_account = [
        dict(_rows(a.counts, a.money, a.converted))
        | {
            "First response (median)": _hours(a.response_median_hours),
            "Sales cycle (median)": _fmt(a.sales_cycle_median_days, suffix=" days"),
        }
        for a in result.accounts
    ]
    total = dict(_rows(result.counts, None, result.money))
    labels = list(per_account[0])
    print_table(
        console,
        "Accounts side by side",
        [("", "left"), *((n, "right") for n in names), (f"Total\n{result.currency}", "right")],
        [
            [label, *(col.get(label, "") for col in per_account), total.get(label, "")]
            for label in labels
        ],
    )
    console.print(
        "Counts are summed and rates recomputed from the sums; medians are per account only "
        "(a median of medians is not a median).",
        highlight=False,
    )
    if result.missing_rates:
        console.print(f"[bold]No converted total[/]: rates into {result.currency} are missing:")
        for m in result.missing_rates:
            console.print(
                f"  {m.month} {m.currency} (accounts: {', '.join(m.accounts)})", highlight=False
            )
        console.print("  add them with `kommo-analytics rates import FILE.csv`.", markup=False)
    if result.without_currency:
        console.print(
            f"No converted total: no currency is recorded for {', '.join(result.without_currency)}"
        )
    funnel = result.funnel
    if funnel is None:
        console.print(
            "No consolidated funnel: map stages with `kommo-analytics stage-map import FILE.csv`.",
            markup=False,
        )
        return
    print_table(
        console,
        "Consolidated funnel",
        [("Stage", "left"), ("Reached", "right"), ("To next", "right")],
        [[s.name, _fmt(s.reached), _pct(s.conversion_to_next_pct)] for s in funnel.stages],
    )
    console.print(f"   {funnel.won:,} won after the last stage.", highlight=False)
    if funnel.unmapped:
        shown = ", ".join(f"{s.account} · {s.pipeline} · {s.stage}" for s in funnel.unmapped)
        console.print(f"   Not mapped (not counted): {shown}", highlight=False)
    if funnel.unmatched:
        shown = ", ".join(f"{r.account} · {r.pipeline} · {r.stage}" for r in funnel.unmatched)
        console.print(f"   Mapping rows matching no stage: {shown}", highlight=False)


def _refusal(exc: InputFileError) -> None:
    for problem in exc.problems:
        err_console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def consolidated(
        accounts: str = typer.Option(
            "all", "--accounts", help="Account names separated by commas, or all."
        ),
        date_from: str | None = typer.Option(
            None, "--from", help="First day, YYYY-MM-DD (each account's own time zone)."
        ),
        date_to: str | None = typer.Option(None, "--to", help="Last day (inclusive)."),
        currency: str | None = typer.Option(
            None, "--currency", help="Reporting currency (default: the first account's)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """The accounts side by side and summed; money converted at the rates of `rates import`."""
        names = None if accounts.strip().lower() == "all" else [
            n.strip() for n in accounts.split(",") if n.strip()
        ]  # fmt: skip
        try:
            result = service.consolidate(
                names,
                start=_date(date_from, "--from"),
                end=_date(date_to, "--to"),
                currency=currency,
                now=datetime.now(UTC),
            )
        except InputFileError as exc:
            _refusal(exc)
            raise
        if as_json:
            typer.echo(json.dumps(result.to_json_dict(), ensure_ascii=False, indent=2))
        else:
            print_consolidated(result)

    rates = App(
        help="Exchange rates for the consolidated view (CSV: month,from_currency,to_currency,rate "
        "— 1 from_currency = rate to_currency for the money of that month).",
        no_args_is_help=True,
    )

    @rates.command("import")
    @handle_errors
    def rates_import(
        file: Path = typer.Argument(..., help="The CSV file."),
        replace: bool = typer.Option(
            False, "--replace", help="The file's rates replace every stored rate."
        ),
    ) -> None:
        """Import rates; a file with any bad line is refused whole."""
        if not file.is_file():
            raise ConfigError(f"{file} is not a file", hint="give the path of a .csv file")
        try:
            added, kept = service.import_rates(service.install_settings(), file, replace=replace)
        except InputFileError as exc:
            _refusal(exc)
            raise
        console.print(f"Imported {added:,} rates from {file.name}; {kept:,} stored rates kept.")

    @rates.command("list")
    @handle_errors
    def rates_list() -> None:
        """The stored rates."""
        settings = service.install_settings()
        rows = service.read_rates(settings)
        print_table(
            console,
            f"Exchange rates ({service.rates_path(settings)})",
            [("Month", "left"), ("1 unit of", "left"), ("In", "left"), ("Rate", "right")],
            [[f"{r.month:%Y-%m}", r.from_currency, r.to_currency, str(r.rate)] for r in rows],
        )

    stage_map = App(
        help="The stage mapping of the consolidated funnel (CSV: account,pipeline,stage,"
        "common_stage — pipeline and stage by id or name).",
        no_args_is_help=True,
    )

    @stage_map.command("import")
    @handle_errors
    def stage_map_import(file: Path = typer.Argument(..., help="The CSV file.")) -> None:
        """Replace the stage mapping with the file's; a file with any bad line is refused whole."""
        if not file.is_file():
            raise ConfigError(f"{file} is not a file", hint="give the path of a .csv file")
        text = service.read_file(file)
        try:
            count = service.save_stage_map_text(service.install_settings(), text, source=file.name)
        except InputFileError as exc:
            _refusal(exc)
            raise
        console.print(f"Stored {count:,} stage mapping rows from {file.name}.")

    @stage_map.command("list")
    @handle_errors
    def stage_map_list() -> None:
        """The stored stage mapping."""
        settings = service.install_settings()
        print_table(
            console,
            f"Stage mapping ({service.stage_map_path(settings)})",
            [("Account", "left"), ("Pipeline", "left"), ("Stage", "left"), ("Counts as", "left")],
            [
                [r.account, r.pipeline, r.stage, r.common_stage]
                for r in service.read_stage_map(settings)
            ],
        )

    app.add_typer(rates, name="rates")
    app.add_typer(stage_map, name="stage-map")

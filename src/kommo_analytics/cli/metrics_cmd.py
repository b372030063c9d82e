"""`kommo-analytics metrics`, `model`, `channels`, `costs import` and `goals import`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from kommo_analytics.cli import values
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.help import App
from kommo_analytics.cli.tables import print_table, table
from kommo_analytics.errors import ConfigError, InputFileError
from kommo_analytics.metrics.results import Report, section
from kommo_analytics.service import account, health, inputs, names, reports
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import load_settings

console = Console()
err_console = Console(stderr=True)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is not a date", hint="write it as YYYY-MM-DD"
        ) from None


def _fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    return str(value)


def _pct(value: Any) -> str:
    return _fmt(value, suffix=" %")


def _hours(value: Any) -> str:
    return _fmt(value, suffix=" h")


def _money(value: Any, digits: int = 0) -> str:
    return _fmt(value, digits)


def _pairs(console: Console, title: str, rows: list[tuple[str, str]]) -> None:
    print_table(console, title, [("", "left"), ("", "right")], [list(r) for r in rows])


def print_report(report: Report, console: Console = console) -> None:
    """The report as tables a person reads in any terminal from 80 columns; `--json` has all."""
    money = report.currency or ""
    unit = f" ({money})" if money else ""
    period = report.period
    console.print(
        f"[bold]{period.start.isoformat()} → {period.end.isoformat()}[/] ({period.timezone}), "
        f"as of {report.as_of.isoformat()}, money in {money or 'the account currency'}",
        highlight=False,
    )
    leads = section(report.leads, "leads")
    rt = leads.response_time
    rows = [("Leads", _fmt(leads.total))]
    rows += [(f"  {channel}", _fmt(n)) for channel, n in leads.by_channel.items()]
    rows += [
        ("First response (average)", _hours(rt.avg_hours)),
        ("First response (median)", _hours(rt.median_hours)),
        (f"Answered within {rt.sla_hours:g} h", _pct(rt.within_sla_pct)),
        ("Without a response", _fmt(rt.without_response)),
    ]
    cost = leads.cost
    if cost.total is not None:
        rows += [
            (f"Cost{unit}", _money(cost.total, 2)),
            (f"Cost per lead{unit}", _money(cost.per_lead, 2)),
        ]
    _pairs(console, "1 · Leads and origin", rows)
    if cost.total is None:
        console.print(
            "   Cost: costs are per channel, so not shown with a seller or pipeline filter."
            if cost.not_split_by_filter
            else "   Cost: no costs imported for this period (kommo-analytics costs import FILE.csv).",
            highlight=False,
        )

    for pipeline in section(report.funnel, "funnel"):
        bottleneck = pipeline.bottleneck_status_id
        print_table(
            console,
            f"2 · Funnel — {pipeline.name} ({pipeline.leads} leads, {pipeline.won} won)",
            [("Stage", "left"), ("Reached", "right"), ("To next", "right"),
             ("Time\n(avg)", "right"), ("Time\n(median)", "right"), ("Aban-\ndoned", "right")],
            [
                [
                    f"{s.name} ◀" if s.status_id == bottleneck else s.name or "",
                    _fmt(s.reached),
                    _pct(s.conversion_to_next_pct),
                    _hours(s.avg_hours_in_stage),
                    _hours(s.median_hours_in_stage),
                    _pct(s.abandonment_pct),
                ]
                for s in pipeline.stages
            ],
        )  # fmt: skip
        note = "◀ the bottleneck; " if bottleneck is not None else ""
        velocity = _money(pipeline.sales_velocity_per_day, 2)
        console.print(f"   {note}sales velocity {velocity} {money}/day", highlight=False)

    a = section(report.activities, "activities")
    _pairs(console, "3 · Activities", [
        ("Tasks", _fmt(a.tasks_total)),
        ("Tasks completed", _fmt(a.tasks_completed)),
        ("Completion rate", _pct(a.completion_rate_pct)),
        ("On time", _pct(a.on_time_rate_pct)),
        ("Overdue now", _fmt(a.overdue)),
        ("Meetings scheduled", _fmt(a.meetings_scheduled)),
        ("Meetings held", _fmt(a.meetings_held)),
        ("Calls made", _fmt(a.calls_outgoing)),
        ("Calls received", _fmt(a.calls_incoming)),
        ("Call minutes", _fmt(a.call_minutes)),
        ("Messages sent", _fmt(a.messages_outgoing)),
        ("Messages received", _fmt(a.messages_incoming)),
    ])  # fmt: skip

    s = section(report.sales, "sales")
    rows = [
        ("Won / lost", f"{s.won:,} / {s.lost:,}"),
        ("Win rate", _pct(s.win_rate_pct)),
        (f"Revenue{unit}", _money(s.revenue, 2)),
        (f"Average ticket{unit}", _money(s.avg_ticket, 2)),
        ("Sales cycle (average)", _fmt(s.sales_cycle_avg_days, suffix=" days")),
        ("Sales cycle (median)", _fmt(s.sales_cycle_median_days, suffix=" days")),
    ]
    rows += [(f"  Lost: {r.reason}", f"{r.count:,} ({_pct(r.share_pct)})") for r in s.loss_reasons]
    _pairs(console, "4 · Sales", rows)

    print_table(
        console,
        "5 · Sellers",
        [("#", "right"), ("Seller", "left"), ("Leads", "right"), ("Won", "right"),
         ("Lost", "right"), ("Win\nrate", "right"), (f"Revenue\n{unit.strip()}", "right"),
         ("First response\n(average)", "right"), ("Tasks\ndone", "right"), ("Calls", "right"),
         (f"Goal\n{unit.strip()}", "right"), ("Attainment", "right")],
        [
            [str(r.rank), str(r.name), _fmt(r.leads), _fmt(r.won), _fmt(r.lost),
             _pct(r.win_rate_pct), _money(r.revenue),
             _hours(r.response_time_avg_hours), _fmt(r.tasks_completed),
             _fmt(r.calls), _money(r.goal), _pct(r.attainment_pct)]
            for r in section(report.sellers, "sellers")
        ],
        keys=2,
    )  # fmt: skip
    if not report.goals_imported:
        console.print("   No goals imported (kommo-analytics goals import FILE.csv).")
    print_table(
        console,
        "5 · Channels",
        [("Channel", "left"), ("Leads", "right"), ("Won", "right"),
         (f"Revenue\n{unit.strip()}", "right"), (f"Cost\n{unit.strip()}", "right"),
         ("Cost per\nlead", "right"), ("ROI", "right")],
        [
            [r.channel, _fmt(r.leads), _fmt(r.won), _money(r.revenue),
             _money(r.cost, 2), _money(r.cpl, 2), _pct(r.roi_pct)]
            for r in section(report.channels, "channels")
        ],
    )  # fmt: skip

    f = section(report.forecast, "forecast")
    # The note of a forecast that ran names its models by their ids (holt_winters_seasonal):
    # `kommo-analytics forecast` explains them, these tables say only where to look.
    about = (
        f.note if f.status != "ok" else "the range below; the method in kommo-analytics forecast"
    )
    console.print(
        f"[bold]6 · Forecast[/]: {about}. This month ({f.month}): "
        f"{_money(f.month_revenue_to_date, 2)} {money} won so far; goal "
        f"{_money(f.month_goal, 2) if f.month_goal is not None else 'not imported'}.",
        highlight=False,
    )
    current = next((m for m in f.months if m.month == f.month), None)
    if current is not None:
        console.print(
            f"   Forecast for {current.month}: P50 {_money(current.revenue_p50)} {money}, "
            f"P10–P90 {_money(current.revenue_p10)}–{_money(current.revenue_p90)} {money} "
            "(won so far included).",
            highlight=False,
        )
    console.print(
        "Every figure, and more (e.g. each seller's average ticket), is in "
        "`kommo-analytics metrics --json`.",
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def metrics(
        date_from: str | None = typer.Option(
            None,
            "--from",
            help="First day, YYYY-MM-DD (account time zone). Default: 29 days before --to.",
        ),
        date_to: str | None = typer.Option(
            None, "--to", help="Last day (inclusive). Default: today."
        ),
        as_of: str | None = typer.Option(
            None, "--as-of", help="The moment 'now' for open and overdue figures (ISO)."
        ),
        pipeline: list[str] = typer.Option(
            [], "--pipeline", help="Pipeline id or name; repeatable."
        ),
        seller: list[str] = typer.Option(
            [], "--seller", help="Seller id, name or e-mail; repeatable."
        ),
        channel: list[str] = typer.Option([], "--channel", help="Channel key; repeatable."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        db: str | None = typer.Option(None, "--db", help=values.DB_HELP),
    ) -> None:
        """Every metric of the six modules for a period, as tables or as JSON."""
        settings = load_settings()
        # The channels reported come from the last build; a rules file the next build would
        # refuse is said now rather than after the next sync's crawl.
        inputs.channel_rules(settings)
        target = account.target_for(settings, db)
        acc = account.load_modelled(
            target,
            timezone_override=settings.account_timezone,
            holidays_country=settings.holidays_country,
        )
        scope = Scope(
            start=_date(date_from, "--from"),
            end=_date(date_to, "--to"),
            as_of=values.as_of(as_of),
            pipelines=tuple(names.pipelines(target, pipeline)),
            sellers=tuple(names.sellers(target, seller)),
            channels=tuple(c.strip().lower() for c in channel),
        )
        params = reports.params(
            acc, scope, now=datetime.now(UTC), sla_hours=settings.response_sla_hours
        )
        report = reports.report(target, acc, params)
        if as_json:
            typer.echo(json.dumps(report.to_json_dict(), ensure_ascii=False, indent=2))
        else:
            print_report(report)

    @app.command()
    @handle_errors
    def model(db: str | None = typer.Option(None, "--db", help=values.DB_HELP)) -> None:
        """Rebuild the whole analytics model from the synced data (a sync updates it by itself)."""
        settings = load_settings()
        inputs.channel_rules(settings)  # before the lock and the raw tables are read
        target = account.target_for(settings, db)
        with console.status("building the analytics model…"):
            summary = inputs.rebuild_model(settings, target)
        console.print(summary, markup=False, highlight=False)

    @app.command()
    @handle_errors
    def channels(db: str | None = typer.Option(None, "--db", help=values.DB_HELP)) -> None:
        """The channel rules in use, in order, and how many leads each one matched."""
        settings = load_settings()
        rules = inputs.channel_rules(settings)
        target = account.target_for(settings, db)
        counts = health.channel_counts(target)
        rows = [
            [str(i), rule.key, rule.describe(),
             "—" if counts is None else f"{counts.get(rule.key, 0):,}"]
            for i, rule in enumerate(rules.rules, start=1)
        ]  # fmt: skip
        columns = [("#", "right"), ("Channel", "left"), ("Rule", "left"), ("Leads", "right")]
        # The rule, the one long column, wraps within the terminal rather than splitting off.
        console.print(table(f"Channel rules ({rules.source})", columns, rows))
        if counts is None:
            console.print("No model built yet: run `kommo-analytics sync` to count leads.")
        else:
            console.print(
                "Counts are from the last model build; after editing the rules run "
                "`kommo-analytics model`.",
                highlight=False,
            )

    for kind in ("costs", "goals"):
        app.add_typer(_import_app(kind), name=kind)


def _import_app(kind: str) -> typer.Typer:
    formats = {
        "costs": "date,channel,amount[,utm_campaign] — one row per day (a monthly cost on the "
        "month's first day)",
        "goals": "month,user,revenue_goal[,deals_goal] — user by id, e-mail or name",
    }
    sub = App(help=f"Import {kind} from a CSV file ({formats[kind]}).", no_args_is_help=True)

    @sub.command("import")
    @handle_errors
    def import_(
        file: Path = typer.Argument(..., help="The CSV file."),
        replace: bool = typer.Option(
            False,
            "--replace",
            help="First remove stored rows of the period the file covers"
            + (" (its first to last date)." if kind == "costs" else " (its months)."),
        ),
        db: str | None = typer.Option(None, "--db", help=values.DB_HELP),
    ) -> None:
        if not file.is_file():
            raise ConfigError(f"{file} is not a file", hint="give the path of a .csv file")
        settings = load_settings()
        target = account.target_for(settings, db)
        run = inputs.import_costs if kind == "costs" else inputs.import_goals
        try:
            added, kept = run(settings, target, file, replace=replace, now=datetime.now(UTC))
        except InputFileError as exc:
            for problem in exc.problems:
                err_console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
            raise
        console.print(
            f"Imported {added:,} {kind} rows from {file.name}; {kept:,} stored rows kept.",
            highlight=False,
        )

    import_.__doc__ = f"Import {kind} from a CSV file; a file with any bad line is refused whole."
    return sub

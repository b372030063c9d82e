"""`kommo-analytics metrics`, `model`, `channels`, `costs import` and `goals import`."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from kommo_analytics import analytics
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.help import App
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import load_settings
from kommo_analytics.warehouse.inputs import InputFileError

console = Console()
err_console = Console(stderr=True)

DB_HELP = "Warehouse URL (default: DATABASE_URL, else the DuckDB file in DATA_DIR)."


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is not a date", hint="write it as YYYY-MM-DD"
        ) from None


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--as-of {value!r} is not a date and time",
            hint="write it as 2026-11-25T18:00 (account time) or 2026-11-25T18:00-03:00",
        ) from None


def _fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    return str(value)


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table


def print_report(data: dict[str, Any]) -> None:
    money = data.get("currency") or ""
    period = data["period"]
    console.print(
        f"[bold]{period['from']} → {period['to']}[/] ({period['timezone']}), as of "
        f"{data['as_of']}, money in {money or 'the account currency'}",
        highlight=False,
    )
    leads = data["leads"]
    rt = leads["response_time"]
    t = _table("1 · Leads and origin", ["", "value"])
    t.add_row("leads", _fmt(leads["total"]))
    for channel, n in leads["by_channel"].items():
        t.add_row(f"  {channel}", _fmt(n))
    t.add_row("first response, average (h)", _fmt(rt["avg_hours"]))
    t.add_row("first response, median (h)", _fmt(rt["median_hours"]))
    t.add_row(f"answered within {rt['sla_hours']:g} h", _fmt(rt["within_sla_pct"], suffix=" %"))
    t.add_row("without a response", _fmt(rt["without_response"]))
    cost = leads["cost"]
    if cost["total"] is not None:
        cost_text = f"{_fmt(cost['total'], 2)} / {_fmt(cost['per_lead'], 2)}"
    elif cost["not_split_by_filter"]:
        cost_text = "costs are per channel: not shown with a seller or pipeline filter"
    else:
        cost_text = "no costs imported for this period (kommo-analytics costs import FILE.csv)"
    t.add_row("cost / cost per lead", cost_text)
    console.print(t)

    for pipeline in data["funnel"]:
        t = _table(
            f"2 · Funnel — {pipeline['name']} ({pipeline['leads']} leads, {pipeline['won']} won)",
            ["stage", "reached", "→ next %", "avg h", "median h", "abandon %"],
        )
        for s in pipeline["stages"]:
            mark = " ◀ bottleneck" if s["status_id"] == pipeline["bottleneck_status_id"] else ""
            t.add_row(
                f"{s['name']}{mark}",
                _fmt(s["reached"]),
                _fmt(s["conversion_to_next_pct"]),
                _fmt(s["avg_hours_in_stage"]),
                _fmt(s["median_hours_in_stage"]),
                _fmt(s["abandonment_pct"]),
            )
        console.print(t)
        velocity = pipeline["sales_velocity_per_day"]
        console.print(f"   sales velocity: {_fmt(velocity, 2)} {money}/day", highlight=False)

    a = data["activities"]
    t = _table("3 · Activities", ["", "value"])
    for key in (
        "tasks_total", "tasks_completed", "completion_rate_pct", "on_time_rate_pct", "overdue",
        "meetings_scheduled", "meetings_held", "calls_outgoing", "calls_incoming",
        "call_minutes", "messages_outgoing", "messages_incoming",
    ):  # fmt: skip
        t.add_row(key.replace("_", " "), _fmt(a[key], suffix=" %" if key.endswith("pct") else ""))
    console.print(t)

    s = data["sales"]
    t = _table("4 · Sales", ["", "value"])
    t.add_row("won / lost", f"{s['won']:,} / {s['lost']:,}")
    t.add_row("win rate", _fmt(s["win_rate_pct"], suffix=" %"))
    t.add_row(f"revenue ({money})", _fmt(s["revenue"], 2))
    t.add_row(f"average ticket ({money})", _fmt(s["avg_ticket"], 2))
    t.add_row("sales cycle avg / median (days)",
              f"{_fmt(s['sales_cycle_avg_days'])} / {_fmt(s['sales_cycle_median_days'])}")  # fmt: skip
    for reason in s["loss_reasons"]:
        t.add_row(f"  lost: {reason['reason']}",
                  f"{reason['count']:,} ({_fmt(reason['share_pct'])} %)")  # fmt: skip
    console.print(t)

    t = _table(
        "5 · Sellers",
        ["#", "seller", "leads", "won", "lost", "win %", "revenue", "resp. h", "tasks", "calls",
         "goal", "attain. %"],
    )  # fmt: skip
    for r in data["sellers"]:
        t.add_row(
            str(r["rank"]), str(r["name"]), _fmt(r["leads"]), _fmt(r["won"]), _fmt(r["lost"]),
            _fmt(r["win_rate_pct"]), _fmt(r["revenue"], 0), _fmt(r["response_time_avg_hours"]),
            _fmt(r["tasks_completed"]), _fmt(r["calls"]), _fmt(r["goal"], 0),
            _fmt(r["attainment_pct"]),
        )  # fmt: skip
    console.print(t)
    if not data["goals_imported"]:
        console.print("   no goals imported (kommo-analytics goals import FILE.csv)")
    t = _table("5 · Channels", ["channel", "leads", "won", "revenue", "cost", "CPL", "ROI %"])
    for r in data["channels"]:
        t.add_row(
            r["channel"], _fmt(r["leads"]), _fmt(r["won"]), _fmt(r["revenue"], 0),
            _fmt(r["cost"], 2), _fmt(r["cpl"], 2), _fmt(r["roi_pct"]),
        )  # fmt: skip
    console.print(t)

    f = data["forecast"]
    console.print(
        f"[bold]6 · Forecast[/]: {f['note']}. This month ({f['month']}): "
        f"{_fmt(f['month_revenue_to_date'], 2)} {money} won so far; goal "
        f"{_fmt(f['month_goal'], 2) if f['month_goal'] is not None else 'not imported'}.",
        highlight=False,
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
        db: str | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Every metric of the six modules for a period, as tables or as JSON."""
        settings = load_settings()
        target = analytics.target_for(settings, db)
        acc = analytics.account(target)
        params = analytics.params_for(
            acc,
            start=_date(date_from, "--from"),
            end=_date(date_to, "--to"),
            as_of=_moment(as_of),
            now=analytics.now_utc(),
            pipelines=analytics.resolve_pipelines(target, pipeline),
            sellers=analytics.resolve_sellers(target, seller),
            channels=[c.strip().lower() for c in channel],
            sla_hours=settings.response_sla_hours,
        )
        data = analytics.compute(target, acc, params)
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            print_report(data)

    @app.command()
    @handle_errors
    def model(db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """Rebuild the analytics model from the synced data (the sync does this by itself)."""
        settings = load_settings()
        target = analytics.target_for(settings, db)
        with console.status("building the analytics model…"):
            summary = analytics.rebuild_model(settings, target)
        console.print(summary, highlight=False)

    @app.command()
    @handle_errors
    def channels(db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
        """The channel rules in use, in order, and how many leads each one matched."""
        settings = load_settings()
        rules = analytics.load_rules(settings)
        target = analytics.target_for(settings, db)
        counts = analytics.channel_counts(target)
        table = _table(f"Channel rules ({rules.source})", ["#", "channel", "rule", "leads"])
        for i, rule in enumerate(rules.rules, start=1):
            leads = "—" if counts is None else f"{counts.get(rule.key, 0):,}"
            table.add_row(str(i), rule.key, rule.describe(), leads)
        table.columns[2].justify = "left"
        console.print(table)
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
        db: str | None = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        if not file.is_file():
            raise ConfigError(f"{file} is not a file", hint="give the path of a .csv file")
        settings = load_settings()
        target = analytics.target_for(settings, db)
        run = analytics.import_costs if kind == "costs" else analytics.import_goals
        try:
            added, kept = run(settings, target, file, replace=replace, now=analytics.now_utc())
        except InputFileError as exc:
            for problem in exc.problems:
                err_console.print(f"  {problem}", highlight=False, soft_wrap=True)
            raise
        console.print(
            f"Imported {added:,} {kind} rows from {file.name}; {kept:,} stored rows kept.",
            highlight=False,
        )

    import_.__doc__ = f"Import {kind} from a CSV file; a file with any bad line is refused whole."
    return sub

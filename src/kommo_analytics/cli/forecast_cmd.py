"""`kommo-analytics forecast`: the revenue forecast, or its backtest, as tables or as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import typer
from rich.console import Console

from kommo_analytics.cli import values
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.tables import Rows
from kommo_analytics.service import account, forecasts, names
from kommo_analytics.service.forecasts import (
    Accuracy,
    Backtest,
    Forecast,
    Labels,
    Pacing,
    Recommendation,
    ScoredSnapshot,
)
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import load_settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import t
from kommo_analytics.workdays import WorkCalendar

console = Console()
# The CLI speaks English; shared wording (the calendar's label) still comes from the catalogue.
CLI_LOCALE: i18n.Locale = "en"
err_console = Console(stderr=True)

RISK = {"high": "[red]high[/]", "medium": "[yellow]medium[/]", "low": "[green]low[/]"}
METHOD_NAMES = {
    "model": "Model",
    "last_month": "Last month",
    "same_month_last_year": "Same month\nlast year",
    "run_rate": "Run-rate",
}
KIND_NAMES = {"month_start": "the 1st", "mid_month": "the 15th"}
HORIZONS = ("this month", "next month", "month after")


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def print_forecast(result: Forecast, labels: Labels, currency: str | None, out: Console) -> None:
    """The ranges per month, the goals and their risk, and the weighted open pipeline."""
    money = currency or "the account currency"
    out.print(
        f"[bold]Forecast as of {result.now:%Y-%m-%d %H:%M} ({result.now.tzinfo})[/], money in "
        f"{money}, {result.draws:,} simulated courses (seed {result.seed})",
        highlight=False,
    )
    if result.status != "ok" or result.company is None:
        out.print(f"No forecast yet: {result.reason}.", highlight=False)
        return
    out.print(f"Based on {result.reason}.", highlight=False)
    company_goals = {g.month: g for g in result.goals if g.user_id is None}
    table = Rows(
        "Company: revenue and won deals per month (P10 · P50 · P90)",
        [("Month", "left"), ("Revenue\nP10", "right"), ("P50", "right"), ("P90", "right"),
         ("Won deals\nP10–P90 (P50)", "right"), ("Won so\nfar", "right"), ("Goal", "right"),
         ("Chance\nof goal", "right"), ("Risk", "left")],
    )  # fmt: skip
    for m in result.company.months:
        goal = company_goals.get(m.month)
        deals = m.won_deals
        table.add_row(
            f"{m.month:%Y-%m}",
            _money(m.revenue.p10),
            _money(m.revenue.p50),
            _money(m.revenue.p90),
            f"{deals.p10:.0f}–{deals.p90:.0f} ({deals.p50:.0f})",
            _money(m.won_to_date) if m.won_to_date else "—",
            _money(goal.goal) if goal else "—",
            _share(goal.probability) if goal else "—",
            RISK[goal.risk] if goal else "—",
        )
    table.print(out)
    if not company_goals:
        out.print(
            "   No goal imported for these months (kommo-analytics goals import FILE.csv).",
            highlight=False,
        )

    first = result.company.months[0].month
    seller_goals = {
        g.user_id: g for g in result.goals if g.user_id is not None and g.month == first
    }
    for kind, scopes in (("pipeline", result.pipelines), ("seller", result.sellers)):
        if kind == "pipeline" and len(scopes) < 2:
            continue  # one pipeline's range is the company's
        columns = [
            (kind.capitalize(), "left"),
            (f"{first:%Y-%m}\nP50", "right"),
            ("P10–P90", "right"),
            *((f"{m.month:%Y-%m}\nP50", "right") for m in result.company.months[1:]),
        ]
        if kind == "seller":
            columns += [("Goal", "right"), ("Chance", "right"), ("Risk", "left")]
        table = Rows(f"Revenue per {kind} (ranges of later months in --json)", columns)
        for scope in scopes:
            now_month = scope.months[0].revenue
            row = [
                labels.pipeline(scope.id) if kind == "pipeline" else labels.seller(scope.id),
                _money(now_month.p50),
                f"{_money(now_month.p10)}–{_money(now_month.p90)}",
                *(_money(m.revenue.p50) for m in scope.months[1:]),
            ]
            if kind == "seller":
                goal = seller_goals.get(scope.id) if scope.id is not None else None
                row += [
                    _money(goal.goal) if goal else "—",
                    _share(goal.probability) if goal else "—",
                    RISK[goal.risk] if goal else "—",
                ]
            table.add_row(*row)
        table.print(out)

    pipeline = result.open_pipeline
    if pipeline is not None:
        table = Rows(
            "Open pipeline by stage, weighted by each deal's chance of being won",
            [("Pipeline · stage", "left"), ("Open\ndeals", "right"), ("Value", "right"),
             ("Win\nchance", "right"), ("Closed deals\nbehind it", "right"),
             ("Weighted\nvalue", "right")],
        )  # fmt: skip
        stages = labels.open_stages(pipeline)
        for s in stages:
            table.add_row(
                f"{labels.pipeline(s.pipeline_id)} · {labels.stage(s.pipeline_id, s.status_id)}",
                f"{s.open_deals:,}",
                _money(s.open_value),
                _share(s.probability),
                f"{s.closed_deals:,}",
                _money(s.weighted_value),
            )
        table.print(out)
        out.print(
            f"   {pipeline.open_deals:,} open deals, weighted value "
            f"{_money(pipeline.weighted_value)}; {pipeline.unpriced_deals:,} without a price, "
            f"valued at their pipeline's recent average ticket "
            f"({_money(pipeline.unpriced_value)} in all). The win chance is for a deal entering "
            f"the stage; an older deal's is lower.",
            highlight=False,
        )
    if result.new_leads is not None:
        for series in (result.new_leads.volume, result.new_leads.wins_per_lead):
            out.print(f"   {series.name}: {series.method} — {series.reason}.", highlight=False)


def _per_day(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def print_pacing(
    pacing: Sequence[Pacing], labels: Labels, calendar: WorkCalendar, out: Console
) -> None:
    """What each goal asks of the working days left in its month, and whose holidays those
    days leave out."""
    if not pacing:
        return
    table = Rows(
        "Pacing: what the goal asks per remaining working day (Mon–Fri less public holidays; "
        "today counts when it is a working day)",
        [("Month", "left"), ("Who", "left"), ("Goal", "right"), ("Won so\nfar", "right"),
         ("Still to\nwin", "right"), ("Working\ndays left", "right"),
         ("Revenue\nper day", "right"), ("Won deals\nneeded", "right"),
         ("Deals\nper day", "right")],
    )  # fmt: skip
    for p in pacing:
        table.add_row(
            f"{p.month:%Y-%m}",
            labels.seller(p.user_id),
            _money(p.goal),
            _money(p.won_to_date),
            _money(p.remaining),
            f"{p.working_days_left}",
            _per_day(p.revenue_per_day),
            f"{p.deals_needed:,}",
            _per_day(p.deals_per_day, 1),
        )
    table.print(out)
    label = i18n.holiday_calendar(calendar, CLI_LOCALE)
    out.print(t("calendar.label", CLI_LOCALE, calendar=label), highlight=False)


def recommendation_text(r: Recommendation, labels: Labels) -> str:
    """The English sentence of a recommendation, from its key and numbers."""
    n = r.numbers

    def num(key: str) -> float:
        value = n.get(key)
        return 0.0 if value is None else float(value)

    def count(key: str) -> str:
        value = n.get(key)
        return "?" if value is None else f"{int(value):,}"

    if r.key == "close_gap":
        text = (
            f"{r.month:%Y-%m}: {_money(num('gap'))} short of the goal at P50: {count('deals_needed')}"
            f" more won deals at the current average ticket of {_money(num('average_ticket'))}"
        )
        if n.get("leads_needed") is not None:
            text += (
                f", about {count('leads_needed')} more leads at the current "
                f"{num('lead_to_win_rate'):.0%} lead-to-win rate"
            )
        return text
    if r.key == "largest_drop":
        pipeline, status = int(num("pipeline_id")), int(num("status_id"))
        return (
            f"The largest drop is {labels.stage(pipeline, status)} → "
            f"{labels.stage(pipeline, int(num('next_status_id')))} in "
            f"{labels.pipeline(pipeline)} ({num('drop_rate'):.0%} of {count('deals_left')} deals "
            f"that left the stage did not move on); {count('open_deals')} open deals are there "
            f"now, {count('stale_deals')} of them without activity for {count('stale_days')} days"
        )
    return (
        f"{labels.seller(r.user_id)} is at high risk for {r.month:%Y-%m}: "
        f"{num('probability'):.0%} chance of the goal of {_money(num('goal'))} (P50 "
        f"{_money(num('p50'))}); {count('open_deals')} open deals, {count('stale_deals')} without "
        f"activity for {count('stale_days')} days"
    )


def print_recommendations(
    recommendations: Sequence[Recommendation], labels: Labels, out: Console
) -> None:
    if not recommendations:
        return
    out.print("[bold]Recommendations[/]", highlight=False)
    for r in recommendations:
        out.print(f"   • {recommendation_text(r, labels)}.", highlight=False)


def print_accuracy(record: Accuracy, out: Console) -> None:
    """The stored snapshots of closed months beside what was won, or one line saying none yet."""
    if not record.months:
        out.print(
            "Accuracy record: no closed month has a stored forecast yet (every sync stores "
            "one; a month is scored once it has closed).",
            highlight=False,
        )
        return
    table = Rows(
        "Accuracy record: stored forecasts of closed months against the revenue won",
        [("Month", "left"), ("Won", "right"), ("Before the month\nP10–P90 (P50)", "right"),
         ("Inside", "left"), ("Mid-month\nP10–P90 (P50)", "right"), ("Inside", "left")],
    )  # fmt: skip

    def cells(s: ScoredSnapshot | None) -> list[str]:
        if s is None:
            return ["—", "—"]
        return [
            f"{_money(s.p10)}–{_money(s.p90)} ({_money(s.p50)})",
            "[green]yes[/]" if s.inside else "[red]no[/]",
        ]

    for m in record.months:
        table.add_row(f"{m.month:%Y-%m}", _money(m.actual), *cells(m.before_month),
                      *cells(m.mid_month))  # fmt: skip
    table.print(out)
    parts = []
    if record.scored_before_month:
        parts.append(
            f"made before the month: actual inside the range {record.inside_before_month} of "
            f"{record.scored_before_month} times"
        )
    if record.scored_mid_month:
        parts.append(
            f"made mid-month: {record.inside_mid_month} of {record.scored_mid_month} times"
        )
    out.print(f"   Last {len(record.months)} month(s), {'; '.join(parts)}.", highlight=False)


def print_backtest(result: Backtest, out: Console) -> None:
    """WAPE / MAPE per horizon of the model and the three baselines, coverage, and the verdicts."""
    out.print(
        f"[bold]Backtest as of {result.now:%Y-%m-%d %H:%M} ({result.now.tzinfo})[/]",
        highlight=False,
    )
    if result.status != "ok":
        out.print(f"No backtest yet: {result.reason}.", highlight=False)
        return
    out.print(
        f"{result.reason}. WAPE: the total error as a share of the total revenue; MAPE: the "
        "average error per month as a share of that month; coverage: the share of months whose "
        "actual revenue fell inside P10–P90 (target 70–90 %).",
        highlight=False,
    )
    for measure in ("wape", "mape"):
        table = Rows(
            f"{measure.upper()} of the P50 and of the three naive guesses"
            + (" · coverage of P10–P90" if measure == "wape" else ""),
            [("Made on", "left"), ("For", "left"),
             *((name, "right") for name in METHOD_NAMES.values()),
             *((("Coverage", "right"),) if measure == "wape" else (("Fore-\ncasts", "right"),))],
        )  # fmt: skip
        for kind, kind_name in KIND_NAMES.items():
            scores = [s for s in result.scores if s.origin_kind == kind]
            for horizon in sorted({s.horizon for s in scores}):
                by_method = {s.method: s for s in scores if s.horizon == horizon}
                model = by_method["model"]
                row = [
                    kind_name,
                    HORIZONS[horizon] if horizon < len(HORIZONS) else f"+{horizon} months",
                    *(
                        _share(getattr(by_method[m], measure)) if m in by_method else "—"
                        for m in METHOD_NAMES
                    ),
                ]
                row.append(_share(model.coverage) if measure == "wape" else f"{model.points:,}")
                table.add_row(*row)
        table.print(out)
    for note in result.notes:
        out.print(f"   {note}.", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def forecast(
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        backtest: bool = typer.Option(
            False,
            "--backtest",
            help="Score the forecast made on the 1st and the 15th of each of the last 12 closed "
            "months against what happened and three naive guesses.",
        ),
        as_of: str | None = typer.Option(
            None, "--as-of", help="The moment 'now' (ISO; without an offset, account time)."
        ),
        pipeline: list[str] = typer.Option(
            [], "--pipeline", help="Pipeline id or name; repeatable."
        ),
        seller: list[str] = typer.Option(
            [], "--seller", help="Seller id, name or e-mail; repeatable."
        ),
        seed: int = typer.Option(
            0, "--seed", help="Seed of the simulation: the same seed gives the same numbers."
        ),
        draws: int | None = typer.Option(
            None,
            "--draws",
            min=100,
            help="Simulated courses per forecast (default 2000; 500 for each backtest origin).",
        ),
        db: str | None = typer.Option(None, "--db", help=values.DB_HELP),
    ) -> None:
        """P10/P50/P90 revenue and won deals for this month and the next two, with the goals'
        chances and the weighted open pipeline; or, with --backtest, its track record."""
        settings = load_settings()
        target = account.target_for(settings, db)
        acc = account.load_modelled(
            target,
            timezone_override=settings.account_timezone,
            holidays_country=settings.holidays_country,
        )
        scope = Scope(
            as_of=values.as_of(as_of),
            pipelines=tuple(names.pipelines(target, pipeline)),
            sellers=tuple(names.sellers(target, seller)),
        )
        now = datetime.now(UTC)
        if backtest:
            with err_console.status("backtesting: 24 forecasts made as of past moments…"):
                scored = forecasts.backtest(
                    target, acc, scope, now=now, seed=seed, draws=draws or forecasts.BACKTEST_DRAWS
                )
            if as_json:
                typer.echo(json.dumps(scored.to_dict(), ensure_ascii=False, indent=2))
            else:
                print_backtest(scored, console)
            return
        with err_console.status("simulating the coming months…"):
            result = forecasts.forecast(
                target, acc, scope, now=now, seed=seed, draws=draws or forecasts.DEFAULT_DRAWS
            )
        record = forecasts.accuracy(target, acc, now=scope.as_of or now)
        if as_json:
            out = {**result.to_dict(), "accuracy": record.to_dict()}
            typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        else:
            labels = forecasts.labels(target)
            print_forecast(result, labels, acc.currency, console)
            print_pacing(result.pacing, labels, result.calendar, console)
            print_recommendations(result.recommendations, labels, console)
            print_accuracy(record, console)

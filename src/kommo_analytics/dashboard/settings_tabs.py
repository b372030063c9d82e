"""The Settings page's tabs: KPI targets, sales goals, marketing costs, channel rules and users
(``users_tab.py``).

Every write goes through the service's writers — the same validation, lock and publish as the
CLI's imports and `kommo-analytics model` — so a grid cannot store what a file would be refused
for. The page itself refuses anyone but an admin before any tab is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

import pandas as pd
import streamlit as st

from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import consolidation, data, metrics_data, users_tab
from kommo_analytics.dashboard.filters import View, channel_label
from kommo_analytics.dashboard.goals import month_label
from kommo_analytics.errors import InputFileError, KommoAnalyticsError, Problem
from kommo_analytics.service import account, channel_rules, inputs, targets
from kommo_analytics.settings import Settings, load_settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

TABS: Final = ("targets", "goals", "costs", "channels", users_tab.TAB, *consolidation.TABS)
_COSTS_UPLOAD: Final = "settings.costs.upload"


def _problem(exc: KommoAnalyticsError) -> str:
    return str(exc.message) if not exc.hint else f"{exc.message} — {exc.hint}"


def _now() -> datetime:
    return datetime.now(UTC)


# -- KPI targets --------------------------------------------------------------------------------


def target_text(spec: targets.Target, value: float, currency: str | None, locale: Locale) -> str:
    """A target as its input shows it: the unit and the locale's decimals ("R$ 5.000,00",
    "25 %", "2 h", "30 dias")."""
    if spec.unit == "money":
        return c.fmt_money(value, currency, locale)
    if spec.unit == "pct":
        return f"{i18n.number(value, locale)} %"
    if spec.unit == "hours":
        return t("unit.hours", locale, value=i18n.number(value, locale))
    return t("unit.days", locale, value=i18n.number(value, locale))


def render_targets(view: View, settings: Settings) -> None:
    locale = view.locale
    currency = view.account.currency if view.account is not None else None
    st.caption(t("settings.caption", locale))
    try:
        current = targets.load(settings.data_dir)
    except KommoAnalyticsError as exc:
        st.warning(t("targets.unreadable", locale, message=exc.message))
        current = {spec.key: spec.default for spec in targets.TARGETS}
    shown = {spec.key: target_text(spec, current[spec.key], currency, locale)
             for spec in targets.TARGETS}  # fmt: skip
    with st.form("kpi_targets"):
        typed = {
            spec.key: st.text_input(t(f"settings.target.{spec.key}", locale), value=shown[spec.key],
                                    key=f"target.{spec.key}",
                                    help=t("settings.targets.help", locale))
            for spec in targets.TARGETS
        }  # fmt: skip
        saved = st.form_submit_button(t("settings.save", locale), type="primary")
    if saved:
        values: dict[str, float] = {}
        wrong: list[str] = []
        for spec in targets.TARGETS:
            text = typed[spec.key]
            if text.strip() == shown[spec.key]:
                values[spec.key] = current[spec.key]  # untouched: not rounded by its display
                continue
            try:
                values[spec.key] = targets.parse(text)
            except ValueError:
                wrong.append(t("settings.targets.invalid", locale,
                               label=t(f"settings.target.{spec.key}", locale), value=text,
                               example=target_text(spec, spec.default, currency, locale)))  # fmt: skip
        if wrong:
            st.error("\n\n".join(wrong))
        else:
            try:
                targets.save(settings.data_dir, values)
            except (KommoAnalyticsError, OSError) as exc:
                st.error(t("settings.save_failed", locale, message=str(exc)))
            else:
                st.success(t("settings.saved", locale))
    if st.button(t("settings.reset", locale)):
        targets.save(settings.data_dir, {spec.key: spec.default for spec in targets.TARGETS})
        for spec in targets.TARGETS:
            st.session_state.pop(f"target.{spec.key}", None)
        st.rerun()


# -- goals --------------------------------------------------------------------------------------


def _ready(view: View) -> str | None:
    """The warehouse URL when a model is built (goals and costs name its sellers and channels);
    else the page's no-data message is shown and None returned."""
    if not view.warehouse.ready or not metrics_data.model_stamp(view.warehouse.url):
        c.no_model(view)
        return None
    return view.warehouse.url


def _months(year: int) -> list[date]:
    return [date(year, m, 1) for m in range(1, 13)]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def goal_frames(
    sellers: Sequence[inputs.UserRef], stored: Sequence[inputs.StoredGoal], year: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The year's revenue and deals goals: a row per seller (by id), a column per month."""
    months = [f"{m:%Y-%m}" for m in _months(year)]
    ids = [s.id for s in sellers]
    revenue = pd.DataFrame(float("nan"), index=ids, columns=months)
    deals = pd.DataFrame(float("nan"), index=ids, columns=months)
    for goal in stored:
        key = f"{goal.month:%Y-%m}"
        if goal.month.year == year and goal.user_id in revenue.index:
            revenue.loc[goal.user_id, key] = goal.revenue_goal
            if goal.deals_goal is not None:
                deals.loc[goal.user_id, key] = float(goal.deals_goal)
    return revenue, deals


def goal_cells(revenue: pd.DataFrame, deals: pd.DataFrame) -> list[inputs.GoalCell]:
    """The grids' filled cells, a seller-month each, in the grid's order."""
    cells = []
    for user_id in revenue.index:
        for column in revenue.columns:
            r, d = _number(revenue.loc[user_id, column]), _number(deals.loc[user_id, column])
            if r is not None or d is not None:
                month = date.fromisoformat(f"{column}-01")
                cells.append(inputs.GoalCell(month, int(user_id), r, d))
    return cells


def _seller_name(seller: inputs.UserRef) -> str:
    return seller.name or seller.email or str(seller.id)


def render_goals(view: View, settings: Settings) -> None:
    locale = view.locale
    url = _ready(view)
    if url is None:
        return
    currency = view.account.currency if view.account is not None else None
    target = account.target(url)
    st.caption(t("goals.caption", locale))
    sellers = sorted(inputs.sellers(target), key=lambda s: _seller_name(s).casefold())
    stored = inputs.stored_goals(target)
    years = sorted({view.today.year, view.today.year + 1, *(g.month.year for g in stored)})
    year = st.selectbox(t("goals.year", locale), years, index=years.index(view.today.year),
                        key="goals.year")  # fmt: skip
    revenue, deals = goal_frames(sellers, stored, year)
    names = {s.id: _seller_name(s) for s in sellers}
    months = {f"{m:%Y-%m}": month_label(f"{m:%Y-%m}", locale) for m in _months(year)}

    def grid(frame: pd.DataFrame, title: str, whole: bool, key: str) -> pd.DataFrame:
        st.markdown(f"**{title}**")
        shown = frame.rename(index=names)
        config: dict[str, Any] = {
            month: st.column_config.NumberColumn(
                label, min_value=0, step=1 if whole else 0.01, format="localized"
            )
            for month, label in months.items()
        }
        config["_index"] = st.column_config.TextColumn(t("goals.seller", locale), disabled=True)
        edited = st.data_editor(shown, column_config=config, key=f"{key}.{year}",
                                width="stretch")  # fmt: skip
        edited.index = frame.index
        return edited

    revenue = grid(revenue, t("goals.revenue", locale, currency=currency or ""), False, "goals.rev")
    deals = grid(deals, t("goals.deals", locale), True, "goals.deals")
    st.markdown(f"**{t('goals.company', locale)}**")
    company = pd.DataFrame(
        {
            months[m]: [
                c.cell_money(float(revenue[m].sum()) if revenue[m].notna().any() else None,
                             currency, locale),
                i18n.number(int(deals[m].sum()), locale) if deals[m].notna().any() else "",
            ]
            for m in months
        },
        index=[t("goals.company_revenue", locale), t("goals.company_deals", locale)],
    )  # fmt: skip
    st.dataframe(company, width="stretch")
    if st.button(t("goals.save", locale, year=year), type="primary", key="goals.save"):
        cells = goal_cells(revenue, deals)
        try:
            inputs.save_goal_grid(settings, target, cells, months=_months(year), now=_now())
        except InputFileError as exc:
            st.error(t("goals.refused", locale) + "\n\n" + "\n".join(
                f"- {_goal_problem(p, cells, names, currency, locale)}" for p in exc.problems))  # fmt: skip
        except KommoAnalyticsError as exc:
            st.error(t("settings.problem", locale, message=exc.message, hint=exc.hint))
        else:
            st.success(t("goals.saved", locale, year=year, count=i18n.number(len(cells), locale)))


def _goal_problem(problem: Problem, cells: Sequence[inputs.GoalCell], names: Mapping[int, str],
                  currency: str | None, locale: Locale) -> str:  # fmt: skip
    """A refused grid's problem named by its seller, month and column, not by a file line."""
    index = problem.line - 2  # the grid's CSV: the header is line 1
    if not 0 <= index < len(cells):
        return str(problem)
    cell = cells[index]
    column = {"revenue_goal": t("goals.revenue", locale, currency=currency or ""),
              "deals_goal": t("goals.deals", locale)}.get(problem.column or "", "")  # fmt: skip
    value = f"“{problem.value}” " if problem.value is not None else ""
    return t("goals.problem", locale, seller=names.get(cell.user_id, str(cell.user_id)),
             month=month_label(f"{cell.month:%Y-%m}", locale), column=column,
             problem=value + problem.message)  # fmt: skip


# -- costs --------------------------------------------------------------------------------------


def render_costs(view: View, settings: Settings) -> None:
    locale = view.locale
    url = _ready(view)
    if url is None:
        return
    target = account.target(url)
    st.caption(t("costs.caption", locale))
    channels = inputs.cost_channels(settings, target)
    st.caption(t("costs.channels", locale, channels=", ".join(channels)))
    upload = st.file_uploader(t("costs.upload", locale), type=["csv", "txt"], key=_COSTS_UPLOAD)
    rows: list[dict[str, str]] = []
    grid_key = "costs.grid"
    if upload is not None:
        grid_key = f"costs.grid.{upload.file_id}"
        text = inputs.decode(upload.getvalue())
        cells, layout = inputs.costs_cells(text)
        rows = [values for _, values in cells]
        problems = layout
        if not layout:
            try:
                inputs.check_costs_text(settings, target, text, source=upload.name)
            except InputFileError as exc:
                problems = exc.problems
        if problems:
            st.error(t("costs.file_refused", locale, name=upload.name) + "\n\n" + "\n".join(
                f"- {t('costs.line', locale, line=p.line, problem=_said(p))}"
                for p in problems))  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(inputs.COSTS_COLUMNS)).astype("string")
    config = {name: st.column_config.TextColumn(t(f"costs.col.{name}", locale))
              for name in inputs.COSTS_COLUMNS}  # fmt: skip
    edited = st.data_editor(frame, column_config=config, num_rows="dynamic", hide_index=True,
                            width="stretch", key=grid_key)  # fmt: skip
    replace = st.checkbox(t("costs.replace", locale), key="costs.replace")
    if st.button(t("costs.save", locale), type="primary", key="costs.save"):
        wanted = [
            {str(k): ("" if pd.isna(v) else str(v)) for k, v in row.items()}
            for row in edited.to_dict("records")
        ]
        wanted = [row for row in wanted if any(v.strip() for v in row.values())]
        if not wanted:
            st.warning(t("costs.empty", locale))
            return
        try:
            added, kept = inputs.import_costs_text(settings, target, inputs.costs_csv(wanted),
                                                   source=inputs.GRID_SOURCE, replace=replace,
                                                   now=_now())  # fmt: skip
        except InputFileError as exc:
            st.error(t("costs.grid_refused", locale) + "\n\n" + "\n".join(
                f"- {t('costs.row', locale, row=p.line - 1, problem=_said(p))}"
                for p in exc.problems))  # fmt: skip
        except KommoAnalyticsError as exc:
            st.error(t("settings.problem", locale, message=exc.message, hint=exc.hint))
        else:
            st.success(t("costs.saved", locale, added=i18n.number(added, locale),
                         kept=i18n.number(kept, locale)))  # fmt: skip


def _said(problem: Problem) -> str:
    """A problem without its line (the message says which line in the reader's terms)."""
    where = f"{problem.column}: " if problem.column else ""
    value = f"“{problem.value}” " if problem.value is not None else ""
    return f"{where}{value}{problem.message}"


# -- channel rules ------------------------------------------------------------------------------


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def _preview(url: str, version: str, text: str) -> dict[str, int]:
    """Keyed by the rules' text and the warehouse's version: an edit counts again, a rerun
    does not."""
    edited = channel_rules.check_text(text)
    return channel_rules.preview(account.target(url), edited)


def render_channels(view: View, settings: Settings) -> None:
    locale = view.locale
    try:
        now = channel_rules.current(settings)
    except KommoAnalyticsError as exc:
        st.error(t("settings.problem", locale, message=exc.message, hint=exc.hint))
        return
    st.caption(t("channels.caption", locale))
    if now.named_file:
        st.info(t("channels.named_file", locale, path=f"`{now.save_to}`"))
    labels = {name: t(f"channels.grid.{name}", locale) if name not in channel_rules.RAW_NAMES
              else name for name in channel_rules.COLUMNS}  # fmt: skip
    config: dict[str, Any] = {}
    for name in channel_rules.TEXT_COLUMNS:
        tip = "channels.grid.key_help" if name == "key" else "channels.grid.list_help"
        config[name] = st.column_config.TextColumn(labels[name], help=t(tip, locale))
    for name in channel_rules.FLAG_COLUMNS:
        config[name] = st.column_config.CheckboxColumn(labels[name])
    frame = pd.DataFrame(now.rows, columns=list(channel_rules.COLUMNS))
    rows = st.data_editor(frame, column_config=config, num_rows="dynamic", hide_index=True,
                          width="stretch", key="channels.grid")  # fmt: skip
    try:
        records = [{str(k): v for k, v in row.items()} for row in rows.to_dict("records")]
        edited = channel_rules.check(records, now.utm_fields)
    except KommoAnalyticsError as exc:
        st.error(t("channels.invalid", locale, message=exc.message, hint=exc.hint))
        return
    st.subheader(t("channels.preview", locale))
    if not view.warehouse.ready:
        st.info(t("channels.no_data", locale))
    else:
        counts = _preview(view.warehouse.url, view.warehouse.version, edited.text)
        before = channel_rules.model_counts(account.target(view.warehouse.url)) or {}
        keys = [*edited.keys, *(k for k in before if k not in edited.keys)]
        table = pd.DataFrame(
            {
                t("channels.col.channel", locale): [channel_label(k, locale) for k in keys],
                t("channels.col.now", locale): [i18n.number(before.get(k, 0), locale)
                                                for k in keys],
                t("channels.col.new", locale): [i18n.number(counts.get(k, 0), locale)
                                                for k in keys],
                t("channels.col.change", locale): [
                    _change(counts.get(k, 0) - before.get(k, 0), locale) for k in keys],
            }
        )  # fmt: skip
        st.dataframe(table, hide_index=True, width="stretch")
    if st.button(t("channels.save", locale), type="primary", key="channels.save"):
        try:
            with st.spinner(t("channels.saving", locale)):
                summary = channel_rules.save(settings, account.target(data.database_url()),
                                             edited)  # fmt: skip
        except KommoAnalyticsError as exc:
            st.error(t("channels.save_failed", locale, message=exc.message, hint=exc.hint))
        else:
            st.success(t("channels.saved" if summary else "channels.saved_no_data", locale))


def _change(delta: int, locale: Locale) -> str:
    if delta == 0:
        return ""
    return ("+" if delta > 0 else "−") + i18n.number(abs(delta), locale)


def tabs() -> tuple[str, ...]:
    """The tabs shown: the exchange rates and stage mapping only with two accounts or more."""
    if consolidation.is_multi_account():
        return TABS
    return tuple(tab for tab in TABS if tab not in consolidation.TABS)


def render(view: View, tab: str) -> None:
    if tab in consolidation.TABS:
        consolidation.render(view, tab)
        return
    settings = load_settings()
    {"targets": render_targets, "goals": render_goals, "costs": render_costs,
     "channels": render_channels, users_tab.TAB: users_tab.render}[tab](view, settings)  # fmt: skip

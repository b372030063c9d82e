"""Data health: the last sync runs, how far each stream has been read, rows per raw table.

Everything here is the sync's own bookkeeping (`sync_runs`, `sync_state`) and plain row counts;
the sidebar filters do not apply. The last run's warnings (no time zone from Kommo, a column
whose NULL share jumped) are shown above the runs. The tracking codes the leads carry are listed,
marked when no channel rule uses them. Below them, the data-quality checks' latest stored run
(service/quality.py): the overall score and its trend, each rule's result, the score per seller,
and each rule's failing leads linked to Kommo; before any run, a button that runs them. Below the
runs, the jobs the workers gave up on (service/dead_letters.py), which an admin can dismiss.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kommo_analytics.dashboard import auth, charts, components, data, filters, syncing
from kommo_analytics.dashboard.export import Column
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service.dead_letters import DeadLetter
from kommo_analytics.service.health import RAW_TABLES, STREAMS, SetupWarnings
from kommo_analytics.service.quality import QualityRun
from kommo_analytics.settings import load_settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t, t_app

RUN_COLUMNS: Final = (
    ("started", "health.col.started"),
    ("finished", "health.col.finished"),
    ("duration", "health.col.duration"),
    ("status", "health.col.status"),
    ("mode", "health.col.mode"),
    ("rows_per_stream", "health.col.rows"),
    ("requests", "health.col.requests"),
    ("retries", "health.col.retries"),
    ("rate_limited", "health.col.rate_limited"),
    ("error", "health.col.error"),
)
STREAM_COLUMNS: Final = (
    ("stream", "health.col.stream"),
    ("watermark", "health.col.watermark"),
    ("age", "health.col.age"),
    ("rows_total", "health.col.rows_total"),
    ("updated", "health.col.updated"),
)
COUNT_COLUMNS: Final = (("table", "health.col.table"), ("rows", "health.col.count"))
TRACKING_COLUMNS: Final = (
    ("code", "health.col.code"),
    ("name", "health.col.field_name"),
    ("leads", "health.col.leads"),
    ("used", "health.col.used"),
)
NUMBER_COLUMNS: Final = frozenset(
    {
        "requests",
        "retries",
        "rate_limited",
        "rows_total",
        "rows",
        "leads",
        "failing",
        "score",
        "attempts",
    }
)
RULE_COLUMNS: Final = (
    ("rule", "quality.col.rule"),
    ("severity", "quality.col.severity"),
    ("failing", "quality.col.failing"),
    ("score", "quality.col.score"),
    ("message", "quality.col.message"),
)
SELLER_COLUMNS: Final = (
    ("seller", "quality.col.seller"),
    ("failing", "quality.col.failing"),
    ("score", "quality.col.score"),
)
DEAD_LETTER_COLUMNS: Final = (
    ("failed_at", "health.dead.col.when"),
    ("account", "health.dead.col.account"),
    ("job", "health.dead.col.job"),
    ("attempts", "health.dead.col.attempts"),
    ("error", "health.dead.col.error"),
)
KNOWN_JOBS: Final = frozenset({"sync", "full_sync", "health", "checks", "alerts", "weekly_report"})
KNOWN_RUN_STATUSES: Final = frozenset({"ok", "failed", "running", "interrupted"})
KNOWN_RUN_MODES: Final = frozenset({"full", "incremental"})


def _present(value: Any) -> bool:
    return value is not None and not pd.isna(value)


def _moment(value: Any, zone: tzinfo, locale: Locale) -> str:
    return i18n.moment(pd.Timestamp(value).to_pydatetime(), zone, locale) if _present(value) else ""


def _count(value: Any, locale: Locale) -> str:
    return i18n.number(int(value), locale) if _present(value) else ""


def stream_label(name: Any, locale: Locale) -> str:
    """A stream as people call it ("Ligações registradas em contatos" for `contact_calls`); a
    name this version does not declare (written by another one) as it is."""
    text = str(name or "")
    return t(f"health.stream.{text}", locale) if text in STREAMS else text


def table_label(name: Any, locale: Locale) -> str:
    """A raw table as people call it ("Leads na lixeira"); an unknown one as it is."""
    text = str(name or "")
    return t(f"health.table.{text}", locale) if text in RAW_TABLES else text


def rows_per_stream(rows_json: object, locale: Locale) -> str:
    """`{"events": 14531, "leads": 1982}` → "Eventos (…): 14.531 · Leads: 1.982" (pt-BR); a NULL
    (None, NaN or NA, as the backend's driver and pandas hand it over) → an empty cell."""
    if not isinstance(rows_json, str) or not rows_json:
        return ""
    try:
        rows = json.loads(rows_json)
    except ValueError:
        return rows_json  # written by another version: show it as it is rather than nothing
    if not isinstance(rows, dict):
        return rows_json
    return " · ".join(
        f"{stream_label(name, locale)}: {_count(rows[name], locale)}" for name in sorted(rows)
    )


def runs_frame(runs: pd.DataFrame, zone: tzinfo, locale: Locale) -> pd.DataFrame:
    def label(prefix: str, value: Any, known: frozenset[str]) -> str:
        return t(f"{prefix}.{value}", locale) if value in known else str(value or "")

    durations = [
        i18n.duration(pd.Timestamp(end) - pd.Timestamp(start), locale)
        if _present(start) and _present(end)
        else ""
        for start, end in zip(runs["started_at"], runs["finished_at"], strict=True)
    ]
    return pd.DataFrame(
        {
            "started": [_moment(v, zone, locale) for v in runs["started_at"]],
            "finished": [_moment(v, zone, locale) for v in runs["finished_at"]],
            "duration": durations,
            "status": [label("health.run_status", v, KNOWN_RUN_STATUSES) for v in runs["status"]],
            "mode": [label("health.run_mode", v, KNOWN_RUN_MODES) for v in runs["mode"]],
            "rows_per_stream": [rows_per_stream(v, locale) for v in runs["rows_json"]],
            "requests": [_count(v, locale) for v in runs["requests"]],
            "retries": [_count(v, locale) for v in runs["retries"]],
            "rate_limited": [_count(v, locale) for v in runs["rate_limited"]],
            "error": [v if isinstance(v, str) else "" for v in runs["error"]],
        }
    )


def run_warnings(warnings_json: Any, locale: Locale) -> list[str]:
    """The last run's warnings (``sync_runs.warnings``, written by the sync) in the reader's
    language; a kind this version does not know is left out rather than shown raw."""
    if not isinstance(warnings_json, str) or not warnings_json:
        return []
    try:
        warnings = json.loads(warnings_json)
    except ValueError:
        return []
    shown: list[str] = []
    for w in warnings if isinstance(warnings, list) else []:
        if not isinstance(w, dict):
            continue
        if w.get("kind") == "no_timezone":
            shown.append(t("health.warn_no_timezone", locale, tz=str(w.get("used", "UTC"))))
        elif w.get("kind") == "null_jump":
            shown.append(
                t(
                    "health.warn_null_jump",
                    locale,
                    table=table_label(w.get("table", ""), locale),
                    column=w.get("column", ""),
                    now=components.fmt_pct(100 * float(w.get("run_null_share", 0)), locale),
                    rows=i18n.number(int(w.get("run_rows", 0)), locale),
                    before=components.fmt_pct(100 * float(w.get("stored_null_share", 0)), locale),
                )
            )
    return shown


def streams_frame(
    streams: pd.DataFrame, now: datetime, zone: tzinfo, locale: Locale
) -> pd.DataFrame:
    marks = [
        datetime.fromtimestamp(int(v), UTC) if _present(v) else None for v in streams["watermark"]
    ]
    return pd.DataFrame(
        {
            "stream": [stream_label(v, locale) for v in streams["stream"]],
            "watermark": [i18n.moment(m, zone, locale) if m else "" for m in marks],
            "age": [i18n.ago(m, now, locale) if m else "" for m in marks],
            "rows_total": [_count(v, locale) for v in streams["rows_total"]],
            "updated": [_moment(v, zone, locale) for v in streams["updated_at"]],
        }
    )


def counts_frame(counts: pd.DataFrame, locale: Locale) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": [table_label(v, locale) for v in counts["table"]],
            "rows": [_count(v, locale) for v in counts["rows"]],
        }
    )


def tracking_frame(
    codes: pd.DataFrame, used: frozenset[str] | None, locale: Locale
) -> pd.DataFrame:
    """The tracking codes seen, with whether a channel rule uses each: rules name a code in
    lower case, Kommo sends it in upper case. Without a model to say, the column is empty."""

    def mark(code: str) -> str:
        if used is None:
            return ""
        return t(
            "health.tracking.used" if code.lower() in used else "health.tracking.ignored", locale
        )

    return pd.DataFrame(
        {
            "code": codes["code"],
            "name": codes["name"].fillna(""),
            "leads": [_count(v, locale) for v in codes["leads"]],
            "used": [mark(str(code)) for code in codes["code"]],
        }
    )


def dead_letters_frame(letters: list[DeadLetter], zone: tzinfo, locale: Locale) -> pd.DataFrame:
    """The workers' dead letters as the page shows them: when in the account's zone, the job's
    name in the reader's language (an unknown one as it is), the error as the job wrote it."""
    return pd.DataFrame(
        {
            "failed_at": [_moment(d.failed_at, zone, locale) for d in letters],
            "account": [d.account for d in letters],
            "job": [
                t(f"health.dead.job.{d.job}", locale) if d.job in KNOWN_JOBS else d.job
                for d in letters
            ],
            "attempts": [_count(d.attempts, locale) for d in letters],
            "error": [d.error for d in letters],
        },
        columns=[key for key, _ in DEAD_LETTER_COLUMNS],
    )


def _dead_letters_section(view: filters.View) -> None:
    """Jobs the workers gave up on after their retries (only with a job queue): the list, and
    for an admin a way to take one off it once dealt with."""
    locale = view.locale
    try:
        letters = data.load_dead_letters(view.warehouse.url)
    except KommoAnalyticsError as exc:
        st.subheader(t("health.dead.title", locale))
        data.show_error(exc, locale)
        return
    if not letters and load_settings().broker_url is None:
        return  # no workers, no queue: nothing to say
    st.subheader(t("health.dead.title", locale))
    if not letters:
        st.info(t("health.dead.empty", locale))
        return
    st.caption(t("health.dead.caption", locale))
    _table(
        dead_letters_frame(letters, view.zone, locale), DEAD_LETTER_COLUMNS, view, "dead_letters"
    )
    if not syncing.can_sync():
        return
    labels = {
        d.id: f"{_moment(d.failed_at, view.zone, locale)} · {d.account} · {d.job}" for d in letters
    }
    chosen = st.selectbox(
        t("health.dead.choose", locale),
        list(labels),
        format_func=labels.__getitem__,
        key="health.dead.choice",
    )
    if chosen is not None and st.button(t("health.dead.dismiss", locale), key="health.dead.go"):
        try:
            data.dismiss_dead_letter(view.warehouse.url, chosen)
        except KommoAnalyticsError as exc:
            data.show_error(exc, locale)
            return
        st.rerun()


def _table(
    frame: pd.DataFrame, columns: tuple[tuple[str, str], ...], view: filters.View, name: str
) -> None:
    # The cells are already written for people (counts, "3 / 10"): the files get them as shown.
    spec = tuple(Column(key, label, right=key in NUMBER_COLUMNS) for key, label in columns)
    components.table(frame, spec, view=view, name=name)


def _tracking_section(view: filters.View) -> None:
    locale, warehouse = view.locale, view.warehouse
    st.subheader(t("health.tracking", locale))
    try:
        codes = data.load_tracking_codes(warehouse.url, warehouse.version)
        used = data.load_tracking_used(warehouse.url, warehouse.version)
    except KommoAnalyticsError as exc:
        data.show_error(exc, locale)
        return
    if codes.empty:
        st.info(t("health.tracking_empty", locale))
        return
    st.caption(t("health.tracking_caption", locale))
    frame = tracking_frame(codes, used, locale)
    _table(frame, TRACKING_COLUMNS, view, "tracking_codes")
    ignored = [str(c) for c in codes["code"] if used is not None and str(c).lower() not in used]
    if ignored:
        st.caption(t("health.tracking_ignored", locale, codes=", ".join(map(str, ignored))))


def setup_messages(found: SetupWarnings, locale: Locale, shown: int = 3) -> list[str]:
    """Misspelt settings and files others can read, as sentences in the reader's language."""
    messages = []
    for item in found.unknown_settings:
        source = item.source
        if source == "environment":
            source = t("health.source_environment", locale)
        if item.suggestion:
            text = t(
                "health.setting_typo", locale, name=item.name, source=source,
                suggestion=item.suggestion,
            )  # fmt: skip
        else:
            text = t("health.setting_unknown", locale, name=item.name, source=source)
        messages.append(text)
    if found.exposed is not None:
        paths = found.exposed.paths
        names = ", ".join(str(p) for p in paths[:shown]) + (", …" if len(paths) > shown else "")
        count = i18n.number(len(paths), locale)
        messages.append(
            t("health.exposed", locale, count=count, names=names, fix=found.exposed.fix)
        )
    return messages


def rules_frame(run: QualityRun, locale: Locale) -> pd.DataFrame:
    """One row per rule: its name, severity, failing of checked, score and message with the
    fix, in the reader's language; a fix the CLI words as a command is the page's sync button
    (or asking an admin for it) here."""
    fixes = syncing.fixes(locale)
    return pd.DataFrame(
        {
            "rule": [t(f"quality.rule.{r.rule}", locale) for r in run.rules],
            "severity": [t(f"quality.severity.{r.severity}", locale) for r in run.rules],
            "failing": [
                f"{i18n.number(r.failing, locale)} / {i18n.number(r.checked, locale)}"
                for r in run.rules
            ],
            "score": [components.fmt_number(r.score, locale, 1) for r in run.rules],
            "message": [
                t_app(r.message_key, locale, **{**fixes, **r.message_values(locale)})
                for r in run.rules
            ],
        }
    )


def sellers_frame(run: QualityRun, locale: Locale) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seller": [s.name or str(s.user_id) for s in run.sellers],
            "failing": [
                f"{i18n.number(s.failing, locale)} / {i18n.number(s.checked, locale)}"
                for s in run.sellers
            ],
            "score": [components.fmt_number(s.score, locale, 1) for s in run.sellers],
        }
    )


def trend_figure(trend: list[tuple[datetime, float]], zone: tzinfo, locale: Locale) -> go.Figure:
    """The overall score per stored run, on the account's clock."""
    times = [moment.astimezone(zone).replace(tzinfo=None) for moment, _ in trend]
    name = t("quality.page.trend_axis", locale)
    fig = go.Figure(
        go.Scatter(
            x=times,
            y=[score for _, score in trend],
            mode="lines+markers",
            name=name,
            customdata=[
                charts.lines(i18n.moment(moment, zone, locale),
                             charts.named(name, components.fmt_number(score, locale, 1)))
                for moment, score in trend
            ],
            hovertemplate=charts.HOVER,
        )
    )  # fmt: skip
    fig.update_layout(title=t("quality.page.trend", locale))
    return charts.localise(fig, locale, height=260, x=charts.Axis("date"),
                           y=charts.Axis("number", title=name, top=100))  # fmt: skip


def _run_button(view: filters.View) -> None:
    locale = view.locale
    if st.button(t("quality.page.run", locale), key="quality.run"):
        with st.spinner(t("quality.page.running", locale)):
            try:
                data.run_quality_checks(view.warehouse.url)
            except KommoAnalyticsError as exc:
                data.show_error(exc, locale)
                return
        st.rerun()


def _quality_section(view: filters.View) -> None:
    locale, warehouse = view.locale, view.warehouse
    st.subheader(t("quality.title", locale))
    try:
        run = data.load_quality(warehouse.url, warehouse.version)
        trend = data.load_quality_trend(warehouse.url, warehouse.version) if run else []
    except KommoAnalyticsError as exc:
        data.show_error(exc, locale)
        return
    if run is None:
        st.info(t("quality.page.none", locale))
        _run_button(view)
        return
    at = i18n.moment(run.checked_at, view.zone, locale)
    st.metric(
        t("quality.title", locale),
        components.fmt_number(run.score, locale, 1),
        help=t("quality.page.formula", locale),
    )
    st.caption(t("quality.overall", locale, score=components.fmt_number(run.score, locale, 1),
                 at=at))  # fmt: skip
    if len(trend) > 1:
        components.plot(trend_figure(trend, view.zone, locale), key="quality.trend")
    st.markdown(f"**{t('quality.page.rules', locale)}**")
    _table(rules_frame(run, locale), RULE_COLUMNS, view, "quality_rules")
    if run.sellers:
        st.markdown(f"**{t('quality.page.sellers', locale)}**")
        _table(sellers_frame(run, locale), SELLER_COLUMNS, view, "quality_sellers")
    _failing_leads(view, run)
    _run_button(view)


def _failing_leads(view: filters.View, run: QualityRun) -> None:
    """A rule's failing leads, each linked to Kommo (the drill-downs' lead table)."""
    locale, warehouse = view.locale, view.warehouse
    with_leads = [r for r in run.rules if r.sample_lead_ids]
    st.markdown(f"**{t('quality.page.failing', locale)}**")
    if not with_leads:
        st.info(t("quality.page.no_leads", locale))
        return
    labels = [t(f"quality.rule.{r.rule}", locale) for r in with_leads]
    picked = st.selectbox(t("quality.page.pick", locale), labels, key=f"quality.pick.{locale}")
    rule = with_leads[labels.index(picked)]
    try:
        frame = data.load_failing_leads(warehouse.url, warehouse.version, rule.sample_lead_ids)
    except KommoAnalyticsError as exc:
        data.show_error(exc, locale)
        return
    st.caption(t("quality.page.sample", locale, count=i18n.number(len(frame), locale)))
    acc = view.account
    components.lead_table(
        frame,
        view,
        acc.currency if acc else None,
        acc.subdomain if acc else None,
        name=f"quality_{rule.rule}",
    )


def render() -> None:
    auth.refuse_unless_whole_account()
    view = filters.current_view()
    locale = view.locale
    st.title(t("health.title", locale))
    warehouse = view.warehouse
    # Before the warehouse: a misspelt DATABASE_URL is often why there is no data to show.
    for message in setup_messages(data.setup_warnings(warehouse.url), locale):
        st.warning(message)
    buttons = syncing.section(view)
    if not warehouse.ready:
        syncing.show_problem(warehouse, locale, here=True, buttons=buttons)
        st.caption(t("health.quality", locale))
        return
    st.caption(t("health.scope", locale, tz=str(view.zone)))
    try:
        runs = data.load_runs(warehouse.url, warehouse.version)
        streams = (
            data.load_streams(warehouse.url, warehouse.version)
            if "sync_state" in warehouse.tables
            else None
        )
        present = tuple(name for name in RAW_TABLES if name in warehouse.tables)
        counts = data.load_row_counts(warehouse.url, warehouse.version, present)
    except KommoAnalyticsError as exc:
        data.show_error(exc, locale)
        return

    if not runs.empty:
        for warning in run_warnings(runs["warnings"].iloc[0], locale):
            st.warning(warning)
    st.subheader(t("health.runs", locale))
    if runs.empty:
        st.info(t("health.runs_empty", locale))
    else:
        _table(runs_frame(runs, view.zone, locale), RUN_COLUMNS, view, "sync_runs")

    _dead_letters_section(view)

    st.subheader(t("health.freshness", locale))
    if streams is None or streams.empty:
        st.info(t("health.freshness_empty", locale))
    else:
        st.caption(
            t("health.freshness_caption", locale, now=i18n.moment(view.now, view.zone, locale))
        )
        _table(
            streams_frame(streams, view.now, view.zone, locale), STREAM_COLUMNS, view, "freshness"
        )

    if "lead_tracking" in warehouse.tables and "leads" in warehouse.tables:
        _tracking_section(view)

    st.subheader(t("health.counts", locale))
    _table(counts_frame(counts, locale), COUNT_COLUMNS, view, "row_counts")

    _quality_section(view)


if __name__ == "__main__":
    render()

"""2 Funnel: per pipeline, how far the period's leads got, where they stall and where they drop
out. Every number is the one `kommo-analytics metrics --json` prints under ``funnel`` for the same
period and filters; the time-in-stage chart and the moves between stages draw the stays and
moves behind them.

The cohort of a pipeline is its leads created in the period; a lead *reached* a stage when it
passed through it or any later one, or was won.
"""

from __future__ import annotations

import math
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kommo_analytics.dashboard import charts, filters, metrics_data
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard.export import Column
from kommo_analytics.dashboard.filters import View
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.metrics.results import Pipeline, Report, Stage, section
from kommo_analytics.service.leads import LOST_STATUS_ID, WON_STATUS_ID
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

# Red means the worst, and on this page the worst is the bottleneck the banner names: its bar
# is red on every chart, every other stage keeps the one stage colour.
STAGE_COLOUR: Final = "#4C78A8"
BOTTLENECK_COLOUR: Final = "#E45756"
P80_COLOUR: Final = "#1F3B57"
# Moves between stages, by where they lead.
MOVE_COLOURS: Final = {
    "forward": STAGE_COLOUR,
    "won": "#54A24B",
    "lost": "#7F7F7F",
    "back": "#F2A93B",
    "other": "#BAB0AC",
}
TOP_MOVES: Final = 12  # the moves listed; the rest are counted in the caption
SERIES: Final = ("stage_flows",)

# The report sections this page shows: only their queries run.
SECTIONS = ("funnel",)


def stage_label(order: int, stage: Stage) -> str:
    """The stage's name with its position: names repeat across pipelines, and a number keeps
    the charts' categories apart and in order."""
    return f"{order}. {stage.name}"


# -- cards and the bottleneck -------------------------------------------------------------------


def cards(view: View, pipeline: Pipeline, currency: str | None) -> None:
    locale = view.locale
    velocity = pipeline.sales_velocity_per_day
    items = (
        ("leads", c.fmt_number(pipeline.leads, locale), "funnel.leads", None),
        ("won", c.fmt_number(pipeline.won, locale), "funnel.won", None),
        ("open_deals", c.fmt_number(pipeline.open_deals, locale), "funnel.open_deals", None),
        ("velocity", c.fmt_money(velocity, currency, locale), "funnel.sales_velocity_per_day",
         t("funnel.velocity_unknown", locale) if velocity is None else None),
    )  # fmt: skip
    # Money is the widest value: its card gets more room so it is not cut off.
    columns = st.columns([1, 1, 1, 1.6])
    for column, (card, value, help_key, note) in zip(columns, items, strict=True):
        with column:
            c.kpi(t(f"funnel.card.{card}", locale), value, locale=locale, help_key=help_key,
                  note=note)  # fmt: skip


def bottleneck_note(view: View, pipeline: Pipeline, minimum: int) -> None:
    locale = view.locale
    stages = pipeline.stages
    bottleneck = pipeline.bottleneck_status_id
    found = [(i, s) for i, s in enumerate(stages, start=1) if s.status_id == bottleneck]
    if bottleneck is None or not found:
        st.info(t("funnel.no_bottleneck", locale, minimum=i18n.number(minimum, locale)),
                icon=":material/info:")  # fmt: skip
        return
    order, stage = found[0]
    st.warning(
        t("funnel.bottleneck", locale, stage=stage_label(order, stage).replace("]", "\\]"),
          pct=c.cell_pct(stage.conversion_to_next_pct, locale),
          reached=i18n.number(stage.reached, locale)),
        icon=":material/warning:",
    )  # fmt: skip


# -- charts -------------------------------------------------------------------------------------


def funnel_chart(view: View, pipeline: Pipeline) -> None:
    locale = view.locale
    stages = pipeline.stages
    st.subheader(t("funnel.reach", locale), help=c.tip("funnel.stages.reached", locale))
    last = len(stages)
    texts = [
        t("funnel.reach_text", locale, reached=i18n.number(s.reached, locale),
          pct=c.cell_pct(s.conversion_to_next_pct, locale) or "—")
        if i < last
        else t("funnel.reach_text_last", locale, reached=i18n.number(s.reached, locale),
               pct=c.cell_pct(s.conversion_to_next_pct, locale) or "—")
        for i, s in enumerate(stages, start=1)
    ]  # fmt: skip
    colours = [
        BOTTLENECK_COLOUR if s.status_id == pipeline.bottleneck_status_id else STAGE_COLOUR
        for s in stages
    ]
    fig = go.Figure(
        go.Funnel(
            y=[stage_label(i, s) for i, s in enumerate(stages, start=1)],
            x=[s.reached for s in stages],
            text=texts,
            textinfo="text",
            textposition="inside",
            marker={"color": colours},
            connector={"line": {"color": "#ccc", "width": 1}},
            hoverinfo="y+text",
        )
    )
    fig.update_layout(showlegend=False)
    # The widths speak through their labels: an axis of counts under a funnel says nothing more.
    charts.localise(fig, locale, height=max(240, 60 * len(stages)),
                    x=charts.Axis("count", hidden=True), y=charts.Axis("category"))  # fmt: skip
    c.plot(fig, key=f"funnel.reach.{pipeline.pipeline_id}")
    st.caption(t("funnel.reach_caption", locale))


def day_ticks(top: float, locale: Locale) -> tuple[list[float], list[str]]:
    """About five round tick values from 0 to ``top`` days, their labels by Babel (a decimal
    comma in pt-BR and es, never a "k")."""
    if top <= 0:
        return [0.0], [i18n.number(0, locale)]
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    digits = max(0, -math.floor(math.log10(step)) + (1 if step / power == 2.5 else 0))
    # One tick past the longest bar or mark (the epsilon: 0.3 / 0.1 is 2.999… in floats).
    values = [round(k * step, digits) for k in range(math.floor(top / step + 1e-9) + 2)]
    return values, [i18n.number(v, locale) for v in values]


def time_figure(pipeline: Pipeline, times: pd.DataFrame, locale: Locale) -> go.Figure | None:
    """A horizontal bar per stage of the median days its finished stays took (the report's
    ``median_hours_in_stage`` ÷ 24), a mark at the 80th percentile; None without a stay."""
    by_stage = {int(r["status_id"]): r for r in times.to_dict("records")}
    rows = [(i, s, by_stage[s.status_id]) for i, s in enumerate(pipeline.stages, start=1)
            if s.status_id in by_stage]  # fmt: skip
    if not rows:
        return None
    labels = [stage_label(i, s) for i, s, _ in rows]
    medians = [float(r["median"]) / 24 for _, _, r in rows]
    p80s = [float(r["p80"]) / 24 for _, _, r in rows]
    hovers = [
        t("funnel.time_hover", locale, stage=label, median=c.fmt_hours(float(r["median"]), locale),
          p80=c.fmt_hours(float(r["p80"]), locale), stays=i18n.number(int(r["n"]), locale))
        for label, (_, _, r) in zip(labels, rows, strict=True)
    ]  # fmt: skip
    # Room right of the longest P80 for its text.
    values, texts = day_ticks(1.4 * max(p80s + medians), locale)
    fig = go.Figure()
    fig.add_bar(
        y=labels, x=medians, orientation="h", name=t("funnel.time_median", locale),
        marker_color=[BOTTLENECK_COLOUR if s.status_id == pipeline.bottleneck_status_id
                      else STAGE_COLOUR for _, s, _ in rows],
        hovertext=hovers, hoverinfo="text",
    )  # fmt: skip
    # Both numbers right of the P80 mark, where no bar or mark can cover them.
    fig.add_scatter(
        y=labels, x=p80s, mode="markers+text", name=t("funnel.time_p80", locale),
        marker={"symbol": "line-ns", "size": 22, "line": {"width": 4, "color": P80_COLOUR}},
        # In hours under two days, as the table does: "0 dias" would hide a 30-minute stage.
        text=[t("funnel.time_text", locale, median=c.fmt_hours(float(r["median"]), locale),
                p80=c.fmt_hours(float(r["p80"]), locale)) for _, _, r in rows],
        textposition="middle right", hovertext=hovers, hoverinfo="text",
    )  # fmt: skip
    fig.update_layout(
        height=120 + 48 * len(rows),
        separators=c.separators(locale),
        xaxis={"title": t("funnel.axis_days", locale), "tickvals": values, "ticktext": texts,
               "range": [0, values[-1]], "automargin": True},
        # The first stage on top, as in the funnel above.
        yaxis={"autorange": "reversed", "type": "category", "automargin": True},
    )  # fmt: skip
    return fig


def time_chart(view: View, pipeline: Pipeline, times: pd.DataFrame) -> None:
    """Median days per stage, the number the stage table and ``metrics --json`` give, and the
    80th percentile: how long most leads wait, and how long the slow fifth waits. Both are
    computed in the database (the stays themselves, millions on a large account, never leave
    it)."""
    locale = view.locale
    st.subheader(
        t("funnel.time", locale), help=c.tip("funnel.stages.median_hours_in_stage", locale)
    )
    fig = time_figure(pipeline, times[times["pipeline_id"] == pipeline.pipeline_id], locale)
    if fig is None:
        st.info(t("funnel.time_empty", locale))
        return
    c.plot(fig, key=f"funnel.time.{pipeline.pipeline_id}")
    st.caption(t("funnel.time_caption", locale))


def abandonment_chart(view: View, pipeline: Pipeline) -> None:
    locale = view.locale
    st.subheader(t("funnel.abandonment", locale),
                 help=c.tip("funnel.stages.abandonment_pct", locale))  # fmt: skip
    stages = pipeline.stages
    if not any(s.reached for s in stages):
        st.info(t("funnel.cohort_empty", locale))
        return
    labels = [stage_label(i, s) for i, s in enumerate(stages, start=1)]
    texts = [t("funnel.abandonment_text", locale,
               pct=c.cell_pct(s.abandonment_pct, locale) or "—",
               lost=i18n.number(s.abandoned, locale), reached=i18n.number(s.reached, locale))
             for s in stages]  # fmt: skip
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=[s.abandonment_pct for s in stages],
        text=texts,
        textposition="auto",
        customdata=[charts.named(label, text) for label, text in zip(labels, texts, strict=True)],
        hovertemplate=charts.HOVER,
        marker_color=abandonment_colours(pipeline),
    )  # fmt: skip
    fig.update_layout(showlegend=False)
    charts.localise(fig, locale, height=340, x=charts.Axis("category"),
                    y=charts.Axis("percent", title=t("funnel.axis_abandonment", locale)))  # fmt: skip
    c.plot(fig, key=f"funnel.abandonment.{pipeline.pipeline_id}")
    if pipeline.bottleneck_status_id is not None:
        st.caption(t("funnel.abandonment_caption", locale))


def abandonment_colours(pipeline: Pipeline) -> list[str]:
    """The bottleneck the banner names in red, every other stage in the stage colour: the
    banner and the bars agree, whichever stage loses the most leads."""
    return [
        BOTTLENECK_COLOUR if s.status_id == pipeline.bottleneck_status_id else STAGE_COLOUR
        for s in pipeline.stages
    ]


Move = tuple[str, str, str, int]  # from, to, kind (a MOVE_COLOURS key), leads


def moves_of(pipeline: Pipeline, frame: pd.DataFrame, locale: Locale) -> list[Move]:
    """The cohort's moves out of this pipeline's stages (and out of won or lost, when a lead was
    reopened), most leads first: forward, back to an earlier stage, won, lost, or to another
    pipeline or a stage no longer listed."""
    pid = pipeline.pipeline_id
    order = {s.status_id: i for i, s in enumerate(pipeline.stages, start=1)}
    closed = {WON_STATUS_ID: t("status.won", locale), LOST_STATUS_ID: t("status.lost", locale)}

    def name(status: Any, pipeline_id: Any) -> str:
        if int(pipeline_id) != pid:
            return t("funnel.node_other_pipeline", locale)
        status = int(status)
        if status in order:
            return stage_label(order[status], pipeline.stages[order[status] - 1])
        return closed.get(status) or t("funnel.node_other_stage", locale)

    moves: list[Move] = []
    rows: list[dict[Any, Any]] = frame[frame["pipeline_id"] == pid].to_dict("records")
    for row in rows:
        source, target = int(row["status_id"]), int(row["next_status_id"])
        known = (*order, *closed)
        if int(row["next_pipeline_id"]) != pid or target not in known or source not in known:
            kind = "other"
        elif target == WON_STATUS_ID:
            kind = "won"
        elif target == LOST_STATUS_ID:
            kind = "lost"
        elif source in closed or order[target] < order[source]:
            kind = "back"  # to an earlier stage, or reopened after won or lost
        else:
            kind = "forward"
        moves.append((name(source, pid), name(target, row["next_pipeline_id"]), kind,
                      int(row["leads"])))  # fmt: skip
    return sorted(moves, key=lambda m: (-m[3], m[0], m[1]))


def flow_figure(moves: list[Move], locale: Locale) -> go.Figure:
    """The moves as ranked horizontal bars, "from → to", coloured by where they lead; each
    with its share of the moves out of its stage."""
    out_of: dict[str, int] = {}
    for source, _, _, leads in moves:
        out_of[source] = out_of.get(source, 0) + leads
    shown = moves[:TOP_MOVES]
    labels = [f"{source} → {target}" for source, target, _, _ in shown]
    fig = go.Figure()
    for kind, colour in MOVE_COLOURS.items():
        rows = [(label, m) for label, m in zip(labels, shown, strict=True) if m[2] == kind]
        if not rows:
            continue
        shares = [c.fmt_pct(100 * m[3] / out_of[m[0]], locale) for _, m in rows]
        fig.add_bar(
            y=[label for label, _ in rows], x=[m[3] for _, m in rows], orientation="h",
            name=t(f"funnel.move.{kind}", locale), marker_color=colour,
            text=[f"{i18n.number(m[3], locale)} · {share}"
                  for (_, m), share in zip(rows, shares, strict=True)],
            textposition="auto",
            hovertext=[t("funnel.move_hover", locale, source=m[0], target=m[1],
                         leads=i18n.number(m[3], locale), share=share)
                       for (_, m), share in zip(rows, shares, strict=True)],
            hoverinfo="text",
        )  # fmt: skip
    longest = max((m[3] for m in shown), default=0)
    charts.localise(fig, locale, height=140 + 34 * len(shown),
                    x=charts.Axis("count", title=t("funnel.axis_moves", locale),
                                  include=(longest,)),
                    y=charts.Axis("category"))  # fmt: skip
    fig.update_layout(
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
        legend={"traceorder": "normal"},
    )
    return fig


def flow_chart(view: View, pipeline: Pipeline, frame: pd.DataFrame) -> None:
    """Where the cohort's leads went from each stage, the most frequent moves first. Ranked bars
    rather than a Sankey diagram: a Sankey cannot draw a move back to an earlier stage without
    a loop across the whole chart, and its stage names overprint one another; a manager's
    question — where do most leads go, how many come back — is read off a ranked list."""
    locale = view.locale
    st.subheader(t("funnel.flows", locale), help=c.tip("concept.stage_history", locale))
    moves = moves_of(pipeline, frame, locale)
    if not moves:
        st.info(t("funnel.flows_empty", locale))
        return
    c.plot(flow_figure(moves, locale), key=f"funnel.flows.{pipeline.pipeline_id}")
    back = [m for m in moves if m[2] == "back"]
    notes = [t("funnel.flows_caption", locale)]
    if back:
        notes.append(t("funnel.flows_back", locale, moves=i18n.number(len(back), locale),
                       leads=i18n.number(sum(m[3] for m in back), locale)))  # fmt: skip
    rest = moves[TOP_MOVES:]
    if rest:
        notes.append(t("funnel.flows_rest", locale, moves=i18n.number(len(rest), locale),
                       leads=i18n.number(sum(m[3] for m in rest), locale)))  # fmt: skip
    st.caption(" ".join(notes))


# -- the stage table and its drill-down ---------------------------------------------------------


STAGE_COLUMNS: Final = (
    Column("order", "funnel.col.order", "integer"),
    Column("stage", "funnel.col.stage", tip="funnel.stages.name"),
    Column("reached", "funnel.col.reached", "integer", tip="funnel.stages.reached"),
    Column("conversion", "funnel.col.conversion", "percent",
           tip="funnel.stages.conversion_to_next_pct"),
    Column("avg", "funnel.col.avg", "hours", tip="funnel.stages.avg_hours_in_stage"),
    Column("median", "funnel.col.median", "hours", tip="funnel.stages.median_hours_in_stage"),
    Column("abandoned", "funnel.col.abandoned", "integer", tip="funnel.stages.abandoned"),
    Column("abandonment", "funnel.col.abandonment", "percent",
           tip="funnel.stages.abandonment_pct"),
)  # fmt: skip


def stage_table(view: View, pipeline: Pipeline) -> None:
    locale = view.locale
    stages = pipeline.stages
    st.subheader(t("funnel.table", locale), help=c.tip("funnel.stages", locale))
    values = pd.DataFrame(
        {
            "order": list(range(1, len(stages) + 1)),
            "stage": [s.name for s in stages],
            "reached": [s.reached for s in stages],
            "conversion": [s.conversion_to_next_pct for s in stages],
            "avg": [s.avg_hours_in_stage for s in stages],
            "median": [s.median_hours_in_stage for s in stages],
            "abandoned": [s.abandoned for s in stages],
            "abandonment": [s.abandonment_pct for s in stages],
        }
    )
    c.table(values, STAGE_COLUMNS, view=view, name=f"funnel_{pipeline.pipeline_id}",
            title=pipeline.name or t("funnel.table", locale))  # fmt: skip


def reached_drill_down(view: View, scope: metrics_data.Request, pipeline: Pipeline,
                       currency: str | None, subdomain: str | None) -> None:  # fmt: skip
    """The cohort leads that reached a stage: `drill_down` lists leads by column values, and
    "reached" is a range of stage orders, so the list is loaded here."""
    locale = view.locale
    pid = pipeline.pipeline_id
    # A toggle: an expander's body runs (and reads the leads) even while closed.
    if not st.toggle(t("funnel.drill_title", locale), key=f"funnel.drill.{pid}.open"):
        return
    with st.container(border=True):
        stages = [(i, s) for i, s in enumerate(pipeline.stages, start=1) if s.reached]
        if not stages:
            st.info(t("drill.none", locale))
            return
        labels = [
            t("funnel.drill_row", locale, stage=stage_label(i, s),
              count=i18n.number(s.reached, locale))
            for i, s in stages
        ]  # fmt: skip
        picked = st.selectbox(t("drill.pick", locale), labels, key=f"funnel.drill.{pid}.{locale}")
        order = stages[labels.index(picked)][0]
        c.paged_leads(view, scope, "created", key=f"funnel.drill.{pid}.{order}.table",
                      name=f"leads_funnel_{pid}_{order}", currency=currency,
                      subdomain=subdomain, reached=(pid, order))  # fmt: skip


# -- the page -----------------------------------------------------------------------------------


def pipeline_section(view: View, scope: metrics_data.Request, report: Report,
                     pipeline: Pipeline, frames: dict[str, pd.DataFrame] | None,
                     minimum: int, subdomain: str | None) -> None:  # fmt: skip
    locale, currency = view.locale, report.currency
    cards(view, pipeline, currency)
    if not pipeline.stages:
        st.info(t("funnel.no_stages", locale))
        return
    if not pipeline.leads:
        # Velocity and open deals do not depend on the cohort; the rest does.
        st.info(t("funnel.cohort_empty", locale))
        return
    bottleneck_note(view, pipeline, minimum)
    funnel_chart(view, pipeline)
    if frames is not None:
        time_chart(view, pipeline, frames["stage_times"])
    abandonment_chart(view, pipeline)
    if frames is not None:
        flow_chart(view, pipeline, frames["stage_flows"])
    stage_table(view, pipeline)
    reached_drill_down(view, scope, pipeline, currency, subdomain)


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("funnel.title", locale))
    page = c.page_report(view, SECTIONS)
    if page is None:
        return
    scope, report, sla = page.scope, page.report, page.sla
    st.caption(
        t("funnel.caption", locale, range=i18n.date_range(view.start, view.end, locale),
          tz=report.period.timezone, currency=report.currency or "—")
    )  # fmt: skip
    pipelines = section(report.funnel, "funnel")
    if not pipelines:
        st.info(t("funnel.no_pipelines", locale))
        return

    def load_charts() -> tuple[dict[str, pd.DataFrame], int]:
        acc = metrics_data.load_account(scope.url, scope.version)
        minimum = metrics_data.params_of(scope, acc, sla).bottleneck_min_reached
        frames = {**metrics_data.load_series(scope, SERIES, sla),
                  "stage_times": metrics_data.load_stage_times(scope, sla)}  # fmt: skip
        return frames, minimum

    loaded, error = metrics_data.safe(load_charts)
    frames: dict[str, pd.DataFrame] | None = None
    minimum = MetricParams.bottleneck_min_reached  # the default, should the loading fail
    if error is not None:
        c.show_error(error, locale)
    else:
        frames, minimum = loaded
    subdomain = view.account.subdomain if view.account is not None else None
    subdomain = subdomain or report.model.get("subdomain") or None
    if len(pipelines) == 1:
        st.header(pipelines[0].name, divider="gray")
        pipeline_section(view, scope, report, pipelines[0], frames, minimum, subdomain)
        return
    tabs = st.tabs([str(p.name) for p in pipelines])
    for tab, pipeline in zip(tabs, pipelines, strict=True):
        with tab:
            pipeline_section(view, scope, report, pipeline, frames, minimum, subdomain)


if __name__ == "__main__":
    render()

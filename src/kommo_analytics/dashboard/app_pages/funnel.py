"""2 Funnel: per pipeline, how far the period's leads got, where they stall and where they drop
out. Every number is the one `kommo-analytics metrics --json` prints under ``funnel`` for the same
period and filters; the box plots and the Sankey diagram draw the stays and moves behind them.

The cohort of a pipeline is its leads created in the period; a lead *reached* a stage when it
passed through it or any later one, or was won.
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kommo_analytics.dashboard import charts, filters, metrics_data
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard.filters import View
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.metrics.results import Pipeline, Report, Stage, section
from kommo_analytics.service.leads import LOST_STATUS_ID, WON_STATUS_ID
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

STAGE_COLOUR: Final = "#4C78A8"
BOTTLENECK_COLOUR: Final = "#E45756"
WON_COLOUR: Final = "#54A24B"
OTHER_COLOUR: Final = "#BAB0AC"
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
        t("funnel.bottleneck", locale, stage=stage_label(order, stage),
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


def time_chart(view: View, pipeline: Pipeline, boxes: pd.DataFrame) -> None:
    """A box per stage of the hours its finished stays took: the quartiles and the lowest and
    highest stay, computed in the database (the stays themselves, millions on a large account,
    never leave it)."""
    locale = view.locale
    st.subheader(
        t("funnel.time", locale), help=c.tip("funnel.stages.median_hours_in_stage", locale)
    )
    boxes = boxes[boxes["pipeline_id"] == pipeline.pipeline_id]
    if boxes.empty:
        st.info(t("funnel.time_empty", locale))
        return
    by_stage = {int(r["status_id"]): r for r in boxes.to_dict("records")}
    fig = go.Figure()
    for order, stage in enumerate(pipeline.stages, start=1):
        box = by_stage.get(stage.status_id)
        if box is None:
            continue
        label = stage_label(order, stage)
        fig.add_box(
            x=[label], name=label, q1=[box["q1"]], median=[box["median"]], q3=[box["q3"]],
            lowerfence=[box["low"]], upperfence=[box["high"]], marker_color=STAGE_COLOUR,
            boxpoints=False, showlegend=False,
        )  # fmt: skip
    fig.update_layout(height=380, yaxis={"title": t("funnel.axis_hours", locale), "type": "log"})
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
    fig = go.Figure()
    fig.add_bar(
        x=[stage_label(i, s) for i, s in enumerate(stages, start=1)],
        y=[s.abandonment_pct for s in stages],
        text=[
            t("funnel.abandonment_text", locale, pct=c.cell_pct(s.abandonment_pct, locale) or "—",
              lost=i18n.number(s.abandoned, locale),
              reached=i18n.number(s.reached, locale))
            for s in stages
        ],
        textposition="auto",
        hoverinfo="x+text",
        marker_color=[
            BOTTLENECK_COLOUR if s.status_id == pipeline.bottleneck_status_id
            else "#F58518"
            for s in stages
        ],
    )  # fmt: skip
    fig.update_layout(
        height=340,
        showlegend=False,
        yaxis={"title": t("funnel.axis_abandonment", locale), "rangemode": "tozero"},
    )
    c.plot(fig, key=f"funnel.abandonment.{pipeline.pipeline_id}")


def sankey_nodes(pipeline: Pipeline, locale: Locale) -> tuple[list[str], dict[Any, int]]:
    """The diagram's nodes: the pipeline's stages in order, won, lost, and, when leads left for
    another pipeline or a stage no longer listed, one node for each of those."""
    labels = [stage_label(i, s) for i, s in enumerate(pipeline.stages, start=1)]
    index: dict[Any, int] = {s.status_id: i for i, s in enumerate(pipeline.stages)}
    index[WON_STATUS_ID] = len(labels)
    labels.append(t("status.won", locale))
    index[LOST_STATUS_ID] = len(labels)
    labels.append(t("status.lost", locale))
    return labels, index


def flow_chart(view: View, pipeline: Pipeline, frame: pd.DataFrame) -> None:
    locale = view.locale
    st.subheader(t("funnel.flows", locale), help=c.tip("concept.stage_history", locale))
    pid = pipeline.pipeline_id
    moves = frame[frame["pipeline_id"] == pid]
    if moves.empty:
        st.info(t("funnel.flows_empty", locale))
        return
    labels, index = sankey_nodes(pipeline, locale)
    colours = [STAGE_COLOUR] * len(pipeline.stages) + [WON_COLOUR, BOTTLENECK_COLOUR]

    def node(status: Any, pipeline_id: Any, side: str) -> int:
        if int(pipeline_id) != pid:
            key: Any = ("pipeline", side)
            label = t("funnel.node_other_pipeline", locale)
        elif int(status) in index:
            return index[int(status)]
        else:
            key, label = ("stage", side), t("funnel.node_other_stage", locale)
        if key not in index:
            index[key] = len(labels)
            labels.append(label)
            colours.append(OTHER_COLOUR)
        return index[key]

    sources, targets = [], []
    for row in moves.itertuples(index=False):
        sources.append(node(row.status_id, row.pipeline_id, "from"))
        targets.append(node(row.next_status_id, row.next_pipeline_id, "to"))
    values = [int(n) for n in moves["leads"]]
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": labels, "color": colours, "pad": 18, "thickness": 16},
            link={"source": sources, "target": targets, "value": values,
                  "color": "rgba(120,120,120,0.25)"},
        )
    )  # fmt: skip
    fig.update_layout(height=420)
    c.plot(fig, key=f"funnel.flows.{pid}")
    st.caption(t("funnel.flows_caption", locale))


# -- the stage table and its drill-down ---------------------------------------------------------


def stage_table(view: View, pipeline: Pipeline) -> None:
    locale = view.locale
    stages = pipeline.stages
    st.subheader(t("funnel.table", locale), help=c.tip("funnel.stages", locale))
    orders = list(range(1, len(stages) + 1))
    shown = pd.DataFrame(
        {
            "order": [str(o) for o in orders],
            "stage": [s.name for s in stages],
            "reached": [c.fmt_number(s.reached, locale) for s in stages],
            "conversion": [c.cell_pct(s.conversion_to_next_pct, locale) for s in stages],
            "avg": [c.cell_hours(s.avg_hours_in_stage, locale) for s in stages],
            "median": [c.cell_hours(s.median_hours_in_stage, locale) for s in stages],
            "abandoned": [c.fmt_number(s.abandoned, locale) for s in stages],
            "abandonment": [c.cell_pct(s.abandonment_pct, locale) for s in stages],
        }
    )
    labels = {
        "order": ("funnel.col.order", None),
        "stage": ("funnel.col.stage", "funnel.stages.name"),
        "reached": ("funnel.col.reached", "funnel.stages.reached"),
        "conversion": ("funnel.col.conversion", "funnel.stages.conversion_to_next_pct"),
        "avg": ("funnel.col.avg", "funnel.stages.avg_hours_in_stage"),
        "median": ("funnel.col.median", "funnel.stages.median_hours_in_stage"),
        "abandoned": ("funnel.col.abandoned", "funnel.stages.abandoned"),
        "abandonment": ("funnel.col.abandonment", "funnel.stages.abandonment_pct"),
    }
    config = c.text_columns(labels, locale, left=("stage",))
    export = pd.DataFrame(
        {
            t("funnel.col.order", locale): orders,
            t("funnel.col.stage", locale): [s.name for s in stages],
            t("funnel.col.status_id", locale): [s.status_id for s in stages],
            t("funnel.col.reached", locale): [s.reached for s in stages],
            t("funnel.col.conversion", locale): [s.conversion_to_next_pct for s in stages],
            t("funnel.col.avg_hours", locale): [s.avg_hours_in_stage for s in stages],
            t("funnel.col.median_hours", locale): [s.median_hours_in_stage for s in stages],
            t("funnel.col.abandoned", locale): [s.abandoned for s in stages],
            t("funnel.col.abandonment", locale): [s.abandonment_pct for s in stages],
        }
    )
    c.table(shown, view=view, name=f"funnel_{pipeline.pipeline_id}", column_config=config,
            export=export)  # fmt: skip


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
        time_chart(view, pipeline, frames["stage_boxes"])
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
                  "stage_boxes": metrics_data.load_stage_boxes(scope, sla)}  # fmt: skip
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

"""Plotly figures that speak the viewer's language.

Streamlit does not load Plotly.js's locale bundles, and Plotly.js alone writes dates in English
("Nov 8") and numbers with SI suffixes ("25.89k"). So every piece of text a chart shows is put
into the figure here, already formatted by Babel: tick positions are chosen in Python and their
labels written out (``tickvals``/``ticktext``), hover texts are pre-formatted strings
(``customdata`` shown by :data:`HOVER`), and ``layout.separators`` follows the locale for
anything Plotly.js still formats by itself.

An axis is described by its kind (:class:`Axis`): dates by day, week or month; counts (whole
ticks only); money in the account's currency; percentages; days; hours; plain numbers;
categories. Axes of quantities that cannot be negative start at zero, two y axes share their
zero, and legends sit below the plot, where a phone has room for them.

Pure Plotly, pandas and Babel: no Streamlit, so every builder is testable without a server.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final, Literal

import pandas as pd
import plotly.graph_objects as go
from babel.dates import format_skeleton
from babel.numbers import get_decimal_symbol, get_group_symbol

from kommo_analytics.metrics.series import Grain, bucket_start
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

AxisKind = Literal["date", "count", "money", "percent", "days", "hours", "number", "category"]

# Every hover box shows the trace's pre-formatted text and nothing else (no trace name box).
HOVER: Final = "%{customdata}<extra></extra>"

# The palette of every chart, so a channel keeps its colour from page to page.
CHANNEL_COLOURS: Final = {
    "paid": "#4C78A8",
    "referral": "#54A24B",
    "organic": "#F58518",
    "outbound": "#B279A2",
    "other": "#9D755D",
    "unknown": "#BAB0AC",
}
OTHER_CHANNEL_COLOUR: Final = "#72B7B2"
WON_COLOUR: Final = "#54A24B"
LOST_COLOUR: Final = "#E45756"
LINE_COLOUR: Final = "#222222"
# A goal is a mark to reach, not a bad outcome: neutral, since red means the worst everywhere.
GOAL_COLOUR: Final = LINE_COLOUR

# About this many ticks on a value axis: readable on a phone, enough to read a bar against.
_TICKS: Final = 5
# Date ticks: at most this many labels ("8 de nov." is wide).
_DATE_TICKS: Final = 7
_DAY_STEPS: Final = (1, 2, 7, 14, 28, 56)
_WEEK_STEPS: Final = (1, 2, 4, 8, 13, 26)
_MONTH_STEPS: Final = (1, 2, 3, 6, 12, 24)
_HALF_BUCKET: Final[dict[str, timedelta]] = {
    "day": timedelta(hours=12),
    "week": timedelta(days=3, hours=12),
    "month": timedelta(days=15),
}
_WHOLE_KINDS: Final = frozenset({"count", "money"})


@dataclass(frozen=True)
class Axis:
    """What an axis shows, so its ticks, range and hover text can be written for the reader.

    ``title``: the axis title (already translated). ``grain``: a date axis's bucket. ``currency``:
    a money axis's ISO code (none: plain whole numbers). ``top``: a fixed upper end (100 for a
    share). ``include``: values the range must reach though no trace holds them (a goal line).
    ``hidden``: no ticks or line (a funnel's widths speak through their labels).
    """

    kind: AxisKind
    title: str | None = None
    grain: Grain = "day"
    currency: str | None = None
    top: float | None = None
    include: tuple[float, ...] = ()
    hidden: bool = False


# -- formatting -----------------------------------------------------------------------------------


def separators(locale: Locale) -> str:
    """Plotly's ``separators`` for the locale (decimal mark, then thousands)."""
    babel = i18n.babel_locale(locale)
    return get_decimal_symbol(babel) + get_group_symbol(babel)


def _decimals(step: float) -> int:
    """How many decimals a tick step needs (0 for whole steps, 1 for 2.5, 2 for 0.25)."""
    for digits in range(4):
        if abs(step * 10**digits - round(step * 10**digits)) < 1e-9:
            return digits
    return 3


def tick_text(kind: AxisKind, value: float, locale: Locale, currency: str | None = None,
              step: float = 1.0) -> str:  # fmt: skip
    """A tick label: whole money in the currency ("R$ 25.000"), "25 %", or a number, always in
    full with the locale's marks — never an SI suffix, which reads as a typo in Portuguese."""
    digits = 0 if kind in _WHOLE_KINDS else _decimals(step)
    value = round(value, digits) + 0.0  # + 0.0: no "-0"
    if kind == "money" and currency:
        return i18n.money(value, currency, locale, whole=True)
    text = i18n.number(value, locale)
    return f"{text} %" if kind == "percent" else text


def value_text(kind: AxisKind, value: float | None, locale: Locale,
               currency: str | None = None) -> str:  # fmt: skip
    """A value as a hover box shows it: money with cents, rates and durations to one decimal,
    counts whole; "—" for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind == "money":
        if currency:
            return i18n.money(round(value, 2), currency, locale)
        return i18n.number(round(value, 2), locale)
    if kind == "count":
        return i18n.number(round(value), locale)
    if kind == "percent":
        return f"{i18n.number(round(value, 1), locale)} %"
    if kind == "days":
        return t("unit.days", locale, value=i18n.number(round(value, 1), locale))
    if kind == "hours":
        return t("unit.hours", locale, value=i18n.number(round(value, 1), locale))
    return i18n.number(round(value, 1), locale)


def bucket_label(day: date, grain: Grain, locale: Locale) -> str:
    """A date bucket in full, for a hover box: "8 de nov. de 2026", the week starting on that
    Monday, or "novembro de 2026"."""
    if grain == "month":
        return i18n.month_name(day, locale)
    full = format_skeleton("yMMMd", day, locale=i18n.babel_locale(locale))
    return t("charts.week_of", locale, day=full) if grain == "week" else full


def stacked_counts(
    buckets: pd.DataFrame,
    *,
    by: str,
    value: str,
    order: Sequence[str],
    name_of: Callable[[str], str],
    colour_of: Callable[[str], str],
    grain: Grain,
    locale: Locale,
) -> go.Figure:
    """Counts per date bucket stacked by `by` (leads per channel, actions per medium), in
    `order`, each bar's hover naming its bucket and its series; the axes are left to
    :func:`localise`, which the caller runs with its own titles."""
    fig = go.Figure()
    for key in order:
        rows = buckets[buckets[by] == key]
        name = name_of(key)
        fig.add_bar(
            x=rows["bucket"], y=rows[value], name=name, marker_color=colour_of(key),
            customdata=[lines(bucket_label(b, grain, locale),
                              named(name, value_text("count", v, locale)))
                        for b, v in zip(rows["bucket"], rows[value], strict=True)],
            hovertemplate=HOVER,
        )  # fmt: skip
    fig.update_layout(barmode="stack")
    return fig


def hour_label(hour: int, locale: Locale) -> str:
    """An hour of the day as the locale writes a time ("08:00", "8:00")."""
    return format_skeleton("Hm", time(hour), locale=i18n.babel_locale(locale))


def lines(*parts: str) -> str:
    """A hover box of several lines."""
    return "<br>".join(p for p in parts if p)


def named(name: str, value: str) -> str:
    """One "name: value" line of a hover box."""
    return f"{name}: {value}"


# -- ticks ------------------------------------------------------------------------------------------


def nice_step(span: float, *, whole: bool, ticks: int = _TICKS) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about `ticks` intervals over
    `span`; at least 1 on a whole axis, and never 2.5 there below 25."""
    raw = max(span, 1e-9) / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if whole and (step < 1 or (multiple == 2.5 and step < 25)):
            continue
        if step >= raw:
            return step
    return 10 * magnitude


def value_ticks(low: float, high: float, *, whole: bool, top: float | None = None,
                ticks: int = _TICKS) -> tuple[list[float], float, float]:  # fmt: skip
    """Tick values and the axis range for data from `low` to `high` (zero always included)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if top is not None:
        high = max(high, top)
    if high - low <= 0:
        high = low + (ticks if whole else 1.0)
    step = nice_step(high - low, whole=whole, ticks=ticks)
    first = math.floor(low / step + 1e-9) * step
    last = top if top is not None else math.ceil(high / step - 1e-9) * step
    count = round((last - first) / step)
    values = [first + i * step for i in range(count + 1)]
    if top is not None:
        values = [v for v in values if v <= top + 1e-9]
    return values, first, last


def date_ticks(days: Sequence[date], grain: Grain) -> list[date]:
    """At most about seven bucket starts, evenly spaced in whole buckets, from the first."""
    if not days:
        return []
    first, last = min(days), max(days)
    if grain == "month":
        months = (last.year - first.year) * 12 + last.month - first.month
        step = next((s for s in _MONTH_STEPS if months / s < _DATE_TICKS), _MONTH_STEPS[-1])
        out, current = [], first
        while current <= last:
            out.append(current)
            index = current.month - 1 + step
            current = date(current.year + index // 12, index % 12 + 1, 1)
        return out
    unit = 7 if grain == "week" else 1
    buckets = (last - first).days // unit
    steps = _WEEK_STEPS if grain == "week" else _DAY_STEPS
    step = next((s for s in steps if buckets / s < _DATE_TICKS), steps[-1])
    return [first + timedelta(days=unit * step * i) for i in range(buckets // step + 1)]


def date_tick_text(day: date, grain: Grain, locale: Locale) -> str:
    if grain == "month":
        return format_skeleton("yMMM", day, locale=i18n.babel_locale(locale))
    return i18n.day_month(day, locale)


# -- series ---------------------------------------------------------------------------------------


def complete(frame: pd.DataFrame, start: date, end: date, grain: Grain,
             keys: tuple[str, ...] = ()) -> pd.DataFrame:  # fmt: skip
    """A bucketed series (column ``bucket``, as :func:`metrics.series.rebucket` returns) with
    every bucket of the period, a bucket without rows holding 0 in every value column.

    Zero, not a gap: the series are counts and sums of what happened (leads, deals, revenue)
    over a period the warehouse holds whole, so a day without a sale had revenue 0 — drawing a
    line straight across it would invent sales that did not happen, and a gap would say "we do
    not know". Rates and averages (undefined without data) must not go through here. `end` is
    the period's last day already cut at today: later days have not happened yet."""
    buckets: list[date] = []
    current = bucket_start(start, grain)
    while current <= end:
        buckets.append(current)
        current = bucket_start(current + timedelta(days=32 if grain == "month" else
                                                   7 if grain == "week" else 1), grain)  # fmt: skip
    values = [c for c in frame.columns if c not in ("bucket", *keys)]
    if keys:
        combos = frame[list(keys)].drop_duplicates()
        if combos.empty:
            return frame
        grid = pd.DataFrame({"bucket": buckets}).merge(combos, how="cross")
    else:
        grid = pd.DataFrame({"bucket": buckets})
    data = frame.copy()
    data["bucket"] = [d if isinstance(d, date) else pd.Timestamp(d).date() for d in data["bucket"]]
    out = grid.merge(data, on=["bucket", *keys], how="left")
    for column in values:
        out[column] = pd.to_numeric(out[column], errors="coerce").fillna(0)
    return out.sort_values(["bucket", *keys]).reset_index(drop=True)


def histogram(values: Iterable[float], *, max_bins: int = 30) -> list[tuple[int, int, int]]:
    """Whole-number bins (``low``, ``high`` inclusive, count) of non-negative values, at most
    `max_bins`, each a round width: counted here so the hover box can say which days a bar
    holds in the reader's words (Plotly's own bins would show "10-19.99")."""
    data = [v for v in values if v is not None and not math.isnan(v)]
    if not data:
        return []
    top = max(0.0, max(data))
    width = int(nice_step(top + 1, whole=True, ticks=max_bins))
    counts: dict[int, int] = {}
    for v in data:
        index = int(max(0.0, v) // width)
        counts[index] = counts.get(index, 0) + 1
    last = max(counts)
    return [(i * width, (i + 1) * width - 1, counts.get(i, 0)) for i in range(last + 1)]


# -- applying it to a figure ------------------------------------------------------------------------


def phone_layout(fig: go.Figure) -> None:
    """What every figure shares: the legend in a row below the plot (a phone has no room beside
    it) and small margins. Applied by `components.plot` to every figure shown."""
    margin = fig.layout.margin
    wanted = {"l": 10, "r": 10, "t": 40, "b": 10}
    fig.update_layout(
        # A margin already set (room for reference labels above the plot) is kept.
        margin={k: v if getattr(margin, k) is None else getattr(margin, k)
                for k, v in wanted.items()},
        legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom",
                "x": 0, "xanchor": "left", "title": {"text": ""}, "traceorder": "normal"},
    )  # fmt: skip


def _items(values: Any) -> list[Any]:
    """A trace's data as a list (Plotly keeps a pandas column as a NumPy array)."""
    return [] if values is None else list(values)


def _numbers(values: Any) -> list[float]:
    out = []
    for v in _items(values):
        try:
            number = float(v)
        except (TypeError, ValueError):
            continue
        if not math.isnan(number):
            out.append(number)
    return out


def _extent(fig: go.Figure, axis: str) -> tuple[float, float] | None:
    """The lowest and highest value the traces draw on `axis` ("x", "y" or "y2"), stacked bars
    summed per position (positives and negatives apart)."""
    letter, ref = axis[0], axis if len(axis) > 1 else axis[0]
    stacked = fig.layout.barmode in ("stack", "relative")
    found: list[float] = []
    stacks: dict[tuple[str, Any], float] = {}
    for trace in fig.data:
        if trace.type not in ("bar", "scatter"):
            continue
        on = getattr(trace, f"{letter}axis", None) or letter
        if on != ref:
            continue
        horizontal = trace.type == "bar" and trace.orientation == "h"
        # The value axis of a bar is y, or x when it lies down; a scatter has values on both.
        if trace.type == "bar" and (letter == "x") != horizontal:
            continue
        values = trace.x if letter == "x" else trace.y
        positions = trace.y if letter == "x" else trace.x
        if trace.type == "bar" and stacked:
            for position, value in zip(_items(positions), _items(values), strict=False):
                number = _numbers([value])
                if number:
                    key = ("+" if number[0] >= 0 else "-", str(position))
                    stacks[key] = stacks.get(key, 0.0) + number[0]
        else:
            found.extend(_numbers(values))
    found.extend(stacks.values())
    return (min(found), max(found)) if found else None


def _value_axis(fig: go.Figure, name: str, spec: Axis, locale: Locale) -> tuple[float, float]:
    extent = _extent(fig, name) or (0.0, 0.0)
    low = min(extent[0], *spec.include) if spec.include else extent[0]
    high = max(extent[1], *spec.include) if spec.include else extent[1]
    whole = spec.kind in _WHOLE_KINDS
    # Fewer ticks across than up: a phone's width holds about four money labels side by side.
    values, first, last = value_ticks(low, high, whole=whole, top=spec.top,
                                      ticks=4 if name.startswith("x") else _TICKS)  # fmt: skip
    step = values[1] - values[0] if len(values) > 1 else 1.0
    # A little room above the top tick, so a marker on it is not cut in half.
    top = last + (0 if spec.top is not None else 0.03 * (last - first))
    _set_axis(fig, name, {
        "tickmode": "array", "tickvals": values,
        "ticktext": [tick_text(spec.kind, v, locale, spec.currency, step) for v in values],
        "range": [first, top], "zeroline": True,
    })  # fmt: skip
    return first, top


def _date_axis(fig: go.Figure, name: str, spec: Axis, locale: Locale) -> None:
    letter = name[0]
    stamps = [pd.Timestamp(v) for trace in fig.data
              for v in _items(getattr(trace, letter, None)) if v is not None]  # fmt: skip
    if not stamps:
        return
    days = sorted({s.date() for s in stamps})
    ticks = date_ticks(days, spec.grain)
    if any(s != s.normalize() for s in stamps):  # moments (a run's time): whole days around them
        low, high = datetime.combine(days[0], time()), datetime.combine(days[-1], time())
        high += timedelta(days=1)
    else:  # buckets: half a bucket on each side, so the first and last bars are whole
        half = _HALF_BUCKET[spec.grain]
        low = datetime.combine(days[0], time()) - half
        high = datetime.combine(days[-1], time()) + half
    _set_axis(fig, name, {
        "type": "date", "tickmode": "array", "tickvals": [d.isoformat() for d in ticks],
        "ticktext": [date_tick_text(d, spec.grain, locale) for d in ticks],
        "range": [low.isoformat(), high.isoformat()],
    })  # fmt: skip


def _set_axis(fig: go.Figure, name: str, settings: dict[str, Any]) -> None:
    layout_name = {"x": "xaxis", "y": "yaxis", "y2": "yaxis2", "x2": "xaxis2"}[name]
    fig.update_layout({layout_name: settings})


def align_zeros(fig: go.Figure, left: tuple[float, float], right: tuple[float, float]) -> None:
    """Extend the range of the y axis whose zero sits lower so both zeros share one height
    (two zeros at different heights make a bar and a line read as if one were negative)."""

    def below(r: tuple[float, float]) -> float:  # the share of the axis under zero
        return -r[0] / (r[1] - r[0]) if r[1] > r[0] else 0.0

    share = max(below(left), below(right))
    if share <= 0 or share >= 1:
        return
    for name, (low, high) in (("yaxis", left), ("yaxis2", right)):
        if below((low, high)) < share:
            fig.update_layout({name: {"range": [-share * high / (1 - share), high]}})


def localise(
    fig: go.Figure,
    locale: Locale,
    *,
    x: Axis | None = None,
    y: Axis | None = None,
    y2: Axis | None = None,
    height: int | None = None,
) -> go.Figure:
    """Make `fig` (its traces added) speak `locale`: each described axis gets its ticks and
    labels written by Babel, a range from zero for quantities that cannot be negative, and the
    y axes' zeros aligned; the legend goes below the plot. Returns `fig`."""
    fig.update_layout(separators=separators(locale), hoverlabel={"namelength": -1})
    if height is not None:
        fig.update_layout(height=height)
    phone_layout(fig)
    ranges: dict[str, tuple[float, float]] = {}
    for name, spec in (("x", x), ("y", y), ("y2", y2)):
        if spec is None:
            continue
        settings: dict[str, Any] = {"fixedrange": True, "automargin": True}
        if spec.title is not None:
            settings["title"] = {"text": spec.title}
        if spec.hidden:
            settings.update(visible=False)
        if name == "y2":
            settings.update(overlaying="y", side="right", showgrid=False)
        _set_axis(fig, name, settings)
        if spec.hidden:
            continue
        if spec.kind == "date":
            _date_axis(fig, name, spec, locale)
        elif spec.kind == "category":
            _set_axis(fig, name, {"type": "category"})
        else:
            ranges[name] = _value_axis(fig, name, spec, locale)
    if "y" in ranges and "y2" in ranges:
        align_zeros(fig, ranges["y"], ranges["y2"])
    if "x" in ranges:
        # Plotly.js hides a tick label that would stick out of the figure, and the first and
        # last value ticks sit on its edges ("R$ 0", "100 %"): room for half a label each side.
        fig.update_layout(margin={"l": 36, "r": 36})
    return fig


def colorbar(kind: AxisKind, high: float, locale: Locale, title: str,
             top: float | None = None) -> dict[str, Any]:  # fmt: skip
    """A heatmap's colour bar with ticks written like an axis's."""
    values, _, _ = value_ticks(0.0, high, whole=kind in _WHOLE_KINDS, top=top)
    step = values[1] - values[0] if len(values) > 1 else 1.0
    return {"title": {"text": title}, "tickmode": "array", "tickvals": values,
            "ticktext": [tick_text(kind, v, locale, step=step) for v in values]}  # fmt: skip


@dataclass(frozen=True)
class Reference:
    """A vertical line at `at` on the x axis, with its label (a goal, a median, a forecast)."""

    at: float
    label: str
    colour: str = LINE_COLOUR
    dash: str = "dash"
    width: int = 2


def reference_lines(fig: go.Figure, references: Sequence[Reference]) -> None:
    """Vertical lines whose labels never overlap: each label has its own row above the plot,
    the lowest row for the leftmost line, and hangs toward the middle of the plot so it is not
    cut at either edge. Call it after :func:`localise` (it reads the axis's range)."""
    ordered = sorted(references, key=lambda r: r.at)
    if not ordered:
        return
    shown = fig.layout.xaxis.range  # set by `localise`, which runs first
    span = list(shown) if shown else [ordered[0].at, ordered[-1].at]
    middle = (float(span[0]) + float(span[-1])) / 2
    for row, ref in enumerate(ordered):
        fig.add_shape(type="line", x0=ref.at, x1=ref.at, y0=0, y1=1, yref="paper",
                      line={"color": ref.colour, "dash": ref.dash, "width": ref.width})  # fmt: skip
        fig.add_annotation(
            x=ref.at, y=1, yref="paper", yshift=4 + 18 * row, text=ref.label, showarrow=False,
            xanchor="left" if ref.at <= middle else "right", yanchor="bottom",
            font={"color": ref.colour, "size": 12},
        )  # fmt: skip
    margin_top = 24 + 18 * len(ordered)
    fig.update_layout(margin={"t": margin_top})


def channel_colours(keys: Sequence[str]) -> dict[str, str]:
    return {k: CHANNEL_COLOURS.get(k, OTHER_CHANNEL_COLOUR) for k in keys}


def figure_texts(fig: go.Figure | dict[str, Any]) -> list[str]:
    """Every text a figure shows a reader — tick labels, titles, trace names, hover and bar
    texts, annotations — for the tests that read a figure as a person would."""
    spec = fig.to_plotly_json() if isinstance(fig, go.Figure) else fig
    found: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list | tuple):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in _TEXT_KEYS:
            found.append(node)

    walk(spec)
    return found


_TEXT_KEYS: Final = frozenset({"ticktext", "text", "customdata", "name", "hovertext"})


__all__ = [
    "CHANNEL_COLOURS",
    "HOVER",
    "Axis",
    "Reference",
    "align_zeros",
    "bucket_label",
    "channel_colours",
    "colorbar",
    "complete",
    "date_ticks",
    "figure_texts",
    "histogram",
    "hour_label",
    "lines",
    "localise",
    "named",
    "nice_step",
    "phone_layout",
    "reference_lines",
    "separators",
    "tick_text",
    "value_text",
    "value_ticks",
]

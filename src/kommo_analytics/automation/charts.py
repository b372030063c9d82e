"""The weekly report's charts as static SVG, drawn by matplotlib.

The Agg backend is chosen before pyplot is touched: a scheduler on a server has no display, and
nothing here may open a window or fetch anything. The SVG keeps its text as text
(``svg.fonttype = "none"``) so WeasyPrint sets it in the same fonts as the page, and the PDF's
axis labels can be searched and read back. Every label — day, money, count — is formatted by the
Babel helpers of :mod:`kommo_analytics.text.i18n`, so a pt-BR axis reads "R$ 25 mil" and
"8 de nov.", never an English month or a decimal point.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import Final

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale

BAR: Final = "#3b6fb6"
LINE: Final = "#2e8b57"
GRID: Final = "#d9d9d9"
SIZE: Final = (7.0, 2.4)  # inches: the width of an A4 page's text column


def _style(figure: Figure) -> None:
    for axes in figure.axes:
        axes.spines[["top", "right"]].set_visible(False)
        axes.grid(axis="y", color=GRID, linewidth=0.6)
        axes.set_axisbelow(True)
        axes.tick_params(labelsize=8)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kommo-weekly"}):
        # metadata Date=None: the same data give the same file (no timestamp inside).
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    return buffer.getvalue()


def weekly_trend(
    mondays: Sequence[date],
    values: Sequence[float],
    *,
    title: str,
    locale: Locale,
    currency: str | None = None,
    money: bool = False,
) -> str:
    """One bar per week (labelled by its Monday), the last one — the report's week —
    emphasised; values are money when ``money`` (compact, in ``currency``), else counts."""
    figure, axes = plt.subplots(figsize=SIZE)
    positions = list(range(len(mondays)))
    colours = [BAR] * len(mondays)
    if colours:
        colours[-1] = LINE
    axes.bar(positions, list(values), color=colours, width=0.6)
    axes.set_xticks(positions, [i18n.day_month(day, locale) for day in mondays])
    if money:
        axes.yaxis.set_major_formatter(
            FuncFormatter(lambda v, _: i18n.compact_money(v, currency, locale))
        )
    else:
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: i18n.number(v, locale)))
    axes.set_title(title, fontsize=10, loc="left")
    _style(figure)
    return _svg(figure)


def horizontal_bars(labels: Sequence[str], values: Sequence[float], *, title: str,
                    locale: Locale) -> str:  # fmt: skip
    """Counts per label, largest first from the top (the funnel's stages, loss reasons)."""
    height = max(1.4, 0.32 * len(labels) + 0.6)
    figure, axes = plt.subplots(figsize=(SIZE[0], height))
    positions = list(range(len(labels)))
    axes.barh(positions, list(values), color=BAR, height=0.6)
    axes.set_yticks(positions, list(labels))
    axes.invert_yaxis()
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: i18n.number(v, locale)))
    axes.set_title(title, fontsize=10, loc="left")
    _style(figure)
    axes.grid(axis="y", visible=False)
    axes.grid(axis="x", color=GRID, linewidth=0.6)
    return _svg(figure)

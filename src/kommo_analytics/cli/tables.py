"""Tables a person reads in any terminal from 80 columns: printed whole when they fit, else as
several parts that each fit, the columns that say what a row is about starting every part."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

Column = tuple[str, str]  # header, justification


def table(title: str, columns: list[Column], rows: list[list[str]]) -> Table:
    # No vertical rules: at 80 columns every character goes to the figures. A cell folds rather
    # than ending in "…", so a figure is never cut short even in a very narrow terminal.
    table = Table(
        title=Text(title),
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header, justify in columns:
        table.add_column(header, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        # Plain text: names of pipelines, sellers and channels may hold square brackets.
        table.add_row(*(Text(cell) for cell in row))
    return table


def fits(console: Console, candidate: Table) -> bool:
    # Measured without the terminal's limit: Rich would otherwise report a width it can only
    # reach by wrapping or cutting cells.
    unbounded = console.options.update_width(10_000)
    return Measurement.get(console, unbounded, candidate).maximum <= console.width


def print_table(
    console: Console, title: str, columns: list[Column], rows: list[list[str]], keys: int = 1
) -> None:
    """Print a table whole if it fits the terminal, else as several that each fit.

    The first `keys` columns (what a row is about) start every part, so each part reads alone;
    the other columns fill the parts in order, as many as fit.
    """
    whole = table(title, columns, rows)
    if fits(console, whole):
        console.print(whole)
        return
    parts: list[list[int]] = []
    for index in range(keys, len(columns)):
        if parts:
            trial = [*range(keys), *parts[-1], index]
            if fits(
                console,
                table(title, [columns[i] for i in trial], [[r[i] for i in trial] for r in rows]),
            ):
                parts[-1].append(index)
                continue
        parts.append([index])
    for number, part in enumerate(parts, 1):
        chosen = [*range(keys), *part]
        console.print(
            table(
                f"{title} ({number}/{len(parts)})",
                [columns[i] for i in chosen],
                [[row[i] for i in chosen] for row in rows],
            )
        )


class Rows:
    """A table filled row by row, then printed with :func:`print_table`."""

    def __init__(self, title: str, columns: list[Column] | tuple[Column, ...], keys: int = 1):
        self.title, self.columns, self.keys = title, list(columns), keys
        self.rows: list[list[str]] = []

    def add_row(self, *cells: str) -> None:
        self.rows.append(list(cells))

    def print(self, console: Console) -> None:
        print_table(console, self.title, self.columns, self.rows, self.keys)

"""The CLI's help pages: flags without a value placeholder, prose that reflows to the terminal.

Typer's Rich help prints every option's type, flags included (`--full <bool>`, even
`--help <bool>`), although a flag takes no value; and it keeps the single line breaks of a
docstring's later paragraphs, so text wrapped in the source at 100 columns is wrapped again at
the terminal's width, mid-sentence. Every command of the app is built from the classes below
(through :class:`App`), so no command can miss either fix.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

_CommandFunction = Callable[..., Any]


def reflow(text: str | None) -> str | None:
    """Join each paragraph's lines, so the terminal, not the source file, decides the wrapping.

    A paragraph starting with ``\\b`` is verbatim (Click's convention) and left alone; an
    ``\\f`` and what follows it is never shown, so it is kept as it is.
    """
    if not text:
        return text
    shown, mark, hidden = inspect.cleandoc(text).partition("\f")
    paragraphs = [
        p if p.startswith("\b") else " ".join(p.split()) for p in shown.strip().split("\n\n")
    ]
    return "\n\n".join(paragraphs) + mark + hidden


def _no_placeholder(params: list[Any]) -> None:
    # A flag takes no value; an empty metavar is what Typer prints instead of its type.
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""


class _ReadableHelp:
    """What a command and a group of commands both do to their help: reflowed prose, and no
    value placeholder after a flag (``--help`` included)."""

    help: str | None
    params: list[Any]

    def _readable(self) -> None:
        self.help = reflow(self.help)
        _no_placeholder(self.params)

    # Typer declares `ctx` with the Context of its vendored Click, which it does not export.
    def get_help_option(self, ctx: Any) -> TyperOption | None:
        option: TyperOption | None = super().get_help_option(ctx)  # type: ignore[misc]
        _no_placeholder([option])
        return option


class Command(_ReadableHelp, TyperCommand):
    def __init__(self, name: str | None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._readable()


class Group(_ReadableHelp, TyperGroup):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._readable()


class App(typer.Typer):
    """A Typer app whose groups and commands print readable help."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        super().__init__(**kwargs)

    def command(  # type: ignore[override]
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[_CommandFunction], _CommandFunction]:
        return super().command(name, cls=cls or Command, **kwargs)

"""Turning the project's exceptions into one line for people and a non-zero exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from kommo_analytics.errors import ConfigError, KommoAnalyticsError

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True)

EXIT_ERROR = 1
EXIT_CONFIG = 2


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a KommoAnalyticsError as one red line with its hint, then exit non-zero."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except KommoAnalyticsError as exc:
            # Escaped: messages quote files and settings whose square brackets (TOML's
            # [[channel]]) Rich would otherwise take for markup and drop.
            err_console.print(
                f"[bold red]error:[/] {escape(exc.one_line())}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_ERROR) from None

    return wrapper

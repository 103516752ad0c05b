"""Where command output goes: Rich text for people, or exactly one JSON document on stdout for scripts.

Results go to stdout; messages, warnings, errors, progress and the debug API log go to stderr, so that
``iotfleet --output json ... | jq`` always reads clean JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from iotfleet.aws.pacing import API_LOGGER

FORMATS = ("text", "json")
T = TypeVar("T")
R = TypeVar("R")


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


class Output:
    """One command's output channel."""

    def __init__(self, fmt: str = "text") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"output format must be one of {FORMATS}, not {fmt!r}")
        self.format = fmt
        # file=None: Rich looks up sys.stdout/sys.stderr when printing, so redirection keeps working.
        self.console = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self._emitted = False

    @property
    def json(self) -> bool:
        return self.format == "json"

    @staticmethod
    def stdout_is_tty() -> bool:
        return sys.stdout.isatty()

    def result(self, data: Any, render: Callable[[Console], None] | None = None) -> None:
        """Emit the command's result: ``data`` as JSON, or ``render(console)`` (default: key/value lines)."""
        if self.json:
            if self._emitted:
                raise RuntimeError("a command emits one JSON document; result() was called twice")
            self._emitted = True
            click.echo(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))
            return
        if render is not None:
            render(self.console)
        elif isinstance(data, dict):
            self.console.print(key_values(data.items()))
        else:
            self.console.print(escape(str(data)))

    def info(self, message: str) -> None:
        """A note for the person at the terminal (stderr, plain text)."""
        self.err.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]Warning:[/yellow] {escape(message)}")

    def error(self, message: str) -> None:
        click.echo(f"Error: {message}", err=True)

    def attach_api_log(self) -> logging.Handler:
        """Send the debug API log (logger ``iotfleet.api``) to stderr; returns the handler to detach later."""
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d api %(message)s", datefmt="%H:%M:%S"))
        API_LOGGER.addHandler(handler)
        API_LOGGER.setLevel(logging.DEBUG)
        return handler

    @staticmethod
    def detach_api_log(handler: logging.Handler) -> None:
        API_LOGGER.removeHandler(handler)
        if not API_LOGGER.handlers:
            API_LOGGER.setLevel(logging.NOTSET)


def key_values(pairs: Iterable[tuple[str, Any]]) -> Text:
    """Aligned ``label  value`` lines (no trailing spaces, so scripts can split them too)."""
    rows = [(str(key), "-" if value is None else str(value)) for key, value in pairs]
    width = max((len(key) for key, _ in rows), default=0)
    text = Text()
    for index, (key, value) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(key.ljust(width), style="bold")
        text.append(f"  {value}")
    return text


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    """A plain table with a header row, for lists of resources."""
    result = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        result.add_column(column)
    for row in rows:
        result.add_row(*(escape("-" if cell is None else str(cell)) for cell in row))
    return result


def follow(
    output: Output,
    watch: Callable[[Callable[[T], None]], R],
    *,
    panel: Callable[[T], RenderableType],
    line: Callable[[T], str],
) -> R:
    """Run ``watch(on_refresh)`` showing each refresh as it comes: nothing with ``--output json`` (the result
    comes at the end), a live panel on a terminal, one plain line a refresh otherwise (logs, pipes)."""
    if output.json:
        return watch(lambda _refresh: None)
    if output.console.is_terminal:
        with Live(console=output.console, refresh_per_second=4, auto_refresh=False) as live:
            return watch(lambda refresh: live.update(panel(refresh), refresh=True))
    return watch(lambda refresh: output.console.print(line(refresh), markup=False))

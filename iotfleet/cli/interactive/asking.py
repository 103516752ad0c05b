"""Asking questions on a terminal: the small helpers every interactive flow shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from botocore.exceptions import ClientError

from iotfleet.aws.errors import AwsOperationError, Interrupted, IotFleetError, UsageError
from iotfleet.cli.errors import report_error
from iotfleet.cli.state import CliState

T = TypeVar("T")


def ask_until_valid(state: CliState, ask: Callable[[], T]) -> T:
    """Call ``ask`` until it returns without a usage error, showing each error."""
    while True:
        try:
            return ask()
        except UsageError as exc:
            state.output.error(exc.message)


def prompt(question: str, *, default: Any = None, value_type: Any = None) -> Any:
    return click.prompt(
        question, default=default, type=value_type, err=True, show_default=default not in (None, "")
    )


def choose(state: CliState, title: str, options: Sequence[str], *, allow_other: bool = False) -> str:
    """Pick one of ``options`` by number (or, with ``allow_other``, type any name)."""
    if not options and not allow_other:
        raise UsageError(f"there is nothing to choose from: no {title}")
    state.output.info(f"{title}:")
    for index, option in enumerate(options, 1):
        state.output.info(f"  {index}. {option}")
    while True:
        answer = str(prompt("Number" + (" or name" if allow_other else ""))).strip()
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return options[int(answer) - 1]
        if allow_other and answer and not answer.isdigit():
            return answer
        state.output.error(f"choose a number from 1 to {len(options)}")


def choose_many(state: CliState, title: str, options: Sequence[str]) -> list[str]:
    """Pick any of ``options``: numbers separated by commas, or nothing."""
    if not options:
        return []
    state.output.info(f"{title}:")
    for index, option in enumerate(options, 1):
        state.output.info(f"  {index}. {option}")
    while True:
        answer = str(prompt("Numbers separated by commas (empty for none)", default="")).strip()
        if not answer:
            return []
        picks = [part.strip() for part in answer.split(",") if part.strip()]
        if all(p.isdigit() and 1 <= int(p) <= len(options) for p in picks):
            return list(dict.fromkeys(options[int(p) - 1] for p in picks))
        state.output.error(f"use numbers from 1 to {len(options)}, separated by commas")


def names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def report_failure(exc: IotFleetError | ClientError) -> None:
    """Show a failed action the way the command line would, then go back to the menu."""
    report_error(AwsOperationError.from_client_error(exc) if isinstance(exc, ClientError) else exc)


MenuItem = tuple[str, "Callable[[], object] | None"]


def run_menu(state: CliState, title: str, items: Sequence[MenuItem]) -> None:
    """Show ``items`` by number until the person picks one whose action is None (quit).

    A failed action is reported and the menu comes back; Ctrl-C or Ctrl-D at the menu itself ends it.
    """
    while True:
        state.output.info(f"\n{title}")
        for index, (label, _) in enumerate(items, 1):
            state.output.info(f"  {index:2d}. {label}")
        choice = prompt("Choose", value_type=click.IntRange(1, len(items)))
        _, action = items[choice - 1]
        if action is None:
            return
        try:
            action()
        except Interrupted as exc:
            state.output.info(exc.message)
        except (IotFleetError, ClientError) as exc:
            report_failure(exc)

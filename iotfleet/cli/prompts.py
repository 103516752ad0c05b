"""Prompts and confirmations that only ever happen on a terminal.

Without a TTY on stdin (or with ``--yes``) nothing is asked: a missing value is a usage error naming
its flag, and a destructive action needs ``--yes``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from iotfleet.aws.errors import Interrupted, UsageError

DEBUG_QUESTION = "Enable debug mode (show all API calls and responses)?"


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


class Prompter:
    """Asks the person at the terminal, or refuses to guess when there is nobody to ask."""

    def __init__(self, *, assume_yes: bool = False, is_tty: Callable[[], bool] = stdin_is_tty) -> None:
        self.assume_yes = assume_yes
        self._is_tty = is_tty

    @property
    def interactive(self) -> bool:
        """True when questions may be asked: stdin is a terminal and ``--yes`` was not given."""
        return not self.assume_yes and self._is_tty()

    def value(
        self,
        flag: str,
        question: str,
        *,
        current: Any = None,
        default: Any = None,
        value_type: Any = None,
        choices: Sequence[str] | None = None,
    ) -> Any:
        """``current`` if the flag was given; else ask, or fall back to ``default``, or fail naming ``flag``."""
        if current is not None:
            return current
        if not self.interactive:
            if default is not None:
                return default
            raise UsageError(f"missing {flag} (there is no terminal to ask on)", flag)
        prompt_type = click.Choice(list(choices)) if choices else value_type
        return click.prompt(question, default=default, type=prompt_type, err=True)

    def yes_no(self, question: str, *, default: bool = False) -> bool:
        """A harmless yes/no question: without a terminal the ``default`` answer is taken."""
        if not self.interactive:
            return default
        return click.confirm(question, default=default, prompt_suffix=" ", err=True)

    def check_confirmable(self, action: str) -> None:
        """Raise the usage error :meth:`confirm` would raise, before the reads that come ahead of it."""
        if not self.assume_yes and not self._is_tty():
            raise UsageError(f"{action}: needs confirmation; pass --yes to confirm without a terminal", "--yes")

    def confirm(self, action: str, *, typed_word: str | None = None) -> None:
        """Confirm a destructive ``action``, or raise.

        ``--yes`` confirms. Without a terminal it is a usage error (exit 2). On a terminal the person
        answers y/N, or types ``typed_word`` (e.g. ``DELETE``) when one is given. A refusal raises
        :class:`Interrupted` (exit 130): the person stopped it and nothing was changed.
        """
        if self.assume_yes:
            return
        self.check_confirmable(action)
        if typed_word:
            answer = click.prompt(f"{action}. Type {typed_word} to confirm", default="", show_default=False, err=True)
            confirmed = answer.strip() == typed_word
        else:
            confirmed = click.confirm(f"{action}?", default=False, prompt_suffix=" ", err=True)
        if not confirmed:
            raise Interrupted(f"{action}: not confirmed; nothing was changed")

    def ask_debug(self) -> bool:
        """``Enable debug mode (show all API calls and responses)? [y/N]`` (no without a terminal)."""
        return self.yes_no(DEBUG_QUESTION, default=False)

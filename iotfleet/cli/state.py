"""What every subcommand gets from the ``iotfleet`` group: settings, AWS context, output, prompts, progress.

A command takes it with ``@pass_state``::

    @click.command()
    @pass_state
    def things(state: CliState) -> None:
        result = run_parallel(names, create, concurrency=state.aws.concurrency, progress=state.progress())
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import click

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.cli.output import Output
from iotfleet.cli.progress import progress_for
from iotfleet.cli.prompts import Prompter
from iotfleet.fleet.runner import Progress


def _unchanged(settings: TargetSettings) -> TargetSettings:
    return settings


@dataclass
class CliState:
    """Shared by the group and its subcommands for one invocation."""

    settings: TargetSettings
    output: Output
    prompts: Prompter
    # Runs once, right before the AWS context is built (the CLI starts the local emulator here).
    prepare: Callable[[TargetSettings], TargetSettings] = _unchanged
    # True when --debug/--no-debug or IOTFLEET_DEBUG already answered the debug-mode question.
    debug_chosen: bool = False
    _aws: AwsContext | None = field(default=None, init=False)
    _api_log: logging.Handler | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        if self.settings.debug:
            self._api_log = self.output.attach_api_log()

    @property
    def aws(self) -> AwsContext:
        """The AWS context, built on first use (so ``--help`` and bad input never touch AWS)."""
        with self._lock:
            if self._aws is None:
                self.settings = self.prepare(self.settings)
                self._aws = AwsContext(self.settings)
            return self._aws

    def progress(self) -> Progress:
        return progress_for(self.output)

    def confirm(self, action: str, *, typed_word: str | None = None) -> None:
        """Confirm a destructive action (``--yes``, a terminal answer, or exit 2 without a terminal)."""
        self.prompts.confirm(action, typed_word=typed_word)

    def offer_debug_mode(self) -> bool:
        """Interactive flows ask ``Enable debug mode (show all API calls and responses)? [y/N]``.

        Returns whether debug mode is on. Call it before the first AWS call.
        """
        if not self.settings.debug and not self.debug_chosen and self.prompts.ask_debug():
            self.enable_debug()
        return self.settings.debug

    def enable_debug(self) -> None:
        with self._lock:
            if self.settings.debug:
                return
            self.settings = self.settings.with_debug()
            self._api_log = self.output.attach_api_log()
            if self._aws is not None:
                # Clients built without the debug hooks are replaced by ones with them.
                self._aws.close()
                self._aws = AwsContext(self.settings)

    def close(self) -> None:
        with self._lock:
            if self._aws is not None:
                self._aws.close()
                self._aws = None
            if self._api_log is not None:
                self.output.detach_api_log(self._api_log)
                self._api_log = None


pass_state = click.make_pass_decorator(CliState)

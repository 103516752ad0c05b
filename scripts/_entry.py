"""What the scripts share: run one ``iotfleet`` command with the script's arguments put in their places.

A script takes iotfleet's global options (``--target``, ``--profile``, ``--region``, ``--endpoint-url``,
``--debug``, ...) and the command's own options (``--fleet``, ``--devices``, ...) in any order; the global ones
go before the command and the rest after it, as ``iotfleet`` expects. An option both define (``--yes`` of
``cleanup``, ``--version`` of ``jobs create``) goes to the command. ``--help`` shows the command's help.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from iotfleet.cli.main import cli, run


def _options(command: click.Command) -> dict[str, click.Option]:
    return {
        name: param
        for param in command.params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
    }


def command_for(path: Sequence[str]) -> click.Command:
    """The click command at ``path`` under ``iotfleet`` (e.g. ``("jobs", "create")``)."""
    command: click.Command = cli
    for name in path:
        if not isinstance(command, click.Group) or name not in command.commands:
            raise LookupError(f"iotfleet has no command {' '.join(path)!r}")
        command = command.commands[name]
    return command


def split_arguments(path: Sequence[str], argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``argv`` as (global options with their values, the command's arguments), each in the given order."""
    global_options = _options(cli)
    own = set(_options(command_for(path))) | {"-h", "--help"}
    before: list[str] = []
    after: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            after.extend([token, *tokens])
            break
        name = token.split("=", 1)[0] if token.startswith("--") else token[:2]
        option = global_options.get(name)
        if option is None or name in own:
            after.append(token)
            continue
        before.append(token)
        value_attached = "=" in token if token.startswith("--") else len(token) > 2
        if not option.is_flag and not value_attached:
            value = next(tokens, None)
            if value is not None:
                before.append(value)
    return before, after


def run_script(path: Sequence[str], argv: Sequence[str] | None = None) -> int:
    """Run ``iotfleet [global options] PATH [command arguments]``; returns the exit code."""
    before, after = split_arguments(path, sys.argv[1:] if argv is None else argv)
    return run([*before, *path, *after])

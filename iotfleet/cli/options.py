"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from iotfleet.fleet.naming import check_fleet_name
from iotfleet.fleet.roles import check_role_arn
from iotfleet.fleet.spec import DEFAULT_FLEET

F = TypeVar("F", bound=Callable[..., Any])


def _check_fleet(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    return check_fleet_name(value, "--fleet")


def _fleet_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--fleet",
        metavar="NAME",
        default=DEFAULT_FLEET,
        envvar="IOTFLEET_FLEET",
        callback=_check_fleet,
        help=help_text,
    )


# A fleet that exists: the command resolves it with iotfleet.cli.fleet_choice.command_fleet (or, in an
# interactive flow, choose_fleet), so that without --fleet the account's only fleet is used.
fleet_option = _fleet_option(
    "The fleet whose bucket, roles and ownership tag to use.  [env: IOTFLEET_FLEET; default: the account's "
    f"only iotfleet fleet; with several, name one; with none, {DEFAULT_FLEET}]"
)
# The fleet a command creates: a name, not looked up.
new_fleet_option = _fleet_option(
    f"The fleet to create or bring to its spec.  [env: IOTFLEET_FLEET; default: {DEFAULT_FLEET}]"
)


def _check_role_arn(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else check_role_arn(value, "--role-arn")


def role_option(help: str = "The role AWS IoT assumes to presign artifact URLs (default: the fleet's jobs role).") -> Any:
    """``--role-arn``, its shape checked before anything runs."""
    return click.option("--role-arn", metavar="ARN", callback=_check_role_arn, help=help)


def fleet_given(ctx: click.Context) -> bool:
    """Whether ``--fleet`` was set (flag, IOTFLEET_FLEET, or a value an interactive menu passed to the command
    it invokes, which has no parameter source) rather than left at its default."""
    return ctx.get_parameter_source("fleet") not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)

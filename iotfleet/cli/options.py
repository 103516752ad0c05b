"""Options shared by several commands, defined once."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from iotfleet.fleet.naming import check_fleet_name
from iotfleet.fleet.roles import check_role_arn
from iotfleet.fleet.spec import DEFAULT_FLEET


def _check_fleet(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    return check_fleet_name(value, "--fleet")


fleet_option = click.option(
    "--fleet",
    metavar="NAME",
    default=DEFAULT_FLEET,
    show_default=True,
    envvar="IOTFLEET_FLEET",
    callback=_check_fleet,
    help="The fleet whose bucket, roles and ownership tag to use.  [env: IOTFLEET_FLEET]",
)


def _check_role_arn(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else check_role_arn(value, "--role-arn")


def role_option(help: str = "The role AWS IoT assumes to presign artifact URLs (default: the fleet's jobs role).") -> Any:
    """``--role-arn``, its shape checked before anything runs."""
    return click.option("--role-arn", metavar="ARN", callback=_check_role_arn, help=help)


def fleet_given(ctx: click.Context) -> bool:
    """Whether ``--fleet`` was set by the person (flag or IOTFLEET_FLEET) rather than left at its default."""
    return ctx.get_parameter_source("fleet") in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)

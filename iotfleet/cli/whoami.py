"""``iotfleet whoami``: where iotfleet talks to and as whom, before anything else is run."""

from __future__ import annotations

import click
from rich.console import Console

from iotfleet.cli.output import key_values
from iotfleet.cli.state import CliState, pass_state

LABELS = {
    "target": "Target",
    "account": "Account",
    "region": "Region",
    "endpoint": "Endpoint",
    "data_endpoint": "Data endpoint",
    "caller_arn": "Caller",
    "profile": "Profile",
}


@click.command()
@pass_state
def whoami(state: CliState) -> None:
    """Show the target, account, region, endpoints and the caller's ARN.

    \b
    Examples:
      iotfleet whoami
      iotfleet --target local whoami
      iotfleet --profile fleet-admin --region eu-west-1 --output json whoami
    """
    ctx = state.aws
    identity = ctx.caller_identity()
    info = {
        "target": ctx.target,
        "account": identity["Account"],
        "region": ctx.region,
        "endpoint": ctx.iot.meta.endpoint_url,
        "data_endpoint": ctx.data_endpoint(),
        "caller_arn": identity["Arn"],
        "profile": state.settings.profile,
    }

    def render(console: Console) -> None:
        console.print(key_values((LABELS[key], value) for key, value in info.items()))

    state.output.result(info, render=render)

"""The account's package configuration: whether a job that deploys a package version also records it in the
device's ``$package`` shadow, and with which role. Account-wide, so enabling it for a fleet first records what
was there in the fleet's state, for cleanup to put back.
"""

from __future__ import annotations

from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.fleet.fleet_state import read_state, write_state
from iotfleet.fleet.resources import discover


def get_configuration(ctx: AwsContext) -> dict[str, Any]:
    """Whether jobs update the ``$package`` shadow on success, and with which role."""
    config = ctx.iot.get_package_configuration().get("versionUpdateByJobsConfig") or {}
    return {"enabled": bool(config.get("enabled")), "roleArn": config.get("roleArn")}


def set_configuration(
    ctx: AwsContext, *, enabled: bool, role_arn: str | None = None, fleet: str | None = None
) -> dict[str, Any]:
    """Turn version updates by jobs on (with ``role_arn``) or off; returns the previous and new settings.

    Enabling for a ``fleet`` first records the configuration found in the fleet's state record (once), so
    cleanup can put it back. ``recorded``: True when this call wrote that record, False when it was already
    there, None when nothing could be recorded (no fleet given, or the fleet has no bucket yet).
    """
    previous = get_configuration(ctx)
    if enabled and not role_arn:
        raise UsageError("enabling version updates by jobs needs a role", "--role-arn")
    recorded: bool | None = None
    if enabled and fleet is not None:
        recorded = _record_previous_configuration(ctx, fleet, previous)
    update: dict[str, Any] = {"enabled": enabled}
    if role_arn:
        update["roleArn"] = role_arn
    ctx.iot.update_package_configuration(versionUpdateByJobsConfig=update)
    return {"previous": previous, "current": get_configuration(ctx), "recorded": recorded}


def _record_previous_configuration(ctx: AwsContext, fleet: str, previous: dict[str, Any]) -> bool | None:
    """Record ``previous`` in the fleet's state; False when already recorded, None when the fleet has no bucket."""
    bucket = discover(ctx, fleet, kinds={"bucket"}).bucket
    if bucket is None:
        return None
    state = read_state(ctx, bucket, fleet)
    if not state.record_package_configuration({k: v for k, v in previous.items() if v is not None}):
        return False
    write_state(ctx, bucket, state)
    return True


def fleet_package_role_arn(ctx: AwsContext, fleet: str) -> str:
    """The fleet's role for package version updates by jobs, found by ownership tags."""
    role = discover(ctx, fleet, kinds={"roles"}).package_role_arn
    if not role:
        raise UsageError(
            f"fleet {fleet!r} has no package configuration role: provision the fleet first", "--fleet"
        )
    return str(role)

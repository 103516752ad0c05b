"""Rolling a package back: a real OTA job to an earlier version for exactly the devices that report another
version. Shadows are never written.

:func:`plan_rollback` finds the devices and plans the job (no mutating call); :func:`apply_rollback` creates
the dynamic group, when the plan uses one, and the job.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.fleet.groups import create_dynamic_group
from iotfleet.fleet.jobs.create import (
    MAX_TARGETS,
    CheckedJob,
    JobSpec,
    PreparedJob,
    check_job_spec,
    prepare_job,
    submit_job,
)
from iotfleet.fleet.jobs.settings import CONTINUOUS, JobSettings
from iotfleet.fleet.naming import THING_GROUP_NAME, check_package_name, check_version_name
from iotfleet.fleet.packages.catalog import DEPLOYABLE, get_version, list_versions
from iotfleet.fleet.packages.reported import search_things, version_query

# How a rollback reaches its devices (RollbackPlan.method).
THINGS = "things"
DYNAMIC_GROUP = "dynamic-group"


@dataclass
class RollbackPlan:
    """What a rollback will do: which devices, reached how, and the job to create."""

    package: str
    version: str
    query: str
    devices: list[str]
    method: str | None  # THINGS, DYNAMIC_GROUP, or None when no device needs it
    reason: str
    group_name: str | None = None
    checked: CheckedJob | None = None
    prepared: PreparedJob | None = None
    created_from: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "query": self.query,
            "devices": len(self.devices),
            "method": self.method,
            "reason": self.reason,
            "dynamicGroup": self.group_name,
            "request": self.prepared.request if self.prepared else None,
        }


def rollback_group_name(package: str, version: str, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%S")
    raw = f"rollback-{package}-{version}".replace(".", "_")
    name = f"{raw[: THING_GROUP_NAME.max_len - 21]}-{stamp}-{secrets.token_hex(2)}"
    return THING_GROUP_NAME.check(name)


def _check_earlier(ctx: AwsContext, package: str, version: str) -> None:
    target = get_version(ctx, package, version, "--to")
    if target["status"] not in DEPLOYABLE:
        raise UsageError(
            f"cannot roll back to {package}/{version}: it is {target['status']}, and only a PUBLISHED or DEPRECATED "
            "version can be deployed",
            "--to",
        )
    created = target.get("creationDate")
    newer = [
        v["versionName"]
        for v in list_versions(ctx, package)
        if v["versionName"] != version
        and v.get("status") in DEPLOYABLE
        and created is not None
        and v.get("creationDate") is not None
        and v["creationDate"] > created
    ]
    if not newer:
        raise UsageError(
            f"{package}/{version} is the newest released version: a rollback goes back to an earlier one "
            f"(deploy it with iotfleet jobs create --package {package} --version {version})",
            "--to",
        )


def plan_rollback(
    ctx: AwsContext,
    *,
    fleet: str,
    package: str,
    version: str,
    settings: JobSettings | None = None,
    job_id: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    max_listed_things: int = MAX_TARGETS,
    presign_role_arn: str | None = None,
) -> RollbackPlan:
    """Find the devices that report another version of ``package`` and plan an OTA job back to ``version``.

    Up to ``max_listed_things`` devices are targeted by name: the job then covers exactly the devices found
    now, with no extra resource and no wait for group membership. A larger fleet is targeted through a
    dynamic thing group with the same query (created by :func:`apply_rollback`, tagged with the fleet), in
    a CONTINUOUS job, so devices that the eventually-consistent group adds after the job starts still get it.
    """
    check_package_name(package, "PACKAGE")
    check_version_name(version, "--to")
    settings = settings or JobSettings()
    if not 1 <= max_listed_things <= MAX_TARGETS:
        raise ValueError(f"max_listed_things must be 1 to {MAX_TARGETS}")
    text = version_query(package, version, exclude=True)
    base = JobSpec(
        fleet=fleet, package=package, version=version, settings=settings, job_id=job_id, kind="rollback",
        description=description or f"Roll {package} back to {version}", tags=dict(tags or {}),
        presign_role_arn=presign_role_arn,
    )  # fmt: skip
    check_job_spec(base, require_targets=False)  # every local check before the first read
    _check_earlier(ctx, package, version)
    devices = search_things(ctx, text, package)
    plan = RollbackPlan(package, version, text, devices, None, "every device already reports this version")
    if not devices:
        return plan
    if len(devices) <= max_listed_things:
        plan.method = THINGS
        plan.reason = (
            f"{len(devices)} device(s), at most {max_listed_things}: targeted by name, so the job covers exactly "
            "the devices found now"
        )
        spec = replace(base, things=tuple(devices), groups=())
        plan.checked = check_job_spec(spec)
        plan.prepared = prepare_job(ctx, plan.checked)
        return plan
    plan.method = DYNAMIC_GROUP
    plan.group_name = rollback_group_name(package, version)
    plan.reason = (
        f"{len(devices)} devices, more than {max_listed_things}: targeted through dynamic group {plan.group_name} "
        "(query above) in a CONTINUOUS job, so devices the group adds later still get it"
    )
    spec = replace(
        base, things=(), groups=(plan.group_name,),
        settings=replace(settings, target_selection=CONTINUOUS),
    )  # fmt: skip
    plan.checked = check_job_spec(spec)
    group_arn = f"arn:{ctx.iot.meta.partition}:iot:{ctx.region}:{ctx.account_id}:thinggroup/{plan.group_name}"
    plan.prepared = prepare_job(ctx, plan.checked, targets={plan.group_name: group_arn})
    return plan


def create_rollback_group(ctx: AwsContext, fleet: str, name: str, query_string: str, package: str) -> str:
    """The dynamic group of devices to roll back, tagged with the fleet; returns its ARN."""
    created = create_dynamic_group(
        ctx, name, query_string, fleet=fleet, description=f"Devices to roll back: {package}"
    )
    return created.group.arn


def apply_rollback(ctx: AwsContext, plan: RollbackPlan) -> dict[str, Any]:
    """Create the dynamic group (when the plan uses one) and the job. Returns the job's id and ARN."""
    if plan.method is None or plan.prepared is None or plan.checked is None:
        return {}
    result: dict[str, Any] = {}
    if plan.method == DYNAMIC_GROUP:
        assert plan.group_name is not None
        arn = create_rollback_group(ctx, plan.checked.spec.fleet, plan.group_name, plan.query, plan.package)
        plan.prepared.request["targets"] = [arn]
        result["dynamicGroupArn"] = arn
    result.update(submit_job(ctx, plan.prepared))
    return result

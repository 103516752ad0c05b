"""What a simulation covers: the job (or fleet) in scope and its devices, resolved before a device starts.

**Scope.** ``job_id``: the things the job targets (thing ARNs, and every member of its thing groups,
read page by page, with no cap). ``fleet``: the things whose ``iotfleet_fleet`` attribute names the fleet,
each running every execution pending for it, whatever the job. ``devices`` keeps the first N names.

Planning only reads, and validates everything before the first data-plane call; :mod:`.run` runs the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.fleet.explore.jobs import describe_job
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE

PAGE_SIZE = 250
JOB_ENDED_STATUSES = frozenset({"COMPLETED", "CANCELED", "DELETION_IN_PROGRESS"})


@dataclass(frozen=True)
class SimulationPlan:
    """What a run will cover: the job (or fleet) and the devices, in order."""

    things: list[str]
    job_id: str | None = None
    fleet: str | None = None
    in_scope: int = 0  # devices in scope before --devices kept the first N
    job: dict[str, Any] | None = None  # describe_job's ``job`` in job scope

    @property
    def scope(self) -> str:
        return f"job {self.job_id}" if self.job_id else f"fleet {self.fleet}"


def plan_simulation(
    ctx: AwsContext, *, job_id: str | None = None, fleet: str | None = None, devices: int | None = None
) -> SimulationPlan:
    """Resolve the scope to a list of devices; validates everything before the first data-plane call."""
    if (job_id is None) == (fleet is None):
        raise UsageError("give either --job or --fleet", "--job")
    if devices is not None and devices < 1:
        raise UsageError(f"--devices must be a positive number or 'all', not {devices}", "--devices")
    job: dict[str, Any] | None = None
    if job_id is not None:
        job = describe_job(ctx, job_id, "--job")
        if job.get("status") in JOB_ENDED_STATUSES:
            raise UsageError(f"job {job_id} is {job['status']}: no execution is left to simulate", "--job")
        things = _job_things(ctx, job)
    else:
        assert fleet is not None
        things = _fleet_things(ctx, fleet)
        if not things:
            raise UsageError(f"no things belong to fleet {fleet!r} (attribute {FLEET_ATTRIBUTE})", "--fleet")
    chosen = things if devices is None else things[:devices]
    return SimulationPlan(chosen, job_id=job_id, fleet=fleet, in_scope=len(things), job=job)


def _job_things(ctx: AwsContext, job: dict[str, Any]) -> list[str]:
    """The things a job targets: its thing ARNs and every member of its thing groups, sorted."""
    names: set[str] = set()
    for arn in job.get("targets") or []:
        kind, _, name = str(arn).split(":", 5)[-1].partition("/")
        if kind == "thing":
            names.add(name)
        elif kind == "thinggroup":
            paginator = ctx.iot.get_paginator("list_things_in_thing_group")
            pages = paginator.paginate(
                thingGroupName=name, recursive=True, PaginationConfig={"PageSize": PAGE_SIZE}
            )
            for page in pages:
                names.update(page.get("things") or [])
    return sorted(names)


def _fleet_things(ctx: AwsContext, fleet: str) -> list[str]:
    paginator = ctx.iot.get_paginator("list_things")
    pages = paginator.paginate(
        attributeName=FLEET_ATTRIBUTE, attributeValue=fleet, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    return sorted(thing["thingName"] for page in pages for thing in page.get("things") or [])

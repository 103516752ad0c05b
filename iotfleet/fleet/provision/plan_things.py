"""Planning a fleet's things in bounded memory: read what exists page by page, keep only what differs.

The fleet's things are listed page by page (``ListThings`` on the ownership attribute) and each is compared
with the device of its index as it comes; each present country group's members are read into a bitmap; the
shadows of the things that exist, and with certificates their principals, are read a chunk at a time
(:data:`~iotfleet.fleet.runner.CHUNK` things). What is kept is a
:class:`~iotfleet.fleet.provision.thing_plan.ThingPlan`: a few bytes per thing, however many there are, so a
dry run of a million things needs megabytes, not gigabytes. Shadows are initialised, not enforced: only the
keys a shadow does not report yet are planned.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import is_error
from iotfleet.fleet.identity import plan as identity
from iotfleet.fleet.ownership import COUNTRY_GROUP
from iotfleet.fleet.provision import model
from iotfleet.fleet.provision.inventory import device_at, index_of, thing_name
from iotfleet.fleet.provision.model import GroupPlan, PlanNotes
from iotfleet.fleet.provision.thing_plan import Bitmap, ThingPlan, shadow_state
from iotfleet.fleet.resources import fleet_things
from iotfleet.fleet.runner import Progress, RunResult, run_in_chunks, run_parallel
from iotfleet.fleet.spec import FleetSpec
from iotfleet.query.fields import PACKAGE_SHADOW

MEMBERS_PAGE = 250


def plan_things(
    ctx: AwsContext,
    spec: FleetSpec,
    groups: list[GroupPlan],
    notes: PlanNotes,
    progress: Progress | None,
    identity_plan: identity.IdentityPlan | None,
    where: tuple[str, str, str],
) -> ThingPlan:
    """Every thing's work, counted into ``notes``; ``where`` is (account, region, partition)."""
    things = ThingPlan(spec)
    for summary in fleet_things(ctx, spec.fleet):
        things.found(summary)
    if things.extra:
        notes.warnings.append(
            f"{things.extra} thing(s) of fleet {spec.fleet!r} are not in this spec (a smaller fleet, or another "
            "prefix); they are left as they are (cleanup removes them)"
        )
    _read_members(ctx, things, [g.name for g in groups if g.kind == COUNTRY_GROUP and g.action == model.PRESENT])
    if things.existing:

        def keep(result: RunResult[int, int]) -> None:
            result.raise_for_failures(
                "read the shadows of the fleet's things", model.SHADOW, lambda i: thing_name(spec.prefix, i)
            )
            for outcome in result.outcomes:
                things.set_shadows(outcome.item, int(outcome.value or 0))

        run_in_chunks(
            things.existing_indices(), lambda i: _read_shadows(ctx, spec, i), keep, concurrency=ctx.concurrency,
            progress=progress, label="checking shadows", total=things.existing,
        )  # fmt: skip
    if identity_plan is not None:
        _plan_identities(ctx, identity_plan, things, notes, where, progress)
    things.count(notes.counts)
    return things


def _plan_identities(
    ctx: AwsContext,
    plan: identity.IdentityPlan,
    things: ThingPlan,
    notes: PlanNotes,
    where: tuple[str, str, str],
    progress: Progress | None,
) -> None:
    """Each thing's certificate work; a fleet CA whose key is missing here blocks new certificates."""
    identity.plan_devices(ctx, plan, things.spec, things.exists, things.existing, where, notes.warnings, progress)
    things.identities = plan.devices
    ca = plan.ca
    if ca is not None and ca.keyless_arn and identity.needs_ca_key(plan):
        new = plan.devices.new_certificates if plan.devices is not None else 0
        notes.note(
            model.CA_CERTIFICATE,
            ca.keyless_arn.rsplit("/", 1)[1],
            model.CONFLICT,
            f"{new} device(s) need a new certificate, and the key of the fleet's CA is not in {plan.store.root} "
            "(use --keys-dir with the fleet's key store, or --cert-source aws)",
        )


def _read_members(ctx: AwsContext, things: ThingPlan, groups: list[str]) -> None:
    """The spec's things among the direct members of each group (all pages), as bitmaps."""
    spec = things.spec

    def members(group: str) -> tuple[Bitmap, bool]:
        found, misplaced = Bitmap(spec.devices), False
        paginator = ctx.iot.get_paginator("list_things_in_thing_group")
        for page in paginator.paginate(thingGroupName=group, PaginationConfig={"PageSize": MEMBERS_PAGE}):
            for name in page.get("things", []):
                index = index_of(spec.prefix, name)
                if index is not None and index < spec.devices:
                    found.add(index)
                    misplaced = misplaced or things.group_of(index) != group
        return found, misplaced

    result = run_parallel(groups, members, concurrency=ctx.concurrency)
    result.raise_for_failures("list the members of the fleet's groups", model.THING_GROUP)
    for outcome in result.outcomes:
        assert outcome.value is not None
        things.set_members(outcome.item, *outcome.value)


def _reported(ctx: AwsContext, thing: str, shadow: str | None) -> dict[str, Any] | None:
    """A shadow's reported state, or None when the shadow does not exist."""
    request: dict[str, Any] = {"thingName": thing}
    if shadow:
        request["shadowName"] = shadow
    try:
        payload = ctx.iot_data.get_thing_shadow(**request)["payload"].read()
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return None
        raise
    document = json.loads(payload or b"{}")
    return dict((document.get("state") or {}).get("reported") or {})


def _read_shadows(ctx: AwsContext, spec: FleetSpec, index: int) -> int:
    """Which initial shadow keys an existing thing still lacks (reported keys are never overwritten)."""
    device = device_at(spec, index)
    return shadow_state(
        device, _reported(ctx, device.name, None), _reported(ctx, device.name, PACKAGE_SHADOW)
    )


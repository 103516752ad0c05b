"""A fixed list of things as the targets of a job: their ARNs, or a static group of them that the fleet owns.

A job takes at most 100 targets. Up to that many things are targeted by ARN (no call needed, nothing to
clean up); more go into a static thing group tagged with the fleet (``iotfleet:group-kind=job-targets``),
so cleanup finds it. Rollout waves always use a group (``force_group``): the group is the wave's
membership in AWS, and the wave's health query names it.

Everything here is idempotent: an existing group of the fleet is reused, and only the things it lacks are
added, so a run interrupted halfway is finished by running it again. A group of that name that the fleet
does not own is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import OperationFailed, ResourceFailure, is_error
from iotfleet.fleet.jobs.create import MAX_TARGETS
from iotfleet.fleet.naming import check_group_name
from iotfleet.fleet.ownership import GROUP_KIND_TAG, TARGET_GROUP, owned_by, tag_list
from iotfleet.fleet.resources import resource_tags
from iotfleet.fleet.runner import run_parallel

MEMBERS_PAGE = 250


def thing_arn(ctx: AwsContext, name: str) -> str:
    return f"arn:{ctx.iot.meta.partition}:iot:{ctx.region}:{ctx.account_id}:thing/{name}"


def fixed_targets(
    ctx: AwsContext,
    fleet: str,
    things: Sequence[str],
    group: str,
    *,
    description: str,
    tags: Mapping[str, str] | None = None,
    force_group: bool = False,
) -> list[str]:
    """The target ARNs of a job for exactly ``things``: the things' own ARNs when there are at most 100
    (and ``force_group`` is false), else the ARN of static group ``group``, created and filled as needed."""
    if not things:
        raise ValueError("a job needs at least one thing to target")
    if len(things) <= MAX_TARGETS and not force_group:
        return [thing_arn(ctx, name) for name in dict.fromkeys(things)]
    return [ensure_group(ctx, fleet, group, things, description=description, tags=tags)]


def ensure_group(
    ctx: AwsContext,
    fleet: str,
    group: str,
    things: Sequence[str],
    *,
    description: str,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Static group ``group`` holding at least ``things``, owned by ``fleet``; returns its ARN."""
    check_group_name(group)
    arn = _existing_group(ctx, fleet, group)
    if arn is None:
        try:
            arn = str(
                ctx.iot.create_thing_group(
                    thingGroupName=group,
                    thingGroupProperties={"thingGroupDescription": description[:2028]},
                    tags=tag_list(fleet, {GROUP_KIND_TAG: TARGET_GROUP, **dict(tags or {})}),
                )["thingGroupArn"]
            )
        except ClientError as err:
            if not is_error(err, "ResourceAlreadyExistsException"):
                raise
            arn = _existing_group(ctx, fleet, group)  # created meanwhile (another run of the same step)
            if arn is None:
                raise
    present = set(members(ctx, group))
    missing = [name for name in dict.fromkeys(things) if name not in present]
    result = run_parallel(
        missing,
        lambda name: ctx.iot.add_thing_to_thing_group(thingGroupName=group, thingName=name),
        concurrency=ctx.concurrency,
    )
    result.raise_for_failures(f"add things to group {group}", "thing")
    return arn


def _existing_group(ctx: AwsContext, fleet: str, group: str) -> str | None:
    """The ARN of ``group`` when it exists and the fleet owns it; None when it does not exist."""
    try:
        found = ctx.iot.describe_thing_group(thingGroupName=group)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return None
        raise
    arn = str(found["thingGroupArn"])
    if found.get("queryString") or not owned_by(resource_tags(ctx, arn), fleet):
        raise OperationFailed(
            f"thing group {group} exists but is not a static group of fleet {fleet!r}: it is left alone",
            [ResourceFailure("thing group", group, "exists and is not this fleet's job-target group")],
        )
    return arn


def members(ctx: AwsContext, group: str) -> list[str]:
    """The things directly in a static group (all pages)."""
    paginator = ctx.iot.get_paginator("list_things_in_thing_group")
    pages = paginator.paginate(thingGroupName=group, PaginationConfig={"PageSize": MEMBERS_PAGE})
    return [str(name) for page in pages for name in page.get("things", [])]


def delete_group(ctx: AwsContext, group: str) -> bool:
    """Delete a job-target group; False when it was already gone."""
    try:
        ctx.iot.delete_thing_group(thingGroupName=group)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return False
        raise
    return True

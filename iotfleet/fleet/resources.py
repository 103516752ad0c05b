"""Finding a fleet's resources in AWS by their ownership records, from any machine.

:func:`discover` lists each kind of resource and keeps the ones whose tags say ``iotfleet:fleet=<fleet>``
(things: the ``iotfleet_fleet`` attribute, see :func:`fleet_things`). Names are never enough: a resource named
like ours without our tag is someone else's. Static groups carry a ``iotfleet:group-kind`` tag (``country``
or ``continent``) so cleanup can delete children before parents; dynamic groups are told apart by their query.

Each kind costs list calls plus one tag read per candidate (tag reads are paced at 10 TPS), so callers that
need one thing pass ``kinds``, e.g. ``discover(ctx, fleet, kinds={"roles"}).jobs_role_arn``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet import roles, storage
from iotfleet.fleet.ownership import (
    CONTINENT_GROUP,
    COUNTRY_GROUP,
    DYNAMIC_GROUP,
    FLEET_ATTRIBUTE,
    FLEET_TAG,
    GROUP_KIND_TAG,
    TARGET_GROUP,
    owned_by,
    tag_dict,
)
from iotfleet.fleet.runner import run_parallel

KINDS = frozenset({"bucket", "roles", "thing_types", "packages", "groups"})
LIST_THINGS_PAGE = 250


@dataclass
class FleetResources:
    """What a fleet owns, found by ownership. Lists are sorted; absent kinds are empty or None."""

    fleet: str
    bucket: str | None = None
    # Every bucket tagged as the fleet's (normally one; more only after an interrupted first run elsewhere).
    buckets: list[str] = field(default_factory=list)
    jobs_role_arn: str | None = None
    package_role_arn: str | None = None
    roles: list[str] = field(default_factory=list)
    thing_types: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    country_groups: list[str] = field(default_factory=list)
    continent_groups: list[str] = field(default_factory=list)
    dynamic_groups: list[str] = field(default_factory=list)
    target_groups: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet": self.fleet,
            "bucket": self.bucket,
            "buckets": self.buckets,
            "jobsRoleArn": self.jobs_role_arn,
            "packageRoleArn": self.package_role_arn,
            "roles": self.roles,
            "thingTypes": self.thing_types,
            "packages": self.packages,
            "countryGroups": self.country_groups,
            "continentGroups": self.continent_groups,
            "dynamicGroups": self.dynamic_groups,
            "targetGroups": self.target_groups,
        }


def discover(ctx: AwsContext, fleet: str, kinds: Collection[str] | None = None) -> FleetResources:
    """The resources of ``fleet`` (of ``kinds`` only, when given; see :data:`KINDS`)."""
    wanted = KINDS if kinds is None else frozenset(kinds)
    unknown = wanted - KINDS
    if unknown:
        raise ValueError(f"unknown resource kind(s): {', '.join(sorted(unknown))}")
    found = FleetResources(fleet)
    if "bucket" in wanted:
        found.buckets = storage.owned_buckets(ctx, fleet)
        found.bucket = found.buckets[0] if found.buckets else None
    if "roles" in wanted:
        for purpose in roles.PURPOSES:
            arn = owned_role_arn(ctx, fleet, purpose)
            if arn is None:
                continue
            found.roles.append(roles.role_name(fleet, purpose))
            if purpose == roles.JOBS_PRESIGN:
                found.jobs_role_arn = arn
            else:
                found.package_role_arn = arn
    if "thing_types" in wanted:
        found.thing_types = owned_thing_types(ctx, fleet)
    if "packages" in wanted:
        found.packages = owned_packages(ctx, fleet)
    if "groups" in wanted:
        groups = owned_groups(ctx, fleet)
        found.country_groups = sorted(n for n, k in groups.items() if k == COUNTRY_GROUP)
        found.continent_groups = sorted(n for n, k in groups.items() if k == CONTINENT_GROUP)
        found.dynamic_groups = sorted(n for n, k in groups.items() if k == DYNAMIC_GROUP)
        found.target_groups = sorted(n for n, k in groups.items() if k == TARGET_GROUP)
    return found


def provisioned(value: str | None, fleet: str, what: str) -> str:
    """``value``, something :func:`discover` found for ``fleet``; when it found none, a usage error saying the
    fleet has no ``what`` and needs provisioning."""
    if not value:
        raise UsageError(
            f"fleet {fleet!r} has no {what}: provision the fleet first (iotfleet provision --fleet {fleet})",
            "--fleet",
        )
    return value


def owned_role_arn(ctx: AwsContext, fleet: str, purpose: str) -> str | None:
    role = roles.find_role(ctx, roles.role_name(fleet, purpose))
    if role is None or not owned_by(roles.role_tags(ctx, role), fleet):
        return None
    return str(role["Arn"])


def resource_tags(ctx: AwsContext, arn: str) -> dict[str, str]:
    """Tags of an IoT resource (all pages)."""
    tags: list[dict[str, Any]] = []
    for page in ctx.iot.get_paginator("list_tags_for_resource").paginate(resourceArn=arn):
        tags.extend(page.get("tags", []))
    return tag_dict(tags)


def _owned(ctx: AwsContext, candidates: dict[str, str], fleet: str, kind: str) -> dict[str, dict[str, str]]:
    """The tags of each candidate (name -> ARN) that ``fleet`` owns; gone candidates are skipped."""

    def tags_of(name: str) -> dict[str, str] | None:
        try:
            return resource_tags(ctx, candidates[name])
        except ClientError as err:
            if is_error(err, "ResourceNotFoundException"):
                return None  # deleted between the listing and now
            raise

    result = run_parallel(list(candidates), tags_of, concurrency=ctx.concurrency)
    result.raise_for_failures(f"read the tags of {kind}s", kind)
    return {o.item: o.value for o in result.outcomes if o.value is not None and owned_by(o.value, fleet)}


def owned_thing_types(ctx: AwsContext, fleet: str) -> list[str]:
    candidates: dict[str, str] = {}
    for page in ctx.iot.get_paginator("list_thing_types").paginate():
        for thing_type in page.get("thingTypes", []):
            candidates[str(thing_type["thingTypeName"])] = str(thing_type["thingTypeArn"])
    return sorted(_owned(ctx, candidates, fleet, "thing type"))


def owned_packages(ctx: AwsContext, fleet: str) -> list[str]:
    candidates: dict[str, str] = {}
    for page in ctx.iot.get_paginator("list_packages").paginate():
        for package in page.get("packageSummaries", []):
            name = str(package["packageName"])
            candidates[name] = _package_arn(ctx, name)
    return sorted(_owned(ctx, candidates, fleet, "package"))


def _package_arn(ctx: AwsContext, package: str) -> str:
    return f"arn:{ctx.iot.meta.partition}:iot:{ctx.region}:{ctx.account_id}:package/{package}"


def owned_groups(ctx: AwsContext, fleet: str) -> dict[str, str]:
    """Thing groups ``fleet`` owns, each with its kind: country, continent, dynamic or job targets."""
    candidates: dict[str, str] = {}
    for page in ctx.iot.get_paginator("list_thing_groups").paginate():
        for group in page.get("thingGroups", []):
            candidates[str(group["groupName"])] = str(group["groupArn"])
    owned = _owned(ctx, candidates, fleet, "thing group")
    kinds: dict[str, str] = {}
    for name, tags in owned.items():
        kind = tags.get(GROUP_KIND_TAG)
        if kind not in (COUNTRY_GROUP, CONTINENT_GROUP, DYNAMIC_GROUP, TARGET_GROUP):
            kind = DYNAMIC_GROUP if _is_dynamic(ctx, name) else COUNTRY_GROUP
        kinds[name] = kind
    return kinds


def _is_dynamic(ctx: AwsContext, group: str) -> bool:
    try:
        return bool(ctx.iot.describe_thing_group(thingGroupName=group).get("queryString"))
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return False
        raise


def fleet_things(ctx: AwsContext, fleet: str) -> Iterator[dict[str, Any]]:
    """Every thing carrying ``iotfleet_fleet=<fleet>`` (ListThings summaries: name, type, attributes, version)."""
    paginator = ctx.iot.get_paginator("list_things")
    pages = paginator.paginate(
        attributeName=FLEET_ATTRIBUTE, attributeValue=fleet, PaginationConfig={"PageSize": LIST_THINGS_PAGE}
    )
    for page in pages:
        yield from page.get("things", [])


def fleets_in_account(ctx: AwsContext) -> list[str]:
    """The iotfleet fleets of this account and region, found by their buckets' ownership tags."""
    return sorted({c.tags[FLEET_TAG] for c in storage.list_candidates(ctx) if c.tags.get(FLEET_TAG)})

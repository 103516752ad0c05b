"""Read-only scans of the account for cleanup: every resource of each kind, sorted into ours, others' and lookalikes.

Ownership is what AWS itself records (see :mod:`iotfleet.fleet.ownership`): the ``iotfleet:fleet`` tag, or the
``iotfleet_fleet`` attribute on things. A scan reads every resource of its kind once, so it also sees the ones
that merely look like the fleet's (same thing-name prefix, a country-group name, the fleet's name in a bucket
or role name); those are reported as skipped, with the reason, and never touched. It also notes which other
iotfleet fleets exist, since account-wide settings are shared with them.

Every call here is a read. Tag lookups run in parallel through :func:`run_parallel`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import OperationFailed, is_error
from iotfleet.fleet import storage
from iotfleet.fleet.cleanup.kinds import (
    BUCKET,
    DYNAMIC_GROUP,
    JOB,
    JOB_TEMPLATE,
    PACKAGE,
    ROLE,
    STATIC_GROUP,
    THING,
    THING_TYPE,
)
from iotfleet.fleet.geography import CONTINENTS, group_name_for_continent
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE, FLEET_TAG, tag_dict
from iotfleet.fleet.resources import resource_tags
from iotfleet.fleet.runner import run_parallel

T = TypeVar("T")

JOB_DELETING = "DELETION_IN_PROGRESS"
# ListThings pages hold at most 250 things, ListRoles 1000.
THING_PAGE = 250
ROLE_PAGE = 1000
ROLE_PREFIX = "iotfleet-"
# Country and continent group names, with or without a group prefix: US_Fleet, lab-US_Fleet, Europe_Fleet.
COUNTRY_GROUP = re.compile(r"(?:^|[^A-Za-z])[A-Z]{2}_Fleet$")
CONTINENT_GROUPS = frozenset(group_name_for_continent(name) for name in CONTINENTS)
# Codes meaning "gone since it was listed": the resource is simply no longer there.
GONE_CODES = ("ResourceNotFoundException", "NoSuchEntity", "NoSuchBucket")


@dataclass(frozen=True)
class Resource:
    """One resource a cleanup will delete. ``info`` carries what the deletion needs (status, parent, ...)."""

    kind: str
    name: str
    arn: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Skipped:
    """A resource a cleanup leaves alone, and why."""

    kind: str
    name: str
    reason: str


@dataclass
class Found:
    """What one scan found: the fleet's resources, the ones skipped, and the other iotfleet fleets seen."""

    owned: list[Resource] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    other_fleets: set[str] = field(default_factory=set)

    def classify(self, resource: Resource, owner: str | None, fleet: str, looks_like: bool) -> None:
        """Sort one resource by its owner: the fleet's, another fleet's, or nobody's."""
        kind, name = resource.kind, resource.name
        if owner == fleet:
            self.owned.append(resource)
            return
        if owner:
            self.other_fleets.add(owner)
            if looks_like:
                self.skipped.append(Skipped(kind, name, f"belongs to iotfleet fleet {owner!r}"))
        elif looks_like:
            self.skipped.append(
                Skipped(kind, name, f"no ownership record for fleet {fleet!r}; never touched")
            )


class NameMatcher:
    """Whether a name looks like one of the fleet's: used only to explain what is skipped, never to select."""

    def __init__(self, fleet: str, thing_prefixes: Iterable[str] = ()) -> None:
        self._token = re.compile(rf"(?<![a-z0-9]){re.escape(fleet)}(?![a-z0-9])", re.IGNORECASE)
        self.thing_prefixes = {prefix for prefix in thing_prefixes if prefix}

    def mentions_fleet(self, name: str) -> bool:
        return self._token.search(name) is not None

    def thing(self, name: str) -> bool:
        return thing_prefix(name) in self.thing_prefixes

    def group(self, name: str) -> bool:
        return (
            COUNTRY_GROUP.search(name) is not None
            or any(name.endswith(continent) for continent in CONTINENT_GROUPS)
            or self.mentions_fleet(name)
        )


def thing_prefix(name: str) -> str:
    """A thing name without its trailing number: ``Vehicle-VIN-0042`` -> ``Vehicle-VIN-``."""
    return re.sub(r"[0-9]+$", "", name)


def _parallel_reads(
    ctx: AwsContext, items: list[T], read: Callable[[T], Any], what: str, name: Callable[[T], str]
) -> list[tuple[T, Any]]:
    """``read(item)`` for every item in parallel; a resource gone meanwhile gives None; other errors stop the plan.

    A plan that could not read some ownership record cannot be trusted to be complete, so it fails (exit 1)
    and lists each failure instead of guessing.
    """

    def guarded(item: T) -> Any:
        try:
            return read(item)
        except ClientError as err:
            if is_error(err, *GONE_CODES):
                return None
            raise

    result = run_parallel(items, guarded, concurrency=ctx.concurrency)
    failures = result.failures(what, name)
    if failures:
        raise OperationFailed(f"cleanup plan: could not read {len(failures)} {what} record(s)", failures)
    return [(outcome.item, outcome.value) for outcome in result.outcomes]


# --- things -----------------------------------------------------------------------------------------------


@dataclass
class ThingScan(Found):
    """Things, plus who uses each thing type (a type can only go once no thing uses it)."""

    names: set[str] = field(default_factory=set)
    type_users: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)


def scan_things(ctx: AwsContext, fleet: str) -> ThingScan:
    """Every thing in the account, in pages of 250, sorted by its ``iotfleet_fleet`` attribute."""
    scan = ThingScan()
    unowned: list[tuple[str, str | None]] = []
    paginator = ctx.iot.get_paginator("list_things")
    for page in paginator.paginate(PaginationConfig={"PageSize": THING_PAGE}):
        for thing in page.get("things", []):
            name = str(thing["thingName"])
            owner = (thing.get("attributes") or {}).get(FLEET_ATTRIBUTE) or None
            type_name = thing.get("thingTypeName")
            if type_name:
                scan.type_users.setdefault(str(type_name), []).append((name, owner))
            if owner == fleet:
                scan.names.add(name)
                scan.owned.append(Resource(THING, name, thing.get("thingArn"), {"type": type_name}))
            else:
                unowned.append((name, owner))
    matcher = NameMatcher(fleet, {thing_prefix(name) for name in scan.names})
    for name, owner in unowned:
        scan.classify(Resource(THING, name), owner, fleet, matcher.thing(name))
    return scan


# --- thing groups -----------------------------------------------------------------------------------------


@dataclass
class GroupScan(Found):
    """Static and dynamic groups, with every group's parent (the fleet's or not) for the deletion order."""

    parents: dict[str, str | None] = field(default_factory=dict)
    # Dynamic groups that are not the fleet's: AWS keeps thing indexing on while any dynamic group exists.
    foreign_dynamic: list[str] = field(default_factory=list)


def scan_groups(ctx: AwsContext, fleet: str) -> GroupScan:
    """Every thing group: DescribeThingGroup for its kind and parent, its tags for its owner."""
    names = [
        str(group["groupName"])
        for page in ctx.iot.get_paginator("list_thing_groups").paginate()
        for group in page.get("thingGroups", [])
    ]

    def read(name: str) -> tuple[dict[str, Any], dict[str, str]]:
        described = ctx.iot.describe_thing_group(thingGroupName=name)
        return described, resource_tags(ctx, str(described["thingGroupArn"]))

    scan = GroupScan()
    matcher = NameMatcher(fleet)
    for name, answer in _parallel_reads(ctx, names, read, "thing group", str):
        if answer is None:
            continue
        described, tags = answer
        parent = (described.get("thingGroupMetadata") or {}).get("parentGroupName")
        scan.parents[name] = parent
        dynamic = bool(described.get("queryString"))
        kind = DYNAMIC_GROUP if dynamic else STATIC_GROUP
        arn = str(described["thingGroupArn"])
        info = {"parent": parent, "query": described.get("queryString")} if dynamic else {"parent": parent}
        if dynamic and tags.get(FLEET_TAG) != fleet:
            scan.foreign_dynamic.append(name)
        scan.classify(Resource(kind, name, arn, info), tags.get(FLEET_TAG), fleet, matcher.group(name))
    return scan


def group_members(ctx: AwsContext, group: str) -> list[str]:
    """The things directly in a static group."""
    return [
        str(name)
        for page in ctx.iot.get_paginator("list_things_in_thing_group").paginate(thingGroupName=group)
        for name in page.get("things", [])
    ]


# --- jobs and job templates ---------------------------------------------------------------------------------


@dataclass
class JobScan(Found):
    """Jobs and job templates; the fleet's jobs AWS is already deleting are only counted."""

    deleting: list[str] = field(default_factory=list)


def scan_jobs(ctx: AwsContext, fleet: str) -> JobScan:
    jobs = [job for page in ctx.iot.get_paginator("list_jobs").paginate() for job in page.get("jobs", [])]
    templates = [
        template
        for page in ctx.iot.get_paginator("list_job_templates").paginate()
        for template in page.get("jobTemplates", [])
    ]
    scan = JobScan()
    matcher = NameMatcher(fleet)
    for job, tags in _parallel_reads(
        ctx, jobs, lambda job: resource_tags(ctx, str(job["jobArn"])), "job", lambda job: str(job["jobId"])
    ):
        if tags is None:
            continue
        job_id, status = str(job["jobId"]), str(job.get("status", ""))
        if status == JOB_DELETING:
            # AWS is removing it: nothing to delete, and not a sign that its fleet still exists.
            if tags.get(FLEET_TAG) == fleet:
                scan.deleting.append(job_id)
            continue
        job_resource = Resource(JOB, job_id, str(job["jobArn"]), {"status": status})
        scan.classify(job_resource, tags.get(FLEET_TAG), fleet, matcher.mentions_fleet(job_id))
    for template, tags in _parallel_reads(
        ctx,
        templates,
        lambda template: resource_tags(ctx, str(template["jobTemplateArn"])),
        "job template",
        lambda template: str(template["jobTemplateId"]),
    ):
        if tags is None:
            continue
        template_id = str(template["jobTemplateId"])
        scan.classify(
            Resource(JOB_TEMPLATE, template_id, str(template["jobTemplateArn"])),
            tags.get(FLEET_TAG),
            fleet,
            matcher.mentions_fleet(template_id),
        )
    return scan


# --- packages ------------------------------------------------------------------------------------------------


def scan_packages(ctx: AwsContext, fleet: str) -> Found:
    """Every package: GetPackage for its ARN and default version, its tags, and the fleet's packages' versions."""
    names = [
        str(summary["packageName"])
        for page in ctx.iot.get_paginator("list_packages").paginate()
        for summary in page.get("packageSummaries", [])
    ]

    def read(name: str) -> tuple[dict[str, Any], dict[str, str], list[str]]:
        package = ctx.iot.get_package(packageName=name)
        tags = resource_tags(ctx, str(package["packageArn"]))
        versions: list[str] = []
        if tags.get(FLEET_TAG) == fleet:
            versions = [
                str(summary["versionName"])
                for page in ctx.iot.get_paginator("list_package_versions").paginate(packageName=name)
                for summary in page.get("packageVersionSummaries", [])
            ]
        return package, tags, versions

    scan = Found()
    matcher = NameMatcher(fleet)
    for name, answer in _parallel_reads(ctx, names, read, "package", str):
        if answer is None:
            continue
        package, tags, versions = answer
        info = {"default_version": package.get("defaultVersionName"), "versions": versions}
        scan.classify(
            Resource(PACKAGE, name, str(package["packageArn"]), info),
            tags.get(FLEET_TAG),
            fleet,
            matcher.mentions_fleet(name),
        )
    return scan


# --- thing types ---------------------------------------------------------------------------------------------


def scan_thing_types(ctx: AwsContext, fleet: str) -> Found:
    """Every thing type, with its deprecation state (the deletion waits 5 minutes after deprecation)."""
    types = [
        thing_type
        for page in ctx.iot.get_paginator("list_thing_types").paginate()
        for thing_type in page.get("thingTypes", [])
    ]
    scan = Found()
    matcher = NameMatcher(fleet)
    for thing_type, tags in _parallel_reads(
        ctx,
        types,
        lambda t: resource_tags(ctx, str(t["thingTypeArn"])),
        "thing type",
        lambda t: str(t["thingTypeName"]),
    ):
        if tags is None:
            continue
        name = str(thing_type["thingTypeName"])
        metadata = thing_type.get("thingTypeMetadata") or {}
        info = {
            "deprecated": bool(metadata.get("deprecated")),
            "deprecation_date": metadata.get("deprecationDate"),
        }
        scan.classify(
            Resource(THING_TYPE, name, str(thing_type["thingTypeArn"]), info),
            tags.get(FLEET_TAG),
            fleet,
            matcher.mentions_fleet(name),
        )
    return scan


# --- S3 and IAM ----------------------------------------------------------------------------------------------


def bucket_versions(ctx: AwsContext, bucket: str, prefix: str = "") -> list[dict[str, str]]:
    """Every object version and delete marker of a bucket (under ``prefix``), as ``{"Key", "VersionId"}``."""
    entries: list[dict[str, str]] = []
    for page in ctx.s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            entries.append({"Key": str(entry["Key"]), "VersionId": str(entry.get("VersionId") or "null")})
    return entries


def scan_buckets(ctx: AwsContext, fleet: str) -> Found:
    """iotfleet's buckets of this region (named ``iotfleet-*``), by their tags; the fleet's with its size."""
    scan = Found()
    for candidate in storage.list_candidates(ctx):
        owner = candidate.tags.get(FLEET_TAG)
        info = {"object_versions": len(bucket_versions(ctx, candidate.name))} if owner == fleet else {}
        scan.classify(
            Resource(BUCKET, candidate.name, f"arn:aws:s3:::{candidate.name}", info), owner, fleet, True
        )
    return scan


def scan_roles(ctx: AwsContext, fleet: str) -> Found:
    """IAM roles named like iotfleet's (``iotfleet-...``) or naming the fleet, by their tags.

    iotfleet names its roles ``iotfleet-<fleet>-<purpose>`` (see :mod:`iotfleet.fleet.roles`), so only such
    names are read; the tags, not the name, decide whose a role is.
    """
    matcher = NameMatcher(fleet)
    candidates = [
        role
        for page in ctx.iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": ROLE_PAGE})
        for role in page.get("Roles", [])
        if str(role["RoleName"]).startswith(ROLE_PREFIX) or matcher.mentions_fleet(str(role["RoleName"]))
    ]

    def read(role: dict[str, Any]) -> dict[str, str]:
        tags: dict[str, str] = {}
        for page in ctx.iam.get_paginator("list_role_tags").paginate(RoleName=role["RoleName"]):
            tags.update(tag_dict(page.get("Tags")))
        return tags

    scan = Found()
    for role, tags in _parallel_reads(ctx, candidates, read, "role", lambda role: str(role["RoleName"])):
        if tags is not None:
            scan.classify(
                Resource(ROLE, str(role["RoleName"]), str(role["Arn"])), tags.get(FLEET_TAG), fleet, True
            )
    return scan

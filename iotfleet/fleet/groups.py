"""Thing groups: dynamic groups from Fleet Indexing queries (built or raw, previewed), listing, describing,
deleting, and a query tester.

Queries are checked locally with the shared parser before any call, and against the account's indexing
configuration before a preview, so a bad query points at the offending position and changes nothing.

The builder (:func:`build_query`) turns choices into a query with exact comparison semantics:

==========  ==============================================  ================================
``battery``  query                                           matches
==========  ==============================================  ================================
``>50``      ``shadow.reported.batteryStatus>50``            51 and up (50 excluded)
``>=50``     ``shadow.reported.batteryStatus>=50``           50 and up
``<50``      ``shadow.reported.batteryStatus<50``            up to 49
``<=50``     ``shadow.reported.batteryStatus<=50``           up to 50
``=50``      ``shadow.reported.batteryStatus:50``            exactly 50
==========  ==============================================  ================================

Countries become ``attributes.country`` terms (one, or several joined by OR), the thing type a
``thingTypeName`` term, and versions terms on the ``$package`` shadow of the package (by default the one
named after the thing type). Built queries are scoped to the fleet (``attributes.iotfleet_fleet:<fleet>``)
so a group never reaches another fleet's devices; raw queries are sent as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet import query as fiq
from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet import geography, naming
from iotfleet.fleet.index_search import THINGS_INDEX, count_matching, matching_things
from iotfleet.fleet.ownership import (
    DYNAMIC_GROUP,
    FLEET_ATTRIBUTE,
    FLEET_TAG,
    GROUP_KIND_TAG,
    owned_by,
    tag_list,
)
from iotfleet.fleet.packages.reported import version_query
from iotfleet.fleet.resources import resource_tags
from iotfleet.fleet.runner import run_parallel

QUERY_VERSION = "2017-09-30"
BATTERY_FIELD = "shadow.reported.batteryStatus"
DEFAULT_SAMPLE = 10
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 250
STATIC = "static"
DYNAMIC = "dynamic"
_BATTERY = re.compile(r"\s*(>=|<=|>|<|=)?\s*(\d+(?:\.\d+)?)\s*")
_OPERATORS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "=": ":"}


class InvalidQuery(UsageError):
    """A query the parser or the indexing configuration rejects; ``position`` points at the problem."""

    def __init__(self, error: fiq.QueryError, text: str, param: str = "--query") -> None:
        super().__init__(f"invalid query: {error.render(text)}", param)
        self.error = error
        self.position = error.position


# ------------------------------------------------------------------------------------------ queries


@dataclass(frozen=True)
class BatteryFilter:
    """A battery condition such as ``>50``: an operator and a level from 0 to 100."""

    operator: str
    level: int | float

    def term(self) -> str:
        level = int(self.level) if float(self.level).is_integer() else self.level
        return f"{BATTERY_FIELD}{_OPERATORS[self.operator]}{level}"


def parse_battery(text: str, param: str = "--battery") -> BatteryFilter:
    """``>50``, ``>=50``, ``<50``, ``<=50``, ``=50`` (or ``50``, meaning exactly 50)."""
    match = _BATTERY.fullmatch(str(text))
    if not match:
        raise UsageError(f"battery condition {text!r} must look like >50, >=50, <50, <=50 or =50", param)
    operator = match.group(1) or "="
    level = float(match.group(2))
    if not 0 <= level <= 100:
        raise UsageError(f"battery level {match.group(2)} must be between 0 and 100", param)
    return BatteryFilter(operator, int(level) if level.is_integer() else level)


def build_query(
    *,
    fleet: str | None = None,
    countries: Sequence[str] | None = None,
    thing_type: str | None = None,
    versions: Sequence[str] | None = None,
    package: str | None = None,
    battery: str | BatteryFilter | None = None,
) -> str:
    """A Fleet Indexing query from builder choices, checked by the parser (see the module docstring)."""
    terms: list[str] = []
    criteria = 0
    if countries:
        codes = geography.check_countries(list(countries), "--country")
        parts = [f"attributes.country:{code}" for code in codes]
        terms.append(parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")")
        criteria += 1
    if thing_type:
        naming.check_thing_type_name(thing_type, "--thing-type")
        terms.append(f"thingTypeName:{thing_type}")
        criteria += 1
    if versions:
        package = package or thing_type
        if not package:
            raise UsageError("--version needs the package: give --package or --thing-type", "--version")
        naming.check_package_name(package, "--package")
        for version in versions:
            naming.check_version_name(version, "--version")
        parts = [version_query(package, version) for version in versions]
        terms.append(parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")")
        criteria += 1
    elif package:
        naming.check_package_name(package, "--package")
        terms.append(version_query(package))
        criteria += 1
    if battery is not None:
        condition = battery if isinstance(battery, BatteryFilter) else parse_battery(battery)
        terms.append(condition.term())
        criteria += 1
    if not criteria:
        raise UsageError(
            "the builder needs at least one of --country, --thing-type, --version, --package, --battery "
            "(or give a raw --query)",
            "--query",
        )
    if fleet:
        naming.check_fleet_name(fleet)
        terms.insert(0, f"attributes.{FLEET_ATTRIBUTE}:{fleet}")
    text = " AND ".join(terms)
    check_query(text, param="--country")
    return text


def check_query(
    text: str, configuration: dict[str, Any] | None = None, param: str = "--query"
) -> fiq.CompiledQuery:
    """Parse ``text`` (and check it against an indexing configuration); :class:`InvalidQuery` if it cannot run."""
    if not text or not text.strip():
        raise UsageError("the query is empty", param)
    try:
        return fiq.compile_query(text, configuration)
    except fiq.QueryError as err:
        raise InvalidQuery(err, text, param) from None


def indexing_configuration(ctx: AwsContext) -> dict[str, Any]:
    return dict(ctx.iot.get_indexing_configuration().get("thingIndexingConfiguration") or {})


# ------------------------------------------------------------------------------------------ matching


@dataclass
class MatchedThing:
    """A thing from the fleet index: registry data and the reported state of its shadows."""

    name: str
    thing_type: str | None
    attributes: dict[str, str]
    reported: dict[str, Any]
    groups: list[str]

    @property
    def battery(self) -> Any:
        return self.reported.get("batteryStatus")

    def as_dict(self) -> dict[str, Any]:
        return {
            "thingName": self.name,
            "thingTypeName": self.thing_type,
            "attributes": self.attributes,
            "reported": self.reported,
            "thingGroupNames": self.groups,
        }


def _matched(thing: dict[str, Any]) -> MatchedThing:
    shadow = thing.get("shadow")
    reported: dict[str, Any] = {}
    if shadow:
        document = json.loads(shadow) if isinstance(shadow, str) else shadow
        reported = dict(document.get("reported") or {})
    return MatchedThing(
        name=str(thing["thingName"]),
        thing_type=thing.get("thingTypeName"),
        attributes=dict(thing.get("attributes") or {}),
        reported=reported,
        groups=list(thing.get("thingGroupNames") or []),
    )


@dataclass
class Preview:
    """How many things a query matches now, and some of them."""

    query: str
    count: int
    sample: list[MatchedThing]

    def __iter__(self) -> Iterator[Any]:
        """So that ``count, sample = preview(ctx, query)`` works."""
        yield self.count
        yield self.sample

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query, "count": self.count, "sample": [t.as_dict() for t in self.sample]}


def index_error(err: ClientError, text: str, param: str = "--query") -> UsageError | None:
    """The usage error a fleet-index error on query ``text`` means (indexing off, a query AWS rejects)."""
    if is_error(err, "ResourceNotFoundException", "IndexNotReadyException"):
        return UsageError(
            "fleet indexing is not enabled in this account: run iotfleet provision first", param
        )
    if is_error(err, "InvalidQueryException"):
        message = err.response.get("Error", {}).get("Message", "")
        return UsageError(f"AWS rejected the query {text!r}: {message}", param)
    return None


def count_matches(ctx: AwsContext, text: str) -> int:
    return count_matching(ctx, text, lambda err: index_error(err, text))


def search(ctx: AwsContext, text: str, limit: int | None = None) -> list[MatchedThing]:
    """Things matching ``text``, up to ``limit`` (all pages when None)."""
    things = matching_things(ctx, text, lambda err: index_error(err, text), limit)
    return [_matched(thing) for thing in things]


def preview(ctx: AwsContext, text: str, sample: int = DEFAULT_SAMPLE) -> Preview:
    """The match count and up to ``sample`` matching things, after checking the query locally."""
    check_query(text)
    check_query(text, indexing_configuration(ctx))
    return Preview(text, count_matches(ctx, text), search(ctx, text, limit=sample) if sample > 0 else [])


# ------------------------------------------------------------------------------------------ groups


@dataclass
class GroupInfo:
    name: str
    arn: str
    kind: str  # STATIC or DYNAMIC
    parent: str | None = None
    query: str | None = None
    description: str | None = None
    fleet: str | None = None
    members: int | None = None
    status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arn": self.arn,
            "type": self.kind,
            "parent": self.parent,
            "query": self.query,
            "description": self.description,
            "fleet": self.fleet,
            "members": self.members,
            "status": self.status,
        }


def _info(ctx: AwsContext, name: str, *, with_tags: bool = True) -> GroupInfo:
    found = ctx.iot.describe_thing_group(thingGroupName=name)
    metadata = found.get("thingGroupMetadata") or {}
    properties = found.get("thingGroupProperties") or {}
    info = GroupInfo(
        name=str(found["thingGroupName"]),
        arn=str(found["thingGroupArn"]),
        kind=DYNAMIC if found.get("queryString") else STATIC,
        parent=metadata.get("parentGroupName"),
        query=found.get("queryString"),
        description=properties.get("thingGroupDescription"),
        status=found.get("status"),
    )
    if with_tags:
        info.fleet = resource_tags(ctx, info.arn).get(FLEET_TAG)
    return info


def _member_names(ctx: AwsContext, name: str) -> list[str]:
    names: list[str] = []
    paginator = ctx.iot.get_paginator("list_things_in_thing_group")
    for page in paginator.paginate(thingGroupName=name, PaginationConfig={"PageSize": MAX_PAGE_SIZE}):
        names.extend(page.get("things", []))
    return names


def get_group(ctx: AwsContext, name: str) -> GroupInfo:
    """A group's description and owner; a missing group is a usage error."""
    naming.check_group_name(name, "NAME")
    try:
        return _info(ctx, name)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            raise UsageError(f"thing group {name!r} does not exist", "NAME") from None
        raise


def list_groups(ctx: AwsContext, *, fleet: str | None = None, members: bool = True) -> list[GroupInfo]:
    """Every thing group (all pages), static or dynamic, with owner and member count; ``fleet`` filters."""
    names: list[str] = []
    for page in ctx.iot.get_paginator("list_thing_groups").paginate():
        names.extend(str(group["groupName"]) for group in page.get("thingGroups", []))

    def describe(name: str) -> GroupInfo | None:
        try:
            info = _info(ctx, name)
        except ClientError as err:
            if is_error(err, "ResourceNotFoundException"):
                return None  # deleted since it was listed
            raise
        if fleet is not None and info.fleet != fleet:
            return None
        if members:
            info.members = len(_member_names(ctx, name))
        return info

    result = run_parallel(sorted(names), describe, concurrency=ctx.concurrency)
    result.raise_for_failures("describe the thing groups", "thing group")
    return [info for info in result.values if info is not None]


@dataclass
class Member:
    name: str
    thing_type: str | None
    attributes: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"thingName": self.name, "thingTypeName": self.thing_type, "attributes": self.attributes}


@dataclass
class GroupDescription:
    group: GroupInfo
    members: list[Member] = field(default_factory=list)
    next_token: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.group.as_dict(),
            "memberPage": [m.as_dict() for m in self.members],
            "nextToken": self.next_token,
        }


def describe_group(
    ctx: AwsContext, name: str, *, page_size: int = DEFAULT_PAGE_SIZE, next_token: str | None = None
) -> GroupDescription:
    """The group and one page of its members with their type and attributes (``next_token`` pages on)."""
    page_size = naming.check_positive_int(page_size, "the page size", "--page-size", maximum=MAX_PAGE_SIZE)
    info = get_group(ctx, name)
    request: dict[str, Any] = {"thingGroupName": name, "maxResults": page_size}
    if next_token:
        request["nextToken"] = next_token
    try:
        page = ctx.iot.list_things_in_thing_group(**request)
    except ClientError as err:
        if is_error(err, "InvalidRequestException") and next_token:
            raise UsageError(
                f"--next-token {next_token!r} is not valid for group {name}", "--next-token"
            ) from None
        raise

    def member(thing: str) -> Member | None:
        try:
            found = ctx.iot.describe_thing(thingName=thing)
        except ClientError as err:
            if is_error(err, "ResourceNotFoundException"):
                return None  # deleted since it was listed
            raise
        return Member(thing, found.get("thingTypeName"), dict(found.get("attributes") or {}))

    result = run_parallel(list(page.get("things", [])), member, concurrency=ctx.concurrency)
    result.raise_for_failures(f"describe the members of {name}", "thing")
    members = [m for m in result.values if m is not None]
    return GroupDescription(info, members, page.get("nextToken"))


@dataclass
class CreatedGroup:
    group: GroupInfo
    created: bool
    preview: Preview | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {**self.group.as_dict(), "created": self.created}
        if self.preview is not None:
            data["preview"] = self.preview.as_dict()
        return data


def find_group(ctx: AwsContext, name: str) -> GroupInfo | None:
    try:
        return _info(ctx, name)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return None
        raise


def check_new_dynamic_group(ctx: AwsContext, name: str, text: str, fleet: str) -> GroupInfo | None:
    """Refuse (usage error) a name taken by another group; return the same group when it already exists."""
    naming.check_group_name(name, "NAME")
    existing = find_group(ctx, name)
    if existing is None:
        return None
    if existing.kind == DYNAMIC and existing.query == text and existing.fleet == fleet:
        return existing
    owner = f"fleet {existing.fleet!r}" if existing.fleet else "no iotfleet fleet"
    raise UsageError(
        f"thing group {name!r} already exists ({existing.kind}, owned by {owner}"
        + (f", query {existing.query!r}" if existing.query else "")
        + "); choose another name",
        "NAME",
    )


def create_dynamic_group(
    ctx: AwsContext, name: str, text: str, *, fleet: str, description: str | None = None
) -> CreatedGroup:
    """Create a dynamic group tagged with ``fleet``; the same group already there is reported, not re-created."""
    naming.check_fleet_name(fleet)
    naming.check_description(description)
    check_query(text)
    existing = check_new_dynamic_group(ctx, name, text, fleet)
    if existing is not None:
        return CreatedGroup(existing, created=False)
    check_query(text, indexing_configuration(ctx))
    request: dict[str, Any] = {
        "thingGroupName": name,
        "queryString": text,
        "indexName": THINGS_INDEX,
        "queryVersion": QUERY_VERSION,
        "tags": tag_list(fleet, {GROUP_KIND_TAG: DYNAMIC_GROUP}),
    }
    if description:
        request["thingGroupProperties"] = {"thingGroupDescription": description}
    try:
        answer = ctx.iot.create_dynamic_thing_group(**request)
    except ClientError as err:
        usage = index_error(err, text)
        if usage is not None:
            raise usage from None
        raise
    info = GroupInfo(
        name=name,
        arn=str(answer["thingGroupArn"]),
        kind=DYNAMIC,
        query=text,
        description=description,
        fleet=fleet,
    )
    return CreatedGroup(info, created=True)


def check_deletable(ctx: AwsContext, name: str, *, fleet: str, force: bool = False) -> GroupInfo:
    """The group to delete; one owned by another fleet (or by none) needs ``force``."""
    info = get_group(ctx, name)
    if not force and not owned_by({FLEET_TAG: info.fleet} if info.fleet else {}, fleet):
        owner = f"fleet {info.fleet!r}" if info.fleet else "no iotfleet fleet"
        raise UsageError(
            f"thing group {name!r} belongs to {owner}, not fleet {fleet!r}; pass --force to delete it anyway",
            "--force",
        )
    return info


def delete_group(ctx: AwsContext, info: GroupInfo) -> None:
    """Delete a group checked by :func:`check_deletable` (a static group's things stay; only the group goes)."""
    if info.kind == DYNAMIC:
        ctx.iot.delete_dynamic_thing_group(thingGroupName=info.name)
    else:
        ctx.iot.delete_thing_group(thingGroupName=info.name)

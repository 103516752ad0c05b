"""The devices a rollout targets, found once at its start, with their country, thing type and version.

* ``--query Q``: the things the fleet index matches (``SearchIndex``, 100 a page). The query is checked
  locally and against the account's indexing configuration first.
* ``--group G``: the members of each group, static (with its child groups) or dynamic
  (``ListThingsInThingGroup``, recursive, 250 a page). Their facts come from the fleet index
  (``thingGroupNames:<group>`` for the group and each group under it, 100 a page); a member the index
  does not know yet is described (``DescribeThing``) and counted as reporting no version.

A device's country is its ``country`` attribute, its version what its ``$package`` shadow reports for the
package (as indexed). Devices that join the target later are not part of this rollout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet.groups import check_query, index_error, indexing_configuration
from iotfleet.fleet.index_search import matching_things
from iotfleet.fleet.packages.reported import version_query
from iotfleet.fleet.rollout.waves import UNKNOWN, TargetDevice
from iotfleet.fleet.runner import run_parallel
from iotfleet.query.fields import PACKAGE_SHADOW

PAGE_SIZE = 250
COUNTRY_ATTRIBUTE = "country"


def group_term(group: str) -> str:
    """The fleet-index term for the members of ``group`` (quoted: group names may hold ``-`` and ``:``)."""
    return f'thingGroupNames:"{group}"'


def check_index_query(ctx: AwsContext, text: str, param: str, configuration: dict[str, Any] | None = None) -> None:
    """A query the fleet index can run: parsed locally, then checked against the indexing configuration."""
    check_query(text, param=param)
    check_query(text, configuration if configuration is not None else indexing_configuration(ctx), param=param)


def device_from_index(thing: dict[str, Any], package: str) -> TargetDevice:
    """A device from a ``SearchIndex`` result: its attributes, type and the version its ``$package`` reports."""
    attributes = thing.get("attributes") or {}
    shadow = thing.get("shadow")
    document = json.loads(shadow) if isinstance(shadow, str) and shadow else (shadow or {})
    named = ((document.get("name") or {}).get(PACKAGE_SHADOW) or {}).get("reported") or {}
    entry = named.get(package) if isinstance(named, dict) else None
    version = entry.get("version") if isinstance(entry, dict) else None
    return TargetDevice(
        name=str(thing["thingName"]),
        country=str(attributes.get(COUNTRY_ATTRIBUTE) or UNKNOWN),
        thing_type=str(thing.get("thingTypeName") or UNKNOWN),
        version=None if version is None else str(version),
    )


def _search(ctx: AwsContext, text: str, package: str, param: str) -> list[TargetDevice]:
    things = matching_things(ctx, text, lambda err: index_error(err, text, param))
    return [device_from_index(thing, package) for thing in things]


def query_target(ctx: AwsContext, text: str, package: str) -> list[TargetDevice]:
    check_index_query(ctx, text, "--query")
    return sorted({d.name: d for d in _search(ctx, text, package, "--query")}.values(), key=lambda d: d.name)


def _group_members(ctx: AwsContext, group: str) -> list[str]:
    paginator = ctx.iot.get_paginator("list_things_in_thing_group")
    pages = paginator.paginate(thingGroupName=group, recursive=True, PaginationConfig={"PageSize": PAGE_SIZE})
    return [str(name) for page in pages for name in page.get("things", [])]


def _descendants(ctx: AwsContext, group: str) -> list[str]:
    paginator = ctx.iot.get_paginator("list_thing_groups")
    pages = paginator.paginate(parentGroup=group, recursive=True)
    return [str(g["groupName"]) for page in pages for g in page.get("thingGroups", [])]


def _describe_group(ctx: AwsContext, group: str) -> dict[str, Any]:
    try:
        return dict(ctx.iot.describe_thing_group(thingGroupName=group))
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            raise UsageError(f"thing group {group!r} does not exist", "--group") from None
        raise


def group_target(ctx: AwsContext, groups: Sequence[str], package: str) -> list[TargetDevice]:
    """The members of ``groups`` with their facts (see the module docstring)."""
    described = {group: _describe_group(ctx, group) for group in dict.fromkeys(groups)}
    members: set[str] = set()
    indexed: dict[str, TargetDevice] = {}
    for group, info in described.items():
        members.update(_group_members(ctx, group))
        searched = [group] if info.get("queryString") else [group, *_descendants(ctx, group)]
        for name in searched:
            for device in _search(ctx, group_term(name), package, "--group"):
                indexed.setdefault(device.name, device)

    def describe(name: str) -> TargetDevice | None:
        try:
            thing = ctx.iot.describe_thing(thingName=name)
        except ClientError as err:
            if is_error(err, "ResourceNotFoundException"):
                return None  # deleted since it was listed
            raise
        attributes = thing.get("attributes") or {}
        return TargetDevice(name, str(attributes.get(COUNTRY_ATTRIBUTE) or UNKNOWN),
                            str(thing.get("thingTypeName") or UNKNOWN))  # fmt: skip

    unindexed = sorted(members - set(indexed))
    result = run_parallel(unindexed, describe, concurrency=ctx.concurrency)
    result.raise_for_failures("describe the target's devices", "thing")
    found = [indexed[name] for name in members if name in indexed]
    found += [device for device in result.values if device is not None]
    return sorted(found, key=lambda d: d.name)


def resolve_target(
    ctx: AwsContext, package: str, *, groups: Sequence[str] = (), query: str | None = None
) -> list[TargetDevice]:
    """Every device of the target, sorted by name."""
    if query is not None:
        return query_target(ctx, query, package)
    return group_target(ctx, groups, package)


def wave_health_query(health_query: str, group: str, package: str, version: str) -> str:
    """The health query over one wave's updated devices: the user's query, the wave's group, the new version."""
    return f"({health_query}) AND {group_term(group)} AND {version_query(package, version)}"


def updated_devices_query(group: str, package: str, version: str) -> str:
    """The devices of a wave's group that report the new version."""
    return f"{group_term(group)} AND {version_query(package, version)}"

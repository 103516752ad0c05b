"""Paged registry listings moto answers in one unpaged piece.

AWS pages ListThingsInThingGroup, ListThingGroupsForThing and ListThingGroups (``maxResults`` 1-250 with
``nextToken``), and ListThingsInThingGroup also lists child groups' things with ``recursive``; moto
ignores all of that. AWS does not document a default page size; the emulator returns up to 250.
"""

from __future__ import annotations

from typing import Any

from iotfleet.emulator.errors import InvalidRequestException, ResourceNotFoundException
from iotfleet.emulator.extension import Call, handles
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.pagination import page

MAX_RESULTS = 250


def _page_size(call: Call) -> int:
    size = call.params.get("maxResults", MAX_RESULTS)
    if not 1 <= size <= MAX_RESULTS:
        raise InvalidRequestException(f"maxResults must be between 1 and {MAX_RESULTS}")
    return int(size)


def _paged(call: Call, member: str, items: list[Any]) -> dict[str, Any]:
    results, token = page(items, _page_size(call), call.params.get("nextToken"))
    response: dict[str, Any] = {member: results}
    if token:
        response["nextToken"] = token
    return response


@handles("iot", "ListThingsInThingGroup")
def list_things_in_thing_group(call: Call) -> dict[str, Any]:
    name = call.params["thingGroupName"]
    if accessors.thing_group(call.account_id, call.region, name) is None:
        raise ResourceNotFoundException(f"Thing group {name} cannot be found.")
    recursive = bool(call.params.get("recursive", False))
    members = accessors.group_members(call.account_id, call.region, name, recursive=recursive)
    return _paged(call, "things", members)


@handles("iot", "ListThingGroupsForThing")
def list_thing_groups_for_thing(call: Call) -> dict[str, Any]:
    return _paged(call, "thingGroups", call.moto()["thingGroups"])


@handles("iot", "ListThingGroups")
def list_thing_groups(call: Call) -> dict[str, Any]:
    return _paged(call, "thingGroups", call.moto()["thingGroups"])

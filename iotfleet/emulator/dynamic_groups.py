"""Dynamic thing groups: thing groups whose members are the things matching a Fleet Indexing query.

A dynamic group is a real moto thing group (so DescribeThingGroup, ListThingGroups,
ListThingsInThingGroup, ListThingGroupsForThing and job targeting see it as AWS shows it) plus a
record here holding its query. Membership is kept equal to the query's matches, synchronously:

* on ``thing_changed`` only that thing is re-evaluated, against every dynamic group;
* on CreateDynamicThingGroup, on UpdateDynamicThingGroup with a new query, and on an indexing
  configuration change, the fleet is evaluated: the things the thing index says match, and the current
  members, each tested with the group's compiled query on its live document;
* a membership change alters the thing's ``thingGroupNames``, so a thing is re-evaluated until its
  memberships settle (a query naming ``thingGroupNames`` may depend on another dynamic group).

Membership moves go through the moto_patches accessors, which emit ``group_membership_changed`` for
continuous jobs. The status is always ACTIVE: membership is complete when the call returns.

The 10-groups-per-thing limit follows the developer guide ("Limitations and conflicts"): a thing that
qualifies for a dynamic group while already in 10 groups joins only if one of its groups is a newer
dynamic group, which it then leaves (older dynamic groups take priority); otherwise it stays out,
which AWS reports only in CloudWatch. A static add at the limit fails with InvalidRequestException,
unless ``overrideDynamicGroups`` lets it evict the thing from its most recently created dynamic group.

Static-group operations aimed at a dynamic group (adding or removing things, a dynamic parent,
UpdateThingGroup, DeleteThingGroup) are refused with InvalidRequestException; attaching a policy to one is
refused by the policy operations (:mod:`iotfleet.emulator.identity.handlers_policies`).
Indexing cannot be turned off while dynamic groups exist, nor changed so that a group's query no
longer validates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import (
    InvalidRequestException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    VersionConflictException,
    constraint_error,
)
from iotfleet.emulator.events import THING_CHANGED
from iotfleet.emulator.extension import Call, handles, on_state_init
from iotfleet.emulator.index_documents import DocumentBuilder
from iotfleet.emulator.indexing import (
    CONFIGURATION_CHANGED,
    QUERY_VERSION,
    THINGS_INDEX,
    IndexingSettings,
    check_query_version,
    configuration_guard,
    require_things_index,
    settings,
)
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.search import compile_for_index
from iotfleet.emulator.tagging import MAX_TAGS, tag_holder, tags_from_list
from iotfleet.emulator.thing_index import current_index, uses_index
from iotfleet.query import CompiledQuery, QueryError, compile_query

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

STORE = "dynamic_thing_groups"
MAX_DYNAMIC_GROUPS = 100
MAX_GROUPS_PER_THING = 10
MAX_SETTLE_PASSES = 5
_GROUP_NAME = re.compile(r"[a-zA-Z0-9:_-]+")


@dataclass
class DynamicGroup:
    name: str
    arn: str
    query_string: str
    query: CompiledQuery
    index_name: str
    query_version: str
    sequence: int
    """Creation order: a smaller number is an older group, which wins at the 10-group limit."""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def uses_group_names(self) -> bool:
        return "thingGroupNames" in self.query.fields_used()


class DynamicGroups:
    """The dynamic groups of one account in one region."""

    def __init__(self) -> None:
        self.groups: dict[str, DynamicGroup] = {}
        self._next_sequence = 1

    def next_sequence(self) -> int:
        sequence = self._next_sequence
        self._next_sequence += 1
        return sequence

    def ordered(self) -> list[DynamicGroup]:
        """Oldest first, the order in which they claim things at the 10-group limit."""
        return sorted(self.groups.values(), key=lambda group: group.sequence)

    def by_arn(self, arn: str) -> DynamicGroup | None:
        return next((group for group in self.groups.values() if group.arn == arn), None)


def dynamic_groups(state: EmulatorState, account_id: str, region: str) -> DynamicGroups:
    return state.store(STORE, account_id, region, DynamicGroups)


# --- membership ---------------------------------------------------------------------------------


class Membership:
    """Keeps the members of the dynamic groups of one (account, region) equal to their queries' matches."""

    def __init__(self, state: EmulatorState, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.store = dynamic_groups(state, account_id, region)
        self.builder = DocumentBuilder(state, account_id, region)

    def settle_thing(self, thing_name: str) -> None:
        """Re-evaluate one thing against every dynamic group until its memberships stop changing."""
        groups = self.store.ordered()
        if not groups:
            return
        for _ in range(MAX_SETTLE_PASSES):
            doc = self.builder.document(thing_name)
            if doc is None:
                return
            if not self._apply(doc, groups):
                return

    def evaluate_group(self, group: DynamicGroup) -> None:
        """Evaluate the fleet against one group (after it was created or its query changed)."""
        changed: list[str] = []
        for doc in self._candidates([group]):
            if self._apply(doc, [group]):
                changed.append(doc["thingName"])
        if changed and any(other.uses_group_names for other in self.store.groups.values()):
            for thing_name in changed:
                self.settle_thing(thing_name)

    def evaluate_all(self) -> None:
        """Evaluate the fleet against every group (after the indexing configuration changed)."""
        groups = self.store.ordered()
        if not groups:
            return
        for doc in self._candidates(groups):
            if self._apply(doc, groups):
                self.settle_thing(doc["thingName"])

    def _candidates(self, groups: list[DynamicGroup]) -> list[dict[str, Any]]:
        """The live documents of the things that may join or leave ``groups``, in creation order.

        Those are the things the thing index says match a group's query, and the groups' members;
        a thing in neither is left as it is. In search mode ``scan``, every thing.
        """
        if not uses_index(self.builder.state):
            return list(self.builder.documents())
        index = current_index(self.builder)
        names: set[str] = set()
        for group in groups:
            names.update(index.matching(group.query))
            names.update(accessors.group_members(self.account_id, self.region, group.name, recursive=False))
        docs = (self.builder.document(name) for name in index.in_creation_order(names))
        return [doc for doc in docs if doc is not None]

    def _apply(self, doc: dict[str, Any], groups: list[DynamicGroup]) -> bool:
        """Join or leave each of ``groups`` as the query says; True if any membership changed."""
        thing_name = doc["thingName"]
        member_of = list(doc["thingGroupNames"])
        changed = False
        for group in groups:
            wanted = group.query.matches(doc)
            present = group.name in member_of
            if wanted and not present:
                evicted = self._room_for(group, member_of)
                if evicted is False:
                    continue
                if isinstance(evicted, str):
                    accessors.remove_thing_from_group(self.account_id, self.region, evicted, thing_name)
                    member_of.remove(evicted)
                accessors.add_thing_to_group(self.account_id, self.region, group.name, thing_name)
                member_of.append(group.name)
                changed = True
            elif present and not wanted:
                accessors.remove_thing_from_group(self.account_id, self.region, group.name, thing_name)
                member_of.remove(group.name)
                changed = True
        return changed

    def _room_for(self, group: DynamicGroup, member_of: list[str]) -> bool | str:
        """True if the thing can join ``group``; the name of a newer dynamic group to leave first; or False."""
        if len(member_of) < MAX_GROUPS_PER_THING:
            return True
        dynamic = [self.store.groups[name] for name in member_of if name in self.store.groups]
        if not dynamic:
            return False
        newest = max(dynamic, key=lambda g: g.sequence)
        return newest.name if group.sequence < newest.sequence else False

    def remove_all(self, group: DynamicGroup) -> None:
        """Take every member out of ``group`` (before it is deleted), so subscribers hear each one leave."""
        for thing_name in accessors.group_members(
            self.account_id, self.region, group.name, recursive=False
        ):
            accessors.remove_thing_from_group(self.account_id, self.region, group.name, thing_name)


@on_state_init
def _follow_the_fleet(state: EmulatorState) -> None:
    def thing_changed(account_id: str, region: str, thing_name: str) -> None:
        if dynamic_groups(state, account_id, region).groups:
            Membership(state, account_id, region).settle_thing(thing_name)

    def configuration_changed(account_id: str, region: str) -> None:
        if dynamic_groups(state, account_id, region).groups:
            Membership(state, account_id, region).evaluate_all()

    state.events.subscribe(THING_CHANGED, thing_changed)
    state.events.subscribe(CONFIGURATION_CHANGED, configuration_changed)


@configuration_guard
def _keep_queries_valid(
    state: EmulatorState, account_id: str, region: str, proposed: IndexingSettings
) -> None:
    groups = dynamic_groups(state, account_id, region).ordered()
    if not groups:
        return
    if not proposed.things_enabled:
        raise InvalidRequestException(
            f"Fleet indexing cannot be turned off while dynamic thing groups exist ({len(groups)}); "
            "delete them first"
        )
    for group in groups:
        try:
            compile_query(group.query_string, proposed.thing)
        except QueryError as exc:
            raise InvalidRequestException(
                f"The new indexing configuration does not index what dynamic thing group {group.name} "
                f"queries: {exc.message}"
            ) from exc


# --- the dynamic group operations ---------------------------------------------------------------


def _check_group_name(name: Any) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 128 or not _GROUP_NAME.fullmatch(name):
        raise constraint_error(
            name,
            "thingGroupName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+",
            InvalidRequestException,
        )
    return name


def _query_for(call: Call, query_string: Any) -> tuple[CompiledQuery, str, str]:
    """The compiled query, index name and query version of a create or update call."""
    current = settings(call.state, call.account_id, call.region)
    index_name = call.params.get("indexName") or THINGS_INDEX
    if index_name != THINGS_INDEX:
        raise InvalidRequestException(
            f"Dynamic thing groups support only the {THINGS_INDEX} index, not {index_name}"
        )
    require_things_index(current, index_name)
    check_query_version(call.params.get("queryVersion"))
    return compile_for_index(current, query_string), index_name, QUERY_VERSION


def _dynamic(call: Call, name: str) -> DynamicGroup:
    store = dynamic_groups(call.state, call.account_id, call.region)
    group = store.groups.get(name)
    if group is not None:
        return group
    if accessors.thing_group(call.account_id, call.region, name) is not None:
        raise InvalidRequestException(
            f"Thing group {name} is a static thing group, not a dynamic thing group"
        )
    raise ResourceNotFoundException(f"Thing group {name} cannot be found.")


@handles("iot", "CreateDynamicThingGroup")
def create_dynamic_thing_group(call: Call) -> dict[str, Any]:
    params = call.params
    name = _check_group_name(params.get("thingGroupName"))
    query, index_name, query_version = _query_for(call, params.get("queryString"))
    query_string = query.text
    tags = tags_from_list(params.get("tags"))
    if len(tags) > MAX_TAGS:
        raise InvalidRequestException(f"A resource can have at most {MAX_TAGS} tags")
    existing = accessors.thing_group(call.account_id, call.region, name)
    if existing is not None:
        raise ResourceAlreadyExistsException(
            f"Thing Group {name} already exists", resourceId=existing.group_id, resourceArn=existing.arn
        )
    store = dynamic_groups(call.state, call.account_id, call.region)
    if len(store.groups) >= MAX_DYNAMIC_GROUPS:
        raise LimitExceededException(f"An account can have at most {MAX_DYNAMIC_GROUPS} dynamic thing groups")
    record = accessors.create_thing_group(
        call.account_id, call.region, name, params.get("thingGroupProperties") or {}
    )
    group = DynamicGroup(
        name=name,
        arn=record.arn,
        query_string=query_string,
        query=query,
        index_name=index_name,
        query_version=query_version,
        sequence=store.next_sequence(),
        tags=tags,
    )
    store.groups[name] = group
    Membership(call.state, call.account_id, call.region).evaluate_group(group)
    return {
        "thingGroupName": name,
        "thingGroupArn": record.arn,
        "thingGroupId": record.group_id,
        "indexName": index_name,
        "queryString": query_string,
        "queryVersion": query_version,
    }


@handles("iot", "UpdateDynamicThingGroup")
def update_dynamic_thing_group(call: Call) -> dict[str, Any]:
    params = call.params
    group = _dynamic(call, _check_group_name(params.get("thingGroupName")))
    new_query: CompiledQuery | None = None
    if params.get("queryString") is not None:
        new_query, _index_name, _version = _query_for(call, params["queryString"])
    elif params.get("indexName") is not None or params.get("queryVersion") is not None:
        _query_for(call, group.query_string)
    version = accessors.update_thing_group(
        call.account_id,
        call.region,
        group.name,
        params.get("thingGroupProperties") or {},
        params.get("expectedVersion"),
    )
    if new_query is not None and new_query.text != group.query_string:
        group.query, group.query_string = new_query, new_query.text
        Membership(call.state, call.account_id, call.region).evaluate_group(group)
    return {"version": version}


@handles("iot", "DeleteDynamicThingGroup")
def delete_dynamic_thing_group(call: Call) -> dict[str, Any]:
    name = _check_group_name(call.params.get("thingGroupName"))
    store = dynamic_groups(call.state, call.account_id, call.region)
    group = store.groups.get(name)
    if group is None:
        if accessors.thing_group(call.account_id, call.region, name) is not None:
            raise InvalidRequestException(
                f"Thing group {name} is a static thing group: delete it with DeleteThingGroup"
            )
        return {}
    expected = call.params.get("expectedVersion")
    record = accessors.thing_group(call.account_id, call.region, name)
    if record is not None and expected is not None and int(expected) != record.version:
        raise VersionConflictException(
            f"The version of thing group {name} is {record.version}, not the expected {expected}"
        )
    Membership(call.state, call.account_id, call.region).remove_all(group)
    accessors.delete_thing_group(call.account_id, call.region, name)
    del store.groups[name]
    return {}


@handles("iot", "DescribeThingGroup")
def describe_thing_group(call: Call) -> dict[str, Any]:
    answer = call.moto()
    group = dynamic_groups(call.state, call.account_id, call.region).groups.get(call.params["thingGroupName"])
    if group is not None:
        answer.update(
            indexName=group.index_name,
            queryString=group.query_string,
            queryVersion=group.query_version,
            status="ACTIVE",
        )
    return answer


# --- static group operations on dynamic groups --------------------------------------------------


def _group_name(params: dict[str, Any]) -> str | None:
    name = params.get("thingGroupName")
    if name is None and params.get("thingGroupArn"):
        name = str(params["thingGroupArn"]).rsplit("/", 1)[-1]
    return name


def _refuse_dynamic(call: Call, name: str | None, what: str) -> None:
    if name is not None and name in dynamic_groups(call.state, call.account_id, call.region).groups:
        raise InvalidRequestException(f"Cannot {what} dynamic thing group {name}")


def _thing_name(params: dict[str, Any]) -> str | None:
    name = params.get("thingName")
    if name is None and params.get("thingArn"):
        name = str(params["thingArn"]).rsplit("/", 1)[-1]
    return name


def _make_room(call: Call, thing_name: str, adding: list[str], removing: list[str]) -> None:
    """Enforce the 10-groups-per-thing limit for static additions (see the module docstring)."""
    record = accessors.thing(call.account_id, call.region, thing_name)
    if record is None:
        return  # moto answers the missing thing with its own error
    current = [name for name in record.thing_group_names if name not in removing]
    new = [name for name in dict.fromkeys(adding) if name not in current]
    excess = len(current) + len(new) - MAX_GROUPS_PER_THING
    if excess <= 0:
        return
    membership = Membership(call.state, call.account_id, call.region)
    store = membership.store
    evictable = sorted(
        (store.groups[name] for name in current if name in store.groups),
        key=lambda g: g.sequence,
        reverse=True,
    )
    override = bool(call.params.get("overrideDynamicGroups"))
    if not override or len(evictable) < excess:
        hint = (
            "; set overrideDynamicGroups to let static groups replace dynamic ones"
            if evictable and not override
            else ""
        )
        raise InvalidRequestException(
            f"Thing {thing_name} cannot be in more than {MAX_GROUPS_PER_THING} thing groups{hint}"
        )
    for group in evictable[:excess]:
        accessors.remove_thing_from_group(call.account_id, call.region, group.name, thing_name)


@handles("iot", "AddThingToThingGroup")
def add_thing_to_thing_group(call: Call) -> dict[str, Any]:
    group_name = _group_name(call.params)
    _refuse_dynamic(call, group_name, "add things by hand to")
    thing_name = _thing_name(call.params)
    if group_name is not None and thing_name is not None:
        _make_room(call, thing_name, [group_name], [])
    return call.moto()


@handles("iot", "RemoveThingFromThingGroup")
def remove_thing_from_thing_group(call: Call) -> dict[str, Any]:
    _refuse_dynamic(call, _group_name(call.params), "remove things by hand from")
    return call.moto()


@handles("iot", "UpdateThingGroupsForThing")
def update_thing_groups_for_thing(call: Call) -> dict[str, Any]:
    adding = list(call.params.get("thingGroupsToAdd") or [])
    removing = list(call.params.get("thingGroupsToRemove") or [])
    for name in adding:
        _refuse_dynamic(call, name, "add things by hand to")
    for name in removing:
        _refuse_dynamic(call, name, "remove things by hand from")
    thing_name = call.params.get("thingName")
    if thing_name is not None and adding:
        _make_room(call, thing_name, adding, removing)
    return call.moto()


@handles("iot", "CreateThingGroup")
def create_thing_group(call: Call) -> dict[str, Any]:
    store = dynamic_groups(call.state, call.account_id, call.region)
    name = call.params.get("thingGroupName")
    if name in store.groups:
        group = store.groups[name]
        record = accessors.thing_group(call.account_id, call.region, name)
        raise ResourceAlreadyExistsException(
            f"Thing Group {name} already exists as a dynamic thing group",
            resourceId=record.group_id if record is not None else None,
            resourceArn=group.arn,
        )
    parent = call.params.get("parentGroupName")
    if parent in store.groups:
        raise InvalidRequestException(
            f"Dynamic thing group {parent} cannot be a parent: dynamic groups have no hierarchy"
        )
    return call.moto()


@handles("iot", "UpdateThingGroup")
def update_thing_group(call: Call) -> dict[str, Any]:
    name = call.params.get("thingGroupName")
    if name in dynamic_groups(call.state, call.account_id, call.region).groups:
        raise InvalidRequestException(
            f"Thing group {name} is a dynamic thing group: update it with UpdateDynamicThingGroup"
        )
    return call.moto()


@handles("iot", "DeleteThingGroup")
def delete_thing_group(call: Call) -> dict[str, Any]:
    name = call.params["thingGroupName"]
    store = dynamic_groups(call.state, call.account_id, call.region)
    if name in store.groups:
        raise InvalidRequestException(
            f"Thing group {name} is a dynamic thing group: delete it with DeleteDynamicThingGroup"
        )
    members: list[str] = []
    if store.groups and accessors.thing_group(call.account_id, call.region, name) is not None:
        members = accessors.group_members(call.account_id, call.region, name, recursive=False)
    answer = call.moto()
    # The members' thingGroupNames changed: queries naming thingGroupNames may now match differently.
    membership = Membership(call.state, call.account_id, call.region)
    for thing_name in members:
        membership.settle_thing(thing_name)
    return answer


@tag_holder
def _dynamic_group_tags(
    state: EmulatorState, account_id: str, region: str, arn: str
) -> dict[str, str] | None:
    group = dynamic_groups(state, account_id, region).by_arn(arn)
    return group.tags if group is not None else None


def dynamic_group(state: EmulatorState, account_id: str, region: str, group_name: str) -> DynamicGroup | None:
    """The dynamic group called ``group_name``, or None (a static group or no group)."""
    return dynamic_groups(state, account_id, region).groups.get(group_name)

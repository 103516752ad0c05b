"""Which successful calls change a thing, and the events the core emits for them.

After a successful call listed here the app emits :data:`~iotfleet.emulator.events.THING_CHANGED`
(and :data:`~iotfleet.emulator.events.THING_DELETED` for DeleteThing), plus
:data:`~iotfleet.emulator.events.GROUP_MEMBERSHIP_CHANGED` for static group membership calls, so dynamic groups and continuous
jobs can follow. Internal shadow writes emit THING_CHANGED through ``moto_patches.accessors.write_shadow``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iotfleet.emulator.events import GROUP_MEMBERSHIP_CHANGED, THING_CHANGED, THING_DELETED

if TYPE_CHECKING:
    from iotfleet.emulator.extension import Call
    from iotfleet.emulator.state import EmulatorState

_THING_OPERATIONS = {
    ("iot", "CreateThing"),
    ("iot", "UpdateThing"),
    ("iot", "DeleteThing"),
    ("iot", "AddThingToThingGroup"),
    ("iot", "RemoveThingFromThingGroup"),
    ("iot", "UpdateThingGroupsForThing"),
    ("iot-data", "UpdateThingShadow"),
    ("iot-data", "DeleteThingShadow"),
}
_EVENTS = (THING_CHANGED, THING_DELETED, GROUP_MEMBERSHIP_CHANGED)


def emits_for(state: EmulatorState, service: str, operation: str) -> bool:
    """True when the call changes a thing and someone listens (so params are worth parsing)."""
    if (service, operation) not in _THING_OPERATIONS:
        return False
    return any(state.events.has_subscribers(name) for name in _EVENTS)


def _name_from_arn(arn: str | None) -> str | None:
    if not arn:
        return None
    return arn.rsplit("/", 1)[-1]


def emit(state: EmulatorState, call: Call, params: dict[str, Any]) -> None:
    """Emit the events for a successful thing-changing call (under the global lock)."""
    where = {"account_id": call.account_id, "region": call.region}
    operation = call.operation
    thing_name = params.get("thingName") or _name_from_arn(params.get("thingArn"))
    if thing_name is None:
        return
    events = state.events
    if operation in ("AddThingToThingGroup", "RemoveThingFromThingGroup"):
        group = params.get("thingGroupName") or _name_from_arn(params.get("thingGroupArn"))
        if group is not None:
            events.emit(
                GROUP_MEMBERSHIP_CHANGED,
                **where,
                group_name=group,
                thing_name=thing_name,
                added=operation == "AddThingToThingGroup",
            )
    elif operation == "UpdateThingGroupsForThing":
        for group in params.get("thingGroupsToAdd") or []:
            events.emit(GROUP_MEMBERSHIP_CHANGED, **where, group_name=group, thing_name=thing_name, added=True)
        for group in params.get("thingGroupsToRemove") or []:
            events.emit(GROUP_MEMBERSHIP_CHANGED, **where, group_name=group, thing_name=thing_name, added=False)
    events.emit(THING_CHANGED, **where, thing_name=thing_name)
    if operation == "DeleteThing":
        events.emit(THING_DELETED, **where, thing_name=thing_name)

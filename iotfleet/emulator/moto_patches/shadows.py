"""Classic and named shadows in moto (``moto.iotdata``): the fixes where moto differs from AWS.

* Shadows are kept by thing name, apart from the registry, as on AWS ("we don't enforce a mapping
  between a thing's registry name and its shadow state"): Update/Get/DeleteThingShadow and
  ListNamedShadowsForThing work for any valid thing name, and DeleteThing leaves the thing's shadows in
  place (moto kept them on the registry's thing record, so they needed one and died with it). A thing
  in the registry shares the same shadows, so a thing created again under an old name finds them.
* ``version`` in an update is optimistic locking against the current version, where a shadow that
  never existed is at version 0 (moto crashed on it); the state document is validated as AWS does;
  deleting a deleted shadow is a 404, and deleted named shadows are not listed.
"""

from __future__ import annotations

import json
from typing import Any

from moto.iotdata.exceptions import ConflictException as _MotoShadowConflict
from moto.iotdata.exceptions import InvalidRequestException as _MotoShadowInvalid
from moto.iotdata.exceptions import ResourceNotFoundException as _MotoShadowNotFound
from moto.iotdata.models import FakeShadow, IoTDataPlaneBackend, iotdata_backends

# The moto functions as shipped: the ones replaced below, and the one they build shadows with.
ORIGINALS: dict[str, Any] = {
    "IoTDataPlaneBackend.update_thing_shadow": IoTDataPlaneBackend.update_thing_shadow,
    "IoTDataPlaneBackend.get_thing_shadow": IoTDataPlaneBackend.get_thing_shadow,
    "IoTDataPlaneBackend.delete_thing_shadow": IoTDataPlaneBackend.delete_thing_shadow,
    "IoTDataPlaneBackend.list_named_shadows_for_thing": IoTDataPlaneBackend.list_named_shadows_for_thing,
    "FakeShadow.create_from_previous_version": FakeShadow.create_from_previous_version,
}
EXPECTED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "IoTDataPlaneBackend.update_thing_shadow": ("thing_name", "payload", "shadow_name"),
    "IoTDataPlaneBackend.get_thing_shadow": ("thing_name", "shadow_name"),
    "IoTDataPlaneBackend.delete_thing_shadow": ("thing_name", "shadow_name"),
    "IoTDataPlaneBackend.list_named_shadows_for_thing": ("thing_name",),
    "FakeShadow.create_from_previous_version": ("previous_shadow", "payload"),
}

_STORE_ATTRIBUTE = "iotfleet_shadows_by_thing"
"""Where a data-plane backend keeps its shadows; moto's reset clears the backend's attributes, and this."""

Shadows = dict[str | None, FakeShadow]


def _store(backend: IoTDataPlaneBackend) -> dict[str, Shadows]:
    found = backend.__dict__.get(_STORE_ATTRIBUTE)
    if found is None:
        found = backend.__dict__[_STORE_ATTRIBUTE] = {}
    return found  # type: ignore[no-any-return]


def shadows_of(account_id: str, region: str, thing_name: str) -> Shadows:
    """The shadow records of ``thing_name`` (``None`` for the classic one), deleted ones included.

    The dict is live: the registry's thing record of the same name holds this very dict.
    """
    return _store(iotdata_backends[account_id][region]).setdefault(thing_name, {})


def live_shadows(account_id: str, region: str, thing_name: str) -> dict[str | None, FakeShadow]:
    """The shadows of ``thing_name`` that exist now (not deleted), without creating a record."""
    found = _store(iotdata_backends[account_id][region]).get(thing_name) or {}
    return {name: shadow for name, shadow in found.items() if not shadow.deleted}


def _check_document(document: Any) -> None:
    """An UpdateThingShadow payload as AWS validates it: an object with a ``state`` of desired/reported."""
    if not isinstance(document, dict):
        raise _MotoShadowInvalid("Invalid JSON")
    if "state" not in document:
        raise _MotoShadowInvalid("Missing required node: state")
    state_node = document["state"]
    if state_node is not None:
        if not isinstance(state_node, dict):
            raise _MotoShadowInvalid("State node must be an object")
        for node in state_node:
            if node not in ("desired", "reported"):
                raise _MotoShadowInvalid("State contains an invalid node")
            if state_node[node] is not None and not isinstance(state_node[node], dict):
                raise _MotoShadowInvalid(f"{node.capitalize()} node must be an object")


def _new_shadow(previous: FakeShadow | None, payload: dict[str, Any] | None) -> FakeShadow:
    """The next version of a shadow, not kept by moto's instance tracker.

    moto's ``BaseModel`` appends every instance it makes to a class-wide list (for its dashboard, which the
    emulator does not serve). A shadow gets a new instance on every update, so that list would keep every
    version ever written: memory grew without bound under steady updates. The emulator keeps the current
    version only, in the store above.
    """
    shadow = ORIGINALS["FakeShadow.create_from_previous_version"](previous, payload)
    tracked = FakeShadow.instances_tracked  # type: ignore[attr-defined]
    if tracked and tracked[-1] is shadow:  # made just now, under the emulator's lock
        tracked.pop()
    return shadow


def update_thing_shadow(
    self: IoTDataPlaneBackend, thing_name: str, payload: str, shadow_name: str | None
) -> FakeShadow:
    try:
        document = json.loads(payload)
    except ValueError:
        raise _MotoShadowInvalid("Invalid JSON") from None
    _check_document(document)
    shadows = shadows_of(self.account_id, self.region_name, thing_name)
    current = shadows.get(shadow_name)
    if "version" in document:
        version = document["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise _MotoShadowInvalid("Invalid version")
        if version != (current.version if current is not None else 0):
            raise _MotoShadowConflict("Version conflict")
    if current is not None and current.deleted:
        # A deleted shadow's document is gone; only its version number carries on.
        new_shadow = _new_shadow(None, document)
        new_shadow.version = current.version + 1
    else:
        new_shadow = _new_shadow(current, document)
    shadows[shadow_name] = new_shadow
    return new_shadow


def get_thing_shadow(self: IoTDataPlaneBackend, thing_name: str, shadow_name: str | None) -> FakeShadow:
    current = live_shadows(self.account_id, self.region_name, thing_name).get(shadow_name)
    if current is None:
        raise _MotoShadowNotFound()
    return current


def delete_thing_shadow(self: IoTDataPlaneBackend, thing_name: str, shadow_name: str | None) -> FakeShadow:
    current = live_shadows(self.account_id, self.region_name, thing_name).get(shadow_name)
    if current is None:
        raise _MotoShadowNotFound()
    new_shadow = _new_shadow(current, None)
    shadows_of(self.account_id, self.region_name, thing_name)[shadow_name] = new_shadow
    return new_shadow


def list_named_shadows_for_thing(self: IoTDataPlaneBackend, thing_name: str) -> list[str]:
    return [name for name in live_shadows(self.account_id, self.region_name, thing_name) if name is not None]


def apply() -> None:
    IoTDataPlaneBackend.update_thing_shadow = update_thing_shadow  # type: ignore[method-assign]
    IoTDataPlaneBackend.get_thing_shadow = get_thing_shadow  # type: ignore[method-assign]
    IoTDataPlaneBackend.delete_thing_shadow = delete_thing_shadow  # type: ignore[method-assign]
    IoTDataPlaneBackend.list_named_shadows_for_thing = list_named_shadows_for_thing  # type: ignore[method-assign]

"""Classic and named shadows in moto (``moto.iotdata``): the fixes where moto differs from AWS.

``version`` in an update is optimistic locking against the current version, where a shadow that never
existed is at version 0 (moto crashed on it); the state document is validated as AWS does; deleting a
deleted shadow is a 404, and deleted named shadows are not listed.
"""

from __future__ import annotations

import json
from typing import Any

from moto.iotdata.exceptions import ConflictException as _MotoShadowConflict
from moto.iotdata.exceptions import InvalidRequestException as _MotoShadowInvalid
from moto.iotdata.exceptions import ResourceNotFoundException as _MotoShadowNotFound
from moto.iotdata.models import FakeShadow, IoTDataPlaneBackend

# The moto functions as shipped: the ones replaced below, and the one they build shadows with.
ORIGINALS: dict[str, Any] = {
    "IoTDataPlaneBackend.update_thing_shadow": IoTDataPlaneBackend.update_thing_shadow,
    "IoTDataPlaneBackend.delete_thing_shadow": IoTDataPlaneBackend.delete_thing_shadow,
    "IoTDataPlaneBackend.list_named_shadows_for_thing": IoTDataPlaneBackend.list_named_shadows_for_thing,
    "FakeShadow.create_from_previous_version": FakeShadow.create_from_previous_version,
}
EXPECTED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "IoTDataPlaneBackend.update_thing_shadow": ("thing_name", "payload", "shadow_name"),
    "IoTDataPlaneBackend.delete_thing_shadow": ("thing_name", "shadow_name"),
    "IoTDataPlaneBackend.list_named_shadows_for_thing": ("thing_name",),
    "FakeShadow.create_from_previous_version": ("previous_shadow", "payload"),
}


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


def update_thing_shadow(
    self: IoTDataPlaneBackend, thing_name: str, payload: str, shadow_name: str | None
) -> FakeShadow:
    thing = self.iot_backend.describe_thing(thing_name)
    try:
        document = json.loads(payload)
    except ValueError:
        raise _MotoShadowInvalid("Invalid JSON") from None
    _check_document(document)
    current = thing.thing_shadows.get(shadow_name)
    if "version" in document:
        version = document["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise _MotoShadowInvalid("Invalid version")
        if version != (current.version if current is not None else 0):
            raise _MotoShadowConflict("Version conflict")
    if current is not None and current.deleted:
        # A deleted shadow's document is gone; only its version number carries on.
        new_shadow = FakeShadow.create_from_previous_version(None, document)
        new_shadow.version = current.version + 1
    else:
        new_shadow = FakeShadow.create_from_previous_version(current, document)
    thing.thing_shadows[shadow_name] = new_shadow
    return new_shadow


def delete_thing_shadow(self: IoTDataPlaneBackend, thing_name: str, shadow_name: str | None) -> FakeShadow:
    thing = self.iot_backend.describe_thing(thing_name)
    current = thing.thing_shadows.get(shadow_name)
    if current is None or current.deleted:
        raise _MotoShadowNotFound()
    new_shadow = FakeShadow.create_from_previous_version(current, None)
    thing.thing_shadows[shadow_name] = new_shadow
    return new_shadow


def list_named_shadows_for_thing(self: IoTDataPlaneBackend, thing_name: str) -> list[str]:
    thing = self.iot_backend.describe_thing(thing_name)
    return [name for name, shadow in thing.thing_shadows.items() if name is not None and not shadow.deleted]


def apply() -> None:
    IoTDataPlaneBackend.update_thing_shadow = update_thing_shadow  # type: ignore[method-assign]
    IoTDataPlaneBackend.delete_thing_shadow = delete_thing_shadow  # type: ignore[method-assign]
    IoTDataPlaneBackend.list_named_shadows_for_thing = list_named_shadows_for_thing  # type: ignore[method-assign]

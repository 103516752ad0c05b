"""Things, thing types and thing groups in moto (``moto.iot``): the fixes where moto differs from AWS.

* lookups by name use the ARN, a function of the name, instead of scanning every thing or group;
* creating an existing thing with the same settings returns it, with other settings it conflicts (moto
  replaced the thing: new id, shadows and group memberships lost);
* a thing has at most 3 attributes without a thing type, 50 with one, and never a deprecated type;
* a parent group that does not exist is a 404 (moto crashed with a 500);
* a ``nextToken`` moto did not issue is a 400 InvalidRequestException (moto crashed, or answered with
  ``InvalidToken``, a code IoT does not have);
* a deleted thing leaves its groups (moto left it listed in them), and keeps its shadows (see
  :mod:`.shadows`: they are kept by thing name);
* UpdateThing and DeleteThing honour ``expectedVersion``, and UpdateThing bumps the version;
* CreateThingType returns the ``thingTypeId``; creating an existing thing type again with the same
  properties returns it, with other properties it conflicts (moto replaced it: new id, deprecation lost);
* a thing type is deleted only once it has been deprecated for 5 minutes and no thing uses it (moto
  deleted at once and recorded no date).
"""

from __future__ import annotations

from typing import Any

import moto.iot.models as _iot_models
from moto.core.exceptions import InvalidToken as _MotoInvalidToken
from moto.core.responses import ActionResult
from moto.iot.exceptions import InvalidRequestException as _MotoIotInvalidRequest
from moto.iot.exceptions import ResourceAlreadyExistsException as _MotoIotAlreadyExists
from moto.iot.exceptions import ResourceNotFoundException as _MotoIotNotFound
from moto.iot.exceptions import VersionConflictException as _MotoIotVersionConflict
from moto.iot.models import FakeThing, FakeThingGroup, IoTBackend
from moto.iot.responses import IoTResponse
from moto.utilities.utils import get_partition

from iotfleet.emulator.moto_patches import shadows

THING_TYPE_DELETION_DELAY = 300
"""Seconds a thing type must have been deprecated before AWS deletes it."""

MAX_ATTRIBUTES_UNTYPED = 3
MAX_ATTRIBUTES_TYPED = 50

# The moto functions as shipped: the ones replaced below, and (update_thing_group, delete_thing_group)
# the ones the accessors call.
ORIGINALS: dict[str, Any] = {
    "IoTBackend.create_thing": IoTBackend.create_thing,
    "IoTBackend.delete_thing": IoTBackend.delete_thing,
    "IoTBackend.update_thing": IoTBackend.update_thing,
    "IoTBackend.describe_thing": IoTBackend.describe_thing,
    "IoTBackend.describe_thing_group": IoTBackend.describe_thing_group,
    "IoTBackend.create_thing_group": IoTBackend.create_thing_group,
    "IoTBackend.update_thing_group": IoTBackend.update_thing_group,
    "IoTBackend.delete_thing_group": IoTBackend.delete_thing_group,
    "IoTBackend.create_thing_type": IoTBackend.create_thing_type,
    "IoTBackend.deprecate_thing_type": IoTBackend.deprecate_thing_type,
    "IoTBackend.delete_thing_type": IoTBackend.delete_thing_type,
    "IoTResponse.create_thing_type": IoTResponse.create_thing_type,
    "IoTResponse.update_thing": IoTResponse.update_thing,
    "IoTResponse.delete_thing": IoTResponse.delete_thing,
    "IoTResponse.list_thing_types": IoTResponse.list_thing_types,
}
EXPECTED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "IoTBackend.create_thing": ("thing_name", "thing_type_name", "attribute_payload", "billing_group_name"),
    "IoTBackend.delete_thing": ("thing_name",),
    "IoTBackend.update_thing": ("thing_name", "thing_type_name", "attribute_payload", "remove_thing_type"),
    "IoTBackend.describe_thing": ("thing_name",),
    "IoTBackend.describe_thing_group": ("thing_group_name",),
    "IoTBackend.create_thing_group": ("thing_group_name", "parent_group_name", "thing_group_properties"),
    "IoTBackend.update_thing_group": ("thing_group_name", "thing_group_properties", "expected_version"),
    "IoTBackend.delete_thing_group": ("thing_group_name",),
    "IoTBackend.create_thing_type": ("thing_type_name", "thing_type_properties"),
    "IoTBackend.deprecate_thing_type": ("thing_type_name", "undo_deprecate"),
    "IoTBackend.delete_thing_type": ("thing_type_name",),
    "IoTResponse.create_thing_type": (),
    "IoTResponse.update_thing": (),
    "IoTResponse.delete_thing": (),
    "IoTResponse.list_thing_types": (),
}

_PAGED_LISTINGS = ("list_things", "list_billing_groups")
"""IoTResponse methods that use moto's shared paginator (whose bad-token error IoT does not have)."""


def thing_arn(backend: IoTBackend, thing_name: str) -> str:
    return f"arn:{get_partition(backend.region_name)}:iot:{backend.region_name}:{backend.account_id}:thing/{thing_name}"


def thing_type_arn(backend: IoTBackend, thing_type_name: str) -> str:
    partition = get_partition(backend.region_name)
    return f"arn:{partition}:iot:{backend.region_name}:{backend.account_id}:thingtype/{thing_type_name}"


def group_arn(backend: IoTBackend, group_name: str) -> str:
    partition = get_partition(backend.region_name)
    return f"arn:{partition}:iot:{backend.region_name}:{backend.account_id}:thinggroup/{group_name}"


# --- lookups by name --------------------------------------------------------------------------------


def describe_thing(self: IoTBackend, thing_name: str) -> FakeThing:
    thing = self.things.get(thing_arn(self, thing_name))
    if thing is None:
        raise _MotoIotNotFound(f"Thing {thing_name} cannot be found.")
    return thing


def describe_thing_group(self: IoTBackend, thing_group_name: str) -> FakeThingGroup:
    group = self.thing_groups.get(group_arn(self, thing_group_name))
    if group is None:
        raise _MotoIotNotFound(f"Thing group {thing_group_name} cannot be found.")
    return group


# --- things -------------------------------------------------------------------------------------------


def create_thing(
    self: IoTBackend,
    thing_name: str,
    thing_type_name: str,
    attribute_payload: dict[str, Any] | None,
    billing_group_name: str | None = None,
) -> FakeThing:
    existing = self.things.get(thing_arn(self, thing_name))
    if existing is not None:
        attributes = (attribute_payload or {}).get("attributes", {}) or {}
        same_type = (existing.thing_type.thing_type_name if existing.thing_type else None) == (
            thing_type_name or None
        )
        if same_type and existing.attributes == attributes:
            return existing
        raise _MotoIotAlreadyExists(
            f"Thing {thing_name} already exists in account with different attributes",
            existing.thing_id,
            existing.arn,
        )
    _check_attribute_count(((attribute_payload or {}).get("attributes") or {}), thing_type_name)
    _refuse_deprecated_type(self, thing_type_name)
    created: FakeThing = ORIGINALS["IoTBackend.create_thing"](
        self, thing_name, thing_type_name, attribute_payload, billing_group_name
    )
    # The thing's shadows are kept by name, apart from the registry (see shadows.py); the record shares them.
    created.thing_shadows = shadows.shadows_of(self.account_id, self.region_name, thing_name)
    return created


def delete_thing(self: IoTBackend, thing_name: str) -> None:
    thing = self.describe_thing(thing_name)
    ORIGINALS["IoTBackend.delete_thing"](self, thing_name)
    for group in self.thing_groups.values():
        group.things.pop(thing.arn, None)


def update_thing(
    self: IoTBackend,
    thing_name: str,
    thing_type_name: str,
    attribute_payload: dict[str, Any] | None,
    remove_thing_type: bool,
    expected_version: int | None = None,
) -> None:
    thing = self.describe_thing(thing_name)
    if expected_version is not None and int(expected_version) != thing.version:
        raise _MotoIotVersionConflict(thing_name)
    _check_updated_attributes(thing, thing_type_name, attribute_payload, remove_thing_type)
    if thing_type_name and (thing.thing_type is None or thing.thing_type.thing_type_name != thing_type_name):
        _refuse_deprecated_type(self, thing_type_name)
    ORIGINALS["IoTBackend.update_thing"](self, thing_name, thing_type_name, attribute_payload, remove_thing_type)
    thing.version += 1


def update_thing_response(self: IoTResponse) -> Any:
    self.iot_backend.update_thing(  # type: ignore[call-arg]
        thing_name=self._get_param("thingName"),
        thing_type_name=self._get_param("thingTypeName"),
        attribute_payload=self._get_param("attributePayload"),
        remove_thing_type=self._get_param("removeThingType"),
        expected_version=self._get_param("expectedVersion"),
    )
    return _empty_result()


def delete_thing_response(self: IoTResponse) -> Any:
    thing_name = self._get_param("thingName")
    expected = self._get_param("expectedVersion")
    if expected is not None:
        thing = self.iot_backend.describe_thing(thing_name)
        if int(expected) != thing.version:
            raise _MotoIotVersionConflict(thing_name)
    self.iot_backend.delete_thing(thing_name=thing_name)
    return _empty_result()


def _refuse_deprecated_type(backend: IoTBackend, thing_type_name: str | None) -> None:
    """AWS: no thing may take a deprecated thing type."""
    if not thing_type_name:
        return
    for thing_type in backend.thing_types.values():
        if thing_type.thing_type_name == thing_type_name and thing_type.metadata.get("deprecated"):
            raise _MotoIotInvalidRequest(f"Can not create new thing with deprecated thing type:{thing_type_name}")


def _check_attribute_count(attributes: dict[str, Any], thing_type_name: str | None) -> None:
    """AWS: a thing without a thing type has at most 3 attributes, with one at most 50."""
    limit = MAX_ATTRIBUTES_TYPED if thing_type_name else MAX_ATTRIBUTES_UNTYPED
    count = sum(1 for value in attributes.values() if value)
    if count > limit:
        kind = "with" if thing_type_name else "without"
        raise _MotoIotInvalidRequest(
            f"A thing {kind} a thing type can have at most {limit} attributes; this one would have {count}"
        )


def _check_updated_attributes(
    thing: FakeThing, thing_type_name: str | None, payload: dict[str, Any] | None, remove_thing_type: bool
) -> None:
    attributes = dict(thing.attributes)
    if payload is not None and "attributes" in payload:
        if payload.get("merge"):
            attributes.update(payload["attributes"])
        else:
            attributes = dict(payload["attributes"])
    if remove_thing_type:
        type_name = None
    else:
        type_name = thing_type_name or (thing.thing_type.thing_type_name if thing.thing_type else None)
    _check_attribute_count(attributes, type_name)


def _empty_result() -> Any:
    from moto.core.responses import EmptyResult

    return EmptyResult()


# --- thing groups and listings ------------------------------------------------------------------------


def create_thing_group(
    self: IoTBackend,
    thing_group_name: str,
    parent_group_name: str,
    thing_group_properties: dict[str, Any],
) -> tuple[str, str, str]:
    if parent_group_name and group_arn(self, parent_group_name) not in self.thing_groups:
        raise _MotoIotNotFound(f"Thing group {parent_group_name} cannot be found.")
    return ORIGINALS["IoTBackend.create_thing_group"](  # type: ignore[no-any-return]
        self, thing_group_name, parent_group_name, thing_group_properties
    )


def list_thing_types(self: IoTResponse) -> Any:
    token = self._get_param("nextToken")
    if token is not None and not str(token).isdigit():
        raise _MotoIotInvalidRequest("The nextToken is invalid.")
    return ORIGINALS["IoTResponse.list_thing_types"](self)


def _invalid_token_as_iot_error(listing: Any) -> Any:
    def paged(self: IoTResponse) -> Any:
        try:
            return listing(self)
        except _MotoInvalidToken:
            raise _MotoIotInvalidRequest("The nextToken is invalid.") from None

    return paged


# --- thing types ----------------------------------------------------------------------------------------


def _comparable_properties(properties: dict[str, Any] | None) -> dict[str, Any]:
    """Thing type properties as given, for comparison: empty members dropped, attribute names in order."""
    comparable: dict[str, Any] = {}
    for key, value in (properties or {}).items():
        if value in (None, "", [], {}):
            continue
        comparable[key] = sorted(value) if key == "searchableAttributes" else value
    return comparable


def create_thing_type(
    self: IoTBackend, thing_type_name: str, thing_type_properties: dict[str, Any] | None
) -> tuple[str, str]:
    existing = self.thing_types.get(thing_type_arn(self, thing_type_name))
    if existing is not None:
        if _comparable_properties(existing.thing_type_properties) == _comparable_properties(thing_type_properties):
            return existing.thing_type_name, existing.arn
        raise _MotoIotAlreadyExists(
            f"Thing Type {thing_type_name} already exists in account with different properties",
            existing.thing_type_id,
            existing.arn,
        )
    return ORIGINALS["IoTBackend.create_thing_type"](  # type: ignore[no-any-return]
        self, thing_type_name, thing_type_properties
    )


def create_thing_type_response(self: IoTResponse) -> Any:
    name, arn = self.iot_backend.create_thing_type(
        thing_type_name=self._get_param("thingTypeName"),
        thing_type_properties=self._get_param("thingTypeProperties"),
    )
    thing_type = self.iot_backend.thing_types[arn]
    return ActionResult({"thingTypeName": name, "thingTypeArn": arn, "thingTypeId": thing_type.thing_type_id})


def deprecate_thing_type(self: IoTBackend, thing_type_name: str, undo_deprecate: bool) -> Any:
    thing_type = ORIGINALS["IoTBackend.deprecate_thing_type"](self, thing_type_name, undo_deprecate)
    if undo_deprecate:
        thing_type.metadata.pop("deprecationDate", None)
    elif "deprecationDate" not in thing_type.metadata:
        thing_type.metadata["deprecationDate"] = _iot_models.utcnow()
    return thing_type


def delete_thing_type(self: IoTBackend, thing_type_name: str) -> None:
    thing_type = self.describe_thing_type(thing_type_name)
    deprecated_at = thing_type.metadata.get("deprecationDate")
    if not thing_type.metadata.get("deprecated") or deprecated_at is None:
        raise _MotoIotInvalidRequest(f"Thing type {thing_type_name} must be deprecated before it is deleted")
    waited = (_iot_models.utcnow() - deprecated_at).total_seconds()
    if waited < THING_TYPE_DELETION_DELAY:
        raise _MotoIotInvalidRequest(
            f"Thing type {thing_type_name} was deprecated {int(waited)} seconds ago; it can be deleted "
            f"{THING_TYPE_DELETION_DELAY // 60} minutes after deprecation"
        )
    if any(
        t.thing_type is not None and t.thing_type.thing_type_name == thing_type_name for t in self.things.values()
    ):
        raise _MotoIotInvalidRequest(f"Thing type {thing_type_name} cannot be deleted while things use it")
    ORIGINALS["IoTBackend.delete_thing_type"](self, thing_type_name)


def apply() -> None:
    IoTBackend.describe_thing = describe_thing  # type: ignore[method-assign]
    IoTBackend.describe_thing_group = describe_thing_group  # type: ignore[method-assign]
    IoTBackend.create_thing = create_thing  # type: ignore[method-assign]
    IoTBackend.delete_thing = delete_thing  # type: ignore[method-assign]
    IoTBackend.update_thing = update_thing  # type: ignore[method-assign]
    IoTResponse.update_thing = update_thing_response  # type: ignore[method-assign]
    IoTResponse.delete_thing = delete_thing_response  # type: ignore[method-assign]
    IoTBackend.create_thing_group = create_thing_group  # type: ignore[method-assign]
    IoTResponse.list_thing_types = list_thing_types  # type: ignore[method-assign]
    for listing in _PAGED_LISTINGS:
        setattr(IoTResponse, listing, _invalid_token_as_iot_error(getattr(IoTResponse, listing)))
    IoTBackend.create_thing_type = create_thing_type  # type: ignore[method-assign]
    IoTResponse.create_thing_type = create_thing_type_response  # type: ignore[method-assign]
    IoTBackend.deprecate_thing_type = deprecate_thing_type  # type: ignore[method-assign]
    IoTBackend.delete_thing_type = delete_thing_type  # type: ignore[method-assign]

"""What the rest of the emulator reads and writes in moto, as typed records and plain functions.

Feature modules (indexing, dynamic groups, the jobs engine's registry view, tags, the package catalog)
use these instead of importing moto: records are copies, so nothing outside this package holds a moto
object. Writes go through moto's backends with the same rules as the API operations, and emit the
emulator events that the operations would (``group_membership_changed``, ``thing_changed``). Call them
under the emulator's global lock (handlers, hooks and event subscribers already are).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.iot.models import FakeThing, IoTBackend, iot_backends
from moto.iotdata.models import IoTDataPlaneBackend, iotdata_backends
from moto.s3.models import S3Backend, s3_backends
from moto.utilities.utils import get_partition

from iotfleet.emulator.errors import ResourceNotFoundException, ServiceError
from iotfleet.emulator.events import GROUP_MEMBERSHIP_CHANGED, THING_CHANGED
from iotfleet.emulator.moto_patches import shadows as shadow_records
from iotfleet.emulator.moto_patches.installation import current_state
from iotfleet.emulator.moto_patches.iot_registry import group_arn, thing_arn


@dataclass(frozen=True)
class ThingRecord:
    """A thing as the registry sees it. ``thing_group_names`` lists every moto group holding it
    (dynamic groups are kept as real moto groups too)."""

    name: str
    thing_id: str
    arn: str
    thing_type_name: str | None
    attributes: dict[str, str]
    version: int
    thing_group_names: tuple[str, ...]


@dataclass(frozen=True)
class ThingGroupRecord:
    name: str
    group_id: str
    arn: str
    parent_name: str | None
    description: str | None
    attributes: dict[str, str]
    version: int
    creation_date: _dt.datetime


@dataclass(frozen=True)
class S3ObjectRecord:
    bucket: str
    key: str
    version_id: str | None
    body: bytes
    etag: str
    size: int
    last_modified: _dt.datetime


def iot_backend(account_id: str, region: str) -> IoTBackend:
    return iot_backends[account_id][region]


def iotdata_backend(account_id: str, region: str) -> IoTDataPlaneBackend:
    return iotdata_backends[account_id][region]


def s3_backend(account_id: str) -> S3Backend:
    return s3_backends[account_id][get_partition("us-east-1")]


def _groups_bything_arn(backend: IoTBackend) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for group in backend.thing_groups.values():
        for arn in group.things:
            index.setdefault(arn, []).append(group.thing_group_name)
    return index


def _thing_record(thing: FakeThing, group_names: list[str]) -> ThingRecord:
    return ThingRecord(
        name=thing.thing_name,
        thing_id=thing.thing_id,
        arn=thing.arn,
        thing_type_name=thing.thing_type.thing_type_name if thing.thing_type else None,
        attributes=dict(thing.attributes),
        version=thing.version,
        thing_group_names=tuple(group_names),
    )


def iter_things(account_id: str, region: str) -> Iterator[ThingRecord]:
    """Every thing of (account, region), in creation order."""
    backend = iot_backend(account_id, region)
    groups = _groups_bything_arn(backend)
    for thing in list(backend.things.values()):
        yield _thing_record(thing, groups.get(thing.arn, []))


def thing(account_id: str, region: str, thing_name: str) -> ThingRecord | None:
    backend = iot_backend(account_id, region)
    found = backend.things.get(thing_arn(backend, thing_name))
    if found is None:
        return None
    names = [g.thing_group_name for g in backend.thing_groups.values() if found.arn in g.things]
    return _thing_record(found, names)


def thing_group(account_id: str, region: str, group_name: str) -> ThingGroupRecord | None:
    backend = iot_backend(account_id, region)
    group = backend.thing_groups.get(group_arn(backend, group_name))
    if group is None:
        return None
    properties: dict[str, Any] = dict(group.thing_group_properties or {})
    return ThingGroupRecord(
        name=group.thing_group_name,
        group_id=group.thing_group_id,
        arn=group.arn,
        parent_name=group.parent_group_name or None,
        description=properties.get("thingGroupDescription"),
        attributes=dict((properties.get("attributePayload") or {}).get("attributes") or {}),
        version=group.version,
        creation_date=group.metadata["creationDate"],
    )


def create_thing_group(
    account_id: str, region: str, group_name: str, properties: dict[str, Any], parent_name: str | None = None
) -> ThingGroupRecord:
    """Create a moto thing group (dynamic groups are kept as real moto groups). Same rules as CreateThingGroup."""
    backend = iot_backend(account_id, region)
    try:
        backend.create_thing_group(group_name, parent_name, properties)  # type: ignore[arg-type]
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc
    record = thing_group(account_id, region, group_name)
    assert record is not None
    return record


def update_thing_group(
    account_id: str,
    region: str,
    group_name: str,
    properties: dict[str, Any],
    expected_version: int | None = None,
) -> int:
    """Update a moto thing group's properties as UpdateThingGroup does; returns the new version."""
    try:
        return iot_backend(account_id, region).update_thing_group(
            group_name,
            properties,
            expected_version,  # type: ignore[arg-type]
        )
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc


def delete_thing_group(account_id: str, region: str, group_name: str) -> None:
    """Delete a moto thing group (no error if it does not exist, as on AWS)."""
    try:
        iot_backend(account_id, region).delete_thing_group(group_name)
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc


def child_groups(account_id: str, region: str, group_name: str) -> list[str]:
    """Names of the direct children of a thing group."""
    backend = iot_backend(account_id, region)
    return [g.thing_group_name for g in backend.thing_groups.values() if g.parent_group_name == group_name]


def group_members(account_id: str, region: str, group_name: str, recursive: bool = True) -> list[str]:
    """Thing names in a group (and, if ``recursive``, its descendants), each once, in order of joining.

    Raises :class:`ResourceNotFoundException` if the group does not exist.
    """
    backend = iot_backend(account_id, region)
    group = backend.thing_groups.get(group_arn(backend, group_name))
    if group is None:
        raise ResourceNotFoundException(f"Thing group {group_name} cannot be found.")
    seen: dict[str, None] = {}
    pending = [group]
    while pending:
        current = pending.pop(0)
        for member in current.things.values():
            seen.setdefault(member.thing_name, None)
        if recursive:
            pending.extend(
                g for g in backend.thing_groups.values() if g.parent_group_name == current.thing_group_name
            )
    return list(seen)


def add_thing_to_group(account_id: str, region: str, group_name: str, thing_name: str) -> bool:
    """Put a thing in a group (for dynamic groups kept as moto groups). True if it was not there yet.

    Emits ``group_membership_changed`` (not ``thing_changed``, so membership updates made while
    handling ``thing_changed`` do not loop). Raises moto's not-found error for a missing group or thing.
    """
    backend = iot_backend(account_id, region)
    try:
        group = backend.describe_thing_group(group_name)
        found = backend.describe_thing(thing_name)
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc
    if found.arn in group.things:
        return False
    group.things[found.arn] = found
    _emit_membership(account_id, region, group_name, thing_name, added=True)
    return True


def remove_thing_from_group(account_id: str, region: str, group_name: str, thing_name: str) -> bool:
    """Take a thing out of a group. True if it was there."""
    backend = iot_backend(account_id, region)
    try:
        group = backend.describe_thing_group(group_name)
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc
    removed = group.things.pop(thing_arn(backend, thing_name), None) is not None
    if removed:
        _emit_membership(account_id, region, group_name, thing_name, added=False)
    return removed


def _emit_membership(account_id: str, region: str, group_name: str, thing_name: str, *, added: bool) -> None:
    _emit(
        GROUP_MEMBERSHIP_CHANGED,
        account_id=account_id,
        region=region,
        group_name=group_name,
        thing_name=thing_name,
        added=added,
    )


def _emit(event: str, **fields: Any) -> None:
    """Emit on the running emulator's event bus (nothing to tell before an emulator started)."""
    state = current_state()
    if state is not None:
        state.events.emit(event, **fields)


def shadows(account_id: str, region: str, thing_name: str) -> dict[str | None, dict[str, Any]]:
    """The live shadows of a thing name: ``{None: classic, "name": named, ...}``, each as GetThingShadow
    returns it (``state`` with desired/reported/delta, ``metadata``, ``version``, ``timestamp``).

    Shadows need no registry entry, as on AWS: any thing name may have them."""
    live = shadow_records.live_shadows(account_id, region, thing_name)
    return {name: shadow.to_dict() for name, shadow in live.items()}


def write_shadow(
    account_id: str, region: str, thing_name: str, shadow_name: str | None, payload: dict[str, Any]
) -> dict[str, Any]:
    """Update a shadow as UpdateThingShadow would (``payload`` like ``{"state": {"reported": {...}}}``),
    then emit ``thing_changed``. Returns the update's response document."""
    try:
        shadow = iotdata_backend(account_id, region).update_thing_shadow(
            thing_name, json.dumps(payload), shadow_name
        )
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc
    _emit(THING_CHANGED, account_id=account_id, region=region, thing_name=thing_name)
    return shadow.to_response_dict()


def delete_shadow(account_id: str, region: str, thing_name: str, shadow_name: str | None) -> dict[str, Any]:
    """Delete a shadow as DeleteThingShadow would (ServiceError 404 when there is none), then emit
    ``thing_changed``. Returns the deletion's answer (``version``, ``timestamp``)."""
    try:
        shadow = iotdata_backend(account_id, region).delete_thing_shadow(thing_name, shadow_name)
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc
    _emit(THING_CHANGED, account_id=account_id, region=region, thing_name=thing_name)
    return shadow.to_dict()


def as_service_error(exc: JsonRESTError) -> ServiceError:
    """A moto IoT/IoT-data error as the emulator's ServiceError (same code, message and status)."""
    return ServiceError(exc.error_type, exc.message, int(exc.code or 400))


def s3_object(account_id: str, bucket: str, key: str, version_id: str | None = None) -> S3ObjectRecord | None:
    """An S3 object (a given version, or the latest), or None if the bucket, key or version is missing."""
    backend = s3_backend(account_id)
    if bucket not in backend.buckets:
        return None
    found = backend.get_object(bucket, key, version_id=version_id)
    if found is None:
        return None
    return S3ObjectRecord(
        bucket=bucket,
        key=key,
        version_id=None if found.version_id in (None, "null") else str(found.version_id),
        body=bytes(found.value),
        etag=found.etag,
        size=found.size,
        last_modified=found.last_modified,
    )


TAGGABLE_KINDS = ("thinggroup", "thingtype", "billinggroup", "rolealias", "rule")
"""ARN resource kinds kept in moto that AWS lets you tag (things cannot be tagged)."""


def resource_exists(account_id: str, region: str, kind: str, name: str) -> bool:
    """Whether moto holds the resource ``arn:...:<kind>/<name>`` (kinds in :data:`TAGGABLE_KINDS`)."""
    backend = iot_backend(account_id, region)
    arn = f"arn:{get_partition(region)}:iot:{region}:{account_id}:{kind}/{name}"
    if kind == "thinggroup":
        return arn in backend.thing_groups
    if kind == "thingtype":
        return arn in backend.thing_types
    if kind == "billinggroup":
        return name in backend.billing_groups
    if kind == "rolealias":
        return name in backend.role_aliases
    if kind == "rule":
        return name in backend.rules
    raise ValueError(f"not a taggable moto resource kind: {kind}")


def thing_count(account_id: str, region: str) -> int:
    """How many things (account, region) has."""
    return len(iot_backend(account_id, region).things)


def thing_names(account_id: str, region: str) -> list[str]:
    return [t.thing_name for t in iot_backend(account_id, region).things.values()]


def is_known_thing_group_name(account_id: str, region: str, group_name: str) -> bool:
    backend = iot_backend(account_id, region)
    return group_arn(backend, group_name) in backend.thing_groups



"""Fleet indexing configuration, and the connectivity status the index reports.

Each (account, region) has one :class:`IndexingSettings`. It starts OFF, as a new AWS account does, and
changes only through UpdateIndexingConfiguration, which this module answers (moto keeps its own copy,
which nothing reads). GetIndexingConfiguration returns what was set plus the managed fields AWS lists
for the enabled data sources, and DescribeIndex/ListIndices report the indexes that exist.

Validation follows the API reference and developer guide: connectivity, Device Defender and named
shadow indexing need thing indexing on; named shadow indexing needs ``filter.namedShadowNames`` (at most
10, AWS's default quota); a custom field must not be a managed field, must be a field the enabled data
sources hold, and may be listed once. After a change, ``indexing_configuration_changed`` is emitted so
dynamic thing groups re-evaluate the fleet. Other modules may register a :func:`configuration_guard` to
refuse a change (dynamic groups refuse turning indexing off while they exist, as AWS does).

Connectivity: the emulator has no MQTT broker, so a thing is disconnected until something reports it
connected through :func:`set_connectivity` (meant for the jobs data plane, when a device calls it, and
for control routes). A thing never seen connected is indexed as ``{"connected": false}`` with no
timestamp, as GetThingConnectivityData reports a device that never connected.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import InvalidRequestException, ResourceNotFoundException
from iotfleet.emulator.events import THING_CHANGED, THING_DELETED
from iotfleet.emulator.extension import Call, handles, on_state_init
from iotfleet.query import QueryError, resolve_field

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

STORE = "fleet_indexing"
CONNECTIVITY_STORE = "thing_connectivity"
CONFIGURATION_CHANGED = "indexing_configuration_changed"
"""``indexing_configuration_changed(account_id, region)``: what the thing index holds has changed."""

THINGS_INDEX = "AWS_Things"
GROUPS_INDEX = "AWS_ThingGroups"
QUERY_VERSION = "2017-09-30"
MAX_NAMED_SHADOWS = 10

THING_MODES = ("OFF", "REGISTRY", "REGISTRY_AND_SHADOW")
CONNECTIVITY_MODES = ("OFF", "STATUS")
DEVICE_DEFENDER_MODES = ("OFF", "VIOLATIONS")
NAMED_SHADOW_MODES = ("OFF", "ON")
GROUP_MODES = ("OFF", "ON")
FIELD_TYPES = ("Number", "String", "Boolean")
GEO_ORDERS = ("LatLon", "LonLat")

Field = dict[str, str]

REGISTRY_MANAGED: list[Field] = [
    {"name": "thingName", "type": "String"},
    {"name": "thingId", "type": "String"},
    {"name": "registry.version", "type": "Number"},
    {"name": "registry.thingTypeName", "type": "String"},
    {"name": "registry.thingGroupNames", "type": "String"},
]
SHADOW_MANAGED: list[Field] = [
    {"name": "shadow.version", "type": "Number"},
    {"name": "shadow.hasDelta", "type": "Boolean"},
]
NAMED_SHADOW_MANAGED: list[Field] = [
    {"name": "shadow.name.*.version", "type": "Number"},
    {"name": "shadow.name.*.hasDelta", "type": "Boolean"},
]
CONNECTIVITY_MANAGED: list[Field] = [
    {"name": "connectivity.timestamp", "type": "Number"},
    {"name": "connectivity.version", "type": "Number"},
    {"name": "connectivity.connected", "type": "Boolean"},
    {"name": "connectivity.disconnectReason", "type": "String"},
]
DEVICE_DEFENDER_MANAGED: list[Field] = [
    {"name": "deviceDefender.violationCount", "type": "Number"},
    {"name": "deviceDefender.*.metricName", "type": "String"},
    {"name": "deviceDefender.*.lastViolationValue.number", "type": "Number"},
    {"name": "deviceDefender.*.lastViolationTime", "type": "Number"},
]
GROUP_MANAGED: list[Field] = [
    {"name": "description", "type": "String"},
    {"name": "parentGroupNames", "type": "String"},
    {"name": "thingGroupId", "type": "String"},
    {"name": "thingGroupName", "type": "String"},
    {"name": "version", "type": "Number"},
]


def _off_thing_config() -> dict[str, Any]:
    return {
        "thingIndexingMode": "OFF",
        "thingConnectivityIndexingMode": "OFF",
        "deviceDefenderIndexingMode": "OFF",
        "namedShadowIndexingMode": "OFF",
    }


@dataclass
class IndexingSettings:
    """The fleet indexing configuration of one account in one region (boto3 shapes, managed fields left out)."""

    thing: dict[str, Any] = field(default_factory=_off_thing_config)
    group: dict[str, Any] = field(default_factory=lambda: {"thingGroupIndexingMode": "OFF"})

    @property
    def things_enabled(self) -> bool:
        return self.thing["thingIndexingMode"] != "OFF"

    @property
    def groups_enabled(self) -> bool:
        return self.group["thingGroupIndexingMode"] != "OFF"

    @property
    def shadow_enabled(self) -> bool:
        return self.thing["thingIndexingMode"] == "REGISTRY_AND_SHADOW"

    @property
    def connectivity_enabled(self) -> bool:
        return self.things_enabled and self.thing.get("thingConnectivityIndexingMode") == "STATUS"

    @property
    def indexed_named_shadows(self) -> tuple[str, ...]:
        """The named shadows the index holds: named shadow indexing ON, and listed in the filter.

        Like the shared query validator, named shadows are indexed only alongside the classic shadow
        (REGISTRY_AND_SHADOW), so the index never holds a field a query may not name.
        """
        if not self.shadow_enabled or self.thing.get("namedShadowIndexingMode") != "ON":
            return ()
        return tuple((self.thing.get("filter") or {}).get("namedShadowNames") or ())

    def thing_managed_fields(self) -> list[Field]:
        return managed_fields(self.thing)

    def thing_configuration(self) -> dict[str, Any]:
        """The thingIndexingConfiguration as GetIndexingConfiguration returns it."""
        answer = copy.deepcopy(self.thing)
        if self.things_enabled:
            answer["managedFields"] = self.thing_managed_fields()
        return answer

    def group_configuration(self) -> dict[str, Any]:
        answer = copy.deepcopy(self.group)
        if self.groups_enabled:
            answer["managedFields"] = copy.deepcopy(GROUP_MANAGED)
        return answer

    def field_types(self) -> dict[str, str]:
        """Every aggregatable field name of the thing index -> its type (managed, then custom)."""
        types = {f["name"]: f["type"] for f in self.thing_managed_fields()}
        for custom in self.thing.get("customFields") or []:
            types.setdefault(custom["name"], custom["type"])
        return types

    def schema(self) -> str:
        """DescribeIndex's ``schema`` for AWS_Things."""
        extra = self.thing.get("namedShadowIndexingMode") == "ON" or (
            self.thing.get("deviceDefenderIndexingMode") == "VIOLATIONS"
        )
        if extra:
            return "MULTI_INDEXING_MODE"
        schema = "REGISTRY_AND_SHADOW" if self.shadow_enabled else "REGISTRY"
        if self.connectivity_enabled:
            schema += "_AND_CONNECTIVITY_STATUS"
        return schema


def managed_fields(thing_config: dict[str, Any]) -> list[Field]:
    """The managed fields AWS indexes for the data sources ``thing_config`` enables."""
    if thing_config.get("thingIndexingMode", "OFF") == "OFF":
        return []
    fields = copy.deepcopy(REGISTRY_MANAGED)
    if thing_config["thingIndexingMode"] == "REGISTRY_AND_SHADOW":
        fields += copy.deepcopy(SHADOW_MANAGED)
    if thing_config.get("namedShadowIndexingMode") == "ON":
        fields += copy.deepcopy(NAMED_SHADOW_MANAGED)
    if thing_config.get("thingConnectivityIndexingMode") == "STATUS":
        fields += copy.deepcopy(CONNECTIVITY_MANAGED)
    if thing_config.get("deviceDefenderIndexingMode") == "VIOLATIONS":
        fields += copy.deepcopy(DEVICE_DEFENDER_MANAGED)
    return fields


def settings(state: EmulatorState, account_id: str, region: str) -> IndexingSettings:
    """The indexing settings of (account, region), OFF until configured."""
    return state.store(STORE, account_id, region, IndexingSettings)


def require_things_index(current: IndexingSettings, index_name: str | None) -> None:
    """ResourceNotFoundException unless ``index_name`` (default AWS_Things) is the enabled thing index."""
    name = index_name or THINGS_INDEX
    if name == THINGS_INDEX and current.things_enabled:
        return
    if name == GROUPS_INDEX and current.groups_enabled:
        return
    raise ResourceNotFoundException(
        f"Index {name} does not exist. Please enable index by calling UpdateIndexingConfiguration"
    )


def check_query_version(query_version: str | None) -> None:
    if query_version not in (None, QUERY_VERSION):
        raise InvalidRequestException(
            f"Unsupported queryVersion {query_version!r}: the only query version is {QUERY_VERSION}"
        )


# --- validating an update -----------------------------------------------------------------------


def _enum(container: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = container.get(key, default)
    if value is None:
        raise InvalidRequestException(f"{key} is required")
    if value not in allowed:
        raise InvalidRequestException(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _fields(raw: Any, where: str) -> list[Field]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequestException(f"{where} must be a list of fields")
    seen: dict[str, str] = {}
    fields: list[Field] = []
    for item in raw:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidRequestException(f"every entry of {where} needs a name")
        kind = _enum(item, "type", FIELD_TYPES, None)
        if name in seen:
            raise InvalidRequestException(f"{where} lists {name} more than once")
        seen[name] = kind
        fields.append({"name": name, "type": kind})
    return fields


def normalized_thing_configuration(raw: dict[str, Any]) -> dict[str, Any]:
    """A validated thingIndexingConfiguration to store (managed fields are AWS's and are not stored)."""
    mode = _enum(raw, "thingIndexingMode", THING_MODES, None)
    config: dict[str, Any] = {
        "thingIndexingMode": mode,
        "thingConnectivityIndexingMode": _enum(
            raw, "thingConnectivityIndexingMode", CONNECTIVITY_MODES, "OFF"
        ),
        "deviceDefenderIndexingMode": _enum(raw, "deviceDefenderIndexingMode", DEVICE_DEFENDER_MODES, "OFF"),
        "namedShadowIndexingMode": _enum(raw, "namedShadowIndexingMode", NAMED_SHADOW_MODES, "OFF"),
    }
    if mode == "OFF":
        for key, off in (
            ("thingConnectivityIndexingMode", "OFF"),
            ("deviceDefenderIndexingMode", "OFF"),
            ("namedShadowIndexingMode", "OFF"),
        ):
            if config[key] != off:
                raise InvalidRequestException(
                    f"{key} {config[key]} needs thing indexing: thingIndexingMode must not be OFF"
                )
    filter_config = _filter(raw.get("filter"), config["namedShadowIndexingMode"])
    if filter_config:
        config["filter"] = filter_config
    custom = _fields(raw.get("customFields"), "customFields")
    for entry in custom:
        _check_custom_field(entry["name"], config, filter_config)
    if custom:
        config["customFields"] = custom
    return config


def _filter(raw: Any, named_mode: str) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidRequestException("filter must be an object")
    result: dict[str, Any] = {}
    names = raw.get("namedShadowNames")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise InvalidRequestException("filter.namedShadowNames must be a list of shadow names")
        if len(set(names)) != len(names):
            raise InvalidRequestException("filter.namedShadowNames lists a shadow name more than once")
        if len(names) > MAX_NAMED_SHADOWS:
            raise InvalidRequestException(
                f"filter.namedShadowNames has {len(names)} names; at most {MAX_NAMED_SHADOWS} can be indexed"
            )
        result["namedShadowNames"] = list(names)
    if named_mode == "ON" and not result.get("namedShadowNames"):
        raise InvalidRequestException(
            "namedShadowIndexingMode ON needs the shadows to index in filter.namedShadowNames"
        )
    geo = raw.get("geoLocations")
    if geo is not None:
        if not isinstance(geo, list):
            raise InvalidRequestException("filter.geoLocations must be a list")
        targets = []
        for target in geo:
            name = target.get("name") if isinstance(target, dict) else None
            if not isinstance(name, str) or not name:
                raise InvalidRequestException("every filter.geoLocations entry needs a name")
            targets.append({"name": name, "order": _enum(target, "order", GEO_ORDERS, "LatLon")})
        result["geoLocations"] = targets
    connectivity = raw.get("connectivity")
    if connectivity is not None:
        apis = (connectivity or {}).get("includeSocketInformation") or []
        if any(api != "GET_THING_CONNECTIVITY_DATA" for api in apis):
            raise InvalidRequestException(
                "filter.connectivity.includeSocketInformation accepts only GET_THING_CONNECTIVITY_DATA"
            )
        result["connectivity"] = {"includeSocketInformation": list(apis)}
    return result


def _check_custom_field(name: str, config: dict[str, Any], filter_config: dict[str, Any]) -> None:
    managed = {f["name"] for f in managed_fields(config)} | {
        f["name"] for f in REGISTRY_MANAGED + SHADOW_MANAGED + NAMED_SHADOW_MANAGED + CONNECTIVITY_MANAGED
    }
    if name in managed:
        raise InvalidRequestException(f"customFields cannot contain the managed field {name}")
    if name.startswith("deviceDefender."):
        if config["deviceDefenderIndexingMode"] != "VIOLATIONS":
            raise InvalidRequestException(f"custom field {name} needs deviceDefenderIndexingMode VIOLATIONS")
        return
    try:
        spec = resolve_field(name)
    except QueryError as exc:
        raise InvalidRequestException(
            f"custom field {name} is not a field the thing index can hold: {exc.message}"
        ) from exc
    if spec.source in ("registry", "connectivity"):
        raise InvalidRequestException(f"customFields cannot contain the managed field {name}")
    if spec.source in ("shadow", "named_shadow") and config["thingIndexingMode"] != "REGISTRY_AND_SHADOW":
        raise InvalidRequestException(
            f"custom field {name} is a shadow field: it needs thingIndexingMode REGISTRY_AND_SHADOW"
        )
    if spec.source == "named_shadow":
        names = filter_config.get("namedShadowNames") or []
        if config["namedShadowIndexingMode"] != "ON" or spec.shadow_name not in names:
            raise InvalidRequestException(
                f"custom field {name} is in named shadow {spec.shadow_name}, which is not indexed "
                "(namedShadowIndexingMode ON and filter.namedShadowNames)"
            )


def normalized_group_configuration(raw: dict[str, Any]) -> dict[str, Any]:
    mode = _enum(raw, "thingGroupIndexingMode", GROUP_MODES, None)
    config: dict[str, Any] = {"thingGroupIndexingMode": mode}
    custom = _fields(raw.get("customFields"), "thingGroupIndexingConfiguration.customFields")
    managed_names = {f["name"] for f in GROUP_MANAGED}
    for entry in custom:
        if entry["name"] in managed_names:
            raise InvalidRequestException(f"customFields cannot contain the managed field {entry['name']}")
        if not entry["name"].startswith("attributes."):
            raise InvalidRequestException(
                f"thing group custom field {entry['name']} must be an attribute (attributes.<name>)"
            )
    if custom:
        config["customFields"] = custom
    return config


ConfigurationGuard = Callable[["EmulatorState", str, str, IndexingSettings], None]
_guards: list[ConfigurationGuard] = []


def configuration_guard(fn: ConfigurationGuard) -> ConfigurationGuard:
    """Register ``fn(state, account_id, region, proposed)``; it raises to refuse a configuration change."""
    if fn not in _guards:
        _guards.append(fn)
    return fn


def update_configuration(
    state: EmulatorState,
    account_id: str,
    region: str,
    thing_config: dict[str, Any] | None,
    group_config: dict[str, Any] | None,
) -> None:
    """Validate and apply an UpdateIndexingConfiguration, then tell subscribers the index changed."""
    current = settings(state, account_id, region)
    proposed = IndexingSettings(
        thing=normalized_thing_configuration(thing_config)
        if thing_config is not None
        else copy.deepcopy(current.thing),
        group=normalized_group_configuration(group_config)
        if group_config is not None
        else copy.deepcopy(current.group),
    )
    for guard in list(_guards):
        guard(state, account_id, region, proposed)
    changed = proposed.thing != current.thing
    current.thing, current.group = proposed.thing, proposed.group
    if changed:
        state.events.emit(CONFIGURATION_CHANGED, account_id=account_id, region=region)


# --- connectivity -------------------------------------------------------------------------------


@dataclass
class Connectivity:
    connected: bool
    timestamp_ms: int
    disconnect_reason: str | None
    version: int


def _connectivity_store(state: EmulatorState, account_id: str, region: str) -> dict[str, Connectivity]:
    return state.store(CONNECTIVITY_STORE, account_id, region, dict)


def connectivity(state: EmulatorState, account_id: str, region: str, thing_name: str) -> Connectivity | None:
    """What the emulator knows of a thing's connection (None: never seen connected)."""
    return _connectivity_store(state, account_id, region).get(thing_name)


def set_connectivity(
    state: EmulatorState,
    account_id: str,
    region: str,
    thing_name: str,
    connected: bool,
    disconnect_reason: str | None = None,
    *,
    timestamp_ms: int | None = None,
) -> None:
    """Record that a device connected or disconnected (now on the emulator clock, unless ``timestamp_ms``
    says when), and re-index the thing.

    A no-op when the thing is already in that state, so callers may report on every contact.
    """
    with state.lock:
        store = _connectivity_store(state, account_id, region)
        previous = store.get(thing_name)
        reason = None if connected else (disconnect_reason or "CLIENT_INITIATED_DISCONNECT")
        if (
            timestamp_ms is None
            and previous is not None
            and (previous.connected, previous.disconnect_reason)
            == (
                connected,
                reason,
            )
        ):
            return
        store[thing_name] = Connectivity(
            connected=connected,
            timestamp_ms=int(state.clock.now() * 1000) if timestamp_ms is None else int(timestamp_ms),
            disconnect_reason=reason,
            version=(previous.version + 1) if previous is not None else 1,
        )
        state.events.emit(THING_CHANGED, account_id=account_id, region=region, thing_name=thing_name)


@on_state_init
def _forget_deleted_things(state: EmulatorState) -> None:
    def forget(account_id: str, region: str, thing_name: str) -> None:
        _connectivity_store(state, account_id, region).pop(thing_name, None)

    state.events.subscribe(THING_DELETED, forget)


# --- handlers -----------------------------------------------------------------------------------


@handles("iot", "GetIndexingConfiguration")
def get_indexing_configuration(call: Call) -> dict[str, Any]:
    current = settings(call.state, call.account_id, call.region)
    return {
        "thingIndexingConfiguration": current.thing_configuration(),
        "thingGroupIndexingConfiguration": current.group_configuration(),
    }


@handles("iot", "UpdateIndexingConfiguration")
def update_indexing_configuration(call: Call) -> dict[str, Any]:
    update_configuration(
        call.state,
        call.account_id,
        call.region,
        call.params.get("thingIndexingConfiguration"),
        call.params.get("thingGroupIndexingConfiguration"),
    )
    return {}


@handles("iot", "DescribeIndex")
def describe_index(call: Call) -> dict[str, Any]:
    current = settings(call.state, call.account_id, call.region)
    name = call.params["indexName"]
    require_things_index(current, name)
    schema = current.schema() if name == THINGS_INDEX else "THING_GROUPS"
    return {"indexName": name, "indexStatus": "ACTIVE", "schema": schema}


@handles("iot", "ListIndices")
def list_indices(call: Call) -> dict[str, Any]:
    current = settings(call.state, call.account_id, call.region)
    names = [THINGS_INDEX] if current.things_enabled else []
    if current.groups_enabled:
        names.append(GROUPS_INDEX)
    return {"indexNames": names}

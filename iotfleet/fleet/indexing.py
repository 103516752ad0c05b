"""The account's fleet indexing configuration: what the fleet needs, merged into what is there.

A fleet needs thing indexing REGISTRY_AND_SHADOW (dynamic groups query shadows), connectivity STATUS, and
named-shadow indexing ON with ``$package`` in ``filter.namedShadowNames`` (version queries). The
configuration is account-wide, so it is merged, never replaced: other named shadows, geolocation filters,
custom fields and the Device Defender mode stay as they are. ``managedFields`` are the service's own and are
never sent. The thing-group index is not touched.

:func:`restore_configuration` puts back a configuration recorded in the fleet's state (see
:mod:`iotfleet.fleet.fleet_state`), for cleanup.
"""

from __future__ import annotations

import copy
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.query.fields import PACKAGE_SHADOW

REGISTRY_AND_SHADOW = "REGISTRY_AND_SHADOW"
CONNECTIVITY_STATUS = "STATUS"
NAMED_SHADOWS_ON = "ON"
REQUIRED_NAMED_SHADOWS = (PACKAGE_SHADOW,)
# Fields of thingIndexingConfiguration that UpdateIndexingConfiguration takes from us.
_SENT_FIELDS = (
    "thingIndexingMode",
    "thingConnectivityIndexingMode",
    "deviceDefenderIndexingMode",
    "namedShadowIndexingMode",
    "customFields",
    "filter",
)


def read_configuration(ctx: AwsContext) -> dict[str, Any]:
    """The account's current ``thingIndexingConfiguration``."""
    answer = ctx.iot.get_indexing_configuration()
    return dict(answer.get("thingIndexingConfiguration") or {"thingIndexingMode": "OFF"})


def merged_configuration(current: dict[str, Any]) -> dict[str, Any]:
    """``current`` with what the fleet needs added, as UpdateIndexingConfiguration takes it."""
    merged = {key: copy.deepcopy(current[key]) for key in _SENT_FIELDS if current.get(key) is not None}
    merged["thingIndexingMode"] = REGISTRY_AND_SHADOW
    merged["thingConnectivityIndexingMode"] = CONNECTIVITY_STATUS
    merged["namedShadowIndexingMode"] = NAMED_SHADOWS_ON
    filter_ = dict(merged.get("filter") or {})
    names = list(filter_.get("namedShadowNames") or [])
    names += [name for name in REQUIRED_NAMED_SHADOWS if name not in names]
    filter_["namedShadowNames"] = names
    merged["filter"] = filter_
    return merged


def changes_needed(current: dict[str, Any]) -> list[str]:
    """What merging would change, one line per setting (empty when the configuration already fits)."""
    changes: list[str] = []
    for key, wanted in (
        ("thingIndexingMode", REGISTRY_AND_SHADOW),
        ("thingConnectivityIndexingMode", CONNECTIVITY_STATUS),
        ("namedShadowIndexingMode", NAMED_SHADOWS_ON),
    ):
        found = current.get(key) or "OFF"
        if found != wanted:
            changes.append(f"{key}: {found} -> {wanted}")
    names = (current.get("filter") or {}).get("namedShadowNames") or []
    for name in REQUIRED_NAMED_SHADOWS:
        if name not in names:
            changes.append(f"filter.namedShadowNames: add {name}")
    return changes


def update_configuration(ctx: AwsContext, configuration: dict[str, Any]) -> None:
    ctx.iot.update_indexing_configuration(thingIndexingConfiguration=configuration)


def restore_configuration(ctx: AwsContext, previous: dict[str, Any]) -> None:
    """Put back a recorded configuration (managed fields excluded: the service keeps those)."""
    configuration = {
        key: copy.deepcopy(previous[key]) for key in _SENT_FIELDS if previous.get(key) is not None
    }
    configuration.setdefault("thingIndexingMode", "OFF")
    update_configuration(ctx, configuration)

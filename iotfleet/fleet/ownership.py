"""How iotfleet records, in AWS itself, which resources belong to which fleet.

Cleanup must work from any machine, so ownership never lives only in a local file: every resource that AWS lets
us tag carries the tag ``iotfleet:fleet=<fleet>``; things, which cannot be tagged, carry the attribute
``iotfleet_fleet=<fleet>`` instead (an underscore, so Fleet Indexing queries such as
``attributes.iotfleet_fleet:demo`` can scope to a fleet). A resource without that record is never treated as ours, whatever its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FLEET_TAG = "iotfleet:fleet"
FLEET_ATTRIBUTE = "iotfleet_fleet"
# Set on account-wide settings changes so cleanup knows iotfleet made them (see the fleet's state object).
MANAGED_BY_TAG = "iotfleet:managed-by"
MANAGED_BY_VALUE = "iotfleet"
# Static groups carry their kind (country or continent) so cleanup can delete children before parents;
# dynamic groups carry it too, and are also told apart by their query.
GROUP_KIND_TAG = "iotfleet:group-kind"
COUNTRY_GROUP = "country"
CONTINENT_GROUP = "continent"
DYNAMIC_GROUP = "dynamic"
# Static groups that hold a fixed list of things a job targets (rollout waves, rollbacks, retries).
TARGET_GROUP = "job-targets"


def tag_list(fleet: str, extra: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """Tags in the ``[{"Key": ..., "Value": ...}]`` form used by IoT, S3 and IAM."""
    tags = {FLEET_TAG: fleet, MANAGED_BY_TAG: MANAGED_BY_VALUE, **(extra or {})}
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_dict(tags: Iterable[Mapping[str, Any]] | Mapping[str, str] | None) -> dict[str, str]:
    """Normalise a tag list (``Key``/``Value`` or ``key``/``value`` spellings) or mapping to a dict."""
    if tags is None:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    result: dict[str, str] = {}
    for tag in tags:
        key = tag.get("Key", tag.get("key"))
        value = tag.get("Value", tag.get("value", ""))
        if key is not None:
            result[str(key)] = "" if value is None else str(value)
    return result


def owned_by(tags: Iterable[Mapping[str, Any]] | Mapping[str, str] | None, fleet: str) -> bool:
    """True when the tags record ``fleet`` as the owner."""
    return tag_dict(tags).get(FLEET_TAG) == fleet


def thing_owned_by(attributes: Mapping[str, str] | None, fleet: str) -> bool:
    """True when a thing's attributes record ``fleet`` as the owner."""
    return bool(attributes) and attributes.get(FLEET_ATTRIBUTE) == fleet  # type: ignore[union-attr]

"""Tags on the IoT resources moto keeps: static thing groups, thing types, billing groups, role aliases
and topic rules (policies and CA certificates are the emulator's own, see :mod:`iotfleet.emulator.identity`).

moto has no IoT tagging. The tagging operations (iotfleet.emulator.tagging) are answered for every
resource kind that registers a tag holder; this module is the holder for the kinds above, and
records the ``tags`` given when they are created (after-hooks) and forgets them when they are
deleted. Things cannot be tagged on AWS: TagResource on a thing ARN is an InvalidRequestException.
It is imported last in :mod:`iotfleet.emulator.features`, so holders of more specific resources
(dynamic groups are moto thing groups too) are asked first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from iotfleet.emulator.errors import InvalidRequestException, ResourceNotFoundException
from iotfleet.emulator.extension import Call, after
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.tagging import tag_holder

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

STORE = "registry_tags"


def _tags(state: EmulatorState, account_id: str, region: str) -> dict[str, dict[str, str]]:
    """ARN -> tags of the moto-kept resources of (account, region)."""
    return state.store(STORE, account_id, region, dict)


def _split(arn: str) -> tuple[str, str, str, str] | None:
    """(region, account, kind, name) of an IoT ARN, or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iot":
        return None
    kind, _, name = parts[5].partition("/")
    return parts[3], parts[4], kind, name


@tag_holder
def _registry_tags(state: EmulatorState, account_id: str, region: str, arn: str) -> dict[str, str] | None:
    parsed = _split(arn)
    if parsed is None:
        return None
    arn_region, arn_account, kind, name = parsed
    if kind == "thing":
        raise InvalidRequestException(f"Things cannot be tagged: {arn}")
    if kind not in accessors.TAGGABLE_KINDS:
        return None
    if (arn_region, arn_account) != (region, account_id) or not accessors.resource_exists(
        account_id, region, kind, name
    ):
        raise ResourceNotFoundException(f"No {kind} has the ARN {arn}")
    return _tags(state, account_id, region).setdefault(arn, {})


def _arn(call: Call, kind: str, name: str) -> str:
    return f"arn:aws:iot:{call.region}:{call.account_id}:{kind}/{name}"


def _remember(call: Call, arn: str | None, tags: Any) -> None:
    if not arn or not tags:
        return
    if isinstance(tags, str):  # CreateTopicRule sends "k1=v1&k2=v2" in x-amz-tagging
        pairs = dict(parse_qsl(tags, keep_blank_values=True))
    else:
        pairs = {tag["Key"]: tag.get("Value", "") for tag in tags}
    _tags(call.state, call.account_id, call.region).setdefault(arn, {}).update(pairs)


@after("iot", "CreateThingGroup")
def _thing_group_created(call: Call, params: dict[str, Any], response: dict[str, Any]) -> None:
    _remember(call, response.get("thingGroupArn"), params.get("tags"))


@after("iot", "CreateThingType")
def _thing_type_created(call: Call, params: dict[str, Any], response: dict[str, Any]) -> None:
    _remember(call, response.get("thingTypeArn"), params.get("tags"))


@after("iot", "CreateBillingGroup")
def _billing_group_created(call: Call, params: dict[str, Any], response: dict[str, Any]) -> None:
    _remember(call, response.get("billingGroupArn"), params.get("tags"))


@after("iot", "CreateRoleAlias")
def _role_alias_created(call: Call, params: dict[str, Any], response: dict[str, Any]) -> None:
    _remember(call, response.get("roleAliasArn"), params.get("tags"))


@after("iot", "CreateTopicRule")
def _rule_created(call: Call, params: dict[str, Any], response: dict[str, Any]) -> None:
    _remember(call, _arn(call, "rule", params["ruleName"]), params.get("tags"))


_DELETES = {
    "DeleteThingGroup": ("thinggroup", "thingGroupName"),
    "DeleteThingType": ("thingtype", "thingTypeName"),
    "DeleteBillingGroup": ("billinggroup", "billingGroupName"),
    "DeleteRoleAlias": ("rolealias", "roleAlias"),
    "DeleteTopicRule": ("rule", "ruleName"),
}


def _forget(call: Call, params: dict[str, Any], response: dict[str, Any]) -> None:
    kind, member = _DELETES[call.operation]
    name = params.get(member)
    if name and not accessors.resource_exists(call.account_id, call.region, kind, name):
        _tags(call.state, call.account_id, call.region).pop(_arn(call, kind, name), None)


for _operation in _DELETES:
    after("iot", _operation)(_forget)

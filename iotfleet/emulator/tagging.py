"""Tags on IoT resources: TagResource, UntagResource and ListTagsForResource.

moto has no IoT tagging, so every feature that owns taggable resources registers a *tag holder*
(:data:`TagHolder`) here: packages and package versions, dynamic thing groups, jobs and job templates,
and (last, see :mod:`iotfleet.emulator.features`) the resources moto keeps. The tagging operations ask
the holders in registration order; an ARN no holder claims goes on to moto.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import (
    InvalidRequestException,
    LimitExceededException,
    ValidationException,
    constraint_error,
)
from iotfleet.emulator.extension import Call, handles

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

MAX_TAGS = 50
_TAG_KEY_CHARS = re.compile(r"[\w\s.:/=+\-@]*")


def check_tag(key: Any, value: Any, member: str = "tags") -> None:
    if not isinstance(key, str) or not 1 <= len(key) <= 128 or not _TAG_KEY_CHARS.fullmatch(key):
        raise constraint_error(
            key, f"{member}.key", "Member must have length between 1 and 128 and satisfy the tag key pattern"
        )
    if key.lower().startswith("aws:"):
        raise ValidationException(f"Tag keys may not start with 'aws:': {key!r}")
    if value is not None and (not isinstance(value, str) or len(value) > 256):
        raise constraint_error(value, f"{member}.value", "Member must have length less than or equal to 256")


TagHolder = Callable[["EmulatorState", str, str, str], "dict[str, str] | None"]
"""``holder(state, account_id, region, arn)`` -> the live tag dict of the resource, None if the ARN is
not one of its resources; raises ResourceNotFoundException for its kind of ARN naming nothing."""

_tag_holders: list[TagHolder] = []


def tag_holder(fn: TagHolder) -> TagHolder:
    """Register a tag holder for the tagging operations (see :data:`TagHolder`)."""
    if fn not in _tag_holders:
        _tag_holders.append(fn)
    return fn


def tags_from_list(tags: Any) -> dict[str, str]:
    """A TagList (``[{"Key", "Value"}]``, as TagResource and the thing group calls take it) as a dict;
    InvalidRequestException for a bad key or value, as those operations answer."""
    found: dict[str, str] = {}
    for tag in tags or []:
        key = tag.get("Key") if isinstance(tag, dict) else None
        value = tag.get("Value", "") if isinstance(tag, dict) else None
        try:
            check_tag(key, value)
        except ValidationException as exc:
            raise InvalidRequestException(exc.message) from exc
        found[str(key)] = value or ""
    return found


def _tags_of(call: Call) -> dict[str, str] | None:
    arn = call.params.get("resourceArn")
    if not isinstance(arn, str) or not arn:
        raise InvalidRequestException("resourceArn is required")
    for holder in list(_tag_holders):
        tags = holder(call.state, call.account_id, call.region, arn)
        if tags is not None:
            return tags
    return None


@handles("iot", "TagResource")
def tag_resource(call: Call) -> dict[str, Any]:
    tags = _tags_of(call)
    if tags is None:
        return call.moto()
    new = tags_from_list(call.params.get("tags"))
    if len({**tags, **new}) > MAX_TAGS:
        raise LimitExceededException(f"A resource can have at most {MAX_TAGS} tags")
    tags.update(new)
    return {}


@handles("iot", "UntagResource")
def untag_resource(call: Call) -> dict[str, Any]:
    tags = _tags_of(call)
    if tags is None:
        return call.moto()
    for key in call.params.get("tagKeys") or []:
        tags.pop(key, None)
    return {}


@handles("iot", "ListTagsForResource")
def list_tags_for_resource(call: Call) -> dict[str, Any]:
    tags = _tags_of(call)
    if tags is None:
        return call.moto()
    return {"tags": [{"Key": key, "Value": tags[key]} for key in sorted(tags)]}

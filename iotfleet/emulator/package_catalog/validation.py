"""The package catalog's request members, checked before anything changes.

Each check returns the value as the store keeps it, or raises the ValidationException AWS answers with
(same member names, limits and patterns), so a bad request changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from iotfleet.emulator.errors import ValidationException, constraint_error
from iotfleet.emulator.tagging import MAX_TAGS, check_tag

MAX_ATTRIBUTES_BYTES = 3 * 1024
MAX_DESCRIPTION = 1024
MAX_RECIPE = 3072
MAX_RESULTS = 100

_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_ATTRIBUTE_KEY = re.compile(r"[a-zA-Z0-9:_-]+")
_CLIENT_TOKEN = re.compile(r"\S{36,64}")

ObjectChecker = Callable[[str, str, "str | None"], "str | None"]
"""``check(bucket, key, version_id)`` -> None when the S3 object exists, else why it does not."""


def check_name(value: Any, member: str, max_length: int) -> str:
    """A package or version name: ``[a-zA-Z0-9-_.]+``, 1..max_length characters."""
    if not isinstance(value, str) or not value:
        raise constraint_error(value, member, "Member must not be null")
    if len(value) > max_length:
        raise constraint_error(value, member, f"Member must have length less than or equal to {max_length}")
    if not _NAME.fullmatch(value):
        raise constraint_error(
            value, member, "Member must satisfy regular expression pattern: [a-zA-Z0-9-_.]+"
        )
    return value


def check_package_name(value: Any) -> str:
    return check_name(value, "packageName", 128)


def check_version_name(value: Any, member: str = "versionName") -> str:
    return check_name(value, member, 64)


def check_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise constraint_error(
            "***", "description", f"Member must have length less than or equal to {MAX_DESCRIPTION}"
        )
    if any(_is_control(ch) for ch in value):
        raise constraint_error("***", "description", "Member must not contain control characters")
    return value


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0


def check_attributes(value: Any) -> dict[str, str]:
    """Package-version attributes: keys ``[a-zA-Z0-9:_-]+``, non-empty values, 3 KB in total."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationException("attributes must be a map of strings")
    total = 0
    for key, item in value.items():
        if not isinstance(key, str) or not _ATTRIBUTE_KEY.fullmatch(key):
            raise constraint_error(
                key, "attributes", "Map keys must satisfy regular expression pattern: [a-zA-Z0-9:_-]+"
            )
        if not isinstance(item, str) or not item:
            raise constraint_error(
                "***", f"attributes.{key}", "Member must have length greater than or equal to 1"
            )
        if any(_is_control(ch) for ch in item):
            raise constraint_error("***", f"attributes.{key}", "Member must not contain control characters")
        total += len(key.encode("utf-8")) + len(item.encode("utf-8"))
    if total > MAX_ATTRIBUTES_BYTES:
        raise ValidationException(
            f"The combined size of all the attributes on a package version is limited to 3KB "
            f"({MAX_ATTRIBUTES_BYTES} bytes); these take {total} bytes"
        )
    return dict(value)


def check_recipe(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_RECIPE:
        raise constraint_error("***", "recipe", f"Member must have length less than or equal to {MAX_RECIPE}")
    return value


def check_tag_map(tags: Any, member: str = "tags") -> dict[str, str]:
    """A TagMap (create calls) or a TagResource tag list already turned into a dict."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ValidationException(f"{member} must be a map of strings")
    if len(tags) > MAX_TAGS:
        raise constraint_error("...", member, f"Member must have at most {MAX_TAGS} entries")
    for key, value in tags.items():
        check_tag(key, value, member)
    return dict(tags)


def check_max_results(value: Any) -> int:
    if value is None:
        return MAX_RESULTS
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_RESULTS:
        raise constraint_error(value, "maxResults", f"Member must be between 1 and {MAX_RESULTS}")
    return value


def check_client_token(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CLIENT_TOKEN.fullmatch(value):
        raise constraint_error(
            value, "clientToken", "Member must satisfy regular expression pattern: \\S{36,64}"
        )
    return value


def check_artifact(value: Any, check_object: ObjectChecker) -> dict[str, Any] | None:
    """``{"s3Location": {"bucket", "key", "version"?}}`` naming an object that exists in the emulator's S3."""
    if value is None:
        return None
    location = value.get("s3Location") if isinstance(value, dict) else None
    if not isinstance(location, dict):
        raise ValidationException("artifact must hold an s3Location with a bucket and a key")
    bucket, key, version = location.get("bucket"), location.get("key"), location.get("version")
    if not isinstance(bucket, str) or not bucket:
        raise constraint_error(bucket, "artifact.s3Location.bucket", "Member must not be null")
    if not isinstance(key, str) or not key:
        raise constraint_error(key, "artifact.s3Location.key", "Member must not be null")
    if version is not None and (not isinstance(version, str) or not version):
        raise constraint_error(version, "artifact.s3Location.version", "Member must not be empty")
    problem = check_object(bucket, key, version)
    if problem is not None:
        raise ValidationException(f"The artifact s3://{bucket}/{key} cannot be used: {problem}")
    s3_location: dict[str, str] = {"bucket": bucket, "key": key}
    if version is not None:
        s3_location["version"] = version
    return {"s3Location": s3_location}


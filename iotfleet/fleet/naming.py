"""AWS naming rules, checked locally so bad input is refused before the first mutating call.

Each ``check_*`` function returns the value unchanged when it is valid and raises
:class:`iotfleet.aws.errors.UsageError` with a message that names the rule otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iotfleet.aws.errors import UsageError


@dataclass(frozen=True)
class NameRule:
    """One AWS name rule: a pattern (whole-string match) and a length range."""

    kind: str
    pattern: str
    min_len: int
    max_len: int
    description: str

    def check(self, value: object, param: str | None = None) -> str:
        if not isinstance(value, str):
            raise UsageError(f"{self.kind} must be a string, got {value!r}", param=param)
        if not self.min_len <= len(value) <= self.max_len:
            raise UsageError(
                f"invalid {self.kind} {value!r}: length must be {self.min_len} to {self.max_len} characters "
                f"(got {len(value)})",
                param=param,
            )
        if not re.fullmatch(self.pattern, value):
            raise UsageError(f"invalid {self.kind} {value!r}: {self.description}", param=param)
        return value

    def is_valid(self, value: object) -> bool:
        return (
            isinstance(value, str)
            and self.min_len <= len(value) <= self.max_len
            and re.fullmatch(self.pattern, value) is not None
        )


_REGISTRY_CHARS = "only letters, digits, ':', '_' and '-' are allowed"

THING_NAME = NameRule("thing name", r"[a-zA-Z0-9:_-]+", 1, 128, _REGISTRY_CHARS)
THING_TYPE_NAME = NameRule("thing type name", r"[a-zA-Z0-9:_-]+", 1, 128, _REGISTRY_CHARS)
THING_GROUP_NAME = NameRule("thing group name", r"[a-zA-Z0-9:_-]+", 1, 128, _REGISTRY_CHARS)
ATTRIBUTE_NAME = NameRule(
    "attribute name", r"[a-zA-Z0-9_.,@/:#-]+", 1, 128, "only letters, digits and _.,@/:#- are allowed"
)
ATTRIBUTE_VALUE = NameRule(
    "attribute value", r"[a-zA-Z0-9_.,@/:#=\[\]-]*", 0, 800, "only letters, digits and _.,@/:#=[]- are allowed"
)
JOB_ID = NameRule("job id", r"[a-zA-Z0-9_-]+", 1, 64, "only letters, digits, '_' and '-' are allowed")
JOB_TEMPLATE_ID = NameRule(
    "job template id", r"[a-zA-Z0-9_-]+", 1, 64, "only letters, digits, '_' and '-' are allowed"
)
PACKAGE_NAME = NameRule(
    "package name", r"[a-zA-Z0-9._-]+", 1, 128, "only letters, digits, '.', '_' and '-' are allowed"
)
PACKAGE_VERSION_NAME = NameRule(
    "package version name", r"[a-zA-Z0-9._-]+", 1, 64, "only letters, digits, '.', '_' and '-' are allowed"
)
ROLE_NAME = NameRule("IAM role name", r"[\w+=,.@-]+", 1, 64, "only letters, digits and +=,.@_- are allowed")
POLICY_NAME = NameRule("IoT policy name", r"[\w+=,.@-]+", 1, 128, "only letters, digits and +=,.@_- are allowed")
TAG_KEY = NameRule("tag key", r"[\w.:/=+\-@ ]+", 1, 128, "only letters, digits, spaces and _.:/=+-@ are allowed")
TAG_VALUE = NameRule("tag value", r"[\w.:/=+\-@ ]*", 0, 256, "only letters, digits, spaces and _.:/=+-@ are allowed")

# A fleet name becomes part of bucket and role names, so it is kept to what both accept.
FLEET_NAME = NameRule(
    "fleet name",
    r"[a-z][a-z0-9-]*[a-z0-9]|[a-z]",
    1,
    24,
    "use lowercase letters, digits and '-', starting with a letter and not ending with '-'",
)

BUCKET_NAME = NameRule(
    "bucket name",
    r"(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]*[a-z0-9]",
    3,
    63,
    "use lowercase letters, digits, '.' and '-', starting and ending with a letter or digit",
)


def check_fleet_name(value: object, param: str | None = "--fleet") -> str:
    return FLEET_NAME.check(value, param)


def check_thing_name(value: object, param: str | None = None) -> str:
    return THING_NAME.check(value, param)


def check_thing_type_name(value: object, param: str | None = None) -> str:
    return THING_TYPE_NAME.check(value, param)


def check_group_name(value: object, param: str | None = None) -> str:
    return THING_GROUP_NAME.check(value, param)


def check_job_id(value: object, param: str | None = None) -> str:
    return JOB_ID.check(value, param)


def check_package_name(value: object, param: str | None = None) -> str:
    return PACKAGE_NAME.check(value, param)


def check_version_name(value: object, param: str | None = None) -> str:
    return PACKAGE_VERSION_NAME.check(value, param)


def check_positive_int(value: object, what: str, param: str | None = None, maximum: int | None = None) -> int:
    """An integer ≥ 1 (and ≤ ``maximum``), accepting ints and decimal strings, rejecting bools and floats."""
    if isinstance(value, bool):
        raise UsageError(f"{what} must be a positive integer, got {value!r}", param=param)
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\+?[0-9]+", text):
            raise UsageError(f"{what} must be a positive integer, got {value!r}", param=param)
        number = int(text)
    elif isinstance(value, int):
        number = value
    else:
        raise UsageError(f"{what} must be a positive integer, got {value!r}", param=param)
    if number < 1:
        raise UsageError(f"{what} must be a positive integer, got {number}", param=param)
    if maximum is not None and number > maximum:
        raise UsageError(f"{what} must be at most {maximum}, got {number}", param=param)
    return number


# The longest description AWS takes: jobs, job templates and thing groups 2,028 characters, packages 1,024.
MAX_DESCRIPTION = 2028
MAX_PACKAGE_DESCRIPTION = 1024


def check_description(text: str | None, param: str = "--description", limit: int = MAX_DESCRIPTION) -> str | None:
    """A description: None, or 1 to ``limit`` printable characters."""
    if text is None:
        return None
    if len(text) > limit:
        raise UsageError(
            f"the description is {len(text)} characters; at most {limit} (a description is 1 to {limit} "
            "printable characters)",
            param,
        )
    if not text or any(not ch.isprintable() for ch in text):
        raise UsageError("the description must be non-empty printable text (no control characters)", param)
    return text

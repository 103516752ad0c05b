"""Validation of job and job-template settings, with AWS's limits and error messages.

Each function takes the botocore-shaped value from the request and raises InvalidRequestException
before anything is stored, so a bad request changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.jobs.models import MAX_TIMEOUT_MINUTES, MIN_TIMEOUT_MINUTES

MAX_TARGETS = 100
MAX_DESTINATION_PACKAGE_VERSIONS = 25
MIN_EXPIRES_IN_SEC = 60
MAX_EXPIRES_IN_SEC = 3600
MAX_RETRIES_PER_DEVICE = 10
MAX_DESCRIPTION = 2028
MAX_COMMENT = 2028
MAX_REASON_CODE = 128

ABORT_FAILURE_TYPES = ("FAILED", "REJECTED", "TIMED_OUT", "ALL")
RETRY_FAILURE_TYPES = ("FAILED", "TIMED_OUT", "ALL")

_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_REASON_CODE = re.compile(r"^[A-Z0-9_]+$")


def check_id(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidRequestException(f"{field_name} must be 1-64 characters of [a-zA-Z0-9_-]")
    return value


def check_text(value: Any, field_name: str, maximum: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > maximum:
        raise InvalidRequestException(f"{field_name} must be a string of at most {maximum} characters")
    if any(not ch.isprintable() for ch in value):
        raise InvalidRequestException(f"{field_name} must not contain control characters")
    return value


def check_reason_code(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_REASON_CODE or not _REASON_CODE.match(value):
        raise InvalidRequestException(
            f"reasonCode must be at most {MAX_REASON_CODE} upper-case letters, digits and underscores"
        )
    return value


def check_targets(targets: Any) -> list[str]:
    if not isinstance(targets, list) or not targets:
        raise InvalidRequestException("targets must list at least one thing or thing group ARN")
    if len(targets) > MAX_TARGETS:
        raise InvalidRequestException(f"A job can have at most {MAX_TARGETS} targets, got {len(targets)}")
    return list(dict.fromkeys(targets))


def check_presigned_url_config(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    role_arn = config.get("roleArn")
    if role_arn is not None and (not isinstance(role_arn, str) or not 20 <= len(role_arn) <= 2048):
        raise InvalidRequestException("presignedUrlConfig.roleArn must be 20-2048 characters")
    expires = config.get("expiresInSec")
    if expires is not None and (
        isinstance(expires, bool)
        or not isinstance(expires, int)
        or not MIN_EXPIRES_IN_SEC <= expires <= MAX_EXPIRES_IN_SEC
    ):
        raise InvalidRequestException(
            f"presignedUrlConfig.expiresInSec must be between {MIN_EXPIRES_IN_SEC} and {MAX_EXPIRES_IN_SEC}"
        )
    return dict(config)


def check_timeout_config(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    minutes = config.get("inProgressTimeoutInMinutes")
    if minutes is not None and (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not MIN_TIMEOUT_MINUTES <= minutes <= MAX_TIMEOUT_MINUTES
    ):
        raise InvalidRequestException(
            f"inProgressTimeoutInMinutes must be between {MIN_TIMEOUT_MINUTES} and {MAX_TIMEOUT_MINUTES}"
        )
    return dict(config)


def check_abort_config(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    criteria = config.get("criteriaList")
    if not isinstance(criteria, list) or not criteria:
        raise InvalidRequestException("abortConfig.criteriaList must hold at least one criterion")
    seen: set[str] = set()
    for criterion in criteria:
        failure_type = criterion.get("failureType")
        if failure_type not in ABORT_FAILURE_TYPES:
            raise InvalidRequestException(f"abort failureType must be one of {', '.join(ABORT_FAILURE_TYPES)}")
        if failure_type in seen:
            raise InvalidRequestException(f"abortConfig lists failureType {failure_type} more than once")
        seen.add(failure_type)
        if criterion.get("action") != "CANCEL":
            raise InvalidRequestException("abort action must be CANCEL")
        threshold = criterion.get("thresholdPercentage")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 100:
            raise InvalidRequestException("thresholdPercentage must be greater than 0 and at most 100")
        if round(threshold, 2) != threshold:
            raise InvalidRequestException("thresholdPercentage supports two digits after the decimal point")
        minimum = criterion.get("minNumberOfExecutedThings")
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            raise InvalidRequestException("minNumberOfExecutedThings must be an integer of at least 1")
    return {"criteriaList": [dict(c) for c in criteria]}


def check_retry_config(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    criteria = config.get("criteriaList")
    if not isinstance(criteria, list) or not 1 <= len(criteria) <= 2:
        raise InvalidRequestException("jobExecutionsRetryConfig.criteriaList must hold one or two criteria")
    seen: set[str] = set()
    total = 0
    for criterion in criteria:
        failure_type = criterion.get("failureType")
        if failure_type not in RETRY_FAILURE_TYPES:
            raise InvalidRequestException(
                f"retry failureType must be one of {', '.join(RETRY_FAILURE_TYPES)} (REJECTED is never retried)"
            )
        if failure_type in seen:
            raise InvalidRequestException(f"jobExecutionsRetryConfig lists {failure_type} more than once")
        seen.add(failure_type)
        retries = criterion.get("numberOfRetries")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES_PER_DEVICE:
            raise InvalidRequestException(f"numberOfRetries must be between 0 and {MAX_RETRIES_PER_DEVICE}")
        total += retries
    if total > MAX_RETRIES_PER_DEVICE:
        raise InvalidRequestException(
            f"A device can be retried at most {MAX_RETRIES_PER_DEVICE} times in total, the criteria allow {total}"
        )
    return {"criteriaList": [dict(c) for c in criteria]}


def check_destination_package_versions(arns: Any) -> list[str]:
    if arns is None:
        return []
    if not isinstance(arns, list):
        raise InvalidRequestException("destinationPackageVersions must be a list of package version ARNs")
    if len(arns) > MAX_DESTINATION_PACKAGE_VERSIONS:
        raise InvalidRequestException(
            f"destinationPackageVersions can hold at most {MAX_DESTINATION_PACKAGE_VERSIONS} ARNs"
        )
    return list(dict.fromkeys(arns))


def tags_to_dict(tags: Any) -> dict[str, str]:
    if not tags:
        return {}
    return {tag["Key"]: tag.get("Value", "") for tag in tags}

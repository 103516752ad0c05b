"""Packages and package versions: their statuses, their ARNs and how the API describes them.

Plain data: the rules that move a version from one status to another live in :mod:`.store`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DRAFT = "DRAFT"
PUBLISHED = "PUBLISHED"
DEPRECATED = "DEPRECATED"
STATUSES = (DRAFT, PUBLISHED, DEPRECATED)
PUBLISH = "PUBLISH"
DEPRECATE = "DEPRECATE"

_PACKAGE_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:iot:[a-z0-9-]+:\d{12}:package/(?P<package>[a-zA-Z0-9._-]+)"
    r"(?:/version/(?P<version>[a-zA-Z0-9._-]+))?"
)


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=timezone.utc)


def parse_package_version_arn(arn: str) -> tuple[str, str]:
    """``(package_name, version_name)`` of a package version ARN; ValueError if ``arn`` is not one."""
    match = _PACKAGE_ARN.fullmatch(arn or "")
    if match is None or match.group("version") is None:
        raise ValueError(f"not a package version ARN: {arn!r}")
    return match.group("package"), match.group("version")


def parse_package_arn(arn: str) -> tuple[str, str | None] | None:
    """``(package_name, version_name or None)`` for a package or package version ARN, else None."""
    match = _PACKAGE_ARN.fullmatch(arn or "")
    if match is None:
        return None
    return match.group("package"), match.group("version")


@dataclass
class PackageVersion:
    """One version of a package. The jobs engine reads ``arn``, ``status``, ``attributes`` and ``artifact``."""

    package_name: str
    version_name: str
    arn: str
    status: str
    created: float
    modified: float
    description: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    artifact: dict[str, Any] | None = None
    recipe: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The GetPackageVersion answer."""
        answer: dict[str, Any] = {
            "packageVersionArn": self.arn,
            "packageName": self.package_name,
            "versionName": self.version_name,
            "description": self.description,
            "attributes": dict(self.attributes),
            "artifact": copy.deepcopy(self.artifact),
            "status": self.status,
            "creationDate": _utc(self.created),
            "lastModifiedDate": _utc(self.modified),
            "recipe": self.recipe,
        }
        return {key: value for key, value in answer.items() if value is not None}

    def summary(self) -> dict[str, Any]:
        return {
            "packageName": self.package_name,
            "versionName": self.version_name,
            "status": self.status,
            "creationDate": _utc(self.created),
            "lastModifiedDate": _utc(self.modified),
        }


@dataclass
class Package:
    name: str
    arn: str
    created: float
    modified: float
    description: str | None = None
    default_version_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    versions: dict[str, PackageVersion] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The GetPackage answer."""
        answer: dict[str, Any] = {
            "packageName": self.name,
            "packageArn": self.arn,
            "description": self.description,
            "defaultVersionName": self.default_version_name,
            "creationDate": _utc(self.created),
            "lastModifiedDate": _utc(self.modified),
        }
        return {key: value for key, value in answer.items() if value is not None}

    def summary(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "packageName": self.name,
            "defaultVersionName": self.default_version_name,
            "creationDate": _utc(self.created),
            "lastModifiedDate": _utc(self.modified),
        }
        return {key: value for key, value in answer.items() if value is not None}



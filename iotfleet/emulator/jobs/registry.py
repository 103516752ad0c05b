"""What the jobs engine needs from the rest of the emulator, as one narrow interface.

The engine never touches moto, S3 or the package catalog directly: it asks a :class:`RegistryView`
bound to one account and region. The emulator wires a view over its real stores; unit tests pass a
small in-memory one. ARNs of targets are parsed here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.jobs.documents import PackageVersionView, S3Location

PUBLISHED = "PUBLISHED"
DEPRECATED = "DEPRECATED"
DEPLOYABLE_PACKAGE_STATUSES = (PUBLISHED, DEPRECATED)

_TARGET_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iot:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>thing|thinggroup)/(?P<name>[a-zA-Z0-9:_-]+)$"
)


class PackageVersion(PackageVersionView, Protocol):
    """A package version as the package catalog describes it."""

    @property
    def arn(self) -> str: ...

    @property
    def package_name(self) -> str: ...

    @property
    def version_name(self) -> str: ...

    @property
    def status(self) -> str: ...


class RegistryView(Protocol):
    """One account and region of the emulator, as the jobs engine sees it."""

    account_id: str
    region: str

    def thing_exists(self, thing_name: str) -> bool: ...

    def group_exists(self, group_name: str) -> bool: ...

    def group_members(self, group_name: str) -> list[str]:
        """Things in the group and, for static groups, in all its descendant groups."""
        ...

    def groups_of_thing(self, thing_name: str) -> set[str]:
        """Every group the thing belongs to, directly, dynamically, or through a child group."""
        ...

    def group_id(self, group_name: str) -> str | None:
        """The group's id, or None when no such group exists."""
        ...

    def package_version(self, package_name: str, version_name: str) -> PackageVersion | None: ...

    def parse_package_version_arn(self, arn: str) -> tuple[str, str]: ...

    def package_configuration(self) -> dict[str, Any]: ...

    def merge_package_shadow(self, thing_name: str, reported: dict[str, Any]) -> None:
        """Write ``reported`` (package -> ``{"version", "attributes"}``) into the thing's ``$package``
        named shadow: each package named replaces its previous entry; other packages stay."""
        ...

    def presign_get(self, location: S3Location, expires_in: int) -> str: ...

    def read_object(self, location: S3Location) -> bytes | None:
        """The object's bytes, or None when the bucket, key or version does not exist."""
        ...


@dataclass(frozen=True)
class Target:
    """A parsed job target ARN."""

    arn: str
    kind: str  # "thing" or "thinggroup"
    name: str

    @property
    def is_group(self) -> bool:
        return self.kind == "thinggroup"


def parse_target(arn: str, account_id: str, region: str) -> Target:
    match = _TARGET_ARN.match(arn)
    if match is None:
        raise InvalidRequestException(f"{arn!r} is not the ARN of a thing or a thing group")
    if match["account"] != account_id or match["region"] != region:
        raise InvalidRequestException(f"Target {arn} is not in account {account_id} and region {region}")
    return Target(arn, match["kind"], match["name"])


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def arn(region: str, account_id: str, resource: str) -> str:
    return f"arn:{partition(region)}:iot:{region}:{account_id}:{resource}"

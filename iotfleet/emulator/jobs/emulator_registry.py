"""The jobs engine's view of a running emulator: moto's registry and S3, the package catalog, presigning.

Everything the engine needs from outside goes through this one class, so the package catalog or
moto accessors can change in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iotfleet.emulator import presign
from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.jobs.documents import S3Location
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.package_catalog import models as catalog_models
from iotfleet.emulator.package_catalog import store as catalog_store

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

PACKAGE_SHADOW = "$package"


class EmulatorRegistry:
    """:class:`~iotfleet.emulator.jobs.registry.RegistryView` over one account and region of the emulator.

    ``base_url`` is the emulator address a device uses; the handlers set it from each call so that
    presigned URLs point where the device can reach.
    """

    def __init__(self, state: EmulatorState, account_id: str, region: str) -> None:
        self.state = state
        self.account_id = account_id
        self.region = region
        self.base_url: str | None = None

    def thing_exists(self, thing_name: str) -> bool:
        return accessors.thing(self.account_id, self.region, thing_name) is not None

    def group_exists(self, group_name: str) -> bool:
        return accessors.is_known_thing_group_name(self.account_id, self.region, group_name)

    def group_members(self, group_name: str) -> list[str]:
        return accessors.group_members(self.account_id, self.region, group_name, recursive=True)

    def groups_of_thing(self, thing_name: str) -> set[str]:
        record = accessors.thing(self.account_id, self.region, thing_name)
        if record is None:
            return set()
        groups: set[str] = set()
        for name in record.thing_group_names:
            current: str | None = name
            while current is not None and current not in groups:
                groups.add(current)
                group = accessors.thing_group(self.account_id, self.region, current)
                current = group.parent_name if group is not None else None
        return groups

    def group_id(self, group_name: str) -> str | None:
        group = accessors.thing_group(self.account_id, self.region, group_name)
        return None if group is None else group.group_id

    def package_version(self, package_name: str, version_name: str) -> catalog_models.PackageVersion | None:
        return catalog_store.lookup_package_version(
            self.state, self.account_id, self.region, package_name, version_name
        )

    def parse_package_version_arn(self, arn: str) -> tuple[str, str]:
        try:
            return catalog_models.parse_package_version_arn(arn)
        except ValueError:
            raise InvalidRequestException(f"{arn!r} is not a package version ARN") from None

    def package_configuration(self) -> dict[str, Any]:
        return catalog_store.package_configuration(self.state, self.account_id, self.region)

    def merge_package_shadow(self, thing_name: str, reported: dict[str, Any]) -> None:
        current = accessors.shadows(self.account_id, self.region, thing_name).get(PACKAGE_SHADOW) or {}
        previous = ((current.get("state") or {}).get("reported") or {})
        update: dict[str, Any] = {}
        for package, entry in reported.items():
            old_attributes = (previous.get(package) or {}).get("attributes") or {}
            attributes: dict[str, Any] = dict.fromkeys(old_attributes)  # null removes a stale attribute
            attributes.update(entry.get("attributes") or {})
            update[package] = {"version": entry["version"], "attributes": attributes}
        accessors.write_shadow(
            self.account_id, self.region, thing_name, PACKAGE_SHADOW, {"state": {"reported": update}}
        )

    def presign_get(self, location: S3Location, expires_in: int) -> str:
        return presign.mint_presigned_get(
            self.state,
            location.bucket,
            location.key,
            location.version_id,
            expires_in,
            base_url=self.base_url,
            region=self.region,
        )

    def read_object(self, location: S3Location) -> bytes | None:
        found = accessors.s3_object(self.account_id, location.bucket, location.key, location.version_id)
        return None if found is None else found.body

"""The catalog of one account and region: the lifecycle rules, client-token replay and paging.

Handlers validate a request (:mod:`.validation`) and then call one :class:`PackageCatalog` method, which
applies the rules of the package docstring; the jobs engine reads versions and the configuration
through :func:`lookup_package_version` and :func:`package_configuration`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import (
    ConflictException,
    ResourceNotFoundException,
    ValidationException,
    constraint_error,
)
from iotfleet.emulator.package_catalog.models import (
    DEPRECATE,
    DEPRECATED,
    DRAFT,
    PUBLISH,
    PUBLISHED,
    STATUSES,
    Package,
    PackageVersion,
    parse_package_arn,
)

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

STORE = "package_catalog"

_ROLE_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


def page(names: Iterable[str], next_token: str | None, max_results: int) -> tuple[list[str], str | None]:
    """One page of ``names`` (sorted), resuming after the name in ``next_token``; stable under deletes."""
    ordered = sorted(names)
    start = 0
    if next_token is not None:
        after = _decode_token(next_token)
        start = next((i for i, name in enumerate(ordered) if name > after), len(ordered))
    chunk = ordered[start : start + max_results]
    more = start + max_results < len(ordered)
    return chunk, (_encode_token(chunk[-1]) if more and chunk else None)


def _encode_token(name: str) -> str:
    return "pkg1:" + name


def _decode_token(token: str) -> str:
    if not isinstance(token, str) or not token.startswith("pkg1:"):
        raise ValidationException(f"Invalid nextToken: {token!r}")
    return token[len("pkg1:") :]


class PackageCatalog:
    """The packages and package configuration of one account in one region."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.packages: dict[str, Package] = {}
        self.jobs_update_enabled = False
        self.jobs_update_role_arn: str | None = None
        self._replies: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    # ARNs
    def package_arn(self, package_name: str) -> str:
        return f"arn:aws:iot:{self.region}:{self.account_id}:package/{package_name}"

    def version_arn(self, package_name: str, version_name: str) -> str:
        return f"{self.package_arn(package_name)}/version/{version_name}"

    # idempotency
    def replay(self, operation: str, token: str | None, request: dict[str, Any]) -> dict[str, Any] | None:
        """The earlier answer to this exact request with this client token, if there was one.

        The same token with a different request is a ConflictException, as AWS treats reuse.
        """
        if token is None:
            return None
        seen = self._replies.get((operation, token))
        if seen is None:
            return None
        fingerprint, answer = seen
        if fingerprint != _fingerprint(request):
            raise ConflictException(
                f"The client token {token} was already used with a different {operation} request"
            )
        return copy.deepcopy(answer)

    def remember(
        self, operation: str, token: str | None, request: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        if token is not None:
            self._replies[(operation, token)] = (_fingerprint(request), copy.deepcopy(answer))

    # packages
    def package(self, package_name: str) -> Package:
        found = self.packages.get(package_name)
        if found is None:
            raise ResourceNotFoundException(f"Package {package_name} does not exist")
        return found

    def create_package(self, name: str, description: str | None, tags: dict[str, str], now: float) -> Package:
        if name in self.packages:
            raise ConflictException(f"Package {name} already exists", resourceId=name)
        created = Package(name, self.package_arn(name), now, now, description, None, dict(tags))
        self.packages[name] = created
        return created

    def update_package(
        self,
        name: str,
        description: str | None,
        default_version_name: str | None,
        unset_default_version: bool,
        now: float,
    ) -> Package:
        if default_version_name is not None and unset_default_version:
            raise ValidationException(
                "You cannot name a defaultVersionName and set unsetDefaultVersion to true"
            )
        package = self.package(name)
        if default_version_name is not None:
            version = package.versions.get(default_version_name)
            if version is None:
                raise ResourceNotFoundException(
                    f"Package version {default_version_name} of package {name} does not exist"
                )
            if version.status == DRAFT:
                raise ConflictException(
                    f"Package version {default_version_name} is in DRAFT: only a PUBLISHED or DEPRECATED "
                    "version can be the default version",
                    resourceId=version.arn,
                )
            package.default_version_name = default_version_name
        if unset_default_version:
            package.default_version_name = None
        if description is not None:
            package.description = description
        package.modified = now
        return package

    def delete_package(self, name: str) -> None:
        package = self.packages.get(name)
        if package is None:
            return
        if package.versions:
            raise ValidationException(
                f"Package {name} still has {len(package.versions)} version(s): all package versions must "
                "be deleted before deleting the software package"
            )
        del self.packages[name]

    def list_packages(self, next_token: str | None, max_results: int) -> tuple[list[Package], str | None]:
        names, token = page(self.packages, next_token, max_results)
        return [self.packages[name] for name in names], token

    # versions
    def version(self, package_name: str, version_name: str) -> PackageVersion:
        found = self.package(package_name).versions.get(version_name)
        if found is None:
            raise ResourceNotFoundException(
                f"Package version {version_name} of package {package_name} does not exist"
            )
        return found

    def create_version(
        self,
        package_name: str,
        version_name: str,
        *,
        description: str | None,
        attributes: dict[str, str],
        artifact: dict[str, Any] | None,
        recipe: str | None,
        tags: dict[str, str],
        now: float,
    ) -> PackageVersion:
        package = self.packages.get(package_name)
        if package is None:
            raise ValidationException(f"Package {package_name} does not exist: create the package first")
        if version_name in package.versions:
            existing = package.versions[version_name]
            raise ConflictException(f"Package version {version_name} already exists", resourceId=existing.arn)
        created = PackageVersion(
            package_name,
            version_name,
            self.version_arn(package_name, version_name),
            DRAFT,
            now,
            now,
            description,
            dict(attributes),
            artifact,
            recipe,
            dict(tags),
        )
        package.versions[version_name] = created
        package.modified = now
        return created

    def update_version(
        self,
        package_name: str,
        version_name: str,
        *,
        description: str | None,
        attributes: dict[str, str] | None,
        artifact: dict[str, Any] | None,
        recipe: str | None,
        action: str | None,
        now: float,
    ) -> PackageVersion:
        version = self.version(package_name, version_name)
        content = [
            name
            for name, value in (("attributes", attributes), ("artifact", artifact), ("recipe", recipe))
            if value is not None
        ]
        if content and version.status != DRAFT:
            raise ConflictException(
                f"Package version {version_name} is {version.status}: only its description and tags can change "
                f"({', '.join(content)} can be updated only when the package version is in a draft state)",
                resourceId=version.arn,
            )
        new_status = _transition(version, action)
        if attributes is not None:
            version.attributes = dict(attributes)
        if artifact is not None:
            version.artifact = artifact
        if recipe is not None:
            version.recipe = recipe
        if description is not None:
            version.description = description
        version.status = new_status
        version.modified = now
        return version

    def delete_version(self, package_name: str, version_name: str) -> None:
        package = self.packages.get(package_name)
        if package is None or version_name not in package.versions:
            return
        if package.default_version_name == version_name:
            raise ValidationException(
                f"Package version {version_name} is the default version of package {package_name}: unset it "
                "with UpdatePackage(unsetDefaultVersion=True) before deleting it"
            )
        del package.versions[version_name]

    def list_versions(
        self, package_name: str, status: str | None, next_token: str | None, max_results: int
    ) -> tuple[list[PackageVersion], str | None]:
        package = self.packages.get(package_name)
        if package is None:
            raise ValidationException(f"Package {package_name} does not exist")
        if status is not None and status not in STATUSES:
            raise constraint_error(status, "status", f"Member must satisfy enum value set: {list(STATUSES)}")
        candidates = [name for name, v in package.versions.items() if status is None or v.status == status]
        names, token = page(candidates, next_token, max_results)
        return [package.versions[name] for name in names], token

    # configuration
    def configuration(self) -> dict[str, Any]:
        config: dict[str, Any] = {"enabled": self.jobs_update_enabled}
        if self.jobs_update_role_arn is not None:
            config["roleArn"] = self.jobs_update_role_arn
        return {"versionUpdateByJobsConfig": config}

    def update_configuration(self, update: dict[str, Any] | None) -> None:
        if not update:
            return
        enabled = update.get("enabled", self.jobs_update_enabled)
        role_arn = update.get("roleArn", self.jobs_update_role_arn)
        if not isinstance(enabled, bool):
            raise constraint_error(enabled, "versionUpdateByJobsConfig.enabled", "Member must be a boolean")
        if role_arn is not None:
            if not isinstance(role_arn, str) or not 20 <= len(role_arn) <= 2048:
                raise constraint_error(
                    role_arn,
                    "versionUpdateByJobsConfig.roleArn",
                    "Member must have length between 20 and 2048",
                )
            if not _ROLE_ARN.fullmatch(role_arn):
                raise ValidationException(f"roleArn {role_arn!r} is not an IAM role ARN")
        if enabled and role_arn is None:
            raise ValidationException(
                "versionUpdateByJobsConfig.roleArn is required to enable version updates by jobs"
            )
        self.jobs_update_enabled = enabled
        self.jobs_update_role_arn = role_arn

    # tags
    def taggable(self, arn: str) -> Package | PackageVersion | None:
        """The package or version an ARN of this account and region names, if it exists."""
        parsed = parse_package_arn(arn)
        if parsed is None or not arn.startswith(self.package_arn("")):
            return None
        package_name, version_name = parsed
        package = self.packages.get(package_name)
        if package is None or version_name is None:
            return package
        return package.versions.get(version_name)


def _transition(version: PackageVersion, action: str | None) -> str:
    """The status after ``action``: DRAFT -> PUBLISHED -> DEPRECATED, and DEPRECATED -> PUBLISHED.

    Asking for the state a version is already in changes nothing and succeeds, so re-runs are safe.
    """
    if action is None:
        return version.status
    if action == PUBLISH:
        return PUBLISHED
    if action == DEPRECATE:
        if version.status == DRAFT:
            raise ConflictException(
                f"Package version {version.version_name} is {version.status}: only a PUBLISHED version can be "
                "deprecated",
                resourceId=version.arn,
            )
        return DEPRECATED
    raise constraint_error(action, "action", "Member must satisfy enum value set: [PUBLISH, DEPRECATE]")


def _fingerprint(request: dict[str, Any]) -> str:
    return json.dumps(request, sort_keys=True, default=str)


def catalog(state: EmulatorState, account_id: str, region: str) -> PackageCatalog:
    """The catalog of (account, region), created empty on first use."""
    return state.store(STORE, account_id, region, lambda: PackageCatalog(account_id, region))


# --- what the jobs engine reads -----------------------------------------------------------------


def lookup_package_version(
    state: EmulatorState, account_id: str, region: str, package_name: str, version_name: str
) -> PackageVersion | None:
    """A copy of the version (``arn``, ``package_name``, ``version_name``, ``status``, ``attributes``,
    ``artifact``), or None if the package or version does not exist."""
    with state.lock:
        package = catalog(state, account_id, region).packages.get(package_name)
        version = package.versions.get(version_name) if package is not None else None
        return copy.deepcopy(version) if version is not None else None


def package_configuration(state: EmulatorState, account_id: str, region: str) -> dict[str, Any]:
    """``{"versionUpdateByJobsConfig": {"enabled": bool, "roleArn": str}}`` (no roleArn until one is set)."""
    with state.lock:
        return catalog(state, account_id, region).configuration()


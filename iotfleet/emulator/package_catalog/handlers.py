"""The ``iot`` Software Package Catalog operations, answered by the emulator instead of moto.

Each handler validates its request, then runs one catalog change once per client token; artifacts are
checked against the emulator's S3. Packages and versions also answer the tagging operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import ResourceNotFoundException, constraint_error
from iotfleet.emulator.extension import Call, handles
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.package_catalog.models import DEPRECATE, PUBLISH, parse_package_arn
from iotfleet.emulator.package_catalog.store import PackageCatalog, catalog
from iotfleet.emulator.package_catalog.validation import (
    ObjectChecker,
    check_artifact,
    check_attributes,
    check_client_token,
    check_description,
    check_max_results,
    check_package_name,
    check_recipe,
    check_tag_map,
    check_version_name,
)
from iotfleet.emulator.tagging import tag_holder

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState


def _catalog_of(call: Call) -> PackageCatalog:
    return catalog(call.state, call.account_id, call.region)


def _object_checker(call: Call) -> ObjectChecker:
    def check(bucket: str, key: str, version: str | None) -> str | None:
        found = accessors.s3_object(call.account_id, bucket, key, version)
        if found is not None:
            return None
        if accessors.s3_object(call.account_id, bucket, key) is None:
            return "no such bucket or key in S3"
        return f"the object has no version {version}"

    return check


def _idempotent(call: Call, run: Callable[[PackageCatalog], dict[str, Any]]) -> dict[str, Any]:
    """Answer ``run`` once per client token: a retry of the same request gets the same answer."""
    store = _catalog_of(call)
    token = check_client_token(call.params.get("clientToken"))
    request = {key: value for key, value in call.params.items() if key != "clientToken"}
    earlier = store.replay(call.operation, token, request)
    if earlier is not None:
        return earlier
    answer = run(store)
    store.remember(call.operation, token, request, answer)
    return answer


@handles("iot", "CreatePackage")
def create_package(call: Call) -> dict[str, Any]:
    params = call.params
    name = check_package_name(params.get("packageName"))
    description = check_description(params.get("description"))
    tags = check_tag_map(params.get("tags"))

    def run(store: PackageCatalog) -> dict[str, Any]:
        package = store.create_package(name, description, tags, call.state.clock.now())
        answer = {"packageName": package.name, "packageArn": package.arn, "description": package.description}
        return {key: value for key, value in answer.items() if value is not None}

    return _idempotent(call, run)


@handles("iot", "GetPackage")
def get_package(call: Call) -> dict[str, Any]:
    return _catalog_of(call).package(check_package_name(call.params.get("packageName"))).describe()


@handles("iot", "UpdatePackage")
def update_package(call: Call) -> dict[str, Any]:
    params = call.params
    name = check_package_name(params.get("packageName"))
    description = check_description(params.get("description"))
    default = params.get("defaultVersionName")
    if default is not None:
        check_version_name(default, "defaultVersionName")
    unset = bool(params.get("unsetDefaultVersion"))

    def run(store: PackageCatalog) -> dict[str, Any]:
        store.update_package(name, description, default, unset, call.state.clock.now())
        return {}

    return _idempotent(call, run)


@handles("iot", "DeletePackage")
def delete_package(call: Call) -> dict[str, Any]:
    name = check_package_name(call.params.get("packageName"))

    def run(store: PackageCatalog) -> dict[str, Any]:
        store.delete_package(name)
        return {}

    return _idempotent(call, run)


@handles("iot", "ListPackages")
def list_packages(call: Call) -> dict[str, Any]:
    packages, token = _catalog_of(call).list_packages(
        call.params.get("nextToken"), check_max_results(call.params.get("maxResults"))
    )
    answer: dict[str, Any] = {"packageSummaries": [package.summary() for package in packages]}
    if token is not None:
        answer["nextToken"] = token
    return answer


@handles("iot", "CreatePackageVersion")
def create_package_version(call: Call) -> dict[str, Any]:
    params = call.params
    package_name = check_package_name(params.get("packageName"))
    version_name = check_version_name(params.get("versionName"))
    description = check_description(params.get("description"))
    attributes = check_attributes(params.get("attributes"))
    recipe = check_recipe(params.get("recipe"))
    tags = check_tag_map(params.get("tags"))
    artifact = check_artifact(params.get("artifact"), _object_checker(call))

    def run(store: PackageCatalog) -> dict[str, Any]:
        version = store.create_version(
            package_name,
            version_name,
            description=description,
            attributes=attributes,
            artifact=artifact,
            recipe=recipe,
            tags=tags,
            now=call.state.clock.now(),
        )
        answer = {
            "packageVersionArn": version.arn,
            "packageName": version.package_name,
            "versionName": version.version_name,
            "description": version.description,
            "attributes": dict(version.attributes),
            "status": version.status,
        }
        return {key: value for key, value in answer.items() if value is not None}

    return _idempotent(call, run)


@handles("iot", "GetPackageVersion")
def get_package_version(call: Call) -> dict[str, Any]:
    package_name = check_package_name(call.params.get("packageName"))
    version_name = check_version_name(call.params.get("versionName"))
    return _catalog_of(call).version(package_name, version_name).describe()


@handles("iot", "UpdatePackageVersion")
def update_package_version(call: Call) -> dict[str, Any]:
    params = call.params
    package_name = check_package_name(params.get("packageName"))
    version_name = check_version_name(params.get("versionName"))
    description = check_description(params.get("description"))
    attributes = check_attributes(params["attributes"]) if params.get("attributes") is not None else None
    recipe = check_recipe(params.get("recipe"))
    action = params.get("action")
    if action not in (None, PUBLISH, DEPRECATE):
        raise constraint_error(action, "action", "Member must satisfy enum value set: [PUBLISH, DEPRECATE]")

    def run(store: PackageCatalog) -> dict[str, Any]:
        store.version(package_name, version_name)  # ResourceNotFound before the artifact is checked
        artifact = check_artifact(params.get("artifact"), _object_checker(call))
        store.update_version(
            package_name,
            version_name,
            description=description,
            attributes=attributes,
            artifact=artifact,
            recipe=recipe,
            action=action,
            now=call.state.clock.now(),
        )
        return {}

    return _idempotent(call, run)


@handles("iot", "DeletePackageVersion")
def delete_package_version(call: Call) -> dict[str, Any]:
    package_name = check_package_name(call.params.get("packageName"))
    version_name = check_version_name(call.params.get("versionName"))

    def run(store: PackageCatalog) -> dict[str, Any]:
        store.delete_version(package_name, version_name)
        return {}

    return _idempotent(call, run)


@handles("iot", "ListPackageVersions")
def list_package_versions(call: Call) -> dict[str, Any]:
    params = call.params
    versions, token = _catalog_of(call).list_versions(
        check_package_name(params.get("packageName")),
        params.get("status"),
        params.get("nextToken"),
        check_max_results(params.get("maxResults")),
    )
    answer: dict[str, Any] = {"packageVersionSummaries": [version.summary() for version in versions]}
    if token is not None:
        answer["nextToken"] = token
    return answer


@handles("iot", "GetPackageConfiguration")
def get_package_configuration(call: Call) -> dict[str, Any]:
    return _catalog_of(call).configuration()


@handles("iot", "UpdatePackageConfiguration")
def update_package_configuration(call: Call) -> dict[str, Any]:
    update = call.params.get("versionUpdateByJobsConfig")

    def run(store: PackageCatalog) -> dict[str, Any]:
        store.update_configuration(update)
        return {}

    return _idempotent(call, run)


# Packages and package versions answer the tagging operations (see iotfleet.emulator.tagging).
@tag_holder
def _package_tags(state: EmulatorState, account_id: str, region: str, arn: str) -> dict[str, str] | None:
    if parse_package_arn(arn) is None:
        return None
    found = catalog(state, account_id, region).taggable(arn)
    if found is None:
        raise ResourceNotFoundException(f"No package or package version has the ARN {arn}")
    return found.tags



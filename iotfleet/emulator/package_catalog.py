"""The Software Package Catalog: packages, their versions and lifecycle, and the package configuration.

moto has none of it. Each (account, region) keeps one :class:`PackageCatalog` in an emulator store.
The rules follow the AWS API reference and developer guide:

* a version is created DRAFT; ``UpdatePackageVersion(action=PUBLISH|DEPRECATE)`` moves it
  DRAFT -> PUBLISHED -> DEPRECATED, and a DEPRECATED version can be published again;
* a DRAFT version may change everything; a PUBLISHED or DEPRECATED one only its description (and tags);
* ``attributes`` are at most 3 KB in total (keys plus values, UTF-8);
* an artifact's ``s3Location`` must name an existing object (and object version) in the emulator's S3;
* a package's default version must be PUBLISHED or DEPRECATED, and must be unset before that version
  is deleted; a package must have no versions left before it is deleted;
* deleting something that does not exist succeeds (DeletePackage and DeletePackageVersion declare no
  ResourceNotFoundException);
* a repeated ``clientToken`` with the same request replays the first answer;
* PUBLISH on a PUBLISHED version, or DEPRECATE on a DEPRECATED one, is a no-op (AWS does not document it).

The jobs engine reads versions and the configuration through :func:`lookup_package_version`,
:func:`package_configuration` and :func:`parse_package_version_arn`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import (
    ConflictException,
    ResourceNotFoundException,
    ValidationException,
    constraint_error,
)
from iotfleet.emulator.extension import Call, handles
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.tagging import MAX_TAGS, check_tag, tag_holder

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

STORE = "package_catalog"

DRAFT = "DRAFT"
PUBLISHED = "PUBLISHED"
DEPRECATED = "DEPRECATED"
STATUSES = (DRAFT, PUBLISHED, DEPRECATED)
PUBLISH = "PUBLISH"
DEPRECATE = "DEPRECATE"

MAX_ATTRIBUTES_BYTES = 3 * 1024
MAX_DESCRIPTION = 1024
MAX_RECIPE = 3072
MAX_RESULTS = 100

_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_ATTRIBUTE_KEY = re.compile(r"[a-zA-Z0-9:_-]+")
_CLIENT_TOKEN = re.compile(r"\S{36,64}")
_ROLE_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
_PACKAGE_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:iot:[a-z0-9-]+:\d{12}:package/(?P<package>[a-zA-Z0-9._-]+)"
    r"(?:/version/(?P<version>[a-zA-Z0-9._-]+))?"
)

ObjectChecker = Callable[[str, str, "str | None"], "str | None"]
"""``check(bucket, key, version_id)`` -> None when the S3 object exists, else why it does not."""


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=timezone.utc)


# --- validation ---------------------------------------------------------------------------------


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


# --- the model ----------------------------------------------------------------------------------


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


# --- handlers -----------------------------------------------------------------------------------


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


__all__ = [
    "DEPRECATED",
    "DRAFT",
    "PUBLISHED",
    "Package",
    "PackageCatalog",
    "PackageVersion",
    "catalog",
    "lookup_package_version",
    "package_configuration",
    "parse_package_version_arn",
]

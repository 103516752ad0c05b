"""Firmware in the Software Package Catalog: packages, versions from local files, lifecycle, configuration,
what devices report, and rollback.

* :func:`upload_version` is the one way a firmware file becomes a package version: the file goes to the
  fleet's versioned bucket (with the server-side encryption the bucket asks for), and the version records
  ``sha256`` and ``size`` attributes and an artifact ``s3Location`` that carries the object's VersionId.
  Re-running it with the same file is safe: the object is reused and the version is found, not duplicated.
* Lifecycle: DRAFT -> PUBLISHED -> DEPRECATED (and back to PUBLISHED). The rules are checked locally from
  one read, so a refused action makes no mutating call.
* Deleting a version, or a package with its versions, is refused while an IN_PROGRESS or SCHEDULED job
  deploys it (its ``destinationPackageVersions`` or its document's package placeholders), unless forced.
* :func:`device_packages` reads a thing's ``$package`` shadow; :func:`distribution` counts devices per version
  from the fleet index with one ``GetStatistics`` per version.
* :func:`plan_rollback` / :func:`apply_rollback` create a real OTA job back to an earlier version for exactly
  the devices that report another version; shadows are never written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from iotfleet import query
from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet.jobs.create import (
    MAX_TARGETS,
    CheckedJob,
    JobSpec,
    PreparedJob,
    check_job_spec,
    prepare_job,
    submit_job,
)
from iotfleet.fleet.jobs.documents import (
    SHA256_ATTRIBUTE,
    SIZE_ATTRIBUTE,
    PackageVersionRef,
    referenced_versions,
)
from iotfleet.fleet.jobs.settings import CONTINUOUS, JobSettings
from iotfleet.fleet.key_values import parse_key_values
from iotfleet.fleet.naming import (
    THING_GROUP_NAME,
    check_package_name,
    check_thing_name,
    check_version_name,
)
from iotfleet.fleet.ownership import tag_dict, tag_list
from iotfleet.fleet.runner import run_parallel
from iotfleet.query.fields import PACKAGE_SHADOW

DRAFT = "DRAFT"
PUBLISHED = "PUBLISHED"
DEPRECATED = "DEPRECATED"
DEPLOYABLE = (PUBLISHED, DEPRECATED)
ACTIVE_JOB_STATUSES = ("IN_PROGRESS", "SCHEDULED")
MAX_ATTRIBUTES_BYTES = 3 * 1024
MAX_DESCRIPTION = 1024
FIRMWARE_PREFIX = "firmware"
THINGS_INDEX = "AWS_Things"
SEARCH_PAGE = 100
_ATTRIBUTE_KEY = re.compile(r"[a-zA-Z0-9:_-]+")
_HASH_CHUNK = 1024 * 1024


# --- small helpers --------------------------------------------------------------------------------------


def check_description(text: str | None, param: str = "--description") -> str | None:
    if text is None:
        return None
    if not text or len(text) > MAX_DESCRIPTION or any(not ch.isprintable() for ch in text):
        raise UsageError(f"a package description is 1 to {MAX_DESCRIPTION} printable characters", param)
    return text


def check_attributes(attributes: Mapping[str, str], param: str = "--attribute") -> dict[str, str]:
    """Version attributes: keys ``[a-zA-Z0-9:_-]+``, non-empty printable values, at most 3 KB in all."""
    for key, value in attributes.items():
        if not _ATTRIBUTE_KEY.fullmatch(key):
            raise UsageError(
                f"attribute key {key!r}: only letters, digits, ':', '_' and '-' are allowed", param
            )
        if not value or any(not ch.isprintable() for ch in value):
            raise UsageError(f"attribute {key!r} needs a non-empty printable value", param)
    total = sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())
    if total > MAX_ATTRIBUTES_BYTES:
        raise UsageError(f"attributes take {total} bytes; AWS allows {MAX_ATTRIBUTES_BYTES} in all", param)
    return dict(attributes)


def parse_attributes(values: Iterable[str], param: str = "--attribute") -> dict[str, str]:
    """``key=value`` strings to checked attributes; ``sha256`` and ``size`` are computed from the file and
    cannot be given."""
    attributes = parse_key_values(values, what="attribute", param=param)
    computed = next((key for key in attributes if key in (SHA256_ATTRIBUTE, SIZE_ATTRIBUTE)), None)
    if computed is not None:
        raise UsageError(f"attribute {computed!r} is computed from the file and cannot be set", param)
    return check_attributes(attributes, param)


def file_digest(stream: BinaryIO) -> tuple[str, int]:
    """SHA-256 (hex) and size of a stream, read in chunks from its current position."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: stream.read(_HASH_CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def artifact_key(package: str, version: str, filename: str) -> str:
    """Where a version's file lives in the fleet bucket."""
    return f"{FIRMWARE_PREFIX}/{package}/{version}/{filename}"


def _not_found(err: ClientError) -> bool:
    return is_error(err, "ResourceNotFoundException")


def get_package(ctx: AwsContext, package: str) -> dict[str, Any]:
    """``GetPackage``; a missing package is a usage error with the command that creates it."""
    try:
        answer: dict[str, Any] = ctx.iot.get_package(packageName=package)
    except ClientError as err:
        if _not_found(err):
            raise UsageError(
                f"package {package!r} does not exist (iotfleet packages create {package})", "PACKAGE"
            ) from None
        raise
    return answer


def get_version(ctx: AwsContext, package: str, version: str) -> dict[str, Any]:
    """``GetPackageVersion``; a missing version is a usage error."""
    try:
        answer: dict[str, Any] = ctx.iot.get_package_version(packageName=package, versionName=version)
    except ClientError as err:
        if _not_found(err):
            raise UsageError(f"package version {package}/{version} does not exist", "VERSION") from None
        raise
    return answer


def _find_version(ctx: AwsContext, package: str, version: str) -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = ctx.iot.get_package_version(packageName=package, versionName=version)
    except ClientError as err:
        if _not_found(err):
            return None
        raise
    return answer


# --- packages -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageResult:
    name: str
    arn: str
    created: bool


def create_package(
    ctx: AwsContext, fleet: str, package: str, description: str | None = None
) -> PackageResult:
    """Create a package tagged with the fleet; an existing one is reported, not an error (re-runs are safe)."""
    check_package_name(package, "PACKAGE")
    check_description(description)
    request: dict[str, Any] = {"packageName": package, "tags": tag_dict(tag_list(fleet))}
    if description:
        request["description"] = description
    try:
        answer = ctx.iot.create_package(**request)
    except ClientError as err:
        if not is_error(err, "ConflictException", "ResourceAlreadyExistsException"):
            raise
        existing = get_package(ctx, package)
        return PackageResult(package, str(existing["packageArn"]), created=False)
    return PackageResult(package, str(answer["packageArn"]), created=True)


def list_packages(ctx: AwsContext) -> list[dict[str, Any]]:
    """Every package summary (all pages)."""
    found: list[dict[str, Any]] = []
    for page in ctx.iot.get_paginator("list_packages").paginate():
        found.extend(page.get("packageSummaries", []))
    return found


def list_versions(ctx: AwsContext, package: str, status: str | None = None) -> list[dict[str, Any]]:
    """Every version summary of ``package`` (all pages), oldest first; a missing package is a usage error."""
    get_package(ctx, package)
    kwargs: dict[str, Any] = {"packageName": package}
    if status:
        kwargs["status"] = status
    found: list[dict[str, Any]] = []
    for page in ctx.iot.get_paginator("list_package_versions").paginate(**kwargs):
        found.extend(page.get("packageVersionSummaries", []))
    return sorted(found, key=_creation_order)


def _creation_order(summary: Mapping[str, Any]) -> tuple[float, str]:
    created = summary.get("creationDate")
    return (
        created.timestamp() if isinstance(created, dt.datetime) else 0.0,
        str(summary.get("versionName", "")),
    )


def describe_package(ctx: AwsContext, package: str) -> dict[str, Any]:
    """The package and all its versions."""
    check_package_name(package, "PACKAGE")
    answer = get_package(ctx, package)
    versions = list_versions(ctx, package)
    info = {k: answer.get(k) for k in ("packageName", "packageArn", "description", "defaultVersionName",
                                          "creationDate", "lastModifiedDate")}  # fmt: skip
    info["versions"] = versions
    return info


def describe_version(ctx: AwsContext, package: str, version: str) -> dict[str, Any]:
    check_package_name(package, "PACKAGE")
    check_version_name(version, "VERSION")
    answer = get_version(ctx, package, version)
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


# --- versions from files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionUpload:
    """A package version made from a file, and whether this run created it."""

    package: str
    version: str
    arn: str
    status: str
    bucket: str
    key: str
    s3_version_id: str
    sha256: str
    size: int
    created: bool
    uploaded: bool


def _bucket_encryption(ctx: AwsContext, bucket: str) -> dict[str, str]:
    """PutObject encryption arguments matching the bucket's default encryption (AES256 when it has none)."""
    try:
        rules = ctx.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as err:
        if not is_error(err, "ServerSideEncryptionConfigurationNotFoundError"):
            raise
        rules = []
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        algorithm = default.get("SSEAlgorithm")
        if algorithm and algorithm != "AES256":
            arguments = {"ServerSideEncryption": algorithm}
            if default.get("KMSMasterKeyID"):
                arguments["SSEKMSKeyId"] = default["KMSMasterKeyID"]
            return arguments
    return {"ServerSideEncryption": "AES256"}


def _existing_object_version(ctx: AwsContext, bucket: str, key: str, sha256: str) -> str | None:
    """The VersionId of the current object at ``key`` when it already holds this content (a re-run)."""
    try:
        head = ctx.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if is_error(err, "404", "NoSuchKey", "NotFound"):
            return None
        raise
    if (head.get("Metadata") or {}).get(SHA256_ATTRIBUTE) == sha256 and head.get("VersionId"):
        return str(head["VersionId"])
    return None


def check_versioned(ctx: AwsContext, bucket: str) -> None:
    """A package artifact names an S3 object version, so the bucket must keep versions."""
    try:
        status = ctx.s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as err:
        if is_error(err, "NoSuchBucket"):
            raise UsageError(f"bucket {bucket} does not exist", "--fleet") from None
        raise
    if status != "Enabled":
        raise UsageError(f"bucket {bucket} does not keep object versions (versioning is {status or 'off'})", "--fleet")


def upload_artifact(
    ctx: AwsContext, bucket: str, key: str, path: Path, sha256: str, size: int
) -> tuple[str, bool]:
    """Put the file at ``key`` (unless the same content is already there); returns (VersionId, uploaded)."""
    existing = _existing_object_version(ctx, bucket, key, sha256)
    if existing is not None:
        return existing, False
    with path.open("rb") as body:
        answer = ctx.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentLength=size,
            ContentType="application/octet-stream",
            Metadata={SHA256_ATTRIBUTE: sha256},
            **_bucket_encryption(ctx, bucket),
        )
    return str(answer["VersionId"]), True


def upload_version(
    ctx: AwsContext,
    *,
    fleet: str,
    bucket: str,
    package: str,
    version: str,
    path: str | os.PathLike[str],
    description: str | None = None,
    attributes: Mapping[str, str] | None = None,
    publish: bool = False,
) -> VersionUpload:
    """Upload a firmware file to ``bucket`` and register it as ``package``/``version``.

    The version's attributes hold ``sha256`` and ``size`` (plus ``attributes``); its artifact names the
    object's VersionId. An existing version with the same ``sha256`` is taken as this one (a re-run); with
    a different one it is a usage error. ``publish`` publishes it at once, otherwise it stays DRAFT.
    """
    check_package_name(package, "PACKAGE")
    check_version_name(version, "VERSION")
    check_description(description)
    extra = check_attributes(dict(attributes or {}))
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{file} is not a readable file", "--file")
    with file.open("rb") as stream:
        sha256, size = file_digest(stream)
    if size == 0:
        raise UsageError(f"{file} is empty", "--file")
    version_attributes = check_attributes({**extra, SHA256_ATTRIBUTE: sha256, SIZE_ATTRIBUTE: str(size)})

    get_package(ctx, package)
    existing = _find_version(ctx, package, version)
    if existing is None:
        check_versioned(ctx, bucket)
    if existing is not None:
        recorded = (existing.get("attributes") or {}).get(SHA256_ATTRIBUTE)
        if recorded != sha256:
            raise UsageError(
                f"package version {package}/{version} already exists with different content "
                f"(sha256 {recorded or 'not recorded'}); pick a new version name",
                "VERSION",
            )
        location = (existing.get("artifact") or {}).get("s3Location") or {}
        status = str(existing["status"])
        if publish and status == DRAFT:
            status = _update_status(ctx, package, version, "PUBLISH")
        return VersionUpload(
            package, version, str(existing["packageVersionArn"]), status, str(location.get("bucket", "")),
            str(location.get("key", "")), str(location.get("version", "")), sha256, size, created=False,
            uploaded=False,
        )  # fmt: skip

    key = artifact_key(package, version, file.name)
    s3_version, uploaded = upload_artifact(ctx, bucket, key, file, sha256, size)
    request: dict[str, Any] = {
        "packageName": package,
        "versionName": version,
        "attributes": version_attributes,
        "artifact": {"s3Location": {"bucket": bucket, "key": key, "version": s3_version}},
        "tags": tag_dict(tag_list(fleet)),
    }
    if description:
        request["description"] = description
    answer = ctx.iot.create_package_version(**request)
    status = str(answer.get("status", DRAFT))
    if publish:
        status = _update_status(ctx, package, version, "PUBLISH")
    return VersionUpload(
        package, version, str(answer["packageVersionArn"]), status, bucket, key, s3_version, sha256, size,
        created=True, uploaded=uploaded,
    )  # fmt: skip


def fleet_bucket(ctx: AwsContext, fleet: str) -> str:
    """The fleet's firmware bucket, found by its ownership tags."""
    from iotfleet.fleet.resources import discover

    bucket = discover(ctx, fleet, kinds={"bucket"}).bucket
    if not bucket:
        raise UsageError(
            f"fleet {fleet!r} has no firmware bucket: provision the fleet first (iotfleet provision --fleet {fleet})",
            "--fleet",
        )
    return str(bucket)


# --- lifecycle --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleResult:
    package: str
    version: str
    status: str
    changed: bool
    message: str


def _update_status(ctx: AwsContext, package: str, version: str, action: str) -> str:
    ctx.iot.update_package_version(packageName=package, versionName=version, action=action)
    return PUBLISHED if action == "PUBLISH" else DEPRECATED


def publish_version(ctx: AwsContext, package: str, version: str) -> LifecycleResult:
    """DRAFT or DEPRECATED -> PUBLISHED; already PUBLISHED changes nothing."""
    check_package_name(package, "PACKAGE")
    check_version_name(version, "VERSION")
    status = get_version(ctx, package, version)["status"]
    if status == PUBLISHED:
        return LifecycleResult(package, version, status, False, f"{package}/{version} is already PUBLISHED")
    _update_status(ctx, package, version, "PUBLISH")
    return LifecycleResult(package, version, PUBLISHED, True, f"{package}/{version}: {status} -> PUBLISHED")


def deprecate_version(ctx: AwsContext, package: str, version: str) -> LifecycleResult:
    """PUBLISHED -> DEPRECATED; a DRAFT version cannot be deprecated (publish or delete it)."""
    check_package_name(package, "PACKAGE")
    check_version_name(version, "VERSION")
    status = get_version(ctx, package, version)["status"]
    if status == DRAFT:
        raise UsageError(
            f"{package}/{version} is DRAFT: only a PUBLISHED version can be deprecated (publish or delete it)",
            "VERSION",
        )
    if status == DEPRECATED:
        return LifecycleResult(package, version, status, False, f"{package}/{version} is already DEPRECATED")
    _update_status(ctx, package, version, "DEPRECATE")
    return LifecycleResult(
        package, version, DEPRECATED, True, f"{package}/{version}: PUBLISHED -> DEPRECATED"
    )


def set_default_version(ctx: AwsContext, package: str, version: str | None) -> dict[str, Any]:
    """Make ``version`` the package's default (it must be PUBLISHED or DEPRECATED), or unset it (None)."""
    check_package_name(package, "PACKAGE")
    current = get_package(ctx, package).get("defaultVersionName")
    if version is None:
        if current is None:
            return {"package": package, "defaultVersion": None, "changed": False}
        ctx.iot.update_package(packageName=package, unsetDefaultVersion=True)
        return {"package": package, "defaultVersion": None, "previous": current, "changed": True}
    check_version_name(version, "VERSION")
    status = get_version(ctx, package, version)["status"]
    if status not in DEPLOYABLE:
        raise UsageError(
            f"{package}/{version} is {status}: only a PUBLISHED or DEPRECATED version can be the default",
            "VERSION",
        )
    if current == version:
        return {"package": package, "defaultVersion": version, "changed": False}
    ctx.iot.update_package(packageName=package, defaultVersionName=version)
    return {"package": package, "defaultVersion": version, "previous": current, "changed": True}


# --- deletion ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveJob:
    """An IN_PROGRESS or SCHEDULED job that deploys some of the versions asked about."""

    job_id: str
    status: str
    versions: tuple[str, ...]


def _job_refs(ctx: AwsContext, job_id: str) -> set[PackageVersionRef]:
    job = ctx.iot.describe_job(jobId=job_id)["job"]
    refs = {PackageVersionRef.from_arn(arn) for arn in job.get("destinationPackageVersions") or []}
    document = ctx.iot.get_job_document(jobId=job_id).get("document") or ""
    refs.update(referenced_versions(document))
    return refs


def active_jobs_referencing(
    ctx: AwsContext, package: str, versions: Iterable[str] | None = None
) -> list[ActiveJob]:
    """The IN_PROGRESS and SCHEDULED jobs deploying ``package`` (any version, or one of ``versions``)."""
    wanted = set(versions) if versions is not None else None
    candidates: list[tuple[str, str]] = []
    for status in ACTIVE_JOB_STATUSES:
        for page in ctx.iot.get_paginator("list_jobs").paginate(status=status):
            candidates.extend((job["jobId"], status) for job in page.get("jobs", []))
    candidates = list(dict.fromkeys(candidates))
    result = run_parallel(candidates, lambda item: _job_refs(ctx, item[0]), concurrency=ctx.concurrency)
    # A job deleted between the list and the describe no longer references anything.
    failures = [
        o for o in result.failed if o.error is not None and not is_error(o.error, "ResourceNotFoundException")
    ]
    if failures:
        result.outcomes = failures
        result.raise_for_failures("check active jobs", "job", lambda item: item[0])
    found: list[ActiveJob] = []
    for outcome in result.succeeded:
        refs = outcome.value or set()
        hits = sorted(
            r.version for r in refs if r.package == package and (wanted is None or r.version in wanted)
        )
        if hits:
            found.append(ActiveJob(outcome.item[0], outcome.item[1], tuple(hits)))
    return found


def _refuse_if_active(
    ctx: AwsContext, package: str, versions: Iterable[str] | None, force: bool
) -> list[ActiveJob]:
    active = active_jobs_referencing(ctx, package, versions)
    if active and not force:
        listed = ", ".join(f"{job.job_id} ({job.status}: {', '.join(job.versions)})" for job in active)
        raise UsageError(
            f"active job(s) deploy {package}: {listed}; wait for them, cancel them, or pass --force",
            "--force",
        )
    return active


@dataclass(frozen=True)
class DeleteResult:
    package: str
    deleted_versions: tuple[str, ...]
    package_deleted: bool
    unset_default: str | None
    active_jobs: tuple[ActiveJob, ...]
    message: str


def delete_version(ctx: AwsContext, package: str, version: str, *, force: bool = False) -> DeleteResult:
    """Delete one version (unsetting it as the default first). Refused while an active job deploys it."""
    check_package_name(package, "PACKAGE")
    check_version_name(version, "VERSION")
    current_default = get_package(ctx, package).get("defaultVersionName")
    if _find_version(ctx, package, version) is None:
        return DeleteResult(
            package, (), False, None, (), f"{package}/{version} does not exist; nothing deleted"
        )
    active = _refuse_if_active(ctx, package, [version], force)
    unset = None
    if current_default == version:
        ctx.iot.update_package(packageName=package, unsetDefaultVersion=True)
        unset = version
    ctx.iot.delete_package_version(packageName=package, versionName=version)
    return DeleteResult(package, (version,), False, unset, tuple(active), f"deleted {package}/{version}")


def delete_package(ctx: AwsContext, package: str, *, force: bool = False) -> DeleteResult:
    """Delete a package and all its versions. Refused while an active job deploys any of them."""
    check_package_name(package, "PACKAGE")
    try:
        answer = ctx.iot.get_package(packageName=package)
    except ClientError as err:
        if _not_found(err):
            return DeleteResult(
                package, (), False, None, (), f"package {package} does not exist; nothing deleted"
            )
        raise
    names = [v["versionName"] for v in list_versions(ctx, package)]
    active = _refuse_if_active(ctx, package, None, force)
    unset = answer.get("defaultVersionName")
    if unset:
        ctx.iot.update_package(packageName=package, unsetDefaultVersion=True)
    result = run_parallel(
        names,
        lambda name: ctx.iot.delete_package_version(packageName=package, versionName=name),
        concurrency=ctx.concurrency,
    )
    result.raise_for_failures(f"delete the versions of {package}", "package version")
    ctx.iot.delete_package(packageName=package)
    return DeleteResult(
        package, tuple(names), True, unset, tuple(active),
        f"deleted package {package} and {len(names)} version(s)",
    )  # fmt: skip


# --- package configuration -------------------------------------------------------------------------------


def get_configuration(ctx: AwsContext) -> dict[str, Any]:
    """Whether jobs update the ``$package`` shadow on success, and with which role."""
    config = ctx.iot.get_package_configuration().get("versionUpdateByJobsConfig") or {}
    return {"enabled": bool(config.get("enabled")), "roleArn": config.get("roleArn")}


def set_configuration(
    ctx: AwsContext, *, enabled: bool, role_arn: str | None = None, fleet: str | None = None
) -> dict[str, Any]:
    """Turn version updates by jobs on (with ``role_arn``) or off; returns the previous and new settings.

    Enabling for a ``fleet`` first records the configuration found in the fleet's state record (once), so
    cleanup can put it back. ``recorded``: True when this call wrote that record, False when it was already
    there, None when nothing could be recorded (no fleet given, or the fleet has no bucket yet).
    """
    previous = get_configuration(ctx)
    if enabled and not role_arn:
        raise UsageError("enabling version updates by jobs needs a role", "--role-arn")
    recorded: bool | None = None
    if enabled and fleet is not None:
        recorded = _record_previous_configuration(ctx, fleet, previous)
    update: dict[str, Any] = {"enabled": enabled}
    if role_arn:
        update["roleArn"] = role_arn
    ctx.iot.update_package_configuration(versionUpdateByJobsConfig=update)
    return {"previous": previous, "current": get_configuration(ctx), "recorded": recorded}


def _record_previous_configuration(ctx: AwsContext, fleet: str, previous: dict[str, Any]) -> bool | None:
    """Record ``previous`` in the fleet's state; False when already recorded, None when the fleet has no bucket."""
    from iotfleet.fleet.fleet_state import read_state, write_state
    from iotfleet.fleet.resources import discover

    bucket = discover(ctx, fleet, kinds={"bucket"}).bucket
    if bucket is None:
        return None
    state = read_state(ctx, bucket, fleet)
    if not state.record_package_configuration({k: v for k, v in previous.items() if v is not None}):
        return False
    write_state(ctx, bucket, state)
    return True


def fleet_package_role_arn(ctx: AwsContext, fleet: str) -> str:
    """The fleet's role for package version updates by jobs, found by ownership tags."""
    from iotfleet.fleet.resources import discover

    role = discover(ctx, fleet, kinds={"roles"}).package_role_arn
    if not role:
        raise UsageError(
            f"fleet {fleet!r} has no package configuration role: provision the fleet first", "--fleet"
        )
    return str(role)


# --- what devices report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DevicePackage:
    """One package in a thing's ``$package`` shadow."""

    package: str
    version: str | None
    attributes: dict[str, Any]
    reported_at: dt.datetime | None


def device_packages(ctx: AwsContext, thing: str) -> list[DevicePackage]:
    """What ``thing`` reports in its ``$package`` shadow (empty when it has none)."""
    check_thing_name(thing, "THING")
    try:
        ctx.iot.describe_thing(thingName=thing)
    except ClientError as err:
        if _not_found(err):
            raise UsageError(f"thing {thing!r} does not exist", "THING") from None
        raise
    try:
        payload = ctx.iot_data.get_thing_shadow(thingName=thing, shadowName=PACKAGE_SHADOW)["payload"].read()
    except ClientError as err:
        if _not_found(err):
            return []
        raise
    shadow = json.loads(payload)
    reported = (shadow.get("state") or {}).get("reported") or {}
    metadata = (shadow.get("metadata") or {}).get("reported") or {}
    found: list[DevicePackage] = []
    for name in sorted(reported):
        entry = reported[name]
        if not isinstance(entry, dict):
            continue
        stamp = ((metadata.get(name) or {}).get("version") or {}).get("timestamp")
        found.append(
            DevicePackage(
                package=name,
                version=None if entry.get("version") is None else str(entry.get("version")),
                attributes=dict(entry.get("attributes") or {}),
                reported_at=dt.datetime.fromtimestamp(stamp, tz=dt.timezone.utc) if stamp else None,
            )
        )
    return found


def version_field(package: str) -> str:
    """The Fleet Indexing field holding the version a device reports for ``package``."""
    return f"shadow.name.{PACKAGE_SHADOW}.reported.{package}.version"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def version_query(package: str, version: str | None = None, *, exclude: bool = False) -> str:
    """Devices reporting ``package`` (any version, exactly ``version``, or any other version with ``exclude``)."""
    name = version_field(package)
    if version is None:
        text = f"{name}:*"
    elif exclude:
        text = f"{name}:* AND NOT {name}:{_quote(version)}"
    else:
        text = f"{name}:{_quote(version)}"
    query.compile_query(text)  # the query language accepts what we send
    return text


def _index_errors(err: ClientError, package: str) -> UsageError | None:
    if is_error(err, "ResourceNotFoundException", "IndexNotReadyException"):
        return UsageError(
            "fleet indexing is not enabled: provision the fleet (it turns indexing on)", "--fleet"
        )
    if is_error(err, "InvalidQueryException"):
        return UsageError(
            f"the fleet index cannot answer for {package}: index the {PACKAGE_SHADOW} named shadow "
            f"({err.response.get('Error', {}).get('Message', '')})",
            "--fleet",
        )
    return None


def count_devices(ctx: AwsContext, query_string: str, package: str) -> int:
    try:
        answer = ctx.iot.get_statistics(indexName=THINGS_INDEX, queryString=query_string)
    except ClientError as err:
        usage = _index_errors(err, package)
        if usage is not None:
            raise usage from None
        raise
    return int((answer.get("statistics") or {}).get("count") or 0)


def search_things(ctx: AwsContext, query_string: str, package: str) -> list[str]:
    """The names of every thing matching ``query_string`` (all pages of SearchIndex)."""
    names: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {
            "indexName": THINGS_INDEX,
            "queryString": query_string,
            "maxResults": SEARCH_PAGE,
        }
        if token:
            kwargs["nextToken"] = token
        try:
            answer = ctx.iot.search_index(**kwargs)
        except ClientError as err:
            usage = _index_errors(err, package)
            if usage is not None:
                raise usage from None
            raise
        names.extend(str(t["thingName"]) for t in answer.get("things", []))
        token = answer.get("nextToken")
        if not token:
            return sorted(dict.fromkeys(names))


@dataclass(frozen=True)
class Distribution:
    """How many devices report each version of a package, from the fleet index."""

    package: str
    counts: dict[str, int]
    other: int  # devices reporting a version the catalog does not know
    total: int

    def as_dict(self) -> dict[str, Any]:
        return {"package": self.package, "total": self.total, "versions": self.counts, "other": self.other}


def distribution(ctx: AwsContext, package: str) -> Distribution:
    """Devices per version: one GetStatistics for all reporting devices and one per catalog version."""
    check_package_name(package, "PACKAGE")
    versions = [v["versionName"] for v in list_versions(ctx, package)]
    queries = [version_query(package)] + [version_query(package, v) for v in versions]
    result = run_parallel(queries, lambda q: count_devices(ctx, q, package), concurrency=ctx.concurrency)
    usage = next((o.error for o in result.failed if isinstance(o.error, UsageError)), None)
    if usage is not None:
        raise usage
    result.raise_for_failures(f"count devices running {package}", "query")
    counts = [int(v or 0) for v in result.values]
    total, per_version = counts[0], dict(zip(versions, counts[1:], strict=True))
    return Distribution(package, per_version, max(0, total - sum(per_version.values())), total)


# --- rollback -------------------------------------------------------------------------------------------

THINGS = "things"
DYNAMIC_GROUP = "dynamic-group"


@dataclass
class RollbackPlan:
    """What a rollback will do: which devices, reached how, and the job to create."""

    package: str
    version: str
    query: str
    devices: list[str]
    method: str | None  # THINGS, DYNAMIC_GROUP, or None when no device needs it
    reason: str
    group_name: str | None = None
    checked: CheckedJob | None = None
    prepared: PreparedJob | None = None
    created_from: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "query": self.query,
            "devices": len(self.devices),
            "method": self.method,
            "reason": self.reason,
            "dynamicGroup": self.group_name,
            "request": self.prepared.request if self.prepared else None,
        }


def rollback_group_name(package: str, version: str, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%S")
    raw = f"rollback-{package}-{version}".replace(".", "_")
    name = f"{raw[: THING_GROUP_NAME.max_len - 21]}-{stamp}-{secrets.token_hex(2)}"
    return THING_GROUP_NAME.check(name)


def _check_earlier(ctx: AwsContext, package: str, version: str) -> None:
    target = get_version(ctx, package, version)
    if target["status"] not in DEPLOYABLE:
        raise UsageError(
            f"cannot roll back to {package}/{version}: it is {target['status']}, and only a PUBLISHED or DEPRECATED "
            "version can be deployed",
            "--to",
        )
    created = target.get("creationDate")
    newer = [
        v["versionName"]
        for v in list_versions(ctx, package)
        if v["versionName"] != version
        and v.get("status") in DEPLOYABLE
        and created is not None
        and v.get("creationDate") is not None
        and v["creationDate"] > created
    ]
    if not newer:
        raise UsageError(
            f"{package}/{version} is the newest released version: a rollback goes back to an earlier one "
            f"(deploy it with iotfleet jobs create --package {package} --version {version})",
            "--to",
        )


def plan_rollback(
    ctx: AwsContext,
    *,
    fleet: str,
    package: str,
    version: str,
    settings: JobSettings | None = None,
    job_id: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    max_listed_things: int = MAX_TARGETS,
    presign_role_arn: str | None = None,
) -> RollbackPlan:
    """Find the devices that report another version of ``package`` and plan an OTA job back to ``version``.

    Up to ``max_listed_things`` devices are targeted by name: the job then covers exactly the devices found
    now, with no extra resource and no wait for group membership. A larger fleet is targeted through a
    dynamic thing group with the same query (created by :func:`apply_rollback`, tagged with the fleet), in
    a CONTINUOUS job, so devices that the eventually-consistent group adds after the job starts still get it.
    """
    check_package_name(package, "PACKAGE")
    check_version_name(version, "--to")
    settings = settings or JobSettings()
    if not 1 <= max_listed_things <= MAX_TARGETS:
        raise ValueError(f"max_listed_things must be 1 to {MAX_TARGETS}")
    text = version_query(package, version, exclude=True)
    base = JobSpec(
        fleet=fleet, package=package, version=version, settings=settings, job_id=job_id, kind="rollback",
        description=description or f"Roll {package} back to {version}", tags=dict(tags or {}),
        presign_role_arn=presign_role_arn,
    )  # fmt: skip
    check_job_spec(base, require_targets=False)  # every local check before the first read
    _check_earlier(ctx, package, version)
    devices = search_things(ctx, text, package)
    plan = RollbackPlan(package, version, text, devices, None, "every device already reports this version")
    if not devices:
        return plan
    if len(devices) <= max_listed_things:
        plan.method = THINGS
        plan.reason = (
            f"{len(devices)} device(s), at most {max_listed_things}: targeted by name, so the job covers exactly "
            "the devices found now"
        )
        spec = _replace_spec(base, things=tuple(devices), groups=())
        plan.checked = check_job_spec(spec)
        plan.prepared = prepare_job(ctx, plan.checked)
        return plan
    plan.method = DYNAMIC_GROUP
    plan.group_name = rollback_group_name(package, version)
    plan.reason = (
        f"{len(devices)} devices, more than {max_listed_things}: targeted through dynamic group {plan.group_name} "
        "(query above) in a CONTINUOUS job, so devices the group adds later still get it"
    )
    spec = _replace_spec(
        base, things=(), groups=(plan.group_name,),
        settings=_with_selection(settings, CONTINUOUS),
    )  # fmt: skip
    plan.checked = check_job_spec(spec)
    group_arn = f"arn:{ctx.iot.meta.partition}:iot:{ctx.region}:{ctx.account_id}:thinggroup/{plan.group_name}"
    plan.prepared = prepare_job(ctx, plan.checked, targets={plan.group_name: group_arn})
    return plan


def _replace_spec(spec: JobSpec, **changes: Any) -> JobSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _with_selection(settings: JobSettings, selection: str) -> JobSettings:
    from dataclasses import replace

    return replace(settings, target_selection=selection)


def create_rollback_group(ctx: AwsContext, fleet: str, name: str, query_string: str, package: str) -> str:
    """The dynamic group of devices to roll back, tagged with the fleet; returns its ARN."""
    from iotfleet.fleet.groups import create_dynamic_group

    created = create_dynamic_group(
        ctx, name, query_string, fleet=fleet, description=f"Devices to roll back: {package}"
    )
    return created.group.arn


def apply_rollback(ctx: AwsContext, plan: RollbackPlan) -> dict[str, Any]:
    """Create the dynamic group (when the plan uses one) and the job. Returns the job's id and ARN."""
    if plan.method is None or plan.prepared is None or plan.checked is None:
        return {}
    result: dict[str, Any] = {}
    if plan.method == DYNAMIC_GROUP:
        assert plan.group_name is not None
        arn = create_rollback_group(ctx, plan.checked.spec.fleet, plan.group_name, plan.query, plan.package)
        plan.prepared.request["targets"] = [arn]
        result["dynamicGroupArn"] = arn
    result.update(submit_job(ctx, plan.prepared))
    return result

"""Firmware files becoming package versions: the one upload path.

:func:`upload_version` is the one way a firmware file becomes a package version: the file goes to the fleet's
versioned bucket (with the server-side encryption the bucket asks for), and the version records ``sha256`` and
``size`` attributes and an artifact ``s3Location`` that carries the object's VersionId. Re-running it with the
same file is safe: the object is reused and the version is found, not duplicated.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet.jobs.documents import SHA256_ATTRIBUTE, SIZE_ATTRIBUTE
from iotfleet.fleet.key_values import parse_key_values
from iotfleet.fleet.naming import check_package_name, check_version_name
from iotfleet.fleet.ownership import tag_dict, tag_list
from iotfleet.fleet.packages.catalog import (
    DRAFT,
    check_description,
    find_version,
    get_package,
    update_status,
)
from iotfleet.fleet.resources import discover, provisioned

MAX_ATTRIBUTES_BYTES = 3 * 1024
FIRMWARE_PREFIX = "firmware"
_ATTRIBUTE_KEY = re.compile(r"[a-zA-Z0-9:_-]+")
_HASH_CHUNK = 1024 * 1024


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
    existing = find_version(ctx, package, version)
    if existing is not None:
        return _existing_version(ctx, existing, package, version, sha256, size, publish)
    check_versioned(ctx, bucket)

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
    try:
        answer = ctx.iot.create_package_version(**request)
    except ClientError as err:
        raced = find_version(ctx, package, version) if is_error(err, "ConflictException") else None
        if raced is None:
            raise
        # Another run (of provisioning, say) made this version meanwhile: the same content is this one.
        return _existing_version(ctx, raced, package, version, sha256, size, publish)
    status = str(answer.get("status", DRAFT))
    if publish:
        status = update_status(ctx, package, version, "PUBLISH")
    return VersionUpload(
        package, version, str(answer["packageVersionArn"]), status, bucket, key, s3_version, sha256, size,
        created=True, uploaded=uploaded,
    )  # fmt: skip


def _existing_version(
    ctx: AwsContext, existing: dict[str, Any], package: str, version: str, sha256: str, size: int, publish: bool
) -> VersionUpload:
    """A version already there: this upload when its ``sha256`` is the file's (published if asked), else a
    usage error."""
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
        status = update_status(ctx, package, version, "PUBLISH")
    return VersionUpload(
        package, version, str(existing["packageVersionArn"]), status, str(location.get("bucket", "")),
        str(location.get("key", "")), str(location.get("version", "")), sha256, size, created=False,
        uploaded=False,
    )  # fmt: skip


def fleet_bucket(ctx: AwsContext, fleet: str) -> str:
    """The fleet's firmware bucket, found by its ownership tags."""
    return provisioned(discover(ctx, fleet, kinds={"bucket"}).bucket, fleet, "firmware bucket")

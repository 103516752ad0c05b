"""The fleet's firmware bucket: its name, how it is found again, and the settings it must keep.

The bucket is found by its ownership tag (``iotfleet:fleet=<fleet>``) among the buckets named
``iotfleet-*`` in the region, never by its name alone: a bucket that merely looks like ours is not used.
Its name is the same on every run of a fleet in an account and region, ``iotfleet-<fleet>-<account>-<region>``
(a short hash of the region instead when the name would pass S3's 63 characters), so two provisioning runs
started at once create one bucket between them: S3 gives a name to one owner only, and the second run finds
the bucket it just asked for already its own. Older fleets' buckets (a random suffix) are found by their tag
as before.

Settings it keeps, each checked on every run and restored when missing:

* versioning on (package artifacts name an object version);
* public access blocked, all four switches;
* default encryption SSE-S3 (AES256);
* a bucket policy that denies any request not made over TLS (``aws:SecureTransport`` false). That one
  statement uses ``s3:*``: it is a Deny, so it grants nothing, and it must cover every action;
* the ownership tags (other tags already on the bucket are kept).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import AwsOperationError, is_error
from iotfleet.fleet import naming
from iotfleet.fleet.ownership import owned_by, tag_dict, tag_list

BUCKET_PREFIX = "iotfleet-"
SSE_ALGORITHM = "AES256"
DENY_INSECURE_SID = "IotfleetDenyInsecureTransport"
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
# Settings of a bucket, in the order they are applied.
VERSIONING = "versioning"
PUBLIC_ACCESS = "public access block"
ENCRYPTION = "default encryption"
TLS_POLICY = "TLS-only policy"
TAGS = "ownership tags"
SETTINGS = (TAGS, VERSIONING, PUBLIC_ACCESS, ENCRYPTION, TLS_POLICY)

_NO_TAGS = ("NoSuchTagSet", "NoSuchTagSetError")
_NO_POLICY = ("NoSuchBucketPolicy",)
_NO_ENCRYPTION = ("ServerSideEncryptionConfigurationNotFoundError",)
_NO_PUBLIC_ACCESS_BLOCK = ("NoSuchPublicAccessBlockConfiguration",)


def bucket_name(fleet: str, account: str, region: str, suffix: str | None = None) -> str:
    """The fleet's bucket name in this account and region (``suffix``, for tests, names another)."""
    tail = f"-{suffix}" if suffix else ""
    name = f"{BUCKET_PREFIX}{fleet}-{account}-{region}{tail}"
    if len(name) > naming.BUCKET_NAME.max_len:
        name = f"{BUCKET_PREFIX}{fleet}-{account}-{hashlib.sha256((region + tail).encode()).hexdigest()[:8]}"
    return naming.BUCKET_NAME.check(name, "--fleet")


def has_objects(ctx: AwsContext, name: str) -> bool:
    """Whether the bucket holds any object version or delete marker (one ``ListObjectVersions``)."""
    answer = ctx.s3.list_object_versions(Bucket=name, MaxKeys=1)
    return bool(answer.get("Versions") or answer.get("DeleteMarkers"))


def tls_only_statement(bucket: str, partition: str = "aws") -> dict[str, Any]:
    return {
        "Sid": DENY_INSECURE_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


@dataclass
class BucketCandidate:
    """A bucket named like ours, with what its tags say."""

    name: str
    created: dt.datetime | None
    tags: dict[str, str]


@dataclass
class BucketStatus:
    """The fleet's bucket as found: its name, and which settings are missing."""

    name: str
    exists: bool
    missing: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    policy: dict[str, Any] | None = None
    # Empty second buckets of the fleet (left by runs that raced), deleted when the plan is applied.
    duplicates: list[str] = field(default_factory=list)


def list_candidates(ctx: AwsContext) -> list[BucketCandidate]:
    """Buckets named ``iotfleet-*`` in this region, with their tags (oldest first)."""
    found: list[BucketCandidate] = []
    for page in ctx.s3.get_paginator("list_buckets").paginate(Prefix=BUCKET_PREFIX, BucketRegion=ctx.region):
        for bucket in page.get("Buckets", []):
            name = str(bucket["Name"])
            region = bucket.get("BucketRegion")
            if not name.startswith(BUCKET_PREFIX) or (region and region != ctx.region):
                continue
            found.append(BucketCandidate(name, bucket.get("CreationDate"), bucket_tags(ctx, name)))
    return sorted(found, key=lambda c: (c.created or dt.datetime.min.replace(tzinfo=dt.timezone.utc), c.name))


def bucket_tags(ctx: AwsContext, bucket: str) -> dict[str, str]:
    try:
        answer = ctx.s3.get_bucket_tagging(Bucket=bucket)
    except ClientError as err:
        if is_error(err, *_NO_TAGS):
            return {}
        raise
    return tag_dict(answer.get("TagSet"))


def owned_buckets(ctx: AwsContext, fleet: str) -> list[str]:
    """The buckets tagged as ``fleet``'s, oldest first (normally exactly one)."""
    return [c.name for c in list_candidates(ctx) if owned_by(c.tags, fleet)]


def inspect_bucket(
    ctx: AwsContext, name: str, fleet: str, tags: dict[str, str] | None = None
) -> BucketStatus:
    """Which of the bucket's settings are missing (reads only)."""
    status = BucketStatus(name, exists=True, tags=dict(tags if tags is not None else bucket_tags(ctx, name)))
    if not tag_dict(tag_list(fleet)).items() <= status.tags.items():
        status.missing.append(TAGS)
    if ctx.s3.get_bucket_versioning(Bucket=name).get("Status") != "Enabled":
        status.missing.append(VERSIONING)
    try:
        block = ctx.s3.get_public_access_block(Bucket=name).get("PublicAccessBlockConfiguration") or {}
    except ClientError as err:
        if not is_error(err, *_NO_PUBLIC_ACCESS_BLOCK):
            raise
        block = {}
    if any(block.get(key) is not True for key in PUBLIC_ACCESS_BLOCK):
        status.missing.append(PUBLIC_ACCESS)
    try:
        rules = ctx.s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"].get(
            "Rules", []
        )
    except ClientError as err:
        if not is_error(err, *_NO_ENCRYPTION):
            raise
        rules = []
    if not any((rule.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for rule in rules):
        status.missing.append(ENCRYPTION)
    try:
        status.policy = json.loads(ctx.s3.get_bucket_policy(Bucket=name)["Policy"])
    except ClientError as err:
        if not is_error(err, *_NO_POLICY):
            raise
        status.policy = None
    if not _has_tls_statement(status.policy, name):
        status.missing.append(TLS_POLICY)
    return status


def _has_tls_statement(policy: dict[str, Any] | None, bucket: str) -> bool:
    if not policy:
        return False
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        condition = ((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
        if statement.get("Effect") == "Deny" and str(condition).lower() == "false":
            resources = statement.get("Resource") or []
            resources = [resources] if isinstance(resources, str) else resources
            if any(r.endswith(f":::{bucket}/*") for r in resources):
                return True
    return False


def create_bucket(ctx: AwsContext, name: str, fleet: str) -> None:
    """Create the bucket (or take it, when a concurrent run of the fleet just did) and tag it at once (a
    bucket is only ever found again through its tags)."""
    request: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    try:
        ctx.s3.create_bucket(**request)
    except ClientError as err:
        if is_error(err, "BucketAlreadyExists"):
            # Bucket names are global: another account holds this fleet's name, and no retry can change that.
            raise AwsOperationError.from_client_error(
                err, "s3",
                message=f"the bucket name {name} belongs to another AWS account (S3 bucket names are global); "
                "provision this fleet under another --fleet name",
            ) from err  # fmt: skip
        # Another run of this fleet created it a moment ago: it is this account's, and the one bucket to use.
        if not is_error(err, "BucketAlreadyOwnedByYou"):
            raise
    ctx.s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(fleet)})


def apply_settings(
    ctx: AwsContext, status: BucketStatus, fleet: str, settings: list[str] | None = None
) -> None:
    """Put each missing setting (all of :data:`SETTINGS` for a new bucket)."""
    name = status.name
    partition = ctx.s3.meta.partition
    for setting in SETTINGS:
        if setting not in (status.missing if settings is None else settings):
            continue
        if setting == TAGS:
            merged = {**status.tags, **tag_dict(tag_list(fleet))}
            ctx.s3.put_bucket_tagging(
                Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]}
            )
        elif setting == VERSIONING:
            ctx.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        elif setting == PUBLIC_ACCESS:
            ctx.s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=dict(PUBLIC_ACCESS_BLOCK)
            )
        elif setting == ENCRYPTION:
            ctx.s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": SSE_ALGORITHM}}]
                },
            )
        elif setting == TLS_POLICY:
            policy = status.policy or {"Version": "2012-10-17", "Statement": []}
            statements = policy.get("Statement") or []
            statements = [statements] if isinstance(statements, dict) else list(statements)
            statements = [s for s in statements if s.get("Sid") != DENY_INSECURE_SID]
            statements.append(tls_only_statement(name, partition))
            ctx.s3.put_bucket_policy(Bucket=name, Policy=json.dumps({**policy, "Statement": statements}))

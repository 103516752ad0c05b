"""An OTA-ready fleet on the emulator, set up with plain boto3 for the simulator and explorer tests.

Things carrying the fleet attribute, in a static group; a firmware file in S3; a published package version
whose ``sha256`` and ``size`` attributes describe that file; and an OTA job (iotfleet's OTA document) on the
group.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.fleet.jobs.documents import ota_document, render
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/iotfleet-presign"
BUCKET = "iotfleet-firmware-test"
PACKAGE = "fw-main"
FIRMWARE = b"\x7fELF iotfleet firmware image " * 300
SETUP_THREADS = 8


@dataclass(frozen=True)
class OtaFleet:
    fleet: str
    group: str
    group_arn: str
    things: list[str]
    package: str
    version: str
    version_arn: str


def make_things(iot: Any, count: int, *, fleet: str = "sim", group: str = "sim-fleet", prefix: str = "dev") -> tuple[
    str, list[str]
]:
    """``count`` things of ``fleet`` in the static group ``group``; returns (group ARN, names)."""
    group_arn = iot.create_thing_group(thingGroupName=group)["thingGroupArn"]
    names = [f"{prefix}-{i:05d}" for i in range(count)]

    def create(name: str) -> None:
        iot.create_thing(thingName=name, attributePayload={"attributes": {FLEET_ATTRIBUTE: fleet}})
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        list(pool.map(create, names))
    return group_arn, names


def publish_version(
    iot: Any, s3: Any, version: str, *, firmware: bytes = FIRMWARE, sha256: str | None = None
) -> str:
    """Upload ``firmware`` and publish it as ``PACKAGE/version``; ``sha256`` overrides the published digest."""
    buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET not in buckets:
        s3.create_bucket(Bucket=BUCKET)
    if PACKAGE not in {p["packageName"] for p in iot.list_packages().get("packageSummaries", [])}:
        iot.create_package(packageName=PACKAGE)
    key = f"{PACKAGE}/{version}/firmware.bin"
    s3.put_object(Bucket=BUCKET, Key=key, Body=firmware)
    attributes = {"sha256": sha256 or hashlib.sha256(firmware).hexdigest(), "size": str(len(firmware))}
    created = iot.create_package_version(
        packageName=PACKAGE,
        versionName=version,
        attributes=attributes,
        artifact={"s3Location": {"bucket": BUCKET, "key": key}},
    )
    iot.update_package_version(packageName=PACKAGE, versionName=version, action="PUBLISH")
    return str(created["packageVersionArn"])


def create_ota_job(iot: Any, job_id: str, targets: list[str], version: str, version_arn: str, **settings: Any) -> None:
    iot.create_job(
        jobId=job_id,
        targets=targets,
        document=render(ota_document(PACKAGE, version)),
        presignedUrlConfig={"roleArn": ROLE, "expiresInSec": 3600},
        destinationPackageVersions=[version_arn],
        **settings,
    )


def make_ota_fleet(
    clients: Any,
    count: int,
    *,
    job_id: str | None = "ota-1",
    version: str = "1.2.0",
    sha256: str | None = None,
    fleet: str = "sim",
    **job_settings: Any,
) -> OtaFleet:
    group = f"{fleet}-fleet"
    group_arn, names = make_things(clients.iot, count, fleet=fleet, group=group)
    version_arn = publish_version(clients.iot, clients.s3, version, sha256=sha256)
    if job_id is not None:
        create_ota_job(clients.iot, job_id, [group_arn], version, version_arn, **job_settings)
    return OtaFleet(fleet, group, group_arn, names, PACKAGE, version, version_arn)


@contextmanager
def aws_context(endpoint_url: str, *, concurrency: int = 16, quotas: dict[str, float] | None = None) -> Iterator[
    AwsContext
]:
    """An iotfleet access-layer context on the emulator."""
    settings = TargetSettings.resolve(
        target="local", endpoint_url=endpoint_url, concurrency=concurrency, quota_overrides=quotas, env={}
    )
    with AwsContext(settings) as ctx:
        yield ctx


def executions_of(iot: Any, job_id: str) -> list[dict[str, Any]]:
    """Every execution summary of a job, all pages."""
    found: list[dict[str, Any]] = []
    for page in iot.get_paginator("list_job_executions_for_job").paginate(jobId=job_id):
        found.extend(page["executionSummaries"])
    return found


def shadow_of(iot_data: Any, thing: str, shadow: str | None = None) -> dict[str, Any]:
    kwargs = {"thingName": thing} if shadow is None else {"thingName": thing, "shadowName": shadow}
    return dict(json.loads(iot_data.get_thing_shadow(**kwargs)["payload"].read()))

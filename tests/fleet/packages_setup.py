"""Helpers for the package and job-creation tests: an iotfleet context on the emulator, a versioned firmware
bucket, a presigning role, things that report versions in ``$package``, and call counting."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.emulator.inprocess import LocalEmulator

FLEET = "demo"
BUCKET = "iotfleet-demo-firmware"
ROLE_NAME = "iotfleet-demo-jobs"
PACKAGE = "fw-main"

# Operations that change something; a rejected request must make none of them.
MUTATING_PREFIXES = ("Create", "Update", "Delete", "Put", "Publish", "Tag", "Untag", "Add", "Remove", "Attach",
                     "Cancel", "Associate")  # fmt: skip


@contextmanager
def aws_context(emulator: LocalEmulator) -> Iterator[AwsContext]:
    # The emulator enforces no quotas here; high local ones keep the tests quick.
    quotas = [f"{service}:*=1000" for service in ("iot", "iot-data", "s3", "iam")]
    settings = TargetSettings.resolve(
        target="local", endpoint_url=emulator.endpoint_url, concurrency=8, quota_overrides=quotas, env={}
    )
    with AwsContext(settings) as ctx:
        yield ctx


def calls(emulator: LocalEmulator) -> dict[str, int]:
    """Calls per ``service:Operation`` since the last reset."""
    return {key: count["calls"] for key, count in emulator.counters().items() if count["calls"]}


def mutating_calls(emulator: LocalEmulator) -> dict[str, int]:
    return {key: n for key, n in calls(emulator).items() if key.split(":", 1)[1].startswith(MUTATING_PREFIXES)}


def make_bucket(ctx: AwsContext, name: str = BUCKET) -> str:
    ctx.s3.create_bucket(Bucket=name)
    ctx.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    ctx.s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )
    return name


def make_role(ctx: AwsContext, name: str = ROLE_NAME) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"},
                                                   "Action": "sts:AssumeRole"}]}  # fmt: skip
    return str(ctx.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def firmware(tmp_path: Path, version: str, size: int = 2048) -> Path:
    path = tmp_path / f"fw-{version}.bin"
    path.write_bytes((f"firmware {version} ".encode() * size)[:size])
    return path


def enable_package_index(ctx: AwsContext) -> None:
    ctx.iot.update_indexing_configuration(
        thingIndexingConfiguration={
            "thingIndexingMode": "REGISTRY_AND_SHADOW",
            "namedShadowIndexingMode": "ON",
            "filter": {"namedShadowNames": ["$package"]},
        }
    )


def report_version(ctx: AwsContext, thing: str, package: str, version: str) -> None:
    """What a device (or AWS, after a successful job) writes in the ``$package`` shadow."""
    payload = {"state": {"reported": {package: {"version": version, "attributes": {"build": version}}}}}
    ctx.iot_data.update_thing_shadow(thingName=thing, shadowName="$package", payload=json.dumps(payload).encode())


def make_things(ctx: AwsContext, names: list[str], group: str | None = None) -> dict[str, str]:
    arns: dict[str, str] = {}
    if group is not None:
        ctx.iot.create_thing_group(thingGroupName=group)
    for name in names:
        arns[name] = str(ctx.iot.create_thing(thingName=name)["thingArn"])
        if group is not None:
            ctx.iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)
    return arns


def job_document(ctx: AwsContext, job_id: str) -> Any:
    return json.loads(ctx.iot.get_job_document(jobId=job_id)["document"])

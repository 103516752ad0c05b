"""Provisioning's wall time against its bound, with the emulator enforcing quotas in its own process.

Three phases against one emulator process (``python -m iotfleet.emulator --enforce-quotas``), each on a
fresh emulator state:

1. **iotfleet**: ``plan_provision`` + ``apply_provision`` of N devices (3 thing types, 3 countries, 2 versions)
   through the access layer, at the client's default rates (the same table the emulator enforces).
2. **raw boto3**: the same calls, made by plain boto3 clients with no pacing and no retries, at the same
   concurrency, with quota enforcement off: what the emulator itself can serve.
3. **iotfleet, quotas halved**: phase 1 again with the emulator's quotas at half the client's rates, so the
   client is throttled and its adaptive limiter has to find the real rate;
4. **iotfleet, with certificates**: ``--cert-devices`` devices provisioned with ``--certificates`` (the fleet CA
   signs each device's certificate here; per device: RegisterCertificate, AttachPolicy, AttachThingPrincipal,
   RegisterCertificate and AttachPolicy paced at 10 TPS), and its raw boto3 replay.

Bounds, from the emulator's call counters:

* quota-bound minimum: for each operation, its successful calls divided by the emulator's quota for it; the
  largest (operations run concurrently, each at its own quota);
* raw-capacity minimum: phase 2's wall time;
* bound: the larger of the two. Ratio: wall time / bound (goal: at most 1.10; 1.25 with quotas halved), and
  failures (goal: 0).

    python bench/provision.py [--devices 2000] [--cert-devices 500] [--concurrency 16] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError
from common import QUOTAS_ENFORCED, emulator_process, plain_client, quota_minimum

from iotfleet.aws.context import AwsContext
from iotfleet.aws.quotas import SERVICE_DEFAULTS, merged
from iotfleet.aws.settings import TargetSettings
from iotfleet.emulator.control import EmulatorControl
from iotfleet.fleet import indexing, roles, storage
from iotfleet.fleet.firmware import firmware_bytes
from iotfleet.fleet.identity import certificates
from iotfleet.fleet.identity.policy import policy_document, policy_name, policy_text
from iotfleet.fleet.ownership import CONTINENT_GROUP, COUNTRY_GROUP, GROUP_KIND_TAG, tag_dict, tag_list
from iotfleet.fleet.provision import inventory
from iotfleet.fleet.provision.apply import apply_provision
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.provision.result import ProvisionResult
from iotfleet.fleet.spec import FleetSpec

ACCOUNT = "123456789012"
REGION = "us-east-1"


def bench_spec(devices: int, with_certificates: bool = False) -> FleetSpec:
    return FleetSpec(fleet="bench", devices=devices, certificates=with_certificates).validated()


# ------------------------------------------------------------------------------------------ iotfleet


def run_iotfleet(url: str, spec: FleetSpec, concurrency: int) -> tuple[float, ProvisionResult]:
    settings = TargetSettings.resolve(target="local", endpoint_url=url, concurrency=concurrency, env={})
    with AwsContext(settings) as ctx, tempfile.TemporaryDirectory(prefix="iotfleet-bench-keys-") as keys:
        started = time.monotonic()
        result = apply_provision(ctx, plan_provision(ctx, spec, keys_dir=keys))
        return time.monotonic() - started, result


# ------------------------------------------------------------------------------------------ raw boto3


def _clients(url: str, concurrency: int) -> dict[str, Any]:
    return {name: plain_client(url, name, concurrency) for name in ("iot", "iot-data", "s3", "iam", "sts")}


def run_raw(url: str, spec: FleetSpec, concurrency: int) -> float:
    """The calls provisioning makes, by plain boto3: setup in order, then every thing in parallel."""
    c = _clients(url, concurrency)
    iot, data, s3, iam = c["iot"], c["iot-data"], c["s3"], c["iam"]
    fleet = spec.fleet
    started = time.monotonic()
    # Planning reads.
    c["sts"].get_caller_identity()
    s3.list_buckets(Prefix=storage.BUCKET_PREFIX)
    for role in (roles.JOBS_PRESIGN, roles.PACKAGE_CONFIG):
        _missing(lambda role=role: iam.get_role(RoleName=roles.role_name(fleet, role)))
    for name in spec.thing_types:
        _missing(lambda name=name: iot.describe_thing_type(thingTypeName=name))
    configuration = iot.get_indexing_configuration()["thingIndexingConfiguration"]
    iot.get_package_configuration()
    for name in spec.packages:
        _missing(lambda name=name: iot.get_package(packageName=name))
    for group in spec.continent_group_names() + spec.country_group_names():
        _missing(lambda group=group: iot.describe_thing_group(thingGroupName=group))
    if spec.certificates:
        _missing(lambda: iot.get_policy(policyName=policy_name(fleet)))
        iot.list_ca_certificates(pageSize=250)
    iot.list_things(attributeName="iotfleet_fleet", attributeValue=fleet, maxResults=250)
    # Setup, in dependency order.
    bucket = storage.bucket_name(fleet, ACCOUNT, REGION)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_list(fleet)})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=dict(storage.PUBLIC_ACCESS_BLOCK)
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [storage.tls_only_statement(bucket)]}),
    )
    s3.put_object(Bucket=bucket, Key="iotfleet/fleet-state.json", Body=b"{}")
    role_arns = {}
    for role in roles.fleet_role_specs(fleet, bucket, REGION, ACCOUNT, thing_prefix=spec.prefix):
        role_arns[role.purpose] = iam.create_role(
            RoleName=role.name,
            AssumeRolePolicyDocument=json.dumps(role.trust),
            Tags=tag_list(fleet),
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=role.name, PolicyName=roles.POLICY_NAME, PolicyDocument=json.dumps(role.policy)
        )
        iam.get_role(RoleName=role.name)
        iam.get_role_policy(RoleName=role.name, PolicyName=roles.POLICY_NAME)
    for name in spec.thing_types:
        iot.create_thing_type(
            thingTypeName=name,
            thingTypeProperties={"searchableAttributes": list(spec.searchable_attributes)},
            tags=tag_list(fleet),
        )
    iot.update_indexing_configuration(thingIndexingConfiguration=indexing.merged_configuration(configuration))
    iot.update_package_configuration(
        versionUpdateByJobsConfig={"enabled": True, "roleArn": role_arns[roles.PACKAGE_CONFIG]}
    )
    for group in spec.continent_group_names():
        iot.create_thing_group(thingGroupName=group, tags=tag_list(fleet, {GROUP_KIND_TAG: CONTINENT_GROUP}))
    for country in spec.countries:
        iot.create_thing_group(
            thingGroupName=spec.country_group(country), parentGroupName=spec.parent_group(country),
            tags=tag_list(fleet, {GROUP_KIND_TAG: COUNTRY_GROUP}),
        )  # fmt: skip
    now = dt.datetime.now(dt.timezone.utc)
    if spec.certificates:
        ca_key, ca = certificates.create_ca(fleet, now)
        ca_pem = certificates.certificate_pem(ca)
        code = iot.get_registration_code()["registrationCode"]
        verification = certificates.verification_certificate(ca_key, ca, code, now)
        iot.register_ca_certificate(
            caCertificate=ca_pem, verificationCertificate=certificates.certificate_pem(verification),
            setAsActive=True, allowAutoRegistration=False, certificateMode="DEFAULT", tags=tag_list(fleet),
        )  # fmt: skip
        iot.create_policy(
            policyName=policy_name(fleet), policyDocument=policy_text(policy_document("aws", REGION, ACCOUNT)),
            tags=tag_list(fleet),
        )  # fmt: skip

    def package(name: str) -> None:
        iot.create_package(packageName=name, tags=tag_dict(tag_list(fleet)))
        for version in spec.versions:
            iot.get_package(packageName=name)
            _missing(lambda version=version: iot.get_package_version(packageName=name, versionName=version))
            s3.get_bucket_versioning(Bucket=bucket)
            key = f"firmware/{name}/{version}/firmware.bin"
            _missing(lambda key=key: s3.head_object(Bucket=bucket, Key=key))
            s3.get_bucket_encryption(Bucket=bucket)
            put = s3.put_object(
                Bucket=bucket, Key=key, Body=firmware_bytes(name, version, spec.firmware_size)
            )
            iot.create_package_version(
                packageName=name, versionName=version, attributes={"sha256": "0" * 64, "size": "1"},
                artifact={"s3Location": {"bucket": bucket, "key": key, "version": put["VersionId"]}},
                tags=tag_dict(tag_list(fleet)),
            )  # fmt: skip
            iot.update_package_version(packageName=name, versionName=version, action="PUBLISH")
        iot.get_package(packageName=name)
        iot.get_package_version(packageName=name, versionName=spec.installed_version)
        iot.update_package(packageName=name, defaultVersionName=spec.installed_version)

    def thing(device: inventory.Device) -> None:
        iot.create_thing(
            thingName=device.name, thingTypeName=device.thing_type,
            attributePayload={"attributes": device.attributes(fleet)},
        )  # fmt: skip
        iot.add_thing_to_thing_group(thingGroupName=spec.country_group(device.country), thingName=device.name)
        data.update_thing_shadow(
            thingName=device.name,
            payload=json.dumps({"state": {"reported": device.classic_reported()}}).encode(),
        )
        data.update_thing_shadow(
            thingName=device.name, shadowName="$package",
            payload=json.dumps({"state": {"reported": device.package_reported()}}).encode(),
        )  # fmt: skip
        if spec.certificates:
            _, leaf = certificates.sign_device_certificate(ca_key, ca, device.name, now)
            arn = iot.register_certificate(
                certificatePem=certificates.certificate_pem(leaf), caCertificatePem=ca_pem, status="ACTIVE"
            )["certificateArn"]
            iot.attach_policy(policyName=policy_name(fleet), target=arn)
            iot.attach_thing_principal(thingName=device.name, principal=arn, thingPrincipalType="EXCLUSIVE_THING")

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        jobs = [pool.submit(package, name) for name in spec.packages]
        jobs += [pool.submit(thing, device) for device in inventory.devices(spec)]
        for job in jobs:
            job.result()
    return time.monotonic() - started


def _missing(call: Callable[[], Any]) -> None:
    """A read that the fresh state answers with 'not found', as planning's reads are answered."""
    try:
        call()
    except ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status != 404 and err.response.get("Error", {}).get("Code") not in (
            "NoSuchEntity",
            "ResourceNotFoundException",
        ):
            raise


# ------------------------------------------------------------------------------------------ bounds


def successful_calls(counters: dict[str, dict[str, int]]) -> dict[str, int]:
    return {
        key: n
        for key, count in counters.items()
        if (n := count["calls"] - count["throttles"] - count["faults"]) > 0
    }


def enforced_table(quotas: dict[str, Any]) -> dict[str, float]:
    """The quota table the emulator enforces: the defaults with its overrides, times its scale."""
    scale = float(quotas.get("scale") or 1.0)
    table = merged(quotas.get("overrides") or {})
    return {key: rate * scale for key, rate in table.items()} | {
        f"{service}:*": rate * scale
        for service, rate in SERVICE_DEFAULTS.items()
        if f"{service}:*" not in table
    }


def scenario(
    name: str, wall: float, result: ProvisionResult, counters: dict[str, dict[str, int]], quotas: dict[str, Any],
    raw: float, goal: float, devices: int,
) -> dict[str, Any]:  # fmt: skip
    quota_min, limiting, _ = quota_minimum(counters, enforced_table(quotas))
    bound = max(quota_min, raw)
    return {
        "scenario": name,
        "devices": devices,
        "wall_seconds": round(wall, 2),
        "quota_minimum_seconds": round(quota_min, 2),
        "quota_limiting_operation": limiting,
        "raw_minimum_seconds": round(raw, 2),
        "bound_seconds": round(bound, 2),
        "ratio": round(wall / bound, 3),
        "goal": goal,
        "failures": len(result.failures),
        "calls": sum(c["calls"] for c in counters.values()),
        "throttled_calls": sum(c["throttles"] for c in counters.values()),
    }


def _differences(made: dict[str, int], replayed: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {
        key: (made.get(key, 0), replayed.get(key, 0))
        for key in sorted(set(made) | set(replayed))
        if made.get(key, 0) != replayed.get(key, 0)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000, help="things to provision (default 2000)")
    parser.add_argument(
        "--cert-devices", type=int, default=500, help="things to provision with certificates (default 500)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="client workers (default 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    spec = bench_spec(args.devices)
    with emulator_process(QUOTAS_ENFORCED) as url:
        control = EmulatorControl(url)
        wall, result = run_iotfleet(url, spec, args.concurrency)
        counters, quotas = control.counters(), control.quotas()
        provision_calls = successful_calls(counters)

        control.reset()
        control.set_quotas(enforce=False)
        raw = run_raw(url, spec, args.concurrency)
        raw_calls = successful_calls(control.counters())

        control.reset()
        control.set_quotas(enforce=True, scale=0.5)
        half_wall, half_result = run_iotfleet(url, spec, args.concurrency)
        half_counters, half_quotas = control.counters(), control.quotas()

        with_certificates = bench_spec(args.cert_devices, with_certificates=True)
        control.reset()
        control.set_quotas(enforce=True)
        cert_wall, cert_result = run_iotfleet(url, with_certificates, args.concurrency)
        cert_counters, cert_quotas = control.counters(), control.quotas()
        cert_calls = successful_calls(cert_counters)
        control.reset()
        control.set_quotas(enforce=False)
        cert_raw = run_raw(url, with_certificates, args.concurrency)
        cert_raw_calls = successful_calls(control.counters())

    rows = [
        scenario("quotas = client rates", wall, result, counters, quotas, raw, 1.10, args.devices),
        scenario(
            "quotas = half the client rates", half_wall, half_result, half_counters, half_quotas, raw, 1.25,
            args.devices,
        ),
        scenario(
            "with certificates from the fleet CA, quotas = client rates", cert_wall, cert_result, cert_counters,
            cert_quotas, cert_raw, 1.10, args.cert_devices,
        ),
    ]
    differences = _differences(provision_calls, raw_calls) | _differences(cert_calls, cert_raw_calls)
    report = {
        "devices": args.devices,
        "cert_devices": args.cert_devices,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "scenarios": rows,
        "raw_replay_differences": {k: {"iotfleet": a, "raw": b} for k, (a, b) in differences.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"Provisioning {args.devices} devices, concurrency {args.concurrency}, {os.cpu_count()} CPUs, quotas enforced"
    )
    header = f"{'scenario':58} {'wall s':>7} {'quota min':>9} {'raw min':>8} {'bound':>7} {'ratio':>6} {'goal':>5} {'failures':>8} {'throttled':>9}"
    print(header)
    for row in rows:
        print(
            f"{row['scenario']:58} {row['wall_seconds']:7.2f} {row['quota_minimum_seconds']:9.2f} "
            f"{row['raw_minimum_seconds']:8.2f} {row['bound_seconds']:7.2f} {row['ratio']:6.3f} "
            f"{row['goal']:5.2f} {row['failures']:8d} {row['throttled_calls']:9d}"
        )
    for row in rows:
        print(f"quota-limiting operation ({row['scenario']}): {row['quota_limiting_operation']}")
    if differences:
        listed = ", ".join(f"{k} {a}/{b}" for k, (a, b) in differences.items())
        print(f"calls that differ between iotfleet and the raw replay (iotfleet/raw): {listed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

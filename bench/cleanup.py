"""Deleting a provisioned fleet: ``iotfleet cleanup`` against its bound, with quotas enforced.

One emulator runs in its own process with ``--enforce-quotas`` (the quota table the access layer paces to).
A fleet of 2,000 devices is provisioned with the provisioning library, then:

1. **iotfleet**: ``plan_cleanup`` + ``apply_cleanup`` through the access layer, timed from the first read to
   the last deletion (wall time). The emulator's counters give every call it made.
2. **raw boto3**: the fleet is provisioned again and deleted by a plain boto3 loop making the same deletion
   calls (find the things, detach, list and delete shadows, delete things, groups children first, packages,
   settings, bucket, roles, types) at the same concurrency, with the emulator's quota enforcement switched
   off for that phase: it measures what the emulator itself can serve.

The bound is the larger of the quota-bound minimum (the slowest operation's calls over its TPS, from
iotfleet's own counted calls) and the raw boto3 time; the ratio is iotfleet's wall time over the bound
(goal: at most 1.15). AWS's 5-minute wait between deprecating and deleting a thing type is not part of it:
the emulator enforces that wait on its own clock, which this benchmark runs 3,600 times faster than real time
(five emulator minutes pass in a tenth of a second; the quotas are paced in real time all the same).

    python bench/cleanup.py [--devices 2000] [--concurrency 16] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUOTAS_ENFORCED, emulator_process, plain_client, quota_minimum

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.emulator.control import EmulatorControl
from iotfleet.fleet import roles, storage
from iotfleet.fleet.cleanup.apply import apply_cleanup
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE, FLEET_TAG
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.spec import FleetSpec

FLEET = "bench"
TIME_SCALE = 3600.0  # the thing-type deprecation wait (5 emulator minutes) takes a tenth of a real second


def context(url: str, concurrency: int) -> AwsContext:
    return AwsContext(
        TargetSettings.resolve(target="local", endpoint_url=url, concurrency=concurrency, env={})
    )


def provision_fleet(url: str, devices: int, concurrency: int) -> FleetSpec:
    spec = FleetSpec(fleet=FLEET, devices=devices, firmware_size=4096).validated()
    with context(url, concurrency) as ctx:
        provision(ctx, spec).raise_for_failures()
    return spec


def iotfleet_cleanup(url: str, concurrency: int) -> tuple[float, int, dict[str, int]]:
    """(wall seconds, failures, resources deleted per kind) of a whole cleanup through the library."""
    with context(url, concurrency) as ctx:
        start = time.perf_counter()
        result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET))
        elapsed = time.perf_counter() - start
    return elapsed, len(result.failures), {kind: row["deleted"] for kind, row in result.summary().items()}


def raw_cleanup(url: str, spec: FleetSpec, concurrency: int) -> float:
    """Seconds a plain boto3 loop takes to make the same deletion calls."""
    iot, data = plain_client(url, "iot", concurrency), plain_client(url, "iot-data", concurrency)
    s3, iam = plain_client(url, "s3", concurrency), plain_client(url, "iam", concurrency)

    def pool_map(function: Any, items: list[Any]) -> None:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(function, items))

    def delete_thing(name: str) -> None:
        for principal in iot.list_thing_principals(thingName=name).get("principals", []):
            iot.detach_thing_principal(thingName=name, principal=principal)
        named = data.list_named_shadows_for_thing(thingName=name, pageSize=100).get("results", [])
        data.delete_thing_shadow(thingName=name)
        for shadow in named:
            data.delete_thing_shadow(thingName=name, shadowName=shadow)
        iot.delete_thing(thingName=name)

    def delete_package(name: str) -> None:
        iot.get_package(packageName=name)
        iot.update_package(packageName=name, unsetDefaultVersion=True)
        for version in iot.list_package_versions(packageName=name).get("packageVersionSummaries", []):
            iot.delete_package_version(packageName=name, versionName=version["versionName"])
        iot.delete_package(packageName=name)

    start = time.perf_counter()
    things = [
        thing["thingName"]
        for page in iot.get_paginator("list_things").paginate(
            attributeName=FLEET_ATTRIBUTE, attributeValue=FLEET, PaginationConfig={"PageSize": 250}
        )
        for thing in page["things"]
    ]
    for thing_type in spec.thing_types:
        iot.deprecate_thing_type(thingTypeName=thing_type)
    pool_map(delete_thing, things)
    pool_map(lambda group: iot.delete_thing_group(thingGroupName=group), spec.country_group_names())
    pool_map(lambda group: iot.delete_thing_group(thingGroupName=group), spec.continent_group_names())
    pool_map(delete_package, list(spec.packages))
    iot.update_package_configuration(versionUpdateByJobsConfig={"enabled": False})
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "OFF"})
    bucket = next(
        b["Name"]
        for b in s3.list_buckets(Prefix=storage.BUCKET_PREFIX)["Buckets"]
        if {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=b["Name"])["TagSet"]}.get(FLEET_TAG)
        == FLEET
    )
    versions = s3.list_object_versions(Bucket=bucket)
    objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions.get("Versions", [])]
    objects += [{"Key": m["Key"], "VersionId": m["VersionId"]} for m in versions.get("DeleteMarkers", [])]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
    for purpose in roles.PURPOSES:
        name = roles.role_name(FLEET, purpose)
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.list_attached_role_policies(RoleName=name)
        iam.list_instance_profiles_for_role(RoleName=name)
        iam.delete_role(RoleName=name)
    pool_map(lambda thing_type: iot.delete_thing_type(thingTypeName=thing_type), list(spec.thing_types))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000, help="devices in the fleet (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="workers in both phases (default 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    with emulator_process(QUOTAS_ENFORCED) as url:
        control = EmulatorControl(url)
        control.set_time_scale(TIME_SCALE)
        spec = provision_fleet(url, args.devices, args.concurrency)
        control.reset_counters()
        wall, failures, deleted = iotfleet_cleanup(url, args.concurrency)
        counters = control.counters()

        provision_fleet(url, args.devices, args.concurrency)
        control.set_quotas(enforce=False)
        control.reset_counters()
        raw = raw_cleanup(url, spec, args.concurrency)
        raw_calls = sum(count["calls"] for count in control.counters().values())
    quota, limiting, per_operation = quota_minimum(counters)
    bound = max(quota, raw)
    calls = sum(count["calls"] for count in counters.values())
    throttles = sum(count["throttles"] for count in counters.values())
    result = {
        "devices": args.devices,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "wall_seconds": round(wall, 1),
        "quota_bound_seconds": round(quota, 1),
        "quota_limiting_operation": limiting,
        "raw_boto3_seconds": round(raw, 1),
        "bound_seconds": round(bound, 1),
        "ratio": round(wall / bound, 3),
        "failures": failures,
        "deleted": deleted,
        "calls": calls,
        "raw_boto3_calls": raw_calls,
        "throttled_calls": throttles,
        "slowest_operations_seconds": {
            key: round(seconds, 1)
            for key, seconds in sorted(per_operation.items(), key=lambda kv: -kv[1])[:5]
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"cleanup of {args.devices} devices, concurrency {args.concurrency}, {os.cpu_count()} CPUs, quotas enforced"
        )
        print(
            f"  iotfleet         {wall:8.1f} s wall  ({calls} calls, {throttles} throttled, {failures} failures)"
        )
        print(f"  quota bound      {quota:8.1f} s      (limited by {limiting})")
        print(f"  raw boto3        {raw:8.1f} s      ({raw_calls} calls, quotas off)")
        print(f"  bound            {bound:8.1f} s      (the larger of the two)")
        print(f"  ratio            {wall / bound:8.3f}        (goal <= 1.15)")
        print(f"  deleted          {deleted}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

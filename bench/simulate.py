"""The fleet simulator's throughput against its bound, with the data-plane quota enforced.

One emulator runs in its own process with ``--enforce-quotas`` (iot-jobs-data 200 TPS per operation).
2,000 things get two OTA jobs, one after the other; all executions are released up front (the emulator
clock is advanced past the rollout), and every execution succeeds, so both phases do the same work:

1. **raw boto3**: plain boto3 clients and a requests session, the same data-plane calls as a simulated
   device (DescribeJobExecution with the document, UpdateJobExecution IN_PROGRESS, presigned GET and
   SHA-256, UpdateJobExecution SUCCEEDED, UpdateThingShadow) at the same concurrency, no pacing;
2. **simulator**: ``run_simulation`` through the access layer (paced per operation).

The quota bound comes from the calls the simulator actually made (the emulator's counters): the executions
divided by the fewest seconds those calls can take at their quotas (``bench/common.py``). The bound is the
lower of that and the raw boto3 rate, and the ratio is the simulator's rate over the bound (goal: >= 0.90).

    python bench/simulate.py [--devices 2000] [--concurrency 16] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import QUOTAS_ENFORCED, emulator_process, plain_client, quota_minimum

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.emulator.control import EmulatorControl
from iotfleet.fleet.jobs.documents import ota_document, render
from iotfleet.fleet.simulate.artifacts import find_artifacts
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, download_session, run_simulation

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bench-presign"
BUCKET = "bench-firmware"
PACKAGE = "bench-fw"
GROUP = "bench-fleet"
FIRMWARE = os.urandom(64 * 1024)
SETUP_THREADS = 8


def set_up(url: str, devices: int) -> tuple[str, str]:
    """Things in a group and a published package version; returns (group ARN, version ARN)."""
    iot, s3 = plain_client(url, "iot", SETUP_THREADS), plain_client(url, "s3", SETUP_THREADS)
    group_arn = iot.create_thing_group(thingGroupName=GROUP)["thingGroupArn"]

    def create(index: int) -> None:
        name = f"bench-{index:05d}"
        iot.create_thing(thingName=name)
        iot.add_thing_to_thing_group(thingGroupName=GROUP, thingName=name)

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        list(pool.map(create, range(devices)))
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="fw.bin", Body=FIRMWARE)
    iot.create_package(packageName=PACKAGE)
    version_arn = iot.create_package_version(
        packageName=PACKAGE,
        versionName="2.0.0",
        attributes={"sha256": hashlib.sha256(FIRMWARE).hexdigest(), "size": str(len(FIRMWARE))},
        artifact={"s3Location": {"bucket": BUCKET, "key": "fw.bin"}},
    )["packageVersionArn"]
    iot.update_package_version(packageName=PACKAGE, versionName="2.0.0", action="PUBLISH")
    return group_arn, version_arn


def release_job(url: str, control: EmulatorControl, job_id: str, group_arn: str, version_arn: str, devices: int) -> None:
    """Create the job and move the emulator clock until every execution is released."""
    iot = plain_client(url, "iot", 1)
    iot.create_job(
        jobId=job_id,
        targets=[group_arn],
        document=render(ota_document(PACKAGE, "2.0.0")),
        presignedUrlConfig={"roleArn": ROLE, "expiresInSec": 3600},
        destinationPackageVersions=[version_arn],
    )
    control.advance(60 * (devices // 1000 + 2))
    queued = iot.describe_job(jobId=job_id)["job"]["jobProcessDetails"]["numberOfQueuedThings"]
    if queued != devices:
        raise RuntimeError(f"{queued} of {devices} executions released")


def raw_boto3(url: str, job_id: str, things: list[str], concurrency: int) -> float:
    """Executions per second of a plain boto3 loop doing a device's calls."""
    jobs_data = plain_client(url, "iot-jobs-data", concurrency)
    iot_data = plain_client(url, "iot-data", concurrency)
    session = download_session(concurrency)
    expected = hashlib.sha256(FIRMWARE).hexdigest()

    def device(thing: str) -> None:
        execution = jobs_data.describe_job_execution(thingName=thing, jobId=job_id, includeJobDocument=True)[
            "execution"
        ]
        jobs_data.update_job_execution(
            thingName=thing, jobId=job_id, status="IN_PROGRESS", statusDetails={"step": "downloading"},
            stepTimeoutInMinutes=10, executionNumber=execution["executionNumber"],
        )  # fmt: skip
        (artifact,) = find_artifacts(json.loads(execution["jobDocument"]))
        digest = hashlib.sha256()
        with session.get(artifact.url, stream=True, timeout=60) as response:
            response.raise_for_status()
            for chunk in response.iter_content(64 * 1024):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise RuntimeError(f"{thing}: checksum mismatch")
        jobs_data.update_job_execution(
            thingName=thing, jobId=job_id, status="SUCCEEDED", statusDetails={"step": "completed"},
            executionNumber=execution["executionNumber"],
        )  # fmt: skip
        iot_data.update_thing_shadow(
            thingName=thing, payload=json.dumps({"state": {"reported": {"firmware": {"version": "2.0.0"}}}}).encode()
        )

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(device, things))
    elapsed = time.perf_counter() - start
    session.close()
    return len(things) / elapsed


def simulator(url: str, job_id: str, concurrency: int) -> tuple[float, int, int]:
    """(executions per second, executions, failures) of ``run_simulation`` through the access layer."""
    settings = TargetSettings.resolve(target="local", endpoint_url=url, concurrency=concurrency, env={})
    model = BehaviourModel.from_options(success_rate=100, failure_weights="install=1", latency="0", seed=1)
    with AwsContext(settings) as ctx:
        plan = plan_simulation(ctx, job_id=job_id)
        start = time.perf_counter()
        result = run_simulation(ctx, plan, model, SimulationOptions())
        elapsed = time.perf_counter() - start
    return len(result.executions) / elapsed, len(result.executions), len(result.failures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000, help="simulated devices (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="workers in both phases (default 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    with emulator_process(QUOTAS_ENFORCED) as url:
        control = EmulatorControl(url)
        group_arn, version_arn = set_up(url, args.devices)
        things = [f"bench-{i:05d}" for i in range(args.devices)]

        release_job(url, control, "bench-raw", group_arn, version_arn, args.devices)
        control.reset_counters()
        raw = raw_boto3(url, "bench-raw", things, args.concurrency)
        raw_throttles = sum(c["throttles"] for c in control.counters().values())

        release_job(url, control, "bench-sim", group_arn, version_arn, args.devices)
        control.reset_counters()
        rate, executions, failures = simulator(url, "bench-sim", args.concurrency)
        counters = control.counters()
    seconds, limiting, _ = quota_minimum(counters)
    quota = executions / seconds if seconds > 0 else float("inf")
    bound = min(quota, raw)
    result = {
        "devices": args.devices,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "simulator_executions_per_second": round(rate, 1),
        "raw_boto3_executions_per_second": round(raw, 1),
        "quota_bound_executions_per_second": round(quota, 1),
        "quota_limiting_operation": limiting,
        "bound_executions_per_second": round(bound, 1),
        "ratio": round(rate / bound, 3),
        "simulator_executions": executions,
        "simulator_device_errors": failures,
        "simulator_throttled_calls": sum(c["throttles"] for c in counters.values()),
        "raw_boto3_throttled_calls": raw_throttles,
        "simulator_calls_per_execution": {k: round(c["calls"] / executions, 2) for k, c in counters.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.devices} devices, concurrency {args.concurrency}, {os.cpu_count()} CPUs, quotas enforced")
        print(f"  simulator        {rate:8.1f} executions/s  ({executions} executions, {failures} device errors)")
        print(f"  raw boto3        {raw:8.1f} executions/s")
        print(f"  quota bound      {quota:8.1f} executions/s  (limited by {limiting})")
        print(f"  bound            {bound:8.1f} executions/s  (the lower of the two)")
        print(f"  ratio            {rate / bound:8.3f}  (goal >= 0.90)")
        print(f"  throttled calls  simulator {result['simulator_throttled_calls']}, raw {raw_throttles}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The fleet simulator's throughput against its bound, with the quotas enforced, over HTTPS and over MQTT.

One emulator runs in its own process with ``--enforce-quotas`` (iot-jobs-data 200 TPS per operation; the
message broker's connects, 500 a second, and subscriptions, 200 topic filters a second). 2,000 things get
OTA jobs, one after the other; all executions are released up front (the emulator clock is advanced past
the rollout), and every execution succeeds, so every phase does the same work. Over HTTPS:

1. **raw boto3**: plain boto3 clients and a requests session, the same data-plane calls as a simulated
   device (DescribeJobExecution with the document, UpdateJobExecution IN_PROGRESS, presigned GET and
   SHA-256, UpdateJobExecution SUCCEEDED, UpdateThingShadow) at the same concurrency, no pacing;
2. **simulator**: ``run_simulation`` through the access layer (paced per operation).

Then every thing gets its certificate (set-up, over HTTP, see ``bench/simulate_mqtt.py``: the emulator
raises the per-device identity quotas for it, and the measured phases make none of those calls), and over
MQTT, each device on its own connection with its own certificate:

3. **raw MQTT**: a plain gmqtt loop doing a device's calls over the jobs and shadow topics (connect,
   subscribe, get, IN_PROGRESS, download and SHA-256, SUCCEEDED, shadow update) with as many devices at once
   as the simulator runs, no pacing;
4. **simulator**: ``run_simulation`` with ``transport="mqtt"``.

For each transport the quota bound comes from the calls the simulator actually made (the emulator's
counters: the data-plane operations, and over MQTT ``mqtt:Connect`` and ``mqtt:Subscribe`` too): the
executions divided by the fewest seconds those calls can take at their quotas (``bench/common.py``). The
bound is the lower of that and the raw rate, and the ratio is the simulator's rate over the bound (goal:
>= 0.90).

    python bench/simulate.py [--devices 2000] [--concurrency 16] [--transports https,mqtt] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import QUOTAS_ENFORCED, download_sha256, emulator_process, plain_client, quota_minimum
from simulate_mqtt import ENROLMENT_QUOTAS, THING_PREFIX, enrol, raw_mqtt

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.emulator.background import health
from iotfleet.emulator.control import EmulatorControl
from iotfleet.fleet.jobs.documents import ota_document, render
from iotfleet.fleet.provision.inventory import thing_name
from iotfleet.fleet.simulate.artifacts import find_artifacts
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.mqtt_network import MqttEndpoint
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import (
    MQTT_DEVICE_THREADS,
    SimulationOptions,
    download_session,
    run_simulation,
)
from iotfleet.fleet.simulate.transport import HTTPS, MQTT, TRANSPORTS, MqttSettings

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bench-presign"
BUCKET = "bench-firmware"
PACKAGE = "bench-fw"
GROUP = "bench-fleet"
FIRMWARE = os.urandom(64 * 1024)
SETUP_THREADS = 8
RAW_NAMES = {HTTPS: "raw_boto3", MQTT: "raw_mqtt"}  # the comparator of each transport, as the JSON names it


def set_up(url: str, devices: int) -> tuple[str, str]:
    """Things in a group and a published package version; returns (group ARN, version ARN)."""
    iot, s3 = plain_client(url, "iot", SETUP_THREADS), plain_client(url, "s3", SETUP_THREADS)
    group_arn = iot.create_thing_group(thingGroupName=GROUP)["thingGroupArn"]

    def create(index: int) -> None:
        name = thing_name(THING_PREFIX, index)
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
        if download_sha256(session, artifact.url) != expected:
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


def simulator(url: str, job_id: str, concurrency: int, options: SimulationOptions) -> tuple[float, int, int]:
    """(executions per second, executions, failures) of ``run_simulation`` through the access layer."""
    settings = TargetSettings.resolve(target="local", endpoint_url=url, concurrency=concurrency, env={})
    model = BehaviourModel.from_options(success_rate=100, failure_weights="install=1", latency="0", seed=1)
    with AwsContext(settings) as ctx:
        plan = plan_simulation(ctx, job_id=job_id)
        start = time.perf_counter()
        result = run_simulation(ctx, plan, model, options)
        elapsed = time.perf_counter() - start
    return len(result.executions) / elapsed, len(result.executions), len(result.failures)


def check_succeeded(url: str, job_id: str, devices: int) -> None:
    """Every execution of the job ended SUCCEEDED (a phase that skipped work would look fast)."""
    details = plain_client(url, "iot", 1).describe_job(jobId=job_id)["job"]["jobProcessDetails"]
    if details["numberOfSucceededThings"] != devices:
        raise RuntimeError(f"{job_id}: {details['numberOfSucceededThings']} of {devices} executions succeeded")


def measured(name: str, rate: float, raw: float, executions: int, failures: int, counters: dict[str, Any],
             raw_throttles: int, concurrency: int) -> dict[str, Any]:  # fmt: skip
    """One transport's row: the simulator's rate against the quota bound of its counted calls and the raw rate."""
    seconds, limiting, _ = quota_minimum(counters)
    quota = executions / seconds if seconds > 0 else float("inf")
    bound = min(quota, raw)
    comparator = RAW_NAMES[name]
    return {
        "transport": name,
        "concurrency": concurrency,
        "simulator_executions_per_second": round(rate, 1),
        f"{comparator}_executions_per_second": round(raw, 1),
        "quota_bound_executions_per_second": round(quota, 1),
        "quota_limiting_operation": limiting,
        "bound_executions_per_second": round(bound, 1),
        "ratio": round(rate / bound, 3),
        "simulator_executions": executions,
        "simulator_device_errors": failures,
        "simulator_throttled_calls": sum(c["throttles"] for c in counters.values()),
        f"{comparator}_throttled_calls": raw_throttles,
        "simulator_calls_per_execution": {k: round(c["calls"] / executions, 2) for k, c in counters.items()},
    }


def run_https(url: str, control: EmulatorControl, job: Any, things: list[str], concurrency: int) -> dict[str, Any]:
    job("bench-raw")
    control.reset_counters()
    raw = raw_boto3(url, "bench-raw", things, concurrency)
    raw_throttles = sum(c["throttles"] for c in control.counters().values())
    job("bench-sim")
    control.reset_counters()
    rate, executions, failures = simulator(url, "bench-sim", concurrency, SimulationOptions())
    counters = control.counters()
    check_succeeded(url, "bench-sim", len(things))
    return measured(HTTPS, rate, raw, executions, failures, counters, raw_throttles, concurrency)


def run_mqtt(url: str, control: EmulatorControl, job: Any, things: list[str], concurrency: int) -> dict[str, Any]:
    """Enrol the things (set-up), then the raw gmqtt loop and the simulator, each on a job of its own."""
    answer = health(url) or {}
    endpoint = MqttEndpoint.parse(str(answer["mqtt"]), answer.get("mqtt_ca"))
    devices_at_once = max(concurrency, MQTT_DEVICE_THREADS)  # what the simulator runs over MQTT
    with tempfile.TemporaryDirectory(prefix="iotfleet-bench-keys-") as folder:
        began = time.perf_counter()
        store = enrol(url, things, Path(folder) / "keys")
        enrolment_seconds = time.perf_counter() - began
        session = download_session(devices_at_once)
        job("bench-mqtt-raw")
        control.reset_counters()
        raw = raw_mqtt("bench-mqtt-raw", things, endpoint, store, devices_at_once, session, FIRMWARE)
        raw_throttles = sum(c["throttles"] for c in control.counters().values())
        session.close()
        check_succeeded(url, "bench-mqtt-raw", len(things))
        job("bench-mqtt-sim")
        control.reset_counters()
        options = SimulationOptions(transport=MQTT, mqtt=MqttSettings(endpoint=endpoint, keys_dir=str(store.root)))
        rate, executions, failures = simulator(url, "bench-mqtt-sim", concurrency, options)
        counters = control.counters()
        check_succeeded(url, "bench-mqtt-sim", len(things))
    row = measured(MQTT, rate, raw, executions, failures, counters, raw_throttles, devices_at_once)
    row["enrolment_seconds"] = round(enrolment_seconds, 1)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000, help="simulated devices (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="workers in the HTTPS phases (default 16)")
    parser.add_argument("--transports", default=",".join(TRANSPORTS),
                        help="comma-separated transports to measure (default: https,mqtt)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.transports.split(",") if name.strip()]
    if not chosen or set(chosen) - set(TRANSPORTS):
        parser.error(f"--transports: choose from {', '.join(TRANSPORTS)}")
    settings = replace(QUOTAS_ENFORCED, quota_overrides=ENROLMENT_QUOTAS)  # the set-up's identity calls only
    rows: dict[str, dict[str, Any]] = {}
    with emulator_process(settings) as url:
        control = EmulatorControl(url)
        group_arn, version_arn = set_up(url, args.devices)
        things = [thing_name(THING_PREFIX, i) for i in range(args.devices)]

        def job(job_id: str) -> None:
            release_job(url, control, job_id, group_arn, version_arn, args.devices)

        if HTTPS in chosen:
            rows[HTTPS] = run_https(url, control, job, things, args.concurrency)
        if MQTT in chosen:
            rows[MQTT] = run_mqtt(url, control, job, things, args.concurrency)
    result: dict[str, Any] = {"devices": args.devices, "concurrency": args.concurrency, "cpus": os.cpu_count()}
    result.update(rows.get(HTTPS, {}))  # the HTTPS row's keys at the top, as before
    if MQTT in rows:
        result["mqtt"] = rows[MQTT]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.devices} devices, {os.cpu_count()} CPUs, quotas enforced")
    for name, row in rows.items():
        comparator = RAW_NAMES[name]
        raw_label = comparator.replace("_", " ")
        print(f"{name.upper()}: {row['concurrency']} at once")
        print(f"  simulator        {row['simulator_executions_per_second']:8.1f} executions/s  "
              f"({row['simulator_executions']} executions, {row['simulator_device_errors']} device errors)")
        print(f"  {raw_label:<16} {row[f'{comparator}_executions_per_second']:8.1f} executions/s")
        print(f"  quota bound      {row['quota_bound_executions_per_second']:8.1f} executions/s  "
              f"(limited by {row['quota_limiting_operation']})")
        print(f"  bound            {row['bound_executions_per_second']:8.1f} executions/s  (the lower of the two)")
        print(f"  ratio            {row['ratio']:8.3f}  (goal >= 0.90)")
        print(f"  throttled calls  simulator {row['simulator_throttled_calls']}, raw {row[f'{comparator}_throttled_calls']}")
        if "enrolment_seconds" in row:
            print(f"  set-up: certificates enrolled in {row['enrolment_seconds']:.1f} s (not measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

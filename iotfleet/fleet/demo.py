"""The demo: one fleet, two releases. A faulty 1.1.0 fails its canary gate and is rolled back by itself; the
fixed 1.1.1 goes through every wave to 100 %.

1. provision the fleet (one thing type, so every device runs the same package), each device with its own
   certificate;
2. create a dynamic group of the devices still on the old version whose battery can take an update;
3. publish the faulty firmware 1.1.0 from a generated file;
4. roll it out in waves (a 20 % canary, then 50 %, then 100 %), each wave gated on ``success>=95`` after a
   bake, each wave's job with an exponential rollout, an abort criterion and a timeout; its devices fail
   often (40 % succeed by default), so the canary's gate fails, its job is canceled and the devices that took
   1.1.0 get a real OTA job back to 1.0.0; the later waves never start;
5. the version distribution after the failure: every device back on 1.0.0;
6. publish the fixed firmware 1.1.1;
7. roll it out the same way; its devices succeed, so every gate passes and every device gets it;
8. the HTML report of the second rollout (the waves on one timeline, every gate decision);
9. the version distribution before, after the failure and at the end;
10. clean up, unless asked to keep the fleet.

The devices of every job connect over MQTT, each with its own certificate from the fleet's key store, to the
endpoint ``DemoConfig.mqtt`` names (the emulator's, or the account's ``iot:Data-ATS`` endpoint); without one
(an emulator that runs without its MQTT endpoint) they use the jobs data plane over HTTPS.

The steps are the library's own (provisioning, groups, packages, rollouts, simulation, reports, cleanup);
this module only chooses the scenario and runs them in order, telling a :class:`DemoReporter` what happened.
It never prints. It also estimates, for a real AWS account, what the run costs.
"""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import OperationFailed, UsageError
from iotfleet.clock import SYSTEM_CLOCK
from iotfleet.fleet import firmware, groups
from iotfleet.fleet.cleanup.apply import CleanupResult, apply_cleanup
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.explore.pages import write_report
from iotfleet.fleet.jobs.settings import AbortCriterion, ExponentialRollout, JobSettings
from iotfleet.fleet.naming import check_fleet_name
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE
from iotfleet.fleet.packages.reported import Distribution, distribution
from iotfleet.fleet.packages.upload import VersionUpload, upload_version
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.provision.result import ProvisionResult
from iotfleet.fleet.resources import discover
from iotfleet.fleet.rollout import report as rollout_report
from iotfleet.fleet.rollout.controller import Controller, Step
from iotfleet.fleet.rollout.plan import RolloutPlan, plan_rollout, start_rollout
from iotfleet.fleet.rollout.record import RolloutStore
from iotfleet.fleet.rollout.spec import Condition, GateSpec, RolloutSpec, parse_waves
from iotfleet.fleet.rollout.watch import RolloutSnapshot, snapshot
from iotfleet.fleet.runner import NoProgress, Progress
from iotfleet.fleet.simulate.behaviour import BehaviourModel, FailureWeights, LatencyModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, SimulationResult, run_simulation
from iotfleet.fleet.simulate.transport import HTTPS, MQTT, MqttSettings
from iotfleet.fleet.spec import FleetSpec, check_device_count

DEMO_FLEET = "demo"
DEMO_PACKAGE = "SedanVehicle"
OLD_VERSION = "1.0.0"
FAULTY_VERSION = "1.1.0"
FIXED_VERSION = "1.1.1"
# Devices below this battery level are left out of the update, as a careful operator would.
MIN_BATTERY = 20
WAVES = "20%,50%,100%"
CANARY_SHARE = 0.2
GATE = "success>=95"
BAKE_SECONDS = 120

# Approximate AWS list prices (USD, us-east-1, 2026) for the cost estimate; accounts and regions differ.
PRICE_PER_REMOTE_ACTION = 0.003  # IoT Device Management jobs, per job execution
PRICE_PER_INDEX_UPDATE = 2.25 / 1_000_000  # fleet indexing, per 1 KB index update
PRICE_PER_QUERY = 0.05 / 10_000  # fleet indexing search and aggregation queries
PRICE_PER_REGISTRY_OR_SHADOW_OP = 1.25 / 1_000_000  # IoT Core registry and shadow operations
PRICE_PER_S3_REQUEST = 0.005 / 1_000  # the rollouts' records: a PUT per step, a GET per controller pass
PRICE_PER_MQTT_MESSAGE = 1.00 / 1_000_000  # IoT Core messaging, metered in 5 KB increments (each here is smaller)
PRICE_PER_CONNECTION_MINUTE = 0.08 / 1_000_000  # IoT Core connectivity, metered by the minute of each connection
# An execution over MQTT, in messages (each under 5 KB): the device's get, two updates and shadow update, their
# answers, the shadow's update/documents, and a notify-next or two.
MQTT_MESSAGES_PER_EXECUTION = 12
MQTT_MESSAGES_PER_CONNECTION = 2  # CONNECT and SUBSCRIBE (CONNACK, SUBACK, PINGs and DISCONNECT are free)
MINUTES_PER_CONNECTION = 15  # a device stays connected while its wave's job runs (an upper bound)
IOT_CORE_PRICING_URL = "https://aws.amazon.com/iot-core/pricing/"
PRICING_URL = "https://aws.amazon.com/iot-device-management/pricing/"


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs: fleet size, the devices' behaviour on each release, and what to keep."""

    fleet: str = DEMO_FLEET
    devices: int = 100
    success_rate: float = 100.0  # the fixed release
    faulty_success_rate: float = 40.0  # the faulty release
    failure_weights: str = "download=1,checksum=1,install=1,reject=1,hang=1"
    seed: int = 7
    keep: bool = False
    report_path: Path = Path("iotfleet-demo-report.html")
    watch_interval: float = 1.0
    mqtt: MqttSettings | None = None  # where devices connect over MQTT; None: they use HTTPS

    def validated(self) -> DemoConfig:
        check_fleet_name(self.fleet)
        check_device_count(self.devices, "--devices")
        for rate, flag in ((self.success_rate, "--success-rate"), (self.faulty_success_rate, "--faulty-success-rate")):
            if not 0.0 <= rate <= 100.0:
                raise UsageError(f"the success rate must be between 0 and 100, not {rate:g}", flag)
        try:
            FailureWeights.parse(self.failure_weights)
        except ValueError as exc:
            raise UsageError(str(exc), "--failure-weights") from None
        if not self.watch_interval > 0:
            raise UsageError("the watch interval must be positive", "--interval")
        return self

    @property
    def spec(self) -> FleetSpec:
        """The fleet: one thing type (so one package for every device), starting on the old version."""
        return FleetSpec(
            fleet=self.fleet, devices=self.devices, thing_types=(DEMO_PACKAGE,), versions=(OLD_VERSION,),
            certificates=True,
        ).validated()

    @property
    def group_name(self) -> str:
        return f"{self.fleet}-{DEMO_PACKAGE}-on-{OLD_VERSION.replace('.', '_')}"

    @property
    def group_query(self) -> str:
        return (
            f"attributes.{FLEET_ATTRIBUTE}:{self.fleet} AND thingTypeName:{DEMO_PACKAGE} AND "
            f"shadow.name.$package.reported.{DEMO_PACKAGE}.version:{OLD_VERSION} AND "
            f"shadow.reported.batteryStatus>={MIN_BATTERY}"
        )

    def rollout_id(self, version: str) -> str:
        return f"{self.fleet}-{version.replace('.', '_')}"

    @property
    def wave_settings(self) -> JobSettings:
        """Each wave's job: 10 a minute, doubling after every 10 notified; abort past 30% failures (the fast
        brake, under the gate); a 30-minute in-progress timeout."""
        return JobSettings(
            rollout=ExponentialRollout(base_rate_per_minute=10, increment_factor=2.0, notified_things=10),
            abort=(AbortCriterion("FAILED", 30, 10),),
            timeout_minutes=30,
        )

    def rollout_spec(self, version: str) -> RolloutSpec:
        return RolloutSpec(
            fleet=self.fleet, package=DEMO_PACKAGE, version=version, groups=(self.group_name,),
            waves=parse_waves(WAVES), gate=GateSpec((Condition.parse(GATE),), bake_seconds=BAKE_SECONDS),
            settings=self.wave_settings, rollout_id=self.rollout_id(version), rollback_to=OLD_VERSION,
            description=f"Demo rollout of {DEMO_PACKAGE} {version}",
        )  # fmt: skip

    def behaviour(self, success_rate: float) -> BehaviourModel:
        return BehaviourModel(
            success_rate=success_rate,
            failure_weights=FailureWeights.parse(self.failure_weights),
            latency=LatencyModel.parse("20ms..200ms"),
            seed=self.seed,
        )


@dataclass(frozen=True)
class CostEstimate:
    """Billable units of one demo run on AWS, and their approximate price."""

    remote_actions: int
    index_updates: int
    queries: int
    registry_and_shadow_operations: int
    s3_requests: int
    mqtt_messages: int = 0
    connection_minutes: int = 0

    @property
    def dollars(self) -> float:
        return (
            self.remote_actions * PRICE_PER_REMOTE_ACTION
            + self.index_updates * PRICE_PER_INDEX_UPDATE
            + self.queries * PRICE_PER_QUERY
            + self.registry_and_shadow_operations * PRICE_PER_REGISTRY_OR_SHADOW_OP
            + self.s3_requests * PRICE_PER_S3_REQUEST
            + self.mqtt_messages * PRICE_PER_MQTT_MESSAGE
            + self.connection_minutes * PRICE_PER_CONNECTION_MINUTE
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "remoteActions": self.remote_actions,
            "indexUpdates": self.index_updates,
            "queries": self.queries,
            "registryAndShadowOperations": self.registry_and_shadow_operations,
            "s3Requests": self.s3_requests,
            "mqttMessages": self.mqtt_messages,
            "connectionMinutes": self.connection_minutes,
            "estimatedUsd": round(self.dollars, 4),
            "pricing": PRICING_URL,
            "iotCorePricing": IOT_CORE_PRICING_URL,
        }


def estimate_cost(config: DemoConfig) -> CostEstimate:
    """An upper bound: the faulty canary and its rollback (a fifth of the devices each), then every device;
    over MQTT (``config.mqtt``) each execution's device connects once, for the length of its job."""
    devices = config.devices
    canary = -(-devices // 5)
    executions = devices + 2 * canary
    over_mqtt = config.mqtt is not None
    return CostEstimate(
        remote_actions=executions,
        # Each device: create, group, two shadows, then job updates, a shadow and $package per execution.
        index_updates=devices * 4 + executions * 3,
        queries=100,
        registry_and_shadow_operations=devices * 10 + executions * 6,
        # A controller pass a second for the length of both rollouts (about 15 minutes of AWS time).
        s3_requests=2 * 900,
        mqtt_messages=executions * (MQTT_MESSAGES_PER_EXECUTION + MQTT_MESSAGES_PER_CONNECTION) if over_mqtt else 0,
        connection_minutes=executions * MINUTES_PER_CONNECTION if over_mqtt else 0,
    )


# --- what the demo reports --------------------------------------------------------------------------


@dataclass
class StepOutcome:
    """What one step did, for the JSON summary."""

    number: int
    title: str
    data: dict[str, Any] = field(default_factory=dict)


class DemoReporter(Protocol):
    """Where the demo tells what happens; the CLI renders it."""

    def step(self, number: int, title: str) -> None: ...

    def progress(self) -> Progress: ...

    def provisioned(self, result: ProvisionResult) -> None: ...

    def distribution(self, label: str, dist: Distribution) -> None: ...

    def group_created(self, query: str, preview: groups.Preview, created: groups.CreatedGroup) -> None: ...

    def firmware_published(self, upload: VersionUpload) -> None: ...

    def rollout_planned(self, plan: RolloutPlan) -> None: ...

    def rollout_step(self, step: Step) -> None: ...

    def rollout_ended(self, current: RolloutSnapshot) -> None: ...

    def report_written(self, path: Path, report: rollout_report.RolloutReport) -> None: ...

    def cleaned(self, result: CleanupResult | None) -> None: ...


@dataclass
class DemoResult:
    """Everything the demo did, step by step."""

    steps: list[StepOutcome] = field(default_factory=list)

    def add(self, number: int, title: str, **data: Any) -> None:
        self.steps.append(StepOutcome(number, title, data))

    def as_dict(self) -> dict[str, Any]:
        return {"steps": [{"step": s.number, "title": s.title, **s.data} for s in self.steps]}


# --- the run ----------------------------------------------------------------------------------------


def run_demo(ctx: AwsContext, config: DemoConfig, reporter: DemoReporter) -> DemoResult:
    """Run the ten steps against ``ctx``; see the module docstring."""
    config = config.validated()
    spec = config.spec
    result = DemoResult()

    reporter.step(1, f"Provision {spec.devices} devices")
    provisioned = provision(ctx, spec, reporter.progress())
    provisioned.raise_for_failures()
    reporter.provisioned(provisioned)
    before = distribution(ctx, DEMO_PACKAGE)
    reporter.distribution(f"Versions of {DEMO_PACKAGE} before the update", before)
    result.add(1, "provision", summary=provisioned.as_dict(), before=before.as_dict())

    reporter.step(2, "Create a dynamic group of the devices to update")
    preview = groups.preview(ctx, config.group_query)
    created = groups.create_dynamic_group(
        ctx, config.group_name, config.group_query, fleet=config.fleet,
        description=f"{DEMO_PACKAGE} devices on {OLD_VERSION} with at least {MIN_BATTERY}% battery",
    )  # fmt: skip
    reporter.group_created(config.group_query, preview, created)
    result.add(2, "dynamic group", group=config.group_name, query=config.group_query, members=preview.count)
    if preview.count == 0:
        raise UsageError("no device matches the update group: nothing to update")

    bucket = discover(ctx, config.fleet, kinds=("bucket",)).bucket
    if bucket is None:
        raise UsageError(f"fleet {config.fleet!r} has no firmware bucket; provisioning did not finish")

    reporter.step(3, f"Publish firmware {FAULTY_VERSION} (it has a bug)")
    faulty = publish(ctx, config, bucket, FAULTY_VERSION, "the faulty release")
    reporter.firmware_published(faulty)
    result.add(3, "firmware", package=DEMO_PACKAGE, version=FAULTY_VERSION, sha256=faulty.sha256, status=faulty.status)

    reporter.step(4, f"Roll out {FAULTY_VERSION} in waves: the canary fails its gate")
    first = run_rollout(ctx, config, FAULTY_VERSION, config.behaviour(config.faulty_success_rate), reporter)
    result.add(4, "faulty rollout", **first)

    reporter.step(5, "Version distribution after the failure")
    after_failure = distribution(ctx, DEMO_PACKAGE)
    reporter.distribution(f"Versions of {DEMO_PACKAGE} after the automatic rollback", after_failure)
    result.add(5, "distribution", distribution=after_failure.as_dict())

    reporter.step(6, f"Publish the fixed firmware {FIXED_VERSION}")
    fixed = publish(ctx, config, bucket, FIXED_VERSION, "the fix")
    reporter.firmware_published(fixed)
    result.add(6, "firmware", package=DEMO_PACKAGE, version=FIXED_VERSION, sha256=fixed.sha256, status=fixed.status)

    reporter.step(7, f"Roll out {FIXED_VERSION}: every gate passes")
    second = run_rollout(ctx, config, FIXED_VERSION, config.behaviour(config.success_rate), reporter)
    result.add(7, "fixed rollout", **second)

    reporter.step(8, "HTML report of the rollout")
    gathered = rollout_report.gather(ctx, RolloutStore(ctx, config.fleet, bucket), config.rollout_id(FIXED_VERSION))
    path = write_report(config.report_path, rollout_report.render_html(gathered)).resolve()
    reporter.report_written(path, gathered)
    result.add(8, "report", path=str(path), rolloutId=config.rollout_id(FIXED_VERSION))

    reporter.step(9, "Version distribution: before, after the failure, at the end")
    final = distribution(ctx, DEMO_PACKAGE)
    for label, dist in (("before the update", before), ("after the failure", after_failure), ("at the end", final)):
        reporter.distribution(f"Versions of {DEMO_PACKAGE} {label}", dist)
    result.add(9, "distribution", before=before.as_dict(), afterFailure=after_failure.as_dict(), final=final.as_dict())

    reporter.step(10, "Clean up" if not config.keep else "Keep the fleet (--keep)")
    cleaned: CleanupResult | None = None
    if not config.keep:
        cleaned = apply_cleanup(ctx, plan_cleanup(ctx, config.fleet), progress=reporter.progress())
    reporter.cleaned(cleaned)
    result.add(10, "cleanup", kept=config.keep, summary=cleaned.summary() if cleaned else None)
    if cleaned is not None and not cleaned.ok:
        raise OperationFailed(
            f"the demo's cleanup left resources behind; run iotfleet cleanup --fleet {config.fleet} again",
            cleaned.failures,
        )
    return result


def publish(ctx: AwsContext, config: DemoConfig, bucket: str, version: str, what: str) -> VersionUpload:
    """Generate a firmware image for ``version``, upload it and publish it."""
    with tempfile.TemporaryDirectory(prefix="iotfleet-demo-") as folder:
        image = Path(folder) / f"{DEMO_PACKAGE}-{version}.bin"
        firmware.generate_firmware(image, DEMO_PACKAGE, version, size=config.spec.firmware_size)
        return upload_version(
            ctx, fleet=config.fleet, bucket=bucket, package=DEMO_PACKAGE, version=version, path=image,
            description=f"Firmware published by the iotfleet demo: {what}", publish=True,
        )  # fmt: skip


class Devices:
    """The simulated devices of a rollout: one background run per job the rollout creates."""

    def __init__(
        self, ctx: AwsContext, wave_model: BehaviourModel, rollback_model: BehaviourModel, mqtt: MqttSettings | None
    ) -> None:
        self.ctx = ctx
        self.wave_model = wave_model
        self.rollback_model = rollback_model
        self.mqtt = mqtt
        self.runs: dict[str, Future[SimulationResult]] = {}

    def start(self, job_id: str, model: BehaviourModel) -> None:
        plan = plan_simulation(self.ctx, job_id=job_id)
        options = SimulationOptions(
            poll_initial=0.5, poll_max=2.0, job_check_interval=1.0,
            transport=MQTT if self.mqtt is not None else HTTPS, mqtt=self.mqtt,
        )  # fmt: skip
        running: Future[SimulationResult] = Future()
        running.set_running_or_notify_cancel()
        self.runs[job_id] = running

        def devices() -> None:
            try:
                running.set_result(run_simulation(self.ctx, plan, model, options, progress=NoProgress()))
            except Exception as exc:  # noqa: BLE001  (handed to the demo by results())
                running.set_exception(exc)

        # A daemon thread: if the demo is interrupted, the process can still exit.
        threading.Thread(target=devices, name=f"demo-devices-{job_id}", daemon=True).start()

    def on_step(self, step: Step) -> None:
        if step.kind == "wave-started" and step.job_id:
            self.start(step.job_id, self.wave_model)
        elif step.kind == "rollback-started" and step.job_id:
            self.start(step.job_id, self.rollback_model)

    def results(self) -> dict[str, SimulationResult]:
        """Every run's result, once each has ended (the rollout waits for its jobs, so they end soon after)."""
        return {job_id: future.result() for job_id, future in self.runs.items()}


def run_rollout(
    ctx: AwsContext, config: DemoConfig, version: str, model: BehaviourModel, reporter: DemoReporter
) -> dict[str, Any]:
    """Plan, start and control one rollout to its end while the devices run each job it creates."""
    plan = plan_rollout(ctx, config.rollout_spec(version))
    reporter.rollout_planned(plan)
    start_rollout(ctx, plan, ctx.service_time().timestamp())
    devices = Devices(ctx, model, config.behaviour(100.0), config.mqtt)

    def on_step(step: Step) -> None:
        devices.on_step(step)
        reporter.rollout_step(step)

    store = RolloutStore(ctx, config.fleet, plan.bucket)
    Controller(ctx, config.fleet, plan.rollout_id, store=store, on_step=on_step).run(
        interval=config.watch_interval / 2, clock=SYSTEM_CLOCK
    )
    runs = devices.results()
    outcomes = {job_id: run.outcome_counts() for job_id, run in runs.items()}
    current = snapshot(store, plan.rollout_id)
    reporter.rollout_ended(current)
    record = current.record
    stop = record.stop
    return {
        "rolloutId": record.rollout_id,
        "version": version,
        "state": record.state,
        "waves": [
            {"number": w.number, "devices": w.size, "status": w.status, "jobId": w.job_id if w.started else None,
             "gate": (w.gate or {}).get("decision"), "reasons": (w.gate or {}).get("reasons", [])}
            for w in record.waves
        ],
        "rollback": None if stop is None else {"jobId": stop.job_id, "devices": stop.devices, "counts": stop.counts},
        "outcomes": outcomes,
        "transports": {job_id: run.options.transport for job_id, run in runs.items()},
    }  # fmt: skip

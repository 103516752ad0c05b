"""The demo: one fleet taken through the whole OTA life cycle, step by step.

1. provision the fleet (one thing type, so every device runs the same package), each device with its own
   certificate;
2. create a dynamic group of the devices still on the old version whose battery can take an update;
3. publish the new firmware from a generated file;
4. create an OTA job for that group with an exponential rollout, an abort criterion and a timeout;
5. simulate the devices (90% success and a few failure modes by default) while watching the job live; they
   connect over MQTT with their certificates when the demo knows the MQTT endpoint (``DemoConfig.mqtt``);
6. the job's final statistics;
7. the HTML report;
8. the version distribution before and after;
9. roll the devices whose update failed back to the known-good version (a real OTA job, simulated too);
10. clean up, unless asked to keep the fleet.

The steps are the library's own (provisioning, groups, packages, jobs, simulation, exploration, report,
cleanup); this module only chooses the scenario and runs them in order, telling a :class:`DemoReporter`
what happened. It never prints. It also estimates, for a real AWS account, what the run costs.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import OperationFailed, UsageError
from iotfleet.fleet import firmware, groups
from iotfleet.fleet.cleanup.apply import CleanupResult, apply_cleanup
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.explore import report
from iotfleet.fleet.explore.jobs import job_stats
from iotfleet.fleet.explore.statistics import JobStats
from iotfleet.fleet.explore.watch import WatchSnapshot, watch_job
from iotfleet.fleet.jobs.create import MAX_TARGETS, JobSpec, PreparedJob, create_job
from iotfleet.fleet.jobs.settings import AbortCriterion, ExponentialRollout, JobSettings
from iotfleet.fleet.naming import check_fleet_name, check_positive_int
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE
from iotfleet.fleet.packages.reported import Distribution, distribution
from iotfleet.fleet.packages.upload import VersionUpload, upload_version
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.provision.result import ProvisionResult
from iotfleet.fleet.resources import discover
from iotfleet.fleet.runner import NoProgress, Progress
from iotfleet.fleet.simulate.behaviour import BehaviourModel, FailureWeights, LatencyModel
from iotfleet.fleet.simulate.device import ExecutionRecord
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, SimulationResult, run_simulation
from iotfleet.fleet.simulate.transport import HTTPS, MQTT, MqttSettings
from iotfleet.fleet.spec import FleetSpec

DEMO_FLEET = "demo"
DEMO_PACKAGE = "SedanVehicle"
OLD_VERSION = "1.0.0"
NEW_VERSION = "1.1.0"
# Devices below this battery level are left out of the update, as a careful operator would.
MIN_BATTERY = 20
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "REJECTED")
MAX_ROLLBACK_TARGETS = MAX_TARGETS

# Approximate AWS list prices (USD, us-east-1, 2026) for the cost estimate; accounts and regions differ.
PRICE_PER_REMOTE_ACTION = 0.003  # IoT Device Management jobs, per job execution
PRICE_PER_INDEX_UPDATE = 2.25 / 1_000_000  # fleet indexing, per 1 KB index update
PRICE_PER_QUERY = 0.05 / 10_000  # fleet indexing search and aggregation queries
PRICE_PER_REGISTRY_OR_SHADOW_OP = 1.25 / 1_000_000  # IoT Core registry and shadow operations
PRICING_URL = "https://aws.amazon.com/iot-device-management/pricing/"


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs: fleet size, the devices' behaviour, and what to keep."""

    fleet: str = DEMO_FLEET
    devices: int = 100
    success_rate: float = 90.0
    failure_weights: str = "download=1,checksum=1,install=1,reject=1,hang=1"
    seed: int = 7
    keep: bool = False
    report_path: Path = Path("iotfleet-demo-report.html")
    watch_interval: float = 1.0
    mqtt: MqttSettings | None = None  # where devices connect over MQTT; None: they use HTTPS

    def validated(self) -> DemoConfig:
        check_fleet_name(self.fleet)
        check_positive_int(self.devices, "the device count", "--devices")
        if not 0.0 <= self.success_rate <= 100.0:
            raise UsageError(
                f"the success rate must be between 0 and 100, not {self.success_rate:g}", "--success-rate"
            )
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

    @property
    def ota_settings(self) -> JobSettings:
        """A careful rollout: 10 a minute, doubling after every 10 notified; abort past 30% failures."""
        return JobSettings(
            rollout=ExponentialRollout(
                base_rate_per_minute=10, increment_factor=2.0, notified_things=10
            ),
            abort=(AbortCriterion("FAILED", 30, 10),),
            timeout_minutes=5,
        )

    def behaviour(self, success_rate: float | None = None) -> BehaviourModel:
        return BehaviourModel(
            success_rate=self.success_rate if success_rate is None else success_rate,
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

    @property
    def dollars(self) -> float:
        return (
            self.remote_actions * PRICE_PER_REMOTE_ACTION
            + self.index_updates * PRICE_PER_INDEX_UPDATE
            + self.queries * PRICE_PER_QUERY
            + self.registry_and_shadow_operations * PRICE_PER_REGISTRY_OR_SHADOW_OP
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "remoteActions": self.remote_actions,
            "indexUpdates": self.index_updates,
            "queries": self.queries,
            "registryAndShadowOperations": self.registry_and_shadow_operations,
            "estimatedUsd": round(self.dollars, 4),
            "pricing": PRICING_URL,
        }


def estimate_cost(config: DemoConfig) -> CostEstimate:
    """An upper bound on what the demo uses: every device updated once and a tenth rolled back."""
    devices = config.devices
    executions = devices + max(1, devices // 10)
    return CostEstimate(
        remote_actions=executions,
        # Each device: create, group, two shadows, then job updates, a shadow and $package per execution.
        index_updates=devices * 4 + executions * 3,
        queries=50,
        registry_and_shadow_operations=devices * 8 + executions * 6,
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

    def job_created(self, prepared: PreparedJob, answer: dict[str, Any]) -> None: ...

    def watching(self, job_id: str) -> Callable[[WatchSnapshot], None]: ...

    def simulated(self, result: SimulationResult) -> None: ...

    def stats(self, stats: JobStats) -> None: ...

    def report_written(self, path: Path, data: report.ReportData) -> None: ...

    def rolled_back(
        self, devices: list[str], answer: dict[str, Any] | None, result: SimulationResult | None
    ) -> None: ...

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

    reporter.step(3, f"Publish firmware {NEW_VERSION} from a generated file")
    bucket = discover(ctx, config.fleet, kinds=("bucket",)).bucket
    if bucket is None:
        raise UsageError(f"fleet {config.fleet!r} has no firmware bucket; provisioning did not finish")
    with tempfile.TemporaryDirectory(prefix="iotfleet-demo-") as folder:
        image = Path(folder) / f"{DEMO_PACKAGE}-{NEW_VERSION}.bin"
        firmware.generate_firmware(image, DEMO_PACKAGE, NEW_VERSION, size=spec.firmware_size)
        upload = upload_version(
            ctx, fleet=config.fleet, bucket=bucket, package=DEMO_PACKAGE, version=NEW_VERSION, path=image,
            description="Firmware published by the iotfleet demo", publish=True,
        )  # fmt: skip
    reporter.firmware_published(upload)
    result.add(
        3, "firmware", package=DEMO_PACKAGE, version=NEW_VERSION, sha256=upload.sha256, status=upload.status
    )

    reporter.step(4, "Create the OTA job: exponential rollout, abort criterion, timeout")
    spec_job = JobSpec(
        fleet=config.fleet, groups=(config.group_name,), package=DEMO_PACKAGE, version=NEW_VERSION,
        settings=config.ota_settings, description=f"Demo OTA of {DEMO_PACKAGE} {NEW_VERSION}",
    )  # fmt: skip
    prepared, answer = create_job(ctx, spec_job)
    job_id = str(answer["jobId"])
    reporter.job_created(prepared, answer)
    result.add(4, "ota job", jobId=job_id, request=prepared.request)

    reporter.step(5, f"Simulate the devices ({config.success_rate:g}% success) while watching the job")
    simulation = simulate_while_watching(ctx, config, job_id, config.behaviour(), reporter)
    reporter.simulated(simulation)
    result.add(
        5, "simulation", outcomes=simulation.outcome_counts(), failureTypes=simulation.failure_type_counts()
    )

    reporter.step(6, "Final statistics")
    stats = job_stats(ctx, job_id)
    reporter.stats(stats)
    result.add(6, "statistics", stats=stats.as_dict())

    reporter.step(7, "HTML report")
    data = report.gather_report(ctx, job_id)
    path = report.write_report(config.report_path, report.render_html(data)).resolve()
    reporter.report_written(path, data)
    result.add(7, "report", path=str(path))

    reporter.step(8, "Version distribution after the update")
    after = distribution(ctx, DEMO_PACKAGE)
    reporter.distribution(f"Versions of {DEMO_PACKAGE} before the update", before)
    reporter.distribution(f"Versions of {DEMO_PACKAGE} after the update", after)
    result.add(8, "distribution", before=before.as_dict(), after=after.as_dict())

    reporter.step(9, f"Roll the failed devices back to {OLD_VERSION}")
    failed = failed_devices(simulation.executions)
    rollback_answer: dict[str, Any] | None = None
    rollback_run: SimulationResult | None = None
    if failed:
        rollback_spec = JobSpec(
            fleet=config.fleet, things=tuple(failed[:MAX_ROLLBACK_TARGETS]), package=DEMO_PACKAGE,
            version=OLD_VERSION, settings=JobSettings(timeout_minutes=5), kind="rollback",
            description=f"Demo rollback of the devices whose {NEW_VERSION} update failed",
        )  # fmt: skip
        _, rollback_answer = create_job(ctx, rollback_spec)
        rollback_run = simulate_while_watching(
            ctx, config, str(rollback_answer["jobId"]), config.behaviour(success_rate=100.0), reporter
        )
    reporter.rolled_back(failed, rollback_answer, rollback_run)
    final = distribution(ctx, DEMO_PACKAGE)
    reporter.distribution(f"Versions of {DEMO_PACKAGE} after the rollback", final)
    result.add(
        9, "rollback", devices=failed, jobId=(rollback_answer or {}).get("jobId"),
        outcomes=rollback_run.outcome_counts() if rollback_run else {}, distribution=final.as_dict(),
    )  # fmt: skip

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


def failed_devices(executions: Iterable[ExecutionRecord]) -> list[str]:
    """Devices whose last execution of the job did not succeed, in name order."""
    last: dict[str, str | None] = {}
    for record in sorted(executions, key=lambda r: (r.thing_name, r.attempt)):
        last[record.thing_name] = record.status or "TIMED_OUT"  # a hung device is timed out by the service
    return sorted(name for name, status in last.items() if status in FAILED_STATUSES)


def simulate_while_watching(
    ctx: AwsContext, config: DemoConfig, job_id: str, model: BehaviourModel, reporter: DemoReporter
) -> SimulationResult:
    """Run the simulated devices in the background and watch the job in the foreground until it ends."""
    plan = plan_simulation(ctx, job_id=job_id)
    transport = MQTT if config.mqtt is not None else HTTPS
    options = SimulationOptions(
        poll_initial=0.5, poll_max=2.0, job_check_interval=1.0, transport=transport, mqtt=config.mqtt
    )
    running: Future[SimulationResult] = Future()

    def devices() -> None:
        running.set_running_or_notify_cancel()
        try:
            running.set_result(run_simulation(ctx, plan, model, options, progress=NoProgress()))
        except Exception as exc:  # noqa: BLE001  (handed to the watching thread by running.result())
            running.set_exception(exc)

    # A daemon thread: if the watch is interrupted, the process can still exit.
    threading.Thread(target=devices, name="demo-devices", daemon=True).start()
    watch_job(ctx, job_id, interval=config.watch_interval, on_snapshot=reporter.watching(job_id))
    return running.result()

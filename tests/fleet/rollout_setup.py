"""Helpers for the rollout tests: a provisioned fleet on the emulator, a rollout spec, and a driver that runs
the controller's passes while simulated devices run each job the rollout creates, moving the emulator's clock
on for bake times."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from provision_setup import QUICK_RETRIES, fleet_context

from iotfleet.aws.context import AwsContext
from iotfleet.aws.pacing import RetryPolicy
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.packages.reported import distribution
from iotfleet.fleet.provision import inventory
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.rollout.controller import Controller, Step
from iotfleet.fleet.rollout.plan import plan_rollout, start_rollout
from iotfleet.fleet.rollout.record import RolloutRecord, RolloutStore
from iotfleet.fleet.rollout.spec import GateSpec, RolloutSpec, parse_waves
from iotfleet.fleet.simulate.behaviour import BehaviourModel, FailureWeights, LatencyModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, SimulationResult, run_simulation
from iotfleet.fleet.spec import FleetSpec

FLEET = "ro"
PACKAGE = "SedanVehicle"
OLD, NEW = "1.0.0", "1.1.0"
FLEET_QUERY = f"attributes.iotfleet_fleet:{FLEET}"
# Devices report a long step timeout: on an emulator running 600 times real speed the default 10 minutes
# would be one real second, which a busy machine can miss between two reports of one device.
QUICK = SimulationOptions(poll_initial=0.01, poll_max=0.05, job_check_interval=0.02, step_timeout_minutes=600)


def fleet_spec(devices: int) -> FleetSpec:
    return FleetSpec(fleet=FLEET, devices=devices, thing_types=(PACKAGE,), versions=(OLD, NEW),
                     countries=("US", "CA", "MX"))  # fmt: skip


def fleet_things(devices: int) -> list[str]:
    """The names of the things of :func:`fleet_spec`, sorted."""
    return sorted(d.name for d in inventory.devices(fleet_spec(devices).validated()))


@contextmanager
def provisioned(
    emulator: LocalEmulator, devices: int = 20, retry_policy: RetryPolicy = QUICK_RETRIES
) -> Iterator[AwsContext]:
    """A context on a fleet of ``devices`` things of one type, in three countries, all on 1.0.0."""
    with fleet_context(emulator, retry_policy=retry_policy) as ctx:
        provision(ctx, fleet_spec(devices)).raise_for_failures()
        yield ctx


def rollout_spec(**changes: Any) -> RolloutSpec:
    base = RolloutSpec(fleet=FLEET, package=PACKAGE, version=NEW, query=FLEET_QUERY,
                       waves=parse_waves("10%,50%,100%"), gate=GateSpec(bake_seconds=600), rollout_id="r1")  # fmt: skip
    return replace(base, **changes)


def model(success_rate: float, seed: int = 7, weights: str = "download=1,install=1") -> BehaviourModel:
    return BehaviourModel(success_rate, FailureWeights.parse(weights), LatencyModel.parse("0"), seed)


def versions(ctx: AwsContext) -> dict[str, int]:
    return {v: n for v, n in distribution(ctx, PACKAGE).counts.items() if n}


def simulate(ctx: AwsContext, job_id: str, behaviour: BehaviourModel) -> SimulationResult | None:
    """Run the job's devices to its end; None when the job has already ended."""
    job = ctx.iot.describe_job(jobId=job_id)["job"]
    if job["status"] in ("COMPLETED", "CANCELED"):
        return None
    return run_simulation(ctx, plan_simulation(ctx, job_id=job_id), behaviour, QUICK)


@dataclass
class Driver:
    """Runs a rollout: controller passes, devices for every new job, the clock moved on when nothing is due."""

    ctx: AwsContext
    emulator: LocalEmulator
    rollout_id: str = "r1"
    wave_model: BehaviourModel = field(default_factory=lambda: model(100.0))
    rollback_model: BehaviourModel = field(default_factory=lambda: model(100.0))
    tick: float = 120.0
    steps: list[Step] = field(default_factory=list)
    results: dict[str, SimulationResult] = field(default_factory=dict)
    simulated: set[str] = field(default_factory=set)

    @property
    def store(self) -> RolloutStore:
        return RolloutStore(self.ctx, FLEET)

    def controller(self) -> Controller:
        return Controller(self.ctx, FLEET, self.rollout_id, on_step=self.steps.append)

    def start(self, spec: RolloutSpec) -> RolloutRecord:
        plan = plan_rollout(self.ctx, spec)
        return start_rollout(self.ctx, plan, self.ctx.service_time().timestamp())

    def run_jobs(self, record: RolloutRecord) -> list[str]:
        """Simulate the devices of every job of ``record`` not simulated yet; returns those job ids."""
        jobs = [w.job_id for w in record.started_waves()]
        if record.stop is not None and record.stop.job_id:
            jobs.append(record.stop.job_id)
        fresh = [job for job in jobs if job not in self.simulated]
        for job in fresh:
            self.simulated.add(job)
            behaviour = self.rollback_model if job.endswith("-rollback") else self.wave_model
            result = simulate(self.ctx, job, behaviour)
            if result is not None:
                self.results[job] = result
        return fresh

    def drive(self, *, until: Callable[[RolloutRecord], bool] | None = None, passes: int = 80) -> RolloutRecord:
        """Passes until the rollout has ended and let go of its groups (or ``until`` holds)."""
        controller = self.controller()
        for _ in range(passes):
            record = controller.advance()
            if until is not None and until(record):
                return record
            if record.ended and record.groups_released:
                return record
            if not self.run_jobs(record):
                self.emulator.advance(self.tick)
        raise AssertionError(f"rollout {self.rollout_id} did not end in {passes} passes")


def job_ids(ctx: AwsContext) -> list[str]:
    return sorted(job["jobId"] for page in ctx.iot.get_paginator("list_jobs").paginate() for job in page["jobs"])


def job_tags(ctx: AwsContext, job_id: str) -> dict[str, str]:
    arn = ctx.iot.describe_job(jobId=job_id)["job"]["jobArn"]
    return {t["Key"]: t["Value"] for t in ctx.iot.list_tags_for_resource(resourceArn=arn)["tags"]}

"""Running a simulation: every device of a plan steps through its executions until the job is done.

**Rollout.** A device with nothing to run yet keeps polling, with exponential backoff (``poll_initial``
doubling to ``poll_max``, jittered, and never more often than half the polling operation's quota shared
among the waiting devices), for as long as the job may still release executions: while it is SCHEDULED,
or IN_PROGRESS and still rolling out (``isConcurrent``). The job's state is read at most once every
``job_check_interval`` seconds for the whole run, not once per device. ``until`` bounds the run: once it
expires no new execution is started; executions already started are finished.

**Retries.** After a FAILED report, a device of a job with a retry criterion for FAILED looks for the
retry the service queued and runs it as a new execution (drawing a new outcome). A device that hung takes
no further part: its execution times out on the service's clock, and a retry of it is left for a later run.

**Pacing.** Each device is a :class:`~iotfleet.fleet.simulate.stepping.SteppedTask` run on
``ctx.concurrency`` threads; every API call goes through the access layer, which keeps each operation within
its quota (``iot-jobs-data`` 200 TPS by default).

**Transport.** ``options.transport`` is ``https`` (the jobs data plane) or ``mqtt`` (each device's own
connection and certificate, see :mod:`.transport`): the same devices, behaviour and result either way. Over
MQTT a device waiting for the rollout makes no request until ``notify-next`` wakes it, and it re-reads the
run's release watch every ``job_check_interval`` seconds.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from botocore.exceptions import ClientError
from requests.adapters import HTTPAdapter

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import Interrupted, ResourceFailure, UsageError, error_code
from iotfleet.fleet.explore.jobs import describe_job
from iotfleet.fleet.jobs.documents import PackageVersionRef
from iotfleet.fleet.runner import Progress
from iotfleet.fleet.simulate.artifacts import DownloadSession, PackageAttributes
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.device import (
    EXECUTION_OUTCOMES,
    ExecutionRecord,
    SimulatedDevice,
)
from iotfleet.fleet.simulate.plan import PAGE_SIZE, SimulationPlan
from iotfleet.fleet.simulate.stepping import SteppedResult, Wakeups, run_stepped
from iotfleet.fleet.simulate.transport import HTTPS, TRANSPORTS, MqttSettings, Transport, open_transport

# Device threads of an MQTT run, at least: a step there mostly waits for an answer on the device's own
# connection, so more steps in flight make the run faster without more load on any one connection.
MQTT_DEVICE_THREADS = 64
# The share of the polling operation's quota that waiting devices may use together.
POLL_QUOTA_SHARE = 0.5
POLL_JITTER = 0.2


@dataclass(frozen=True)
class SimulationOptions:
    """How devices pace themselves; the behaviour (outcomes, latency) is the :class:`BehaviourModel`."""

    step_timeout_minutes: int = 10
    until: float | None = None  # seconds from the start; None: until the job is done
    poll_initial: float = 1.0
    poll_max: float = 30.0
    job_check_interval: float = 5.0
    write_package_shadow: bool = False
    transport: str = HTTPS
    mqtt: MqttSettings | None = None

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise UsageError(f"--transport must be one of {', '.join(TRANSPORTS)}, not {self.transport!r}", "--transport")
        if not 1 <= self.step_timeout_minutes <= 10080:
            raise UsageError("the step timeout must be between 1 and 10080 minutes", "--step-timeout")
        if self.until is not None and not self.until > 0:
            raise UsageError("--until must be a positive number of seconds", "--until")
        if not 0 < self.poll_initial <= self.poll_max:
            raise UsageError("the poll interval must be positive and at most --poll-max", "--poll-max")

    def describe(self) -> dict[str, Any]:
        return {
            "stepTimeoutInMinutes": self.step_timeout_minutes,
            "untilSeconds": self.until,
            "pollMaxSeconds": self.poll_max,
            "writePackageShadow": self.write_package_shadow,
            "transport": self.transport,
        }


@dataclass
class SimulationResult:
    """Every execution the devices took on, why idle devices ran nothing, and every device error."""

    plan: SimulationPlan
    model: BehaviourModel
    options: SimulationOptions
    executions: list[ExecutionRecord] = field(default_factory=list)
    idle: dict[str, int] = field(default_factory=dict)
    failures: list[ResourceFailure] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    duration: float = 0.0
    interrupted: bool = False

    def outcome_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(EXECUTION_OUTCOMES, 0)
        counts.update(Counter(record.outcome for record in self.executions))
        return counts

    def failure_type_counts(self) -> dict[str, int]:
        return dict(Counter(r.failure_type for r in self.executions if r.failure_type).most_common())

    def failure_examples(self) -> dict[str, str]:
        """One reason per failure type, for the summary table."""
        examples: dict[str, str] = {}
        for record in self.executions:
            if record.failure_type and record.failure_type not in examples and record.reason:
                examples[record.failure_type] = record.reason
        return examples

    @property
    def executions_per_second(self) -> float:
        return len(self.executions) / self.duration if self.duration > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": {"jobId": self.plan.job_id, "fleet": self.plan.fleet},
            "devices": len(self.plan.things),
            "devicesInScope": self.plan.in_scope,
            "executions": len(self.executions),
            "outcomes": self.outcome_counts(),
            "failureTypes": self.failure_type_counts(),
            "idleDevices": dict(self.idle),
            "errors": [
                {"kind": f.kind, "name": f.name, "error": f.error, "code": f.code} for f in self.failures
            ],
            "unfinishedDevices": list(self.unfinished),
            "durationSeconds": round(self.duration, 3),
            "executionsPerSecond": round(self.executions_per_second, 2),
            "interrupted": self.interrupted,
            "behaviour": self.model.describe(),
            "options": self.options.describe(),
            "executionRecords": [record.as_dict() for record in self.executions],
        }


# -- what the devices of a run share -----------------------------------------------------------------


class ReleaseWatch:
    """Whether more executions may still be released, asked of the service at most once per interval."""

    def __init__(
        self, fetch: Callable[[], bool], interval: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._interval = interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._answer = True
        self._checked_at: float | None = None
        self._ended_at: float | None = None

    def state(self) -> tuple[bool, float | None]:
        """(releases may still come, when the service first said none will); refreshed when older than the
        interval. The second value stays at that first "no", so it can be compared with when a device polled."""
        with self._lock:
            now = self._monotonic()
            if self._checked_at is None or now - self._checked_at >= self._interval:
                self._answer = self._fetch()
                self._checked_at = now
                if self._answer:
                    self._ended_at = None
                elif self._ended_at is None:
                    self._ended_at = now
            return self._answer, self._ended_at


class SimulationRun:
    """Everything the devices of one run share: clients, the model, caches, the deadline, the records."""

    def __init__(
        self,
        ctx: AwsContext,
        plan: SimulationPlan,
        model: BehaviourModel,
        options: SimulationOptions,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self.plan = plan
        self.job_id = plan.job_id
        self.model = model
        self.options = options
        self.monotonic = monotonic
        self.threads = ctx.concurrency if options.transport == HTTPS else max(ctx.concurrency, MQTT_DEVICE_THREADS)
        self.session = download_session(self.threads)
        self.package_attributes = PackageAttributes(self._fetch_package_attributes)
        self._started = monotonic()
        self._deadline = None if options.until is None else self._started + options.until
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        if plan.job_id is not None and plan.job is not None:
            self._jobs[plan.job_id] = plan.job
        self._waiting = 0
        self._releases = ReleaseWatch(self._fetch_releases_pending, options.job_check_interval, monotonic)
        poll_operation = "DescribeJobExecution" if plan.job_id else "StartNextPendingJobExecution"
        self._poll_rate = ctx.limiter.configured_rate(f"iot-jobs-data:{poll_operation}") * POLL_QUOTA_SHARE

    # Time.
    def deadline_passed(self) -> bool:
        return self._deadline is not None and self.monotonic() >= self._deadline

    @property
    def elapsed(self) -> float:
        return self.monotonic() - self._started

    # Polling while the rollout goes on.
    def releases_pending(self, polled_at: float, *, strict: bool = False) -> bool:
        """True while the device should keep polling.

        When the service says nothing more will be released, a device whose last poll is older than
        that answer polls once more, so an execution released in between is never missed (``strict``:
        only whether releases may still come).
        """
        pending, ended_at = self._releases.state()
        if strict:
            return pending
        return pending or (ended_at is not None and polled_at < ended_at)

    def notification_wait(self) -> float:
        """How long a device waiting for ``notify-next`` sleeps before it looks at the release watch again."""
        delay = self.options.job_check_interval
        if self._deadline is not None:
            delay = min(delay, max(0.0, self._deadline - self.monotonic()))
        return delay

    def waiting_changed(self, delta: int) -> None:
        with self._lock:
            self._waiting += delta

    def poll_delay(self, attempt: int, thing_name: str) -> float:
        """Exponential backoff with jitter, slowed down when many devices wait at once."""
        options = self.options
        backoff = min(options.poll_max, options.poll_initial * 2.0 ** min(attempt - 1, 30))
        with self._lock:
            waiting = self._waiting
        floor = waiting / self._poll_rate if self._poll_rate > 0 else 0.0
        jitter = random.Random(f"{self.model.seed}/poll/{thing_name}/{attempt}").uniform(
            1.0 - POLL_JITTER, 1.0 + POLL_JITTER
        )
        delay = max(backoff, floor) * jitter
        if self._deadline is not None:
            delay = min(delay, max(0.0, self._deadline - self.monotonic()))
        return delay

    def _fetch_releases_pending(self) -> bool:
        if self.job_id is not None:
            try:
                job = self.ctx.iot.describe_job(jobId=self.job_id)["job"]
            except ClientError as err:
                if error_code(err) == "ResourceNotFoundException":
                    return False  # deleted: nothing more will be released
                raise
            status = job.get("status")
            return status == "SCHEDULED" or (status == "IN_PROGRESS" and bool(job.get("isConcurrent")))
        paginator = self.ctx.iot.get_paginator("list_jobs")
        for page in paginator.paginate(status="IN_PROGRESS", PaginationConfig={"PageSize": PAGE_SIZE}):
            if any(summary.get("isConcurrent") for summary in page.get("jobs") or []):
                return True
        return False

    # Facts about jobs, read once per job.
    def job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            found = self._jobs.get(job_id)
        if found is None:
            found = describe_job(self.ctx, job_id, "--job")
            with self._lock:
                self._jobs[job_id] = found
        return found

    def job_destination(self, job_id: str) -> tuple[str, str] | None:
        """The job's single destination package version, when it has exactly one."""
        versions = self.job(job_id).get("destinationPackageVersions") or []
        if len(versions) != 1:
            return None
        try:
            ref = PackageVersionRef.from_arn(versions[0])
        except ValueError:
            return None
        return ref.package, ref.version

    def job_version(self, job_id: str) -> str | None:
        destination = self.job_destination(job_id)
        return destination[1] if destination else None

    def retries_failures(self, job_id: str) -> bool:
        """True when the job retries FAILED executions (a criterion for FAILED or ALL)."""
        config = self.job(job_id).get("jobExecutionsRetryConfig") or {}
        return any(c.get("failureType") in ("FAILED", "ALL") for c in config.get("criteriaList") or [])

    def _fetch_package_attributes(self, package: str, version: str) -> dict[str, str]:
        answer = self.ctx.iot.get_package_version(packageName=package, versionName=version)
        return {str(k): str(v) for k, v in (answer.get("attributes") or {}).items()}

    def close(self) -> None:
        self.session.close()


def download_session(concurrency: int) -> requests.Session:
    """A requests session whose connection pool matches the number of devices working at once.

    With the emulator over TLS, ``AWS_CA_BUNDLE`` names the CA to trust, as it does for boto3.
    """
    session = DownloadSession()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=concurrency + 4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    bundle = os.environ.get("AWS_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session


# -- running --------------------------------------------------------------------------------------


def run_simulation(
    ctx: AwsContext,
    plan: SimulationPlan,
    model: BehaviourModel,
    options: SimulationOptions | None = None,
    *,
    progress: Progress | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> SimulationResult:
    """Run every device of ``plan`` to the end; see the module docstring.

    Simulated failures are outcomes, not errors. An API error a device cannot handle ends that device
    and is listed in ``result.failures``. On Ctrl-C, :class:`Interrupted` carries the partial result.
    """
    options = options or SimulationOptions()
    transport: Transport = open_transport(ctx, plan, options.transport, options.mqtt)
    run = SimulationRun(ctx, plan, model, options, monotonic=monotonic)
    wakeups = Wakeups()
    devices = [
        SimulatedDevice(name, run, transport.channel(name, lambda index=index: wakeups.wake(index)))
        for index, name in enumerate(plan.things)
    ]
    started = monotonic()
    try:
        stepped = run_stepped(
            devices, concurrency=run.threads, progress=progress, label=f"simulating {len(devices)} devices",
            wakeups=wakeups,
        )  # fmt: skip
    except Interrupted as exc:
        partial = exc.partial if isinstance(exc.partial, SteppedResult) else SteppedResult(total=len(devices))
        result = _result(plan, model, options, devices, partial, monotonic() - started)
        raise Interrupted(exc.message, partial=result) from None
    finally:
        run.close()
        transport.close()
    return _result(plan, model, options, devices, stepped, monotonic() - started)


def _result(
    plan: SimulationPlan,
    model: BehaviourModel,
    options: SimulationOptions,
    devices: list[SimulatedDevice],
    stepped: SteppedResult,
    duration: float,
) -> SimulationResult:
    result = SimulationResult(plan, model, options, duration=duration, interrupted=stepped.interrupted)
    idle: Counter[str] = Counter()
    for device in devices:
        result.executions.extend(device.executions)
        if device.idle_reason is not None:
            idle[device.idle_reason] += 1
    result.idle = dict(idle.most_common())
    for index, error in sorted(stepped.errors.items()):
        result.failures.append(ResourceFailure.from_exception("device", devices[index].thing_name, error))
    result.unfinished = [devices[index].thing_name for index in stepped.unfinished]
    return result

"""One simulated device: it runs its job executions through the jobs API, as a real device does.

For each execution the device

1. gets it: ``start_next_pending_job_execution`` with a step timeout (fleet scope), or, when the run is
   about one job, ``describe_job_execution(jobId, includeJobDocument=True)`` followed by
   ``update_job_execution(IN_PROGRESS)`` with the step timeout (``$next`` cannot be pointed at a job);
2. reports IN_PROGRESS with ``statusDetails {"step": "downloading"}``;
3. downloads every artifact of the document through its presigned URL with a plain HTTP GET;
4. checks each download's SHA-256 (and size) against the package version's attributes, read from the
   document's substituted attributes placeholder or, when the document has none, from
   ``get_package_version`` (once per version per run);
5. "installs";
6. reports SUCCEEDED, or FAILED / REJECTED with ``statusDetails`` naming the ``failureType`` and ``reason``;
7. after a success, reports its new firmware version in its classic shadow (and, when asked, in the
   ``$package`` named shadow, which AWS otherwise writes itself).

A device is a :class:`~iotfleet.fleet.simulate.stepping.SteppedTask`: each step makes at most one API call or
one round of downloads, and returns how long to wait (the simulated latency, or a polling backoff). What it
does with an execution (succeed, or fail in which way) comes from the :class:`BehaviourModel`. Finding,
downloading and checking the artifacts (steps 3 and 4) is :mod:`.artifacts`. Its calls go through a
:class:`~iotfleet.fleet.simulate.channels.DeviceChannel`: over HTTPS it polls while it waits for the rollout;
over MQTT the service pushes ``notify-next``, and a waiting device makes no request until one arrives (or
until the run learns that nothing more will be released, when it looks once more).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from iotfleet.aws.errors import error_code
from iotfleet.fleet.jobs.documents import PLACEHOLDER_PREFIX, SHA256_ATTRIBUTE, SIZE_ATTRIBUTE
from iotfleet.fleet.simulate import behaviour
from iotfleet.fleet.simulate.artifacts import Artifact, download, find_artifacts, verify

if TYPE_CHECKING:
    from iotfleet.fleet.simulate.channels import DeviceChannel
    from iotfleet.fleet.simulate.run import SimulationRun

# Execution statuses.
QUEUED = "QUEUED"
IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
REJECTED = "REJECTED"
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, REJECTED, "TIMED_OUT", "CANCELED", "REMOVED"})

# What happened to an execution the device took on.
OUTCOME_SUCCEEDED = "succeeded"
OUTCOME_FAILED = "failed"
OUTCOME_REJECTED = "rejected"
OUTCOME_HUNG = "hung"  # left IN_PROGRESS on purpose; the job's timeout ends it
OUTCOME_ENDED_BY_SERVICE = "ended by the service"  # canceled, timed out or deleted while the device worked
EXECUTION_OUTCOMES = (OUTCOME_SUCCEEDED, OUTCOME_FAILED, OUTCOME_REJECTED, OUTCOME_HUNG, OUTCOME_ENDED_BY_SERVICE)

# Why a device ended without running an execution.
IDLE_NOTHING_PENDING = "nothing pending"
IDLE_NOT_RELEASED = "not released before the job ended"
IDLE_UNTIL = "still waiting when --until expired"
IDLE_ALREADY_FINISHED = "execution already finished"

# Errors meaning "the service ended this execution (or job) while the device was working on it".
_ENDED_CODES = frozenset({"TerminalStateException", "InvalidStateTransitionException", "ResourceNotFoundException"})
# Where a device reports its firmware in its classic shadow.
FIRMWARE_SHADOW_KEY = "firmware"
PACKAGE_SHADOW = "$package"


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution a device took on, and how it ended from the device's side."""

    job_id: str
    thing_name: str
    execution_number: int
    attempt: int  # 0 for the device's first execution of the job, 1 for its first retry, ...
    outcome: str  # one of EXECUTION_OUTCOMES
    status: str | None = None  # the final status the device reported (None when it hung)
    failure_type: str | None = None
    reason: str | None = None
    firmware_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "thingName": self.thing_name,
            "executionNumber": self.execution_number,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "status": self.status,
            "failureType": self.failure_type,
            "reason": self.reason,
            "firmwareVersion": self.firmware_version,
        }


@dataclass
class _Work:
    """The execution a device is working on."""

    job_id: str
    execution_number: int
    attempt: int
    document: Any
    plan: behaviour.PlannedExecution
    artifacts: list[Artifact] = field(default_factory=list)
    firmware_version: str | None = None


class SimulatedDevice:
    """A device of one run; see the module docstring. ``step()`` is called by the stepping loop."""

    def __init__(self, thing_name: str, run: SimulationRun, channel: DeviceChannel) -> None:
        self.thing_name = thing_name
        self.run = run
        self.channel = channel
        self.idle_reason: str | None = None
        self.executions: list[ExecutionRecord] = []
        self._handled: set[tuple[str, int]] = set()
        self._work: _Work | None = None
        self._polls_waiting = 0
        self._waiting = False
        self._last_polled = 0.0
        self._next: Callable[[], float | None] = self._poll

    # -- the loop's entry points -----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while the device works on an execution (it goes before devices still polling)."""
        return self._work is not None

    def step(self) -> float | None:
        delay = self._next()
        if delay is None:
            self._stop_waiting()
        return delay

    # -- getting work ----------------------------------------------------------------------------

    def _poll(self) -> float | None:
        run = self.run
        if run.deadline_passed():
            return self._finish_idle(IDLE_UNTIL if not self.executions else None)
        if self.channel.pushes_notifications:
            # A look sees everything announced before it, so it uses up the notification that woke it.
            notified = self.channel.take_notification()
            if self._waiting and not notified:
                if run.releases_pending(self._last_polled, strict=True):
                    return run.notification_wait()  # nothing announced, more may come: no request
                if not run.releases_pending(self._last_polled):  # the last look came after the last release
                    return self._finish_nothing_released()
        if run.job_id is None:
            return self._poll_next_pending()
        return self._poll_job(run.job_id)

    def _poll_job(self, job_id: str) -> float | None:
        run = self.run
        polled_at = self._last_polled = run.monotonic()
        try:
            answer = self.channel.describe_execution(job_id)
        except ClientError as err:
            if error_code(err) != "ResourceNotFoundException":
                raise
            return self._wait_for_release(polled_at)
        execution = answer.get("execution") or {}
        status = execution.get("status")
        number = int(execution.get("executionNumber") or 0)
        if status in TERMINAL_STATUSES:
            if (job_id, number) in self._handled or self.executions:
                return self._finish_idle(None)
            return self._finish_idle(IDLE_ALREADY_FINISHED)
        if status not in (QUEUED, IN_PROGRESS):
            return self._wait_for_release(polled_at)
        self._stop_waiting()
        self._take(job_id, number, execution)
        work = self._work
        assert work is not None
        if work.plan.outcome == behaviour.REJECT:
            # A device may refuse a job straight from QUEUED, before it downloads anything.
            self._next = self._reject
            return 0.0
        self._next = self._report_in_progress
        return 0.0

    def _poll_next_pending(self) -> float | None:
        run = self.run
        polled_at = self._last_polled = run.monotonic()
        answer = self.channel.start_next({"step": "downloading"}, run.options.step_timeout_minutes)
        execution = answer.get("execution")
        if not execution:
            return self._wait_for_release(polled_at)
        self._stop_waiting()
        self._take(str(execution["jobId"]), int(execution.get("executionNumber") or 0), execution)
        return self._started()

    def _take(self, job_id: str, number: int, execution: Mapping[str, Any]) -> None:
        document: Any = execution.get("jobDocument")
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError:
                document = None
        attempt = sum(1 for handled_job, _ in self._handled if handled_job == job_id)
        plan = self.run.model.plan(job_id, self.thing_name, attempt)
        self._handled.add((job_id, number))
        self._work = _Work(job_id, number, attempt, document, plan)

    def _wait_for_release(self, polled_at: float) -> float | None:
        """Nothing to run yet: keep polling while the rollout may still release something."""
        run = self.run
        if run.deadline_passed():
            return self._finish_idle(IDLE_UNTIL)
        if not run.releases_pending(polled_at):
            return self._finish_nothing_released()
        if not self._waiting:
            self._waiting = True
            run.waiting_changed(+1)
        self._polls_waiting += 1
        if self.channel.pushes_notifications:
            return run.notification_wait()
        return run.poll_delay(self._polls_waiting, self.thing_name)

    def _stop_waiting(self) -> None:
        if self._waiting:
            self._waiting = False
            self.run.waiting_changed(-1)
        self._polls_waiting = 0

    def _finish_nothing_released(self) -> float | None:
        return self._finish_idle(IDLE_NOTHING_PENDING if self.run.job_id is None else IDLE_NOT_RELEASED)

    def _finish_idle(self, reason: str | None) -> float | None:
        """End the device (returns None, the loop's "finished"); ``reason`` says why it ran nothing."""
        if reason is not None and not self.executions:
            self.idle_reason = reason
        return None

    # -- running one execution -------------------------------------------------------------------

    def _report_in_progress(self) -> float | None:
        work = self._work
        assert work is not None
        run = self.run
        try:
            self.channel.update_execution(
                work.job_id, IN_PROGRESS, {"step": "downloading"}, work.execution_number,
                step_timeout_minutes=run.options.step_timeout_minutes,
            )  # fmt: skip
        except ClientError as err:
            return self._ended_by_service(err)
        return self._started()

    def _started(self) -> float | None:
        """The execution is IN_PROGRESS: hang, refuse, or go on to download after the download latency."""
        work = self._work
        assert work is not None
        if work.plan.outcome == behaviour.HANG:
            self._record(OUTCOME_HUNG, None, behaviour.HANG, "the device stopped responding")
            return self._after_execution(None)
        if work.plan.outcome == behaviour.REJECT:
            self._next = self._reject
            return 0.0
        self._next = self._download
        return work.plan.download_latency

    def _reject(self) -> float | None:
        work = self._work
        assert work is not None
        reason = "the device refused the job: the firmware is not compatible with its hardware revision"
        return self._report_final(REJECTED, {"failureType": behaviour.REJECT, "reason": reason}, behaviour.REJECT)

    def _download(self) -> float | None:
        work = self._work
        assert work is not None
        run = self.run
        if work.document is None:
            details = {"failureType": behaviour.DOWNLOAD, "reason": "the job document is not valid JSON"}
            return self._report_final(FAILED, details, behaviour.DOWNLOAD)
        artifacts = find_artifacts(work.document)
        unsubstituted = [a for a in artifacts if a.url.startswith(PLACEHOLDER_PREFIX)]
        if unsubstituted:
            details = {
                "step": "downloading",
                "failureType": behaviour.DOWNLOAD,
                "reason": f"the document's URL was not substituted: {unsubstituted[0].url[:200]}",
            }
            return self._report_final(FAILED, details, behaviour.DOWNLOAD)
        if work.plan.outcome == behaviour.DOWNLOAD and artifacts:
            name = artifacts[0].name
            details = {
                "step": "downloading",
                "failureType": behaviour.DOWNLOAD,
                "reason": f"the connection was reset while downloading {name}",
            }
            return self._report_final(FAILED, details, behaviour.DOWNLOAD)
        work.artifacts = [self._with_checksum(work.job_id, artifact) for artifact in artifacts]
        corrupt = work.plan.outcome == behaviour.CHECKSUM
        for index, artifact in enumerate(work.artifacts):
            got = download(run.session, artifact.url, corrupt=corrupt and index == 0)
            if got.error is not None:
                details = {
                    "step": "downloading",
                    "failureType": behaviour.DOWNLOAD,
                    "reason": f"downloading {artifact.name} failed: {got.error}"[:1024],
                }
                return self._report_final(FAILED, details, behaviour.DOWNLOAD)
            problem = verify(artifact, got)
            if problem is not None:
                return self._report_final(FAILED, problem, behaviour.CHECKSUM)
        work.firmware_version = next((a.version for a in work.artifacts if a.version), None) or run.job_version(
            work.job_id
        )
        self._next = self._install
        return work.plan.install_latency

    def _with_checksum(self, job_id: str, artifact: Artifact) -> Artifact:
        """Fill in the SHA-256 and size from the package version when the document did not carry them."""
        if artifact.sha256:
            return artifact
        package, version = artifact.package, artifact.version
        if not (package and version):
            destination = self.run.job_destination(job_id)
            if destination is None:
                return artifact
            package, version = destination
        attributes = self.run.package_attributes.get(package, version)
        size = attributes.get(SIZE_ATTRIBUTE)
        return Artifact(
            url=artifact.url,
            sha256=attributes.get(SHA256_ATTRIBUTE) or None,
            size=int(size) if size is not None and size.isdigit() else artifact.size,
            package=package,
            version=version,
        )

    def _install(self) -> float | None:
        work = self._work
        assert work is not None
        if work.plan.outcome == behaviour.INSTALL:
            target = work.firmware_version or "the new firmware"
            details = {
                "step": "installing",
                "failureType": behaviour.INSTALL,
                "reason": f"installing {target} failed: the image did not pass the boot check",
            }
            return self._report_final(FAILED, details, behaviour.INSTALL)
        details = {"step": "completed"}
        if work.firmware_version:
            details["firmwareVersion"] = work.firmware_version
        return self._report_final(SUCCEEDED, details, None)

    def _report_final(self, status: str, details: dict[str, str], failure_type: str | None) -> float | None:
        work = self._work
        assert work is not None
        try:
            self.channel.update_execution(work.job_id, status, details, work.execution_number)
        except ClientError as err:
            return self._ended_by_service(err)
        outcome = {SUCCEEDED: OUTCOME_SUCCEEDED, FAILED: OUTCOME_FAILED, REJECTED: OUTCOME_REJECTED}[status]
        self._record(outcome, status, failure_type, details.get("reason"))
        if status == SUCCEEDED and work.firmware_version:
            self._next = self._report_firmware
            return 0.0
        return self._after_execution(status)

    def _report_firmware(self) -> float | None:
        work = self._work
        assert work is not None
        run = self.run
        version = work.firmware_version
        reported = {FIRMWARE_SHADOW_KEY: {"version": version}}
        package = next((a.package for a in work.artifacts if a.package), None)
        if package:
            reported[FIRMWARE_SHADOW_KEY]["package"] = package
        self.channel.report_shadow(reported)
        if run.options.write_package_shadow and package:
            self._next = self._report_package
            return 0.0
        return self._after_execution(SUCCEEDED)

    def _report_package(self) -> float | None:
        work = self._work
        assert work is not None
        run = self.run
        reported: dict[str, Any] = {}
        for artifact in work.artifacts:
            if artifact.package and artifact.version:
                attributes = run.package_attributes.get(artifact.package, artifact.version)
                reported[artifact.package] = {"version": artifact.version, "attributes": attributes}
        self.channel.report_shadow(reported, PACKAGE_SHADOW)
        return self._after_execution(SUCCEEDED)

    def _ended_by_service(self, err: ClientError) -> float | None:
        """The service ended the execution (or the job) while the device worked on it."""
        if error_code(err) not in _ENDED_CODES:
            raise err
        message = err.response.get("Error", {}).get("Message") or error_code(err)
        self._record(OUTCOME_ENDED_BY_SERVICE, None, None, f"{error_code(err)}: {message}")
        return self._after_execution(None)

    def _record(self, outcome: str, status: str | None, failure_type: str | None, reason: str | None) -> None:
        work = self._work
        assert work is not None
        record = ExecutionRecord(
            job_id=work.job_id,
            thing_name=self.thing_name,
            execution_number=work.execution_number,
            attempt=work.attempt,
            outcome=outcome,
            status=status,
            failure_type=failure_type,
            reason=reason,
            firmware_version=work.firmware_version if outcome == OUTCOME_SUCCEEDED else None,
        )
        self.executions.append(record)

    def _after_execution(self, status: str | None) -> float | None:
        """Look for more work (a retry, or another job in fleet scope), or stop."""
        work = self._work
        assert work is not None
        self._work = None
        run = self.run
        if status is None:
            return None  # hung or ended by the service: this device is done for the run
        if run.job_id is not None and not (status == FAILED and run.retries_failures(work.job_id)):
            return None
        self._next = self._poll
        return 0.0

"""Job and job-execution records, and the execution state machine devices drive.

An execution moves QUEUED -> IN_PROGRESS -> SUCCEEDED | FAILED | REJECTED by the device's own reports
(a device may also finish straight from QUEUED); TIMED_OUT, CANCELED and REMOVED are set only by the
service. Every change bumps ``version_number``, which devices and operators can pass back as
``expectedVersion`` for optimistic locking. ``execution_number`` counts per (job, thing) pair, as on
AWS: the first execution of a job on a thing is 1, its first retry 2, and so on. The records of one
pair form its attempt history, and the last one is the thing's current execution.

Times are epoch seconds (floats) from the emulator's clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from iotfleet.emulator.errors import (
    InvalidRequestException,
    InvalidStateTransitionException,
    VersionConflictException,
)
from iotfleet.emulator.jobs.rollout import MAX_RATE_PER_MINUTE, RolloutRate
from iotfleet.emulator.jobs.schedule import Schedule

# Execution statuses.
QUEUED = "QUEUED"
IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
REJECTED = "REJECTED"
TIMED_OUT = "TIMED_OUT"
CANCELED = "CANCELED"
REMOVED = "REMOVED"

EXECUTION_STATUSES = (QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT, REJECTED, REMOVED, CANCELED)
PENDING_STATUSES = frozenset({QUEUED, IN_PROGRESS})
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, REJECTED, TIMED_OUT, CANCELED, REMOVED})
DEVICE_STATUSES = frozenset({IN_PROGRESS, SUCCEEDED, FAILED, REJECTED})

# Job statuses.
JOB_IN_PROGRESS = "IN_PROGRESS"
JOB_CANCELED = "CANCELED"
JOB_COMPLETED = "COMPLETED"
JOB_DELETION_IN_PROGRESS = "DELETION_IN_PROGRESS"
JOB_SCHEDULED = "SCHEDULED"
JOB_STATUSES = (JOB_IN_PROGRESS, JOB_CANCELED, JOB_COMPLETED, JOB_DELETION_IN_PROGRESS, JOB_SCHEDULED)

SNAPSHOT = "SNAPSHOT"
CONTINUOUS = "CONTINUOUS"

# statusDetails limits (AWS: at most 10 pairs; keys 1-128 of [a-zA-Z0-9:_-]; values 1-1024 printable).
MAX_STATUS_DETAILS = 10
MAX_DETAILS_KEY = 128
MAX_DETAILS_VALUE = 1024

# stepTimeoutInMinutes / inProgressTimeoutInMinutes range; -1 clears a step timer.
MIN_TIMEOUT_MINUTES = 1
MAX_TIMEOUT_MINUTES = 10080
CLEAR_STEP_TIMER = -1


def validate_status_details(details: Any) -> dict[str, str]:
    """Check a statusDetails map against AWS's limits and return a copy."""
    if details is None:
        return {}
    if not isinstance(details, dict):
        raise InvalidRequestException("statusDetails must be a map of strings to strings")
    if len(details) > MAX_STATUS_DETAILS:
        raise InvalidRequestException(
            f"statusDetails can hold at most {MAX_STATUS_DETAILS} name-value pairs, got {len(details)}"
        )
    checked: dict[str, str] = {}
    for key, value in details.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_DETAILS_KEY or not _is_details_key(key):
            raise InvalidRequestException(
                f"statusDetails key {key!r} must be 1-{MAX_DETAILS_KEY} characters of [a-zA-Z0-9:_-]"
            )
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_DETAILS_VALUE:
            raise InvalidRequestException(
                f"statusDetails value of {key!r} must be a string of 1-{MAX_DETAILS_VALUE} characters"
            )
        if any(not ch.isprintable() for ch in value):
            raise InvalidRequestException(f"statusDetails value of {key!r} has control characters")
        checked[key] = value
    return checked


def _is_details_key(key: str) -> bool:
    return all(ch.isascii() and (ch.isalnum() or ch in ":_-") for ch in key)


def validate_step_timeout(minutes: Any) -> int | None:
    """A stepTimeoutInMinutes value: None (absent), -1 (clear) or 1..10080."""
    if minutes is None:
        return None
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise InvalidRequestException("stepTimeoutInMinutes must be an integer")
    if minutes != CLEAR_STEP_TIMER and not MIN_TIMEOUT_MINUTES <= minutes <= MAX_TIMEOUT_MINUTES:
        raise InvalidRequestException(
            f"stepTimeoutInMinutes must be between {MIN_TIMEOUT_MINUTES} and {MAX_TIMEOUT_MINUTES}, "
            f"or {CLEAR_STEP_TIMER} to clear the step timer; got {minutes}"
        )
    return minutes


@dataclass
class JobExecution:
    """One attempt of one job on one thing."""

    job_id: str
    thing_name: str
    execution_number: int
    queued_at: float
    retry_attempt: int = 0
    status: str = QUEUED
    status_details: dict[str, str] = field(default_factory=dict)
    started_at: float | None = None
    last_updated_at: float = 0.0
    version_number: int = 1
    force_canceled: bool = False
    # Absolute deadlines. The in-progress one is fixed when the execution starts; a step timer
    # replaces the previous step timer and never reaches past the in-progress deadline.
    in_progress_deadline: float | None = None
    step_deadline: float | None = None

    def __post_init__(self) -> None:
        if not self.last_updated_at:
            self.last_updated_at = self.queued_at

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_STATUSES

    def state(self) -> dict[str, Any]:
        """The JobExecutionState a device sees: status, details and version."""
        return {
            "status": self.status,
            "statusDetails": dict(self.status_details),
            "versionNumber": self.version_number,
        }

    def deadline(self) -> float | None:
        """When this execution times out, or None when no timer runs."""
        if self.status != IN_PROGRESS:
            return None
        timers = [t for t in (self.in_progress_deadline, self.step_deadline) if t is not None]
        return min(timers) if timers else None

    def seconds_before_timeout(self, now: float) -> int | None:
        deadline = self.deadline()
        return None if deadline is None else max(0, int(deadline - now))

    def version_mismatch(self, expected_version: int | None) -> str | None:
        """Why ``expected_version`` is stale, or None when it is absent or current."""
        if expected_version is None or expected_version == self.version_number:
            return None
        return (
            f"The expected version {expected_version} does not match the current version "
            f"{self.version_number} of the job execution of {self.job_id} on {self.thing_name}"
        )

    def check_version(self, expected_version: int | None) -> None:
        """The control plane's check (CancelJobExecution declares VersionConflictException)."""
        mismatch = self.version_mismatch(expected_version)
        if mismatch is not None:
            raise VersionConflictException(mismatch)

    def set_step_timer(self, minutes: int | None, now: float) -> None:
        """Replace the step timer: ``None`` keeps it, -1 clears it, n minutes starts a new one."""
        if minutes is None:
            return
        if minutes == CLEAR_STEP_TIMER:
            self.step_deadline = None
            return
        deadline = now + minutes * 60.0
        if self.in_progress_deadline is not None:
            deadline = min(deadline, self.in_progress_deadline)
        self.step_deadline = deadline

    def apply_device_update(
        self,
        status: str,
        now: float,
        *,
        status_details: dict[str, str] | None,
        step_timeout_minutes: int | None,
        expected_version: int | None,
        in_progress_timeout_minutes: int | None,
    ) -> None:
        """A device's status report (UpdateJobExecution / StartNextPendingJobExecution).

        Raises InvalidStateTransitionException when the execution has already ended (AWS's own
        example: SUCCEEDED to IN_PROGRESS; the error body then carries the ``executionState``), for a
        status a device may not set, and for a stale ``expected_version``.
        """
        if self.is_terminal:
            raise InvalidStateTransitionException(
                f"The job execution of {self.job_id} on {self.thing_name} is already in the terminal "
                f"state {self.status}",
                executionState=self.state(),
            )
        mismatch = self.version_mismatch(expected_version)
        if mismatch is not None:
            # A stale expectedVersion is InvalidStateTransitionException (409) with the current
            # executionState in the body. The jobs API documents the rejection as "a VersionMismatch
            # error, and an ErrorResponse that contains the current job execution status data", but
            # VersionMismatch is an MQTT error code: the iot-jobs-data model declares neither it nor
            # VersionConflictException for UpdateJobExecution, so boto3 could map neither to a modelled
            # exception. Of the codes it does declare (InvalidRequestException, ResourceNotFoundException,
            # ThrottlingException, ServiceUnavailableException, CertificateValidationException,
            # InvalidStateTransitionException), InvalidStateTransitionException is the only conflict
            # (409) and the only one whose body carries the executionState, which is what the
            # documented VersionMismatch answer gives a device so that it need not describe the
            # execution again. InvalidRequestException would say the request was malformed, which a
            # stale version is not.
            raise InvalidStateTransitionException(mismatch, executionState=self.state())
        if status not in DEVICE_STATUSES:
            raise InvalidStateTransitionException(
                f"A device cannot move a job execution from {self.status} to {status}; "
                f"allowed: {', '.join(sorted(DEVICE_STATUSES))}"
            )
        if status == IN_PROGRESS and self.status == QUEUED:
            self.started_at = now
            if in_progress_timeout_minutes:
                self.in_progress_deadline = now + in_progress_timeout_minutes * 60.0
        self.status = status
        if status_details is not None:
            self.status_details = dict(status_details)
        if status == IN_PROGRESS:
            self.set_step_timer(step_timeout_minutes, now)
        else:
            self.step_deadline = None
        self.touch(now)

    def end_by_service(self, status: str, now: float, *, force: bool = False) -> None:
        """TIMED_OUT, CANCELED or REMOVED, set by the service."""
        self.status = status
        if force:
            self.force_canceled = True
        self.step_deadline = None
        self.touch(now)

    def touch(self, now: float) -> None:
        self.last_updated_at = now
        self.version_number += 1


@dataclass
class Job:
    """A job: its request as stored, its lifecycle, and the bookkeeping the engine needs."""

    job_id: str
    job_arn: str
    targets: list[str]
    target_selection: str
    document: str
    created_at: float
    description: str | None = None
    document_source: str | None = None
    presigned_url_config: dict[str, Any] | None = None
    rollout_config: dict[str, Any] | None = None
    abort_config: dict[str, Any] | None = None
    timeout_config: dict[str, Any] | None = None
    retry_config: dict[str, Any] | None = None
    scheduling_config: dict[str, Any] | None = None
    destination_package_versions: list[str] = field(default_factory=list)
    job_template_arn: str | None = None
    namespace_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    status: str = JOB_IN_PROGRESS
    force_canceled: bool = False
    reason_code: str | None = None
    comment: str | None = None
    last_updated_at: float = 0.0
    completed_at: float | None = None

    # Rollout bookkeeping.
    seq: int = 0  # creation order within the engine
    rate: RolloutRate = field(default_factory=lambda: RolloutRate(MAX_RATE_PER_MINUTE))
    schedule: Schedule = field(default_factory=Schedule)
    started: bool = False  # the rollout has begun (False while SCHEDULED)
    rollout_stopped: bool = False  # endTime passed with STOP_ROLLOUT, or the job ended
    end_applied: bool = False
    pending: deque[str] = field(default_factory=deque)  # rate-limited: waiting for the rollout
    pending_now: deque[str] = field(default_factory=deque)  # joiners: released as soon as allowed
    next_tick: float | None = None
    # Things currently targeted (continuous jobs keep this in step with group membership).
    members: set[str] = field(default_factory=set)
    notified: set[str] = field(default_factory=set)  # things that ever had an execution released
    executions: dict[str, list[JobExecution]] = field(default_factory=dict)  # thing -> attempts
    last_execution_numbers: dict[str, int] = field(default_factory=dict)  # thing -> last number issued
    retries_used: dict[str, dict[str, int]] = field(default_factory=dict)  # thing -> type -> count
    failures_seen: dict[str, set[str]] = field(default_factory=dict)  # thing -> failure statuses
    deletion_due: float | None = None

    def __post_init__(self) -> None:
        if not self.last_updated_at:
            self.last_updated_at = self.created_at

    def next_execution_number(self, thing_name: str) -> int:
        """The executionNumber of the next execution of this job on ``thing_name`` (1 for its first).

        Numbers are never reused, even after DeleteJobExecution removed an attempt.
        """
        number = self.last_execution_numbers.get(thing_name, 0) + 1
        self.last_execution_numbers[thing_name] = number
        return number

    def current(self, thing_name: str) -> JobExecution | None:
        attempts = self.executions.get(thing_name)
        return attempts[-1] if attempts else None

    def current_executions(self) -> list[JobExecution]:
        return [attempts[-1] for attempts in self.executions.values() if attempts]

    def find_execution(self, thing_name: str, execution_number: int | None) -> JobExecution | None:
        attempts = self.executions.get(thing_name) or []
        if execution_number is None:
            return attempts[-1] if attempts else None
        for execution in attempts:
            if execution.execution_number == execution_number:
                return execution
        return None

    def process_details(self) -> dict[str, int]:
        """Counters of things by the status of their current execution."""
        counts = dict.fromkeys(EXECUTION_STATUSES, 0)
        for execution in self.current_executions():
            counts[execution.status] += 1
        return counts

    @property
    def rollout_pending(self) -> bool:
        return bool(self.pending or self.pending_now)

    @property
    def is_concurrent(self) -> bool:
        """AWS's isConcurrent: still rolling out executions, or still canceling them."""
        if self.status in (JOB_IN_PROGRESS, JOB_SCHEDULED):
            return self.rollout_pending
        return False

    @property
    def in_progress_timeout_minutes(self) -> int | None:
        if not self.timeout_config:
            return None
        minutes = self.timeout_config.get("inProgressTimeoutInMinutes")
        return int(minutes) if minutes else None


@dataclass
class JobTemplate:
    """A custom job template: a document and the settings a job created from it starts with."""

    job_template_id: str
    job_template_arn: str
    description: str
    created_at: float
    document: str | None = None
    document_source: str | None = None
    presigned_url_config: dict[str, Any] | None = None
    rollout_config: dict[str, Any] | None = None
    abort_config: dict[str, Any] | None = None
    timeout_config: dict[str, Any] | None = None
    retry_config: dict[str, Any] | None = None
    maintenance_windows: list[dict[str, Any]] | None = None
    destination_package_versions: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

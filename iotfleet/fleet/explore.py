"""Jobs seen from the operator's chair: lists, details, executions, statistics, cancel and delete, watch.

Cost. Every function says what it calls. The statistics, the abort-threshold proximity and each refresh of
a watch come from ``DescribeJob``'s ``jobProcessDetails`` counters alone: one call, whatever the size of
the fleet. Listings read every page (250 items a page where the API allows it).

**Counters.** ``jobProcessDetails`` counts *things* by the status of their current execution. A thing
whose retry succeeded counts as succeeded, although its failed attempt counted towards an abort
criterion when it happened; the proximity shown is therefore a lower bound on what the service counted.

**Health.** From the executions that finished with a result (succeeded, failed, rejected, timed out):
excellent at 95 % success or more, good from 80 %, poor from 50 %, critical below; "waiting" until one
finished. An abort criterion at 80 % or more of its threshold is flagged whatever the verdict.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, error_code
from iotfleet.clock import SYSTEM_CLOCK, Clock

PAGE_SIZE = 250
JOB_STATUSES = ("IN_PROGRESS", "SCHEDULED", "COMPLETED", "CANCELED", "DELETION_IN_PROGRESS")
EXECUTION_STATUSES = ("QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED")
CANCELABLE_STATUSES = ("IN_PROGRESS", "SCHEDULED")
MAX_COMMENT = 2028
ABORT_WARNING_FRACTION = 0.8

# jobProcessDetails counter -> execution status.
COUNTERS = {
    "numberOfQueuedThings": "QUEUED",
    "numberOfInProgressThings": "IN_PROGRESS",
    "numberOfSucceededThings": "SUCCEEDED",
    "numberOfFailedThings": "FAILED",
    "numberOfRejectedThings": "REJECTED",
    "numberOfTimedOutThings": "TIMED_OUT",
    "numberOfCanceledThings": "CANCELED",
    "numberOfRemovedThings": "REMOVED",
}
RESULT_STATUSES = ("SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT")
FAILURE_STATUSES = ("FAILED", "REJECTED", "TIMED_OUT")
TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED"})

EXCELLENT, GOOD, POOR, CRITICAL, WAITING = "excellent", "good", "poor", "critical", "waiting"


# -- counters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessCounts:
    """``jobProcessDetails`` as numbers of things per execution status."""

    by_status: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_details(cls, details: dict[str, Any] | None) -> ProcessCounts:
        details = details or {}
        return cls({status: int(details.get(name) or 0) for name, status in COUNTERS.items()})

    def __getitem__(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def total(self) -> int:
        """Things that have an execution (released by the rollout)."""
        return sum(self.by_status.values())

    @property
    def finished(self) -> int:
        return sum(self[s] for s in TERMINAL_EXECUTION_STATUSES)

    @property
    def with_result(self) -> int:
        return sum(self[s] for s in RESULT_STATUSES)

    @property
    def failures(self) -> int:
        return sum(self[s] for s in FAILURE_STATUSES)

    @property
    def started(self) -> int:
        """Things whose execution is known to have started (in progress or finished with a result)."""
        return self["IN_PROGRESS"] + self.with_result

    @property
    def pending(self) -> int:
        return self["QUEUED"] + self["IN_PROGRESS"]

    @property
    def success_rate(self) -> float | None:
        """Succeeded among the executions that finished with a result, in percent."""
        return 100.0 * self["SUCCEEDED"] / self.with_result if self.with_result else None

    @property
    def failure_rate(self) -> float | None:
        return 100.0 * self.failures / self.with_result if self.with_result else None

    def as_dict(self) -> dict[str, int]:
        return {status: self[status] for status in EXECUTION_STATUSES}


def health(counts: ProcessCounts) -> str:
    rate = counts.success_rate
    if rate is None:
        return WAITING
    if rate >= 95.0:
        return EXCELLENT
    if rate >= 80.0:
        return GOOD
    if rate >= 50.0:
        return POOR
    return CRITICAL


@dataclass(frozen=True)
class AbortProximity:
    """How close one abort criterion is to firing, from the counters."""

    failure_type: str
    threshold: float  # percent
    min_executed: int
    executed: int
    failed: int

    @property
    def armed(self) -> bool:
        """Enough things received the job for the criterion to fire."""
        return self.executed >= self.min_executed

    @property
    def percentage(self) -> float:
        return 100.0 * self.failed / self.executed if self.executed else 0.0

    @property
    def fraction_of_threshold(self) -> float:
        return self.percentage / self.threshold if self.threshold > 0 else 1.0

    @property
    def failures_to_abort(self) -> int:
        """More failures that would meet the threshold at today's number of executed things."""
        return max(0, math.ceil(self.threshold * self.executed / 100.0 - 1e-9) - self.failed)

    @property
    def warning(self) -> bool:
        return self.fraction_of_threshold >= ABORT_WARNING_FRACTION

    def describe(self) -> str:
        text = (
            f"{self.failure_type} {self.percentage:.1f}% of {self.executed} executed "
            f"(threshold {self.threshold:g}%, {self.fraction_of_threshold * 100:.0f}% of the way)"
        )
        if not self.armed:
            return f"{text}; not armed until {self.min_executed} things received the job"
        return f"{text}; {self.failures_to_abort} more failure(s) would abort"

    def as_dict(self) -> dict[str, Any]:
        return {
            "failureType": self.failure_type,
            "thresholdPercentage": self.threshold,
            "minNumberOfExecutedThings": self.min_executed,
            "executedThings": self.executed,
            "failedThings": self.failed,
            "failurePercentage": round(self.percentage, 2),
            "fractionOfThreshold": round(self.fraction_of_threshold, 4),
            "armed": self.armed,
            "failuresToAbort": self.failures_to_abort,
        }


def abort_proximity(job: dict[str, Any], counts: ProcessCounts) -> list[AbortProximity]:
    found = []
    for criterion in (job.get("abortConfig") or {}).get("criteriaList") or []:
        failure_type = str(criterion.get("failureType", "ALL"))
        failed = counts.failures if failure_type == "ALL" else counts[failure_type]
        found.append(
            AbortProximity(
                failure_type=failure_type,
                threshold=float(criterion.get("thresholdPercentage") or 0.0),
                min_executed=int(criterion.get("minNumberOfExecutedThings") or 1),
                executed=counts.total,
                failed=failed,
            )
        )
    return found


# -- reading jobs ----------------------------------------------------------------------------------


def describe_job(ctx: AwsContext, job_id: str) -> dict[str, Any]:
    """``describe_job``'s job (1 call); an unknown job is a usage error."""
    try:
        return dict(ctx.iot.describe_job(jobId=job_id)["job"])
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            raise UsageError(f"job {job_id!r} does not exist") from None
        raise


def check_status(status: str | None, allowed: tuple[str, ...], param: str = "--status") -> None:
    if status is not None and status not in allowed:
        raise UsageError(f"status must be one of {', '.join(allowed)}, not {status!r}", param)


def list_jobs(ctx: AwsContext, status: str | None = None) -> list[dict[str, Any]]:
    """Every job (``ListJobs``, all pages), newest first."""
    check_status(status, JOB_STATUSES)
    kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": PAGE_SIZE}}
    if status is not None:
        kwargs["status"] = status
    jobs = [job for page in ctx.iot.get_paginator("list_jobs").paginate(**kwargs) for job in page.get("jobs") or []]
    return sorted(jobs, key=lambda job: to_epoch(job.get("createdAt")) or 0.0, reverse=True)


@dataclass(frozen=True)
class JobDetails:
    """A job as ``show`` presents it: DescribeJob and GetJobDocument (2 calls)."""

    job: dict[str, Any]
    document: str
    document_source: str | None
    counts: ProcessCounts
    abort: list[AbortProximity]

    @property
    def health(self) -> str:
        return health(self.counts)

    def as_dict(self) -> dict[str, Any]:
        job = self.job
        return {
            "jobId": job.get("jobId"),
            "jobArn": job.get("jobArn"),
            "status": job.get("status"),
            "description": job.get("description"),
            "targetSelection": job.get("targetSelection"),
            "targets": list(job.get("targets") or []),
            "destinationPackageVersions": list(job.get("destinationPackageVersions") or []),
            "createdAt": job.get("createdAt"),
            "lastUpdatedAt": job.get("lastUpdatedAt"),
            "completedAt": job.get("completedAt"),
            "reasonCode": job.get("reasonCode"),
            "comment": job.get("comment"),
            "forceCanceled": job.get("forceCanceled"),
            "isConcurrent": job.get("isConcurrent"),
            "settings": job_settings(job),
            "document": self.document,
            "documentSource": self.document_source,
            "counts": self.counts.as_dict(),
            "health": self.health,
            "abortProximity": [a.as_dict() for a in self.abort],
        }


def job_settings(job: dict[str, Any]) -> dict[str, Any]:
    """The settings a job runs with, by their API names (absent ones left out)."""
    names = (
        "jobExecutionsRolloutConfig",
        "abortConfig",
        "timeoutConfig",
        "jobExecutionsRetryConfig",
        "presignedUrlConfig",
        "schedulingConfig",
        "jobTemplateArn",
        "namespaceId",
    )
    return {name: job[name] for name in names if job.get(name)}


def job_details(ctx: AwsContext, job_id: str) -> JobDetails:
    job = describe_job(ctx, job_id)
    answer = ctx.iot.get_job_document(jobId=job_id)
    counts = ProcessCounts.from_details(job.get("jobProcessDetails"))
    return JobDetails(
        job=job,
        document=str(answer.get("document") or ""),
        document_source=job.get("documentSource"),
        counts=counts,
        abort=abort_proximity(job, counts),
    )


@dataclass(frozen=True)
class JobStats:
    """The statistics of one job, from one DescribeJob call."""

    job_id: str
    status: str
    counts: ProcessCounts
    abort: list[AbortProximity]
    created_at: float | None
    completed_at: float | None

    @property
    def health(self) -> str:
        return health(self.counts)

    @property
    def abort_warning(self) -> bool:
        return any(a.warning for a in self.abort)

    def as_dict(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "jobId": self.job_id,
            "status": self.status,
            "counts": counts.as_dict(),
            "total": counts.total,
            "finished": counts.finished,
            "successRate": None if counts.success_rate is None else round(counts.success_rate, 2),
            "failureRate": None if counts.failure_rate is None else round(counts.failure_rate, 2),
            "health": self.health,
            "abortWarning": self.abort_warning,
            "abortProximity": [a.as_dict() for a in self.abort],
        }


def stats_from_job(job: dict[str, Any]) -> JobStats:
    counts = ProcessCounts.from_details(job.get("jobProcessDetails"))
    return JobStats(
        job_id=str(job.get("jobId")),
        status=str(job.get("status")),
        counts=counts,
        abort=abort_proximity(job, counts),
        created_at=to_epoch(job.get("createdAt")),
        completed_at=to_epoch(job.get("completedAt")),
    )


def job_stats(ctx: AwsContext, job_id: str) -> JobStats:
    """Success rate, failure rate, health and abort proximity: one DescribeJob call, whatever the fleet size."""
    return stats_from_job(describe_job(ctx, job_id))


# -- executions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionRow:
    """One execution of a job, from ListJobExecutionsForJob."""

    thing_name: str
    status: str
    execution_number: int | None
    retry_attempt: int
    queued_at: float | None
    started_at: float | None
    last_updated_at: float | None

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> ExecutionRow:
        inner = summary.get("jobExecutionSummary") or {}
        return cls(
            thing_name=str(summary.get("thingArn", "")).rsplit("/", 1)[-1],
            status=str(inner.get("status")),
            execution_number=inner.get("executionNumber"),
            retry_attempt=int(inner.get("retryAttempt") or 0),
            queued_at=to_epoch(inner.get("queuedAt")),
            started_at=to_epoch(inner.get("startedAt")),
            last_updated_at=to_epoch(inner.get("lastUpdatedAt")),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "thingName": self.thing_name,
            "status": self.status,
            "executionNumber": self.execution_number,
            "retryAttempt": self.retry_attempt,
            "queuedAt": iso_time(self.queued_at),
            "startedAt": iso_time(self.started_at),
            "lastUpdatedAt": iso_time(self.last_updated_at),
        }


def list_executions(
    ctx: AwsContext,
    job_id: str,
    status: str | None = None,
    *,
    on_page: Callable[[int], None] | None = None,
    check_job: bool = True,
) -> list[ExecutionRow]:
    """Every execution of a job (ListJobExecutionsForJob, all pages: one call per 250), by thing name."""
    check_status(status, EXECUTION_STATUSES)
    if check_job:
        describe_job(ctx, job_id)
    kwargs: dict[str, Any] = {"jobId": job_id, "PaginationConfig": {"PageSize": PAGE_SIZE}}
    if status is not None:
        kwargs["status"] = status
    rows: list[ExecutionRow] = []
    for page in ctx.iot.get_paginator("list_job_executions_for_job").paginate(**kwargs):
        batch = [ExecutionRow.from_summary(s) for s in page.get("executionSummaries") or []]
        rows.extend(batch)
        if on_page is not None:
            on_page(len(batch))
    return sorted(rows, key=lambda row: (row.thing_name, row.execution_number or 0))


@dataclass(frozen=True)
class ExecutionAttempt:
    """One attempt (execution number) of a job on a thing, with its statusDetails."""

    execution_number: int | None
    status: str
    retry_attempt: int
    version_number: int | None
    status_details: dict[str, str]
    queued_at: float | None
    started_at: float | None
    last_updated_at: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "executionNumber": self.execution_number,
            "status": self.status,
            "retryAttempt": self.retry_attempt,
            "versionNumber": self.version_number,
            "statusDetails": dict(self.status_details),
            "queuedAt": iso_time(self.queued_at),
            "startedAt": iso_time(self.started_at),
            "lastUpdatedAt": iso_time(self.last_updated_at),
        }


@dataclass(frozen=True)
class ExecutionDetails:
    """One thing's execution of a job and its history of attempts."""

    job_id: str
    thing_name: str
    execution: dict[str, Any]
    attempts: list[ExecutionAttempt]

    @property
    def status_details(self) -> dict[str, str]:
        return dict((self.execution.get("statusDetails") or {}).get("detailsMap") or {})

    def as_dict(self) -> dict[str, Any]:
        execution = self.execution
        return {
            "jobId": self.job_id,
            "thingName": self.thing_name,
            "status": execution.get("status"),
            "statusDetails": self.status_details,
            "executionNumber": execution.get("executionNumber"),
            "versionNumber": execution.get("versionNumber"),
            "forceCanceled": execution.get("forceCanceled"),
            "queuedAt": execution.get("queuedAt"),
            "startedAt": execution.get("startedAt"),
            "lastUpdatedAt": execution.get("lastUpdatedAt"),
            "approximateSecondsBeforeTimedOut": execution.get("approximateSecondsBeforeTimedOut"),
            "attempts": [a.as_dict() for a in self.attempts],
        }


def execution_details(ctx: AwsContext, job_id: str, thing_name: str) -> ExecutionDetails:
    """DescribeJobExecution, then the thing's attempts of this job (ListJobExecutionsForThing, all pages) and
    the statusDetails of each earlier attempt (one DescribeJobExecution each; at most 11 with retries)."""
    describe_job(ctx, job_id)
    try:
        execution = dict(ctx.iot.describe_job_execution(jobId=job_id, thingName=thing_name)["execution"])
    except ClientError as err:
        if error_code(err) != "ResourceNotFoundException":
            raise
        raise _missing_execution(ctx, job_id, thing_name) from None
    summaries: list[dict[str, Any]] = []
    paginator = ctx.iot.get_paginator("list_job_executions_for_thing")
    for page in paginator.paginate(thingName=thing_name, jobId=job_id, PaginationConfig={"PageSize": 100}):
        summaries.extend(s for s in page.get("executionSummaries") or [] if s.get("jobId") == job_id)
    current_number = execution.get("executionNumber")
    attempts: dict[int | None, ExecutionAttempt] = {}
    for summary in summaries:
        inner = summary.get("jobExecutionSummary") or {}
        number = inner.get("executionNumber")
        record = execution
        if number != current_number:
            record = ctx.iot.describe_job_execution(jobId=job_id, thingName=thing_name, executionNumber=number)[
                "execution"
            ]
        attempts[number] = _attempt(record, int(inner.get("retryAttempt") or 0))
    if current_number not in attempts:
        attempts[current_number] = _attempt(execution, 0)
    ordered = sorted(attempts.values(), key=lambda a: a.execution_number or 0)
    return ExecutionDetails(job_id, thing_name, execution, ordered)


def _attempt(record: dict[str, Any], retry_attempt: int) -> ExecutionAttempt:
    return ExecutionAttempt(
        execution_number=record.get("executionNumber"),
        status=str(record.get("status")),
        retry_attempt=retry_attempt,
        version_number=record.get("versionNumber"),
        status_details=dict((record.get("statusDetails") or {}).get("detailsMap") or {}),
        queued_at=to_epoch(record.get("queuedAt")),
        started_at=to_epoch(record.get("startedAt")),
        last_updated_at=to_epoch(record.get("lastUpdatedAt")),
    )


def _missing_execution(ctx: AwsContext, job_id: str, thing_name: str) -> UsageError:
    try:
        ctx.iot.describe_thing(thingName=thing_name)
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return UsageError(f"thing {thing_name!r} does not exist")
        raise
    return UsageError(f"thing {thing_name!r} has no execution of job {job_id!r}")


# -- cancel and delete -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CancelImpact:
    """What canceling a job would do, from its counters (DescribeJob, 1 call)."""

    job_id: str
    status: str
    force: bool
    counts: ProcessCounts
    rolling_out: bool

    @property
    def queued_canceled(self) -> int:
        return self.counts["QUEUED"]

    @property
    def in_progress_canceled(self) -> int:
        return self.counts["IN_PROGRESS"] if self.force else 0

    @property
    def in_progress_continuing(self) -> int:
        return 0 if self.force else self.counts["IN_PROGRESS"]

    @property
    def unchanged(self) -> int:
        return self.counts.finished

    def lines(self) -> list[str]:
        lines = [f"{self.queued_canceled} QUEUED execution(s) will be CANCELED and never start"]
        if self.force:
            lines.append(f"{self.in_progress_canceled} IN_PROGRESS execution(s) will be CANCELED (--force)")
        else:
            lines.append(f"{self.in_progress_continuing} IN_PROGRESS execution(s) will run to their end")
        lines.append(f"{self.unchanged} finished execution(s) are kept as they are")
        if self.rolling_out:
            lines.append("things the rollout has not reached yet will not get the job")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "status": self.status,
            "force": self.force,
            "queuedCanceled": self.queued_canceled,
            "inProgressCanceled": self.in_progress_canceled,
            "inProgressContinuing": self.in_progress_continuing,
            "finishedUnchanged": self.unchanged,
            "rollingOut": self.rolling_out,
        }


def plan_cancel(ctx: AwsContext, job_id: str, *, force: bool = False, comment: str | None = None) -> CancelImpact:
    """Check that the job can be canceled and say what it would do; nothing is changed."""
    if comment is not None and not 0 < len(comment) <= MAX_COMMENT:
        raise UsageError(f"the comment must be 1 to {MAX_COMMENT} characters", "--comment")
    if comment is not None and any(not ch.isprintable() for ch in comment):
        raise UsageError("the comment must not contain control characters", "--comment")
    job = describe_job(ctx, job_id)
    status = str(job.get("status"))
    counts = ProcessCounts.from_details(job.get("jobProcessDetails"))
    if status == "CANCELED":
        running = counts["IN_PROGRESS"]
        if not running:
            raise UsageError(f"job {job_id} is already CANCELED and none of its executions is running")
        if not force:
            raise UsageError(
                f"job {job_id} is already CANCELED; --force would also cancel its {running} IN_PROGRESS "
                "execution(s)",
                "--force",
            )
    elif status not in CANCELABLE_STATUSES:
        raise UsageError(f"job {job_id} is {status}; only IN_PROGRESS or SCHEDULED jobs can be canceled")
    return CancelImpact(job_id, status, force, counts, bool(job.get("isConcurrent")))


def cancel_job(
    ctx: AwsContext, impact: CancelImpact, *, comment: str | None = None, reason_code: str | None = None
) -> dict[str, Any]:
    """CancelJob as planned; returns the job as DescribeJob shows it afterwards."""
    kwargs: dict[str, Any] = {"jobId": impact.job_id, "force": impact.force}
    if comment:
        kwargs["comment"] = comment
    if reason_code:
        kwargs["reasonCode"] = reason_code
    ctx.iot.cancel_job(**kwargs)
    return describe_job(ctx, impact.job_id)


@dataclass(frozen=True)
class DeleteImpact:
    """What deleting a job would remove, from its counters (DescribeJob, 1 call)."""

    job_id: str
    status: str
    force: bool
    counts: ProcessCounts

    @property
    def needs_force(self) -> bool:
        return self.status in CANCELABLE_STATUSES or self.counts["IN_PROGRESS"] > 0

    def lines(self) -> list[str]:
        lines = [f"the job and the history of its {self.counts.total} execution(s) are deleted for good"]
        if self.counts["IN_PROGRESS"]:
            lines.append(
                f"{self.counts['IN_PROGRESS']} device(s) in the middle of the job will no longer be able to "
                "report their status"
            )
        if self.counts["QUEUED"]:
            lines.append(f"{self.counts['QUEUED']} QUEUED execution(s) will never start")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "status": self.status,
            "force": self.force,
            "executions": self.counts.total,
            "inProgress": self.counts["IN_PROGRESS"],
            "queued": self.counts["QUEUED"],
        }


def plan_delete(ctx: AwsContext, job_id: str, *, force: bool = False) -> DeleteImpact:
    """Check that the job can be deleted (``force`` when executions are in progress); nothing is changed."""
    job = describe_job(ctx, job_id)
    status = str(job.get("status"))
    impact = DeleteImpact(job_id, status, force, ProcessCounts.from_details(job.get("jobProcessDetails")))
    if status == "DELETION_IN_PROGRESS":
        raise UsageError(f"job {job_id} is already being deleted")
    if impact.needs_force and not force:
        raise UsageError(
            f"job {job_id} is {status} with {impact.counts['IN_PROGRESS']} execution(s) in progress and "
            f"{impact.counts['QUEUED']} queued; pass --force to delete it anyway, or cancel it first",
            "--force",
        )
    return impact


def delete_job(ctx: AwsContext, impact: DeleteImpact) -> None:
    ctx.iot.delete_job(jobId=impact.job_id, force=impact.force)


# -- watching --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchSnapshot:
    """One refresh of a watch: the job's counters now, and how fast executions are finishing."""

    at: float
    stats: JobStats
    refresh: int
    rate: float | None  # finished executions per second since the previous refresh
    average_rate: float | None  # since the watch started
    deleted: bool = False

    @property
    def done(self) -> bool:
        """The job will not change any more (or nobody is left running it)."""
        status = self.stats.status
        if self.deleted or status in ("COMPLETED", "DELETION_IN_PROGRESS"):
            return True
        return status == "CANCELED" and self.stats.counts["IN_PROGRESS"] == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.stats.as_dict(),
            "refresh": self.refresh,
            "at": iso_time(self.at),
            "finishedPerSecond": None if self.rate is None else round(self.rate, 2),
            "averageFinishedPerSecond": None if self.average_rate is None else round(self.average_rate, 2),
            "deleted": self.deleted,
        }


def job_snapshot(
    ctx: AwsContext, job_id: str, previous: WatchSnapshot | None = None, first: WatchSnapshot | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> WatchSnapshot:
    """One refresh: one DescribeJob call. A job deleted after the first refresh ends the watch."""
    try:
        job = ctx.iot.describe_job(jobId=job_id)["job"]
    except ClientError as err:
        if error_code(err) != "ResourceNotFoundException":
            raise
        if previous is None:
            raise UsageError(f"job {job_id!r} does not exist") from None
        return WatchSnapshot(clock.time(), previous.stats, previous.refresh + 1, None, previous.average_rate, True)
    now = clock.time()
    stats = stats_from_job(job)
    rate = average = None
    if previous is not None and now > previous.at:
        rate = (stats.counts.finished - previous.stats.counts.finished) / (now - previous.at)
    if first is not None and now > first.at:
        average = (stats.counts.finished - first.stats.counts.finished) / (now - first.at)
    refresh = 1 if previous is None else previous.refresh + 1
    return WatchSnapshot(now, stats, refresh, rate, average)


def watch_job(
    ctx: AwsContext,
    job_id: str,
    *,
    interval: float = 2.0,
    on_snapshot: Callable[[WatchSnapshot], None],
    clock: Clock = SYSTEM_CLOCK,
    max_refreshes: int | None = None,
) -> WatchSnapshot:
    """Refresh every ``interval`` seconds until the job is done (or ``max_refreshes``); one call per refresh.

    Ctrl-C propagates as ``KeyboardInterrupt`` after the current refresh; the caller decides what it means.
    """
    if not interval > 0:
        raise UsageError("the refresh interval must be positive", "--interval")
    first = previous = job_snapshot(ctx, job_id, clock=clock)
    on_snapshot(first)
    while not previous.done and (max_refreshes is None or previous.refresh < max_refreshes):
        clock.sleep(interval)
        previous = job_snapshot(ctx, job_id, previous, first, clock=clock)
        on_snapshot(previous)
    return previous


# -- times -----------------------------------------------------------------------------------------


def to_epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None


def iso_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

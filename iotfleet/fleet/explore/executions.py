"""The executions of a job: every execution (one row per thing), and one thing's execution with its attempts.

A job's list is ``ListJobExecutionsForJob``, all pages; one thing's history adds ``ListJobExecutionsForThing``
and a ``DescribeJobExecution`` per earlier attempt, for their ``statusDetails``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, error_code
from iotfleet.fleet.explore.jobs import PAGE_SIZE, check_status, describe_job
from iotfleet.fleet.explore.statistics import EXECUTION_STATUSES
from iotfleet.fleet.explore.times import iso_time, to_epoch


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

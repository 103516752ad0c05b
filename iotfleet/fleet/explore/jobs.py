"""Reading jobs: every job, one job's details and statistics, and the ``DescribeJob`` the other views share.

Cost. Every function says what it calls. The statistics come from ``DescribeJob``'s ``jobProcessDetails``
counters alone (:mod:`.statistics`): one call, whatever the size of the fleet. Listings read every page
(250 items a page where the API allows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, error_code
from iotfleet.fleet.explore.statistics import (
    AbortProximity,
    JobStats,
    ProcessCounts,
    abort_proximity,
    health,
    stats_from_job,
)
from iotfleet.fleet.explore.times import to_epoch

PAGE_SIZE = 250
JOB_STATUSES = ("IN_PROGRESS", "SCHEDULED", "COMPLETED", "CANCELED", "DELETION_IN_PROGRESS")


def describe_job(ctx: AwsContext, job_id: str, param: str | None = None) -> dict[str, Any]:
    """``describe_job``'s job (1 call); an unknown job is a usage error (naming ``param``, the flag, if given)."""
    try:
        return dict(ctx.iot.describe_job(jobId=job_id)["job"])
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            raise UsageError(f"job {job_id!r} does not exist", param) from None
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


def job_stats(ctx: AwsContext, job_id: str) -> JobStats:
    """Success rate, failure rate, health and abort proximity: one DescribeJob call, whatever the fleet size."""
    return stats_from_job(describe_job(ctx, job_id))

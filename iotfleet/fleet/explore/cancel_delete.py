"""Canceling and deleting a job: each planned first (what it would do, from the counters), then carried out.

The plan is one ``DescribeJob`` call and changes nothing, so the CLI can show it and ask before the one
mutating call (``CancelJob`` or ``DeleteJob``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.fleet.explore.jobs import describe_job
from iotfleet.fleet.explore.statistics import ProcessCounts

CANCELABLE_STATUSES = ("IN_PROGRESS", "SCHEDULED")
MAX_COMMENT = 2028


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

"""Retrying what failed: a new job for exactly the devices whose execution of one or more jobs FAILED or
TIMED_OUT, nothing else.

REJECTED executions are left out: the device refused the job, and AWS never retries those either.
Succeeded, canceled, removed and still-pending executions are left out too. The new job is a copy of the
first source job (its document, presigned-URL role, package versions, rollout, abort, timeout and retry
settings), targeting the devices by ARN up to 100 and through a static group of the fleet beyond.

:func:`plan_retry` only reads (``ListJobExecutionsForJob`` filtered by status, all pages, two listings per
source job; ``DescribeJob`` and ``GetJobDocument`` of the first); :func:`apply_retry` creates the group,
when one is needed, and the job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet.explore.executions import list_executions
from iotfleet.fleet.explore.jobs import describe_job
from iotfleet.fleet.job_targets import fixed_targets
from iotfleet.fleet.jobs.checks import check_tags
from iotfleet.fleet.jobs.create import MAX_TARGETS, PreparedJob, submit_job
from iotfleet.fleet.naming import JOB_ID, check_description, check_job_id
from iotfleet.fleet.ownership import tag_list

RETRIED_STATUSES = ("FAILED", "TIMED_OUT")
RETRY_OF_TAG = "iotfleet:retry-of"
# The settings of a job that a retry copies, as DescribeJob returns them and CreateJob takes them.
COPIED_FIELDS = (
    "presignedUrlConfig",
    "jobExecutionsRolloutConfig",
    "abortConfig",
    "timeoutConfig",
    "jobExecutionsRetryConfig",
    "destinationPackageVersions",
)
MAX_RETRY_NUMBER = 99
# What a retry leaves out, and the DescribeJob counter of each.
LEFT_OUT = {
    "REJECTED": "numberOfRejectedThings",
    "SUCCEEDED": "numberOfSucceededThings",
    "QUEUED": "numberOfQueuedThings",
    "IN_PROGRESS": "numberOfInProgressThings",
}


@dataclass
class RetryPlan:
    """Which devices a retry reaches, why the others are left out, and the CreateJob request."""

    source_jobs: list[str]
    devices: list[str]
    left_out: dict[str, int]
    job_id: str
    request: dict[str, Any]
    group: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sourceJobs": self.source_jobs,
            "devices": self.devices,
            "leftOut": self.left_out,
            "jobId": self.job_id,
            "group": self.group,
            "request": self.request,
            "notes": self.notes,
        }


def failed_devices(ctx: AwsContext, job_id: str) -> list[str]:
    """The things whose current execution of ``job_id`` is FAILED or TIMED_OUT (one listing per status)."""
    found: set[str] = set()
    for status in RETRIED_STATUSES:
        found.update(row.thing_name for row in list_executions(ctx, job_id, status, check_job=False))
    return sorted(found)


def _free_job_id(ctx: AwsContext, base: str) -> str:
    """``<base>-retry-<n>`` with the first n no job has, the base shortened to keep within 64 characters."""
    for number in range(1, MAX_RETRY_NUMBER + 1):
        suffix = f"-retry-{number}"
        candidate = base[: JOB_ID.max_len - len(suffix)].rstrip("_-") + suffix
        try:
            ctx.iot.describe_job(jobId=candidate)
        except ClientError as err:
            if is_error(err, "ResourceNotFoundException"):
                return candidate
            raise
    raise UsageError(f"{base} has been retried {MAX_RETRY_NUMBER} times: give --job-id", "--job-id")


def plan_retry(
    ctx: AwsContext,
    *,
    fleet: str,
    jobs: Sequence[str],
    job_id: str | None = None,
    id_base: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    owner_tags: Mapping[str, str] | None = None,
) -> RetryPlan:
    """Find the devices to retry and build the job (reads only). ``id_base`` names the default job id
    ``<id_base>-retry-<n>`` (default: the first source job); ``owner_tags`` are iotfleet's own tags (a
    rollout's id), ``tags`` the user's (checked)."""
    if not jobs:
        raise ValueError("a retry needs at least one source job")
    for source in jobs:
        check_job_id(source, "JOB")
    if job_id is not None:
        check_job_id(job_id, "--job-id")
    check_description(description)
    user_tags = check_tags(tags or {})
    described = [describe_job(ctx, source, "JOB") for source in dict.fromkeys(jobs)]
    first = described[0]
    devices: set[str] = set()
    left_out = dict.fromkeys(LEFT_OUT, 0)
    for job in described:
        devices.update(failed_devices(ctx, str(job["jobId"])))
        details = job.get("jobProcessDetails") or {}
        for status, counter in LEFT_OUT.items():
            left_out[status] += int(details.get(counter) or 0)
    document = str(ctx.iot.get_job_document(jobId=jobs[0])["document"])
    new_id = job_id or _free_job_id(ctx, id_base or jobs[0])
    request: dict[str, Any] = {
        "jobId": new_id,
        "targets": [],
        "document": document,
        "targetSelection": "SNAPSHOT",
        "description": description or f"Retry of the failed and timed-out devices of {', '.join(jobs)}"[:2028],
    }
    for name in COPIED_FIELDS:
        if first.get(name):
            request[name] = first[name]
    if isinstance(request.get("abortConfig"), dict) and not request["abortConfig"].get("criteriaList"):
        request.pop("abortConfig")
    request["tags"] = tag_list(
        fleet, {**user_tags, "iotfleet:job-kind": "retry", RETRY_OF_TAG: jobs[0], **dict(owner_tags or {})}
    )
    plan = RetryPlan(list(dict.fromkeys(jobs)), sorted(devices), left_out, new_id, request)
    if len(devices) > MAX_TARGETS:
        plan.group = new_id
        plan.notes.append(f"{len(devices)} devices, more than {MAX_TARGETS}: targeted through static group {new_id}")
    return plan


def apply_retry(ctx: AwsContext, plan: RetryPlan, fleet: str) -> dict[str, Any]:
    """Create the target group (when needed) and the job; returns jobId and jobArn. Nothing to retry: {}."""
    if not plan.devices:
        return {}
    plan.request["targets"] = fixed_targets(
        ctx, fleet, plan.devices, plan.group or plan.job_id, description=f"Devices retried by job {plan.job_id}"
    )
    return submit_job(ctx, PreparedJob(plan.request, {}))

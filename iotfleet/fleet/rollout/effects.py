"""What the rollout controller does in AWS, each action safe to repeat: a step interrupted at any point is
taken again by the next pass, from any machine, without doing anything twice.

* Jobs are created under ids fixed by the rollout (``<id>-wave-<n>``, ``<id>-rollback``) and only after a
  ``DescribeJob`` found none; a ``ResourceAlreadyExistsException`` (a concurrent pass) adopts the job.
* Wave groups are filled with only the members they lack (:mod:`iotfleet.fleet.job_targets`).
* Canceling a job that already ended, tagging a job again, deleting a group already gone: no-ops.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import is_error
from iotfleet.fleet import job_targets
from iotfleet.fleet.explore.executions import list_executions
from iotfleet.fleet.explore.statistics import ProcessCounts
from iotfleet.fleet.explore.times import to_epoch
from iotfleet.fleet.groups import index_error
from iotfleet.fleet.index_search import count_matching, matching_things
from iotfleet.fleet.rollout.gates import Verdict, WaveObservation, evaluate
from iotfleet.fleet.rollout.names import GATE_TAG, ROLLOUT_TAG, WAVE_TAG, rollback_job_id
from iotfleet.fleet.rollout.record import RolloutRecord, RolloutStore, WaveRecord
from iotfleet.fleet.rollout.target import updated_devices_query, wave_health_query

CANCELABLE = ("IN_PROGRESS", "SCHEDULED")
MAX_COMMENT = 2028
GONE = "DELETED"


def job_arn(ctx: AwsContext, job_id: str) -> str:
    return f"arn:{ctx.iot.meta.partition}:iot:{ctx.region}:{ctx.account_id}:job/{job_id}"


def find_job(ctx: AwsContext, job_id: str) -> dict[str, Any] | None:
    """``DescribeJob``'s job, or None when there is no such job."""
    try:
        return dict(ctx.iot.describe_job(jobId=job_id)["job"])
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return None
        raise


def ensure_job(ctx: AwsContext, request: dict[str, Any]) -> dict[str, Any]:
    """The job of ``request["jobId"]``: the existing one, or the one ``CreateJob`` makes now."""
    job_id = str(request["jobId"])
    existing = find_job(ctx, job_id)
    if existing is not None:
        return existing
    try:
        ctx.iot.create_job(**request)
    except ClientError as err:
        if not is_error(err, "ResourceAlreadyExistsException"):
            raise
    found = find_job(ctx, job_id)
    if found is None:
        raise RuntimeError(f"job {job_id} was created but cannot be described")
    return found


def created_at(job: dict[str, Any], fallback: float) -> float:
    return to_epoch(job.get("createdAt")) or fallback


def start_wave(ctx: AwsContext, store: RolloutStore, record: RolloutRecord, wave: WaveRecord) -> dict[str, Any]:
    """The wave's group (its members) and job; returns the job."""
    members = store.membership(record.rollout_id)[wave.number]
    tags = {ROLLOUT_TAG: record.rollout_id, WAVE_TAG: str(wave.number)}
    description = f"Rollout {record.rollout_id}, wave {wave.number}: {record.package} {record.version}"
    group_arn = job_targets.ensure_group(ctx, record.fleet, wave.group, members, description=description, tags=tags)
    request = {
        **record.wave_request,
        "jobId": wave.job_id,
        "targets": [group_arn],
        "description": record.description or description,
        "tags": [*record.wave_tags, {"Key": WAVE_TAG, "Value": str(wave.number)}],
    }
    return ensure_job(ctx, request)


def observe(ctx: AwsContext, record: RolloutRecord, wave: WaveRecord, now: float) -> Verdict:
    """The wave's gate now: one ``DescribeJob``, and one ``GetStatistics`` with a health query."""
    job = find_job(ctx, wave.job_id)
    unhealthy = None
    if record.gate.health_query is not None:
        text = wave_health_query(record.gate.health_query, wave.group, record.package, record.version)
        unhealthy = count_matching(ctx, text, lambda err: index_error(err, text, "--health-query"))
    seen = WaveObservation(
        job_status=GONE if job is None else str(job.get("status")),
        counts=ProcessCounts.from_details((job or {}).get("jobProcessDetails")),
        wave_devices=wave.size,
        now=now,
        ready_at=wave.ready_at,
        unhealthy=unhealthy,
        reason_code=(job or {}).get("reasonCode"),
        comment=(job or {}).get("comment"),
    )
    return evaluate(record.gate, seen)


def tag_decision(ctx: AwsContext, wave: WaveRecord) -> None:
    try:
        ctx.iot.tag_resource(resourceArn=job_arn(ctx, wave.job_id), tags=[{"Key": GATE_TAG, "Value": wave.status}])
    except ClientError as err:
        if not is_error(err, "ResourceNotFoundException"):
            raise


def cancel_job(ctx: AwsContext, job_id: str, reason_code: str, comment: str) -> bool:
    """Cancel a job's queued executions (those in progress run to their end); False when it had ended."""
    job = find_job(ctx, job_id)
    if job is None or job.get("status") not in CANCELABLE:
        return False
    try:
        ctx.iot.cancel_job(jobId=job_id, reasonCode=reason_code, comment=comment[:MAX_COMMENT], force=False)
    except ClientError as err:
        if is_error(err, "InvalidRequestException", "ResourceNotFoundException"):
            return False  # it ended, or went, since it was described
        raise
    return True


def in_progress(ctx: AwsContext, job_ids: list[str]) -> int:
    """Executions still in progress in these jobs (one ``DescribeJob`` each)."""
    total = 0
    for job_id in job_ids:
        job = find_job(ctx, job_id)
        if job is not None:
            total += ProcessCounts.from_details(job.get("jobProcessDetails"))["IN_PROGRESS"]
    return total


def job_done(job: dict[str, Any] | None) -> bool:
    """The job will change no more: gone, completed, or canceled with nothing left in progress."""
    if job is None:
        return True
    status = job.get("status")
    if status in ("COMPLETED", "DELETION_IN_PROGRESS"):
        return True
    counts = ProcessCounts.from_details(job.get("jobProcessDetails"))
    return status == "CANCELED" and counts["IN_PROGRESS"] == 0


def updated_devices(ctx: AwsContext, store: RolloutStore, record: RolloutRecord) -> list[str]:
    """The devices of the started waves that took the new version: those the fleet index sees reporting it
    (100 a page, per wave group), and those whose wave execution SUCCEEDED (250 a page), which the index may
    not show yet, since it lags the shadows by seconds on AWS."""
    membership = store.membership(record.rollout_id)
    found: set[str] = set()
    for wave in record.started_waves():
        text = updated_devices_query(wave.group, record.package, record.version)
        members = set(membership.get(wave.number, []))
        for thing in matching_things(ctx, text, lambda err, text=text: index_error(err, text, "ID")):
            if str(thing["thingName"]) in members:
                found.add(str(thing["thingName"]))
        if find_job(ctx, wave.job_id) is not None:
            found.update(row.thing_name for row in list_executions(ctx, wave.job_id, "SUCCEEDED", check_job=False)
                         if row.thing_name in members)  # fmt: skip
    return sorted(found)


def start_rollback(ctx: AwsContext, record: RolloutRecord, devices: list[str], group: str) -> dict[str, Any]:
    """The rollback job for exactly ``devices`` (by ARN up to 100, else through ``group``); returns the job."""
    assert record.rollback_request is not None
    targets = job_targets.fixed_targets(
        ctx, record.fleet, devices, group, description=f"Devices rolled back by rollout {record.rollout_id}",
        tags={ROLLOUT_TAG: record.rollout_id},
    )  # fmt: skip
    request = {**record.rollback_request, "jobId": rollback_job_id(record.rollout_id), "targets": targets}
    return ensure_job(ctx, request)


def release_groups(ctx: AwsContext, record: RolloutRecord) -> int:
    """Delete the rollout's target groups (the record keeps the membership); returns how many went."""
    groups = [wave.group for wave in record.started_waves()]
    if record.stop is not None and record.stop.group:
        groups.append(record.stop.group)
    return sum(1 for group in dict.fromkeys(groups) if job_targets.delete_group(ctx, group))

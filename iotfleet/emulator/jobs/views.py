"""Engine records in the shapes of botocore's ``iot`` and ``iot-jobs-data`` outputs.

The control plane's timestamps are ``timestamp`` shapes (aware datetimes here); the devices' jobs API
uses epoch seconds as plain integers (``long``), as AWS sends them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from iotfleet.emulator.jobs.engine import JobsEngine
from iotfleet.emulator.jobs.models import (
    CANCELED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    REJECTED,
    REMOVED,
    SUCCEEDED,
    TIMED_OUT,
    Job,
    JobExecution,
    JobTemplate,
)
from iotfleet.emulator.jobs.schedule import format_time

_COUNTERS = {
    CANCELED: "numberOfCanceledThings",
    SUCCEEDED: "numberOfSucceededThings",
    FAILED: "numberOfFailedThings",
    REJECTED: "numberOfRejectedThings",
    QUEUED: "numberOfQueuedThings",
    IN_PROGRESS: "numberOfInProgressThings",
    REMOVED: "numberOfRemovedThings",
    TIMED_OUT: "numberOfTimedOutThings",
}


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


def _seconds(epoch: float | None) -> int | None:
    return None if epoch is None else int(epoch)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


# ---------------------------------------------------------------------------- control plane


def job(engine: JobsEngine, record: Job, now: float) -> dict[str, Any]:
    """The ``job`` member of DescribeJob."""
    counts = record.process_details()
    details: dict[str, Any] = {name: counts[status] for status, name in _COUNTERS.items()}
    if record.rollout_pending:
        details["processingTargets"] = list(record.targets)
    rollouts = None
    if record.schedule.windows and record.status in ("SCHEDULED", "IN_PROGRESS"):
        rollouts = [{"startTime": format_time(t)} for t in record.schedule.upcoming_window_starts(now)]
    return _drop_none(
        {
            "jobArn": record.job_arn,
            "jobId": record.job_id,
            "targetSelection": record.target_selection,
            "status": record.status,
            "forceCanceled": record.force_canceled,
            "reasonCode": record.reason_code,
            "comment": record.comment,
            "targets": list(record.targets),
            "description": record.description,
            "presignedUrlConfig": record.presigned_url_config,
            "jobExecutionsRolloutConfig": record.rollout_config,
            "abortConfig": record.abort_config,
            "createdAt": _when(record.created_at),
            "lastUpdatedAt": _when(record.last_updated_at),
            "completedAt": _when(record.completed_at),
            "jobProcessDetails": details,
            "timeoutConfig": record.timeout_config,
            "namespaceId": record.namespace_id,
            "jobTemplateArn": record.job_template_arn,
            "jobExecutionsRetryConfig": record.retry_config,
            "isConcurrent": record.is_concurrent,
            "schedulingConfig": record.scheduling_config,
            "scheduledJobRollouts": rollouts,
            "destinationPackageVersions": list(record.destination_package_versions) or None,
        }
    )


def job_summary(engine: JobsEngine, record: Job) -> dict[str, Any]:
    group_ids = [engine.registry.group_id(name) for name in _group_targets(record)]
    return _drop_none(
        {
            "jobArn": record.job_arn,
            "jobId": record.job_id,
            "thingGroupId": next((g for g in group_ids if g), None),
            "targetSelection": record.target_selection,
            "status": record.status,
            "createdAt": _when(record.created_at),
            "lastUpdatedAt": _when(record.last_updated_at),
            "completedAt": _when(record.completed_at),
            "isConcurrent": record.is_concurrent,
        }
    )


def _group_targets(record: Job) -> list[str]:
    return [target.rsplit("/", 1)[-1] for target in record.targets if ":thinggroup/" in target]


def execution(engine: JobsEngine, record: JobExecution, now: float) -> dict[str, Any]:
    """The ``execution`` member of the control plane's DescribeJobExecution."""
    return _drop_none(
        {
            "jobId": record.job_id,
            "status": record.status,
            "forceCanceled": record.force_canceled,
            "statusDetails": {"detailsMap": dict(record.status_details)},
            "thingArn": engine.thing_arn(record.thing_name),
            "queuedAt": _when(record.queued_at),
            "startedAt": _when(record.started_at),
            "lastUpdatedAt": _when(record.last_updated_at),
            "executionNumber": record.execution_number,
            "versionNumber": record.version_number,
            "approximateSecondsBeforeTimedOut": record.seconds_before_timeout(now),
        }
    )


def execution_summary(record: JobExecution) -> dict[str, Any]:
    return _drop_none(
        {
            "status": record.status,
            "queuedAt": _when(record.queued_at),
            "startedAt": _when(record.started_at),
            "lastUpdatedAt": _when(record.last_updated_at),
            "executionNumber": record.execution_number,
            "retryAttempt": record.retry_attempt,
        }
    )


def template(record: JobTemplate) -> dict[str, Any]:
    return _drop_none(
        {
            "jobTemplateArn": record.job_template_arn,
            "jobTemplateId": record.job_template_id,
            "description": record.description,
            "documentSource": record.document_source,
            "document": record.document,
            "createdAt": _when(record.created_at),
            "presignedUrlConfig": record.presigned_url_config,
            "jobExecutionsRolloutConfig": record.rollout_config,
            "abortConfig": record.abort_config,
            "timeoutConfig": record.timeout_config,
            "jobExecutionsRetryConfig": record.retry_config,
            "maintenanceWindows": record.maintenance_windows,
            "destinationPackageVersions": list(record.destination_package_versions) or None,
        }
    )


def template_summary(record: JobTemplate) -> dict[str, Any]:
    return _drop_none(
        {
            "jobTemplateArn": record.job_template_arn,
            "jobTemplateId": record.job_template_id,
            "description": record.description,
            "createdAt": _when(record.created_at),
        }
    )


# ------------------------------------------------------------------------------ data plane


def device_execution(record: JobExecution, now: float, document: str | None = None) -> dict[str, Any]:
    """A data-plane ``JobExecution``; ``document`` is the substituted job document when asked for."""
    return _drop_none(
        {
            "jobId": record.job_id,
            "thingName": record.thing_name,
            "status": record.status,
            "statusDetails": dict(record.status_details),
            "queuedAt": _seconds(record.queued_at),
            "startedAt": _seconds(record.started_at),
            "lastUpdatedAt": _seconds(record.last_updated_at),
            "approximateSecondsBeforeTimedOut": record.seconds_before_timeout(now),
            "versionNumber": record.version_number,
            "executionNumber": record.execution_number,
            "jobDocument": document,
        }
    )


def device_summary(record: JobExecution) -> dict[str, Any]:
    return _drop_none(
        {
            "jobId": record.job_id,
            "queuedAt": _seconds(record.queued_at),
            "startedAt": _seconds(record.started_at),
            "lastUpdatedAt": _seconds(record.last_updated_at),
            "versionNumber": record.version_number,
            "executionNumber": record.execution_number,
        }
    )


def execution_state(record: JobExecution) -> dict[str, Any]:
    return record.state()

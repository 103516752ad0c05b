"""The devices' jobs API (``iot-jobs-data``), on the same endpoint as everything else.

The control plane shares these URIs; the core routes a request here when its SigV4 scope names the
``iot-jobs-data`` signing name. Job documents are returned with their placeholders substituted and
presigned URLs freshly minted for the address the device called.
"""

from __future__ import annotations

from typing import Any

from iotfleet.emulator.extension import Call, handles
from iotfleet.emulator.jobs import views
from iotfleet.emulator.jobs.store import engine_for


@handles("iot-jobs-data", "GetPendingJobExecutions")
def get_pending_job_executions(call: Call) -> dict[str, Any]:
    in_progress, queued = engine_for(call).pending_executions(call.params["thingName"])
    return {
        "inProgressJobs": [views.device_summary(e) for e in in_progress],
        "queuedJobs": [views.device_summary(e) for e in queued],
    }


@handles("iot-jobs-data", "StartNextPendingJobExecution")
def start_next_pending_job_execution(call: Call) -> dict[str, Any]:
    jobs = engine_for(call)
    params = call.params
    found = jobs.start_next(
        params["thingName"],
        status_details=params.get("statusDetails"),
        step_timeout=params.get("stepTimeoutInMinutes"),
    )
    if found is None:
        return {}
    job, execution = found
    return {"execution": views.device_execution(execution, jobs.now, jobs.document_for_device(job))}


@handles("iot-jobs-data", "DescribeJobExecution")
def describe_job_execution(call: Call) -> dict[str, Any]:
    jobs = engine_for(call)
    params = call.params
    found = jobs.device_describe(params["thingName"], params["jobId"], params.get("executionNumber"))
    if found is None:
        return {}
    job, execution = found
    document = jobs.document_for_device(job) if params.get("includeJobDocument", True) else None
    return {"execution": views.device_execution(execution, jobs.now, document)}


@handles("iot-jobs-data", "UpdateJobExecution")
def update_job_execution(call: Call) -> dict[str, Any]:
    jobs = engine_for(call)
    params = call.params
    job, execution = jobs.device_update(
        params["thingName"],
        params["jobId"],
        params["status"],
        status_details=params.get("statusDetails"),
        expected_version=params.get("expectedVersion"),
        step_timeout=params.get("stepTimeoutInMinutes"),
        execution_number=params.get("executionNumber"),
    )
    answer: dict[str, Any] = {}
    if params.get("includeJobExecutionState"):
        answer["executionState"] = views.execution_state(execution)
    if params.get("includeJobDocument"):
        answer["jobDocument"] = jobs.document_for_device(job)
    return answer

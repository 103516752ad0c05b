"""The ``iot`` jobs operations, answered by the jobs engine instead of moto.

Jobs, job executions and custom job templates. Each handler translates botocore-shaped parameters
into one engine call and the engine's records into botocore's output shape (see :mod:`.views`).
"""

from __future__ import annotations

from typing import Any

from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.extension import Call, handles
from iotfleet.emulator.jobs import views
from iotfleet.emulator.jobs.models import Job
from iotfleet.emulator.jobs.store import engine_for
from iotfleet.emulator.pagination import page

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 250


def _page_size(params: dict[str, Any]) -> int:
    size = params.get("maxResults", DEFAULT_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidRequestException(f"maxResults must be between 1 and {MAX_PAGE_SIZE}")
    return int(size)


def _paged(key: str, items: list[Any], params: dict[str, Any]) -> dict[str, Any]:
    results, next_token = page(items, _page_size(params), params.get("nextToken"))
    answer: dict[str, Any] = {key: results}
    if next_token:
        answer["nextToken"] = next_token
    return answer


def _job_reference(job: Job) -> dict[str, Any]:
    return {"jobArn": job.job_arn, "jobId": job.job_id, "description": job.description}


# ----------------------------------------------------------------------------------- jobs


@handles("iot", "CreateJob")
def create_job(call: Call) -> dict[str, Any]:
    return _job_reference(engine_for(call).create_job(call.params))


@handles("iot", "DescribeJob")
def describe_job(call: Call) -> dict[str, Any]:
    jobs = engine_for(call)
    job = jobs.get_job(call.params["jobId"])
    answer: dict[str, Any] = {"job": views.job(jobs, job, jobs.now)}
    if job.document_source:
        answer["documentSource"] = job.document_source
    return answer


@handles("iot", "ListJobs")
def list_jobs(call: Call) -> dict[str, Any]:
    jobs = engine_for(call)
    params = call.params
    found = jobs.list_jobs(
        status=params.get("status"),
        target_selection=params.get("targetSelection"),
        thing_group_name=params.get("thingGroupName"),
        thing_group_id=params.get("thingGroupId"),
    )
    return _paged("jobs", [views.job_summary(jobs, job) for job in found], params)


@handles("iot", "UpdateJob")
def update_job(call: Call) -> dict[str, Any]:
    engine_for(call).update_job(call.params["jobId"], call.params)
    return {}


@handles("iot", "CancelJob")
def cancel_job(call: Call) -> dict[str, Any]:
    params = call.params
    job = engine_for(call).cancel_job(
        params["jobId"],
        reason_code=params.get("reasonCode"),
        comment=params.get("comment"),
        force=bool(params.get("force", False)),
    )
    return _job_reference(job)


@handles("iot", "DeleteJob")
def delete_job(call: Call) -> dict[str, Any]:
    engine_for(call).delete_job(call.params["jobId"], force=bool(call.params.get("force", False)))
    return {}


@handles("iot", "GetJobDocument")
def get_job_document(call: Call) -> dict[str, Any]:
    return {"document": engine_for(call).get_job(call.params["jobId"]).document}


@handles("iot", "AssociateTargetsWithJob")
def associate_targets_with_job(call: Call) -> dict[str, Any]:
    job = engine_for(call).associate_targets(call.params["jobId"], call.params.get("targets"))
    return _job_reference(job)


# ----------------------------------------------------------------------------- executions


@handles("iot", "DescribeJobExecution")
def describe_job_execution(call: Call) -> dict[str, Any]:
    jobs = engine_for(call)
    params = call.params
    found = jobs.describe_execution(params["jobId"], params["thingName"], params.get("executionNumber"))
    return {"execution": views.execution(jobs, found, jobs.now)}


@handles("iot", "ListJobExecutionsForJob")
def list_job_executions_for_job(call: Call) -> dict[str, Any]:
    jobs = engine_for(call)
    params = call.params
    found = jobs.list_executions_for_job(params["jobId"], params.get("status"))
    summaries = [
        {"thingArn": jobs.thing_arn(e.thing_name), "jobExecutionSummary": views.execution_summary(e)} for e in found
    ]
    return _paged("executionSummaries", summaries, params)


@handles("iot", "ListJobExecutionsForThing")
def list_job_executions_for_thing(call: Call) -> dict[str, Any]:
    jobs = engine_for(call)
    params = call.params
    found = jobs.list_executions_for_thing(params["thingName"], params.get("status"), params.get("jobId"))
    summaries = [{"jobId": job.job_id, "jobExecutionSummary": views.execution_summary(e)} for job, e in found]
    return _paged("executionSummaries", summaries, params)


@handles("iot", "CancelJobExecution")
def cancel_job_execution(call: Call) -> dict[str, Any]:
    params = call.params
    engine_for(call).cancel_execution(
        params["jobId"],
        params["thingName"],
        force=bool(params.get("force", False)),
        expected_version=params.get("expectedVersion"),
        status_details=params.get("statusDetails"),
    )
    return {}


@handles("iot", "DeleteJobExecution")
def delete_job_execution(call: Call) -> dict[str, Any]:
    params = call.params
    engine_for(call).delete_execution(
        params["jobId"], params["thingName"], int(params["executionNumber"]), force=bool(params.get("force", False))
    )
    return {}


# ------------------------------------------------------------------------------ templates


@handles("iot", "CreateJobTemplate")
def create_job_template(call: Call) -> dict[str, Any]:
    template = engine_for(call).create_template(call.params)
    return {"jobTemplateArn": template.job_template_arn, "jobTemplateId": template.job_template_id}


@handles("iot", "DescribeJobTemplate")
def describe_job_template(call: Call) -> dict[str, Any]:
    return views.template(engine_for(call).templates.get(call.params["jobTemplateId"]))


@handles("iot", "ListJobTemplates")
def list_job_templates(call: Call) -> dict[str, Any]:
    templates = engine_for(call).templates.list()
    return _paged("jobTemplates", [views.template_summary(t) for t in templates], call.params)


@handles("iot", "DeleteJobTemplate")
def delete_job_template(call: Call) -> dict[str, Any]:
    engine_for(call).templates.delete(call.params["jobTemplateId"])
    return {}

"""Job executions over HTTP as AWS keeps them: a deleted thing's executions end REMOVED, execution numbers
count per (job, thing), and UpdateJobExecution answers bad and stale input with modelled errors."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from raw_http import error_code, signed
from test_jobs_api import DOCUMENT, call, error_of, make_fleet

from iotfleet.emulator.inprocess import LocalEmulator


def process(iot: Any, job_id: str) -> dict[str, Any]:
    return call(iot, "describe_job", jobId=job_id)["job"]["jobProcessDetails"]


# --------------------------------------------------------------- deleted things


def test_deleting_a_thing_removes_its_pending_executions_and_the_snapshot_job_completes(
    iot: Any, jobs_data: Any
) -> None:
    group_arn, names = make_fleet(iot, 3)
    call(iot, "create_job", jobId="ota", targets=[group_arn], document=DOCUMENT)
    call(jobs_data, "start_next_pending_job_execution", thingName=names[1])  # IN_PROGRESS
    call(jobs_data, "update_job_execution", thingName=names[2], jobId="ota", status="SUCCEEDED")

    iot.delete_thing(thingName=names[0])  # QUEUED
    iot.delete_thing(thingName=names[1])  # IN_PROGRESS

    executions = call(iot, "list_job_executions_for_job", jobId="ota")["executionSummaries"]
    assert {e["thingArn"].rsplit("/", 1)[-1]: e["jobExecutionSummary"]["status"] for e in executions} == {
        names[0]: "REMOVED",
        names[1]: "REMOVED",
        names[2]: "SUCCEEDED",
    }
    details = process(iot, "ota")
    assert (details["numberOfRemovedThings"], details["numberOfSucceededThings"]) == (2, 1)
    assert details["numberOfQueuedThings"] == details["numberOfInProgressThings"] == 0
    assert call(iot, "describe_job", jobId="ota")["job"]["status"] == "COMPLETED"


def test_a_thing_created_again_under_the_same_name_has_nothing_pending(iot: Any, jobs_data: Any) -> None:
    group_arn, names = make_fleet(iot, 2)
    call(iot, "create_job", jobId="ota", targets=[group_arn], document=DOCUMENT)
    call(jobs_data, "start_next_pending_job_execution", thingName=names[0])
    iot.delete_thing(thingName=names[0])
    iot.create_thing(thingName=names[0])
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=names[0])

    pending = call(jobs_data, "get_pending_job_executions", thingName=names[0])
    assert pending["inProgressJobs"] == pending["queuedJobs"] == []
    assert call(jobs_data, "start_next_pending_job_execution", thingName=names[0]).get("execution") is None
    assert call(jobs_data, "describe_job_execution", thingName=names[0], jobId="$next").get("execution") is None
    removed = call(jobs_data, "describe_job_execution", thingName=names[0], jobId="ota")["execution"]
    assert removed["status"] == "REMOVED"
    with pytest.raises(ClientError) as excinfo:
        jobs_data.update_job_execution(thingName=names[0], jobId="ota", status="SUCCEEDED")
    assert error_of(excinfo) == ("InvalidStateTransitionException", 409)


def test_a_thing_deleted_before_its_release_is_dropped_from_the_rollout(
    iot: Any, jobs_data: Any, emulator: LocalEmulator
) -> None:
    group_arn, names = make_fleet(iot, 3)
    call(
        iot,
        "create_job",
        jobId="slow",
        targets=[group_arn],
        document=DOCUMENT,
        jobExecutionsRolloutConfig={"maximumPerMinute": 1},
    )
    iot.delete_thing(thingName=names[2])  # still waiting for the rollout
    iot.create_thing(thingName=names[2])
    for name in names[:2]:
        call(jobs_data, "update_job_execution", thingName=name, jobId="slow", status="SUCCEEDED")
        emulator.advance(60)
    emulator.advance(60)
    assert call(jobs_data, "get_pending_job_executions", thingName=names[2])["queuedJobs"] == []
    assert call(iot, "describe_job", jobId="slow")["job"]["status"] == "COMPLETED"
    assert process(iot, "slow")["numberOfSucceededThings"] == 2


def test_a_continuous_job_gives_a_thing_created_again_a_new_execution_when_it_rejoins(
    iot: Any, jobs_data: Any
) -> None:
    group_arn, names = make_fleet(iot, 1)
    call(iot, "create_job", jobId="c", targets=[group_arn], document=DOCUMENT, targetSelection="CONTINUOUS")
    iot.delete_thing(thingName=names[0])
    assert process(iot, "c")["numberOfRemovedThings"] == 1
    iot.create_thing(thingName=names[0])
    assert call(jobs_data, "get_pending_job_executions", thingName=names[0])["queuedJobs"] == []
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=names[0])
    queued = call(jobs_data, "get_pending_job_executions", thingName=names[0])["queuedJobs"]
    assert [(q["jobId"], q["executionNumber"]) for q in queued] == [("c", 2)]


# ------------------------------------------------------------ execution numbers


def test_execution_numbers_count_per_job_and_thing(iot: Any, jobs_data: Any) -> None:
    group_arn, names = make_fleet(iot, 2)
    retry = {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]}
    for job_id in ("first", "second"):
        call(iot, "create_job", jobId=job_id, targets=[group_arn], document=DOCUMENT, jobExecutionsRetryConfig=retry)
    for job_id in ("first", "second"):
        for name in names:
            execution = call(jobs_data, "describe_job_execution", thingName=name, jobId=job_id)["execution"]
            assert execution["executionNumber"] == 1, (job_id, name)
    call(jobs_data, "update_job_execution", thingName=names[0], jobId="first", status="FAILED")
    assert call(jobs_data, "describe_job_execution", thingName=names[0], jobId="first")["execution"][
        "executionNumber"
    ] == 2
    call(jobs_data, "update_job_execution", thingName=names[0], jobId="first", status="FAILED")
    assert call(iot, "describe_job_execution", jobId="first", thingName=names[0])["execution"]["executionNumber"] == 3
    # Other pairs are untouched by those retries.
    assert call(iot, "describe_job_execution", jobId="second", thingName=names[0])["execution"]["executionNumber"] == 1
    assert call(iot, "describe_job_execution", jobId="first", thingName=names[1])["execution"]["executionNumber"] == 1
    summaries = call(iot, "list_job_executions_for_thing", thingName=names[0])["executionSummaries"]
    assert sorted(
        (s["jobId"], s["jobExecutionSummary"]["executionNumber"], s["jobExecutionSummary"]["retryAttempt"])
        for s in summaries
    ) == [("first", 3, 2), ("second", 1, 0)]


# ------------------------------------------------------- UpdateJobExecution input


def test_a_stale_expected_version_is_a_modelled_error_with_the_current_state(
    emulator: LocalEmulator, jobs_data: Any, iot: Any
) -> None:
    group_arn, names = make_fleet(iot, 1)
    call(iot, "create_job", jobId="j", targets=[group_arn], document=DOCUMENT)
    call(jobs_data, "start_next_pending_job_execution", thingName=names[0], statusDetails={"step": "download"})
    # boto3 maps the code to the exception the iot-jobs-data model declares for UpdateJobExecution.
    with pytest.raises(jobs_data.exceptions.InvalidStateTransitionException) as excinfo:
        jobs_data.update_job_execution(thingName=names[0], jobId="j", status="SUCCEEDED", expectedVersion=1)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    # The body carries the current state, as AWS documents for a version mismatch (boto3 drops
    # members the error shape does not model, so read it raw).
    raw = signed(
        emulator.endpoint_url,
        "iot-jobs-data",
        "POST",
        f"/things/{names[0]}/jobs/j",
        {"status": "SUCCEEDED", "expectedVersion": 1},
    )
    assert error_code(raw) == ("InvalidStateTransitionException", 409)
    assert raw.json()["executionState"] == {
        "status": "IN_PROGRESS",
        "statusDetails": {"step": "download"},
        "versionNumber": 2,
    }
    state = call(jobs_data, "describe_job_execution", thingName=names[0], jobId="j")["execution"]
    assert (state["status"], state["versionNumber"]) == ("IN_PROGRESS", 2)
    # The current version goes through.
    call(jobs_data, "update_job_execution", thingName=names[0], jobId="j", status="SUCCEEDED", expectedVersion=2)


@pytest.mark.parametrize(
    "body",
    [
        {"status": "SUCCEEDED", "expectedVersion": "abc"},
        {"status": "SUCCEEDED", "expectedVersion": "2"},
        {"status": "SUCCEEDED", "expectedVersion": 2.5},
        {"status": "SUCCEEDED", "expectedVersion": True},
        {"status": "SUCCEEDED", "executionNumber": "one"},
        {"status": "SUCCEEDED", "includeJobDocument": "yes"},
        {"status": 3},
        {"status": "SUCCEEDED", "statusDetails": {"step": 1}},
    ],
)
def test_values_of_the_wrong_type_are_invalid_requests_and_change_nothing(
    emulator: LocalEmulator, iot: Any, jobs_data: Any, body: dict[str, Any]
) -> None:
    group_arn, names = make_fleet(iot, 1)
    call(iot, "create_job", jobId="j", targets=[group_arn], document=DOCUMENT)
    call(jobs_data, "start_next_pending_job_execution", thingName=names[0])
    answer = signed(emulator.endpoint_url, "iot-jobs-data", "POST", f"/things/{names[0]}/jobs/j", body)
    assert error_code(answer) == ("InvalidRequestException", 400), answer.text
    assert "message" in answer.json()
    state = call(jobs_data, "describe_job_execution", thingName=names[0], jobId="j")["execution"]
    assert (state["status"], state["versionNumber"]) == ("IN_PROGRESS", 2)

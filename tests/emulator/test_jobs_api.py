"""The jobs control plane over HTTP with boto3: jobs, executions, templates, tags, errors and pagination."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.testing import assert_valid_output

DOCUMENT = json.dumps({"operation": "firmware-update", "version": "2.0"})


def make_fleet(iot: Any, count: int, group: str = "fleet", prefix: str = "dev") -> tuple[str, list[str]]:
    """``count`` things in a new static group; returns (group ARN, thing names)."""
    group_arn = iot.create_thing_group(thingGroupName=group)["thingGroupArn"]
    names = [f"{prefix}-{i:03d}" for i in range(count)]
    for name in names:
        iot.create_thing(thingName=name)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)
    return group_arn, names


def call(client: Any, operation: str, **params: Any) -> Any:
    """Call ``operation`` and check the answer against botocore's output shape."""
    response = getattr(client, operation)(**params)
    assert_valid_output(client, operation, response)
    return response


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_create_describe_and_document(iot: Any) -> None:
    group_arn, names = make_fleet(iot, 3)
    single = iot.describe_thing(thingName=names[0])["thingArn"]
    created = call(
        iot,
        "create_job",
        jobId="ota-1",
        targets=[group_arn, single],
        document=DOCUMENT,
        description="firmware 2.0",
        timeoutConfig={"inProgressTimeoutInMinutes": 30},
        tags=[{"Key": "team", "Value": "fw"}],
    )
    assert created["jobArn"] == "arn:aws:iot:us-east-1:123456789012:job/ota-1"
    assert created["description"] == "firmware 2.0"
    job = call(iot, "describe_job", jobId="ota-1")["job"]
    assert job["status"] == "IN_PROGRESS"
    assert job["targetSelection"] == "SNAPSHOT"
    assert job["targets"] == [group_arn, single]
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == 3  # the thing targeted twice counts once
    assert job["isConcurrent"] is False
    assert call(iot, "get_job_document", jobId="ota-1")["document"] == DOCUMENT
    tags = call(iot, "list_tags_for_resource", resourceArn=created["jobArn"])["tags"]
    assert tags == [{"Key": "team", "Value": "fw"}]


def test_create_errors(iot: Any) -> None:
    group_arn, _ = make_fleet(iot, 1)
    call(iot, "create_job", jobId="dup", targets=[group_arn], document=DOCUMENT)
    cases = [
        (dict(jobId="dup", targets=[group_arn], document=DOCUMENT), ("ResourceAlreadyExistsException", 409)),
        (
            dict(jobId="j", targets=[group_arn.replace("fleet", "nope")], document=DOCUMENT),
            ("ResourceNotFoundException", 404),
        ),
        (dict(jobId="j", targets=[group_arn]), ("InvalidRequestException", 400)),
        (dict(jobId="j", targets=[group_arn], document="{oops"), ("InvalidRequestException", 400)),
        (
            dict(jobId="j", targets=[group_arn], document=json.dumps({"x": "y" * 33000})),
            ("InvalidRequestException", 400),
        ),
        (
            dict(
                jobId="j",
                targets=[group_arn],
                document=DOCUMENT,
                abortConfig={
                    "criteriaList": [
                        {
                            "failureType": "FAILED",
                            "action": "CANCEL",
                            "thresholdPercentage": 150,
                            "minNumberOfExecutedThings": 1,
                        }
                    ]
                },
            ),
            ("InvalidRequestException", 400),
        ),
        (dict(jobId="bad id!", targets=[group_arn], document=DOCUMENT), ("InvalidRequestException", 400)),
    ]
    for params, expected in cases:
        with pytest.raises(ClientError) as excinfo:
            call(iot, "create_job", **params)
        assert error_of(excinfo) == expected, params
    assert [j["jobId"] for j in call(iot, "list_jobs")["jobs"]] == ["dup"]


def test_describe_missing_job(iot: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        call(iot, "describe_job", jobId="ghost")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)


def test_document_source_in_s3(iot: Any, boto_clients: Any) -> None:
    group_arn, _ = make_fleet(iot, 1)
    s3 = boto_clients.s3
    s3.create_bucket(Bucket="job-documents")
    s3.put_object(Bucket="job-documents", Key="ota.json", Body=DOCUMENT.encode())
    source = "https://s3.amazonaws.com/job-documents/ota.json"
    call(iot, "create_job", jobId="from-s3", targets=[group_arn], documentSource=source)
    assert call(iot, "describe_job", jobId="from-s3")["documentSource"] == source
    assert call(iot, "get_job_document", jobId="from-s3")["document"] == DOCUMENT
    s3.put_object(Bucket="job-documents", Key="big.json", Body=json.dumps({"x": "y" * 33000}).encode())
    with pytest.raises(ClientError) as excinfo:
        call(
            iot,
            "create_job",
            jobId="too-big",
            targets=[group_arn],
            documentSource="https://s3.amazonaws.com/job-documents/big.json",
        )
    assert error_of(excinfo) == ("InvalidRequestException", 400)


def test_list_jobs_status_filter_and_pagination(iot: Any) -> None:
    group_arn, _ = make_fleet(iot, 1)
    for i in range(7):
        call(iot, "create_job", jobId=f"job-{i}", targets=[group_arn], document=DOCUMENT)
    for i in (1, 4):
        call(iot, "cancel_job", jobId=f"job-{i}")
    canceled = call(iot, "list_jobs", status="CANCELED")["jobs"]
    assert [j["jobId"] for j in canceled] == ["job-1", "job-4"]
    assert {j["status"] for j in canceled} == {"CANCELED"}
    pages = list(iot.get_paginator("list_jobs").paginate(PaginationConfig={"PageSize": 3}))
    for response in pages:
        assert_valid_output(iot, "list_jobs", response)
    assert [len(p["jobs"]) for p in pages] == [3, 3, 1]
    assert [j["jobId"] for p in pages for j in p["jobs"]] == [f"job-{i}" for i in range(7)]
    assert {j["thingGroupId"] for p in pages for j in p["jobs"]} == {
        iot.describe_thing_group(thingGroupName="fleet")["thingGroupId"]
    }
    with pytest.raises(ClientError) as excinfo:
        call(iot, "list_jobs", nextToken="forged")
    assert error_of(excinfo) == ("InvalidRequestException", 400)


def test_update_job(iot: Any) -> None:
    group_arn, _ = make_fleet(iot, 1)
    call(iot, "create_job", jobId="u", targets=[group_arn], document=DOCUMENT)
    call(
        iot,
        "update_job",
        jobId="u",
        description="new",
        timeoutConfig={"inProgressTimeoutInMinutes": 5},
        jobExecutionsRetryConfig={"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]},
    )
    job = call(iot, "describe_job", jobId="u")["job"]
    assert job["description"] == "new"
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 5}
    assert job["jobExecutionsRetryConfig"]["criteriaList"][0]["numberOfRetries"] == 2


def test_cancel_without_and_with_force(iot: Any, jobs_data: Any) -> None:
    group_arn, names = make_fleet(iot, 3)
    call(iot, "create_job", jobId="c", targets=[group_arn], document=DOCUMENT)
    call(jobs_data, "start_next_pending_job_execution", thingName=names[0])
    answer = call(iot, "cancel_job", jobId="c", reasonCode="BAD_BUILD", comment="wrong image")
    assert answer["jobId"] == "c"
    job = call(iot, "describe_job", jobId="c")["job"]
    assert (job["status"], job["reasonCode"], job["comment"], job["forceCanceled"]) == (
        "CANCELED",
        "BAD_BUILD",
        "wrong image",
        False,
    )
    details = job["jobProcessDetails"]
    assert (details["numberOfInProgressThings"], details["numberOfCanceledThings"]) == (1, 2)
    # The device that is working may still finish ...
    state = call(jobs_data, "describe_job_execution", thingName=names[0], jobId="c")["execution"]
    assert state["status"] == "IN_PROGRESS"
    # ... until the job is canceled with force.
    call(iot, "cancel_job", jobId="c", force=True)
    job = call(iot, "describe_job", jobId="c")["job"]
    assert job["forceCanceled"] is True
    assert job["jobProcessDetails"]["numberOfCanceledThings"] == 3
    execution = call(iot, "describe_job_execution", jobId="c", thingName=names[0])["execution"]
    assert (execution["status"], execution["forceCanceled"]) == ("CANCELED", True)
    with pytest.raises(ClientError) as excinfo:
        call(jobs_data, "update_job_execution", thingName=names[0], jobId="c", status="SUCCEEDED")
    assert error_of(excinfo) == ("InvalidStateTransitionException", 409)


@pytest.mark.emulator(time_scale=0.001)  # a forced deletion takes a second of emulator time
def test_delete_job(iot: Any, emulator: LocalEmulator) -> None:
    group_arn, _ = make_fleet(iot, 2)
    call(iot, "create_job", jobId="d", targets=[group_arn], document=DOCUMENT)
    with pytest.raises(ClientError) as excinfo:
        call(iot, "delete_job", jobId="d")
    assert error_of(excinfo) == ("InvalidStateTransitionException", 409)
    call(iot, "delete_job", jobId="d", force=True)
    assert call(iot, "describe_job", jobId="d")["job"]["status"] == "DELETION_IN_PROGRESS"
    assert [j["status"] for j in call(iot, "list_jobs")["jobs"]] == ["DELETION_IN_PROGRESS"]
    emulator.advance(5)
    with pytest.raises(ClientError) as excinfo:
        call(iot, "describe_job", jobId="d")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)
    assert call(iot, "list_job_executions_for_thing", thingName="dev-000")["executionSummaries"] == []
    call(iot, "create_job", jobId="d", targets=[group_arn], document=DOCUMENT)  # the id is free again


def test_execution_operations(iot: Any, jobs_data: Any) -> None:
    group_arn, names = make_fleet(iot, 4)
    call(iot, "create_job", jobId="e", targets=[group_arn], document=DOCUMENT)
    call(iot, "create_job", jobId="f", targets=[group_arn], document=DOCUMENT)
    call(
        jobs_data, "start_next_pending_job_execution", thingName=names[0], statusDetails={"step": "download"}
    )

    execution = call(iot, "describe_job_execution", jobId="e", thingName=names[0])["execution"]
    assert execution["status"] == "IN_PROGRESS"
    assert execution["statusDetails"] == {"detailsMap": {"step": "download"}}
    assert execution["thingArn"].endswith(f":thing/{names[0]}")
    assert execution["versionNumber"] == 2

    summaries = call(iot, "list_job_executions_for_job", jobId="e", status="QUEUED")["executionSummaries"]
    assert [s["thingArn"].rsplit("/", 1)[1] for s in summaries] == names[1:]
    pages = list(
        iot.get_paginator("list_job_executions_for_job").paginate(jobId="e", PaginationConfig={"PageSize": 3})
    )
    assert [len(p["executionSummaries"]) for p in pages] == [3, 1]

    for_thing = call(iot, "list_job_executions_for_thing", thingName=names[0])["executionSummaries"]
    assert [(s["jobId"], s["jobExecutionSummary"]["status"]) for s in for_thing] == [
        ("e", "IN_PROGRESS"),
        ("f", "QUEUED"),
    ]
    assert [
        s["jobId"]
        for s in call(iot, "list_job_executions_for_thing", thingName=names[0], status="QUEUED")[
            "executionSummaries"
        ]
    ] == ["f"]

    with pytest.raises(ClientError) as excinfo:
        call(iot, "cancel_job_execution", jobId="e", thingName=names[0])
    assert error_of(excinfo) == ("InvalidStateTransitionException", 409)
    with pytest.raises(ClientError) as excinfo:
        call(iot, "cancel_job_execution", jobId="e", thingName=names[0], force=True, expectedVersion=1)
    assert error_of(excinfo) == ("VersionConflictException", 409)
    call(
        iot,
        "cancel_job_execution",
        jobId="e",
        thingName=names[0],
        force=True,
        expectedVersion=2,
        statusDetails={"why": "operator"},
    )
    call(iot, "cancel_job_execution", jobId="e", thingName=names[1])
    canceled = call(iot, "describe_job_execution", jobId="e", thingName=names[1])["execution"]
    assert canceled["status"] == "CANCELED"

    number = canceled["executionNumber"]
    with pytest.raises(ClientError) as excinfo:
        call(
            iot,
            "delete_job_execution",
            jobId="e",
            thingName=names[2],
            executionNumber=call(iot, "describe_job_execution", jobId="e", thingName=names[2])["execution"][
                "executionNumber"
            ],
        )
    assert error_of(excinfo) == ("InvalidStateTransitionException", 409)
    call(iot, "delete_job_execution", jobId="e", thingName=names[1], executionNumber=number)
    with pytest.raises(ClientError) as excinfo:
        call(iot, "describe_job_execution", jobId="e", thingName=names[1])
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)


def test_job_templates(iot: Any) -> None:
    group_arn, _ = make_fleet(iot, 5)
    created = call(
        iot,
        "create_job_template",
        jobTemplateId="ota-template",
        description="staged OTA",
        document=DOCUMENT,
        jobExecutionsRolloutConfig={"maximumPerMinute": 2},
        timeoutConfig={"inProgressTimeoutInMinutes": 60},
        tags=[{"Key": "kind", "Value": "ota"}],
    )
    assert created["jobTemplateArn"].endswith(":jobtemplate/ota-template")
    described = call(iot, "describe_job_template", jobTemplateId="ota-template")
    assert described["document"] == DOCUMENT
    assert described["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 2}
    for i in range(3):
        call(iot, "create_job_template", jobTemplateId=f"t{i}", description="more", document=DOCUMENT)
    pages = list(iot.get_paginator("list_job_templates").paginate(PaginationConfig={"PageSize": 2}))
    for response in pages:
        assert_valid_output(iot, "list_job_templates", response)
    assert [t["jobTemplateId"] for p in pages for t in p["jobTemplates"]] == [
        "ota-template",
        "t0",
        "t1",
        "t2",
    ]
    with pytest.raises(ClientError) as excinfo:
        call(iot, "create_job_template", jobTemplateId="t0", description="again", document=DOCUMENT)
    assert error_of(excinfo) == ("ConflictException", 409)

    call(
        iot,
        "create_job",
        jobId="from-template",
        targets=[group_arn],
        jobTemplateArn=created["jobTemplateArn"],
    )
    job = call(iot, "describe_job", jobId="from-template")["job"]
    assert job["jobTemplateArn"] == created["jobTemplateArn"]
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 60}
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == 2  # the template's rollout rate applies
    assert call(iot, "get_job_document", jobId="from-template")["document"] == DOCUMENT

    call(iot, "delete_job_template", jobTemplateId="ota-template")
    with pytest.raises(ClientError) as excinfo:
        call(iot, "describe_job_template", jobTemplateId="ota-template")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)


def test_associate_targets_with_continuous_job(iot: Any) -> None:
    group_arn, _ = make_fleet(iot, 1)
    extra_arn, extra = make_fleet(iot, 2, group="extra", prefix="ext")
    call(iot, "create_job", jobId="snap", targets=[group_arn], document=DOCUMENT)
    with pytest.raises(ClientError) as excinfo:
        call(iot, "associate_targets_with_job", jobId="snap", targets=[extra_arn])
    assert error_of(excinfo) == ("InvalidRequestException", 400)
    call(
        iot, "create_job", jobId="cont", targets=[group_arn], document=DOCUMENT, targetSelection="CONTINUOUS"
    )
    answer = call(
        iot, "associate_targets_with_job", jobId="cont", targets=[extra_arn], comment="add the extras"
    )
    assert answer["jobId"] == "cont"
    assert call(iot, "describe_job", jobId="cont")["job"]["targets"] == [group_arn, extra_arn]
    queued = call(iot, "list_job_executions_for_job", jobId="cont")["executionSummaries"]
    assert len(queued) == 3


def test_tags_on_jobs_and_templates(iot: Any) -> None:
    group_arn, _ = make_fleet(iot, 1)
    job_arn = call(iot, "create_job", jobId="t", targets=[group_arn], document=DOCUMENT)["jobArn"]
    iot.tag_resource(resourceArn=job_arn, tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iot.untag_resource(resourceArn=job_arn, tagKeys=["a"])
    assert call(iot, "list_tags_for_resource", resourceArn=job_arn)["tags"] == [{"Key": "b", "Value": "2"}]
    template_arn = call(iot, "create_job_template", jobTemplateId="tt", description="d", document=DOCUMENT)[
        "jobTemplateArn"
    ]
    iot.tag_resource(resourceArn=template_arn, tags=[{"Key": "c", "Value": "3"}])
    assert call(iot, "list_tags_for_resource", resourceArn=template_arn)["tags"] == [
        {"Key": "c", "Value": "3"}
    ]
    with pytest.raises(ClientError) as excinfo:
        call(iot, "list_tags_for_resource", resourceArn=job_arn.replace("job/t", "job/none"))
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)

"""The devices' jobs API (iot-jobs-data) over HTTP: the execution state machine as a device drives it,
job documents with presigned URLs that really download, and the ``$package`` shadow on success."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import requests
from botocore.exceptions import ClientError
from test_jobs_api import DOCUMENT, call, error_of, make_fleet

from iotfleet.emulator.inprocess import LocalEmulator

ROLE = "arn:aws:iam::123456789012:role/iot-jobs-presign"


def test_device_walks_through_a_job(iot: Any, jobs_data: Any) -> None:
    group_arn, names = make_fleet(iot, 1)
    thing = names[0]
    assert call(jobs_data, "start_next_pending_job_execution", thingName=thing).get("execution") is None
    assert call(jobs_data, "describe_job_execution", thingName=thing, jobId="$next").get("execution") is None
    call(iot, "create_job", jobId="first", targets=[group_arn], document=DOCUMENT)
    call(iot, "create_job", jobId="second", targets=[group_arn], document=DOCUMENT)

    pending = call(jobs_data, "get_pending_job_executions", thingName=thing)
    assert [j["jobId"] for j in pending["queuedJobs"]] == ["first", "second"]
    assert pending["inProgressJobs"] == []
    assert isinstance(pending["queuedJobs"][0]["queuedAt"], int)

    nxt = call(jobs_data, "describe_job_execution", thingName=thing, jobId="$next")["execution"]
    assert (nxt["jobId"], nxt["status"], nxt["jobDocument"]) == ("first", "QUEUED", DOCUMENT)
    bare = call(
        jobs_data, "describe_job_execution", thingName=thing, jobId="second", includeJobDocument=False
    )["execution"]
    assert "jobDocument" not in bare

    started = call(
        jobs_data,
        "start_next_pending_job_execution",
        thingName=thing,
        statusDetails={"step": "download"},
        stepTimeoutInMinutes=30,
    )["execution"]
    assert (started["jobId"], started["status"], started["versionNumber"]) == ("first", "IN_PROGRESS", 2)
    assert started["statusDetails"] == {"step": "download"}
    assert started["jobDocument"] == DOCUMENT
    assert 1790 <= started["approximateSecondsBeforeTimedOut"] <= 1800

    answer = call(
        jobs_data,
        "update_job_execution",
        thingName=thing,
        jobId="first",
        status="IN_PROGRESS",
        statusDetails={"step": "flash"},
        expectedVersion=2,
        includeJobExecutionState=True,
        includeJobDocument=True,
    )
    assert answer["executionState"] == {
        "status": "IN_PROGRESS",
        "statusDetails": {"step": "flash"},
        "versionNumber": 3,
    }
    assert answer["jobDocument"] == DOCUMENT
    plain = call(jobs_data, "update_job_execution", thingName=thing, jobId="first", status="SUCCEEDED")
    assert "executionState" not in plain and "jobDocument" not in plain

    nxt = call(jobs_data, "describe_job_execution", thingName=thing, jobId="$next")["execution"]
    assert nxt["jobId"] == "second"
    done = call(jobs_data, "describe_job_execution", thingName=thing, jobId="first")["execution"]
    assert (done["status"], done["versionNumber"]) == ("SUCCEEDED", 4)
    assert call(iot, "describe_job", jobId="first")["job"]["status"] == "COMPLETED"


def test_device_errors(iot: Any, jobs_data: Any) -> None:
    group_arn, names = make_fleet(iot, 1)
    thing = names[0]
    call(iot, "create_job", jobId="j", targets=[group_arn], document=DOCUMENT)
    call(jobs_data, "start_next_pending_job_execution", thingName=thing)
    cases = [
        (dict(status="SUCCEEDED", expectedVersion=1), ("InvalidStateTransitionException", 409)),
        (dict(status="QUEUED"), ("InvalidStateTransitionException", 409)),
        (dict(status="TIMED_OUT"), ("InvalidStateTransitionException", 409)),
        (
            dict(status="IN_PROGRESS", statusDetails={f"k{i}": "v" for i in range(11)}),
            ("InvalidRequestException", 400),
        ),
        (dict(status="IN_PROGRESS", statusDetails={"k": "v" * 1025}), ("InvalidRequestException", 400)),
        (dict(status="IN_PROGRESS", stepTimeoutInMinutes=10081), ("InvalidRequestException", 400)),
    ]
    for params, expected in cases:
        with pytest.raises(ClientError) as excinfo:
            call(jobs_data, "update_job_execution", thingName=thing, jobId="j", **params)
        assert error_of(excinfo) == expected, params
    state = call(jobs_data, "describe_job_execution", thingName=thing, jobId="j")["execution"]
    assert (state["status"], state["versionNumber"]) == ("IN_PROGRESS", 2)  # nothing changed
    with pytest.raises(ClientError) as excinfo:
        call(jobs_data, "update_job_execution", thingName=thing, jobId="nope", status="IN_PROGRESS")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)
    call(jobs_data, "update_job_execution", thingName=thing, jobId="j", status="REJECTED", expectedVersion=2)
    with pytest.raises(ClientError) as excinfo:
        call(jobs_data, "update_job_execution", thingName=thing, jobId="j", status="IN_PROGRESS")
    assert error_of(excinfo) == ("InvalidStateTransitionException", 409)


@pytest.fixture
def firmware(boto_clients: Any) -> dict[str, str]:
    """A versioned bucket holding two versions of one firmware image."""
    s3 = boto_clients.s3
    s3.create_bucket(Bucket="firmware-images")
    s3.put_bucket_versioning(Bucket="firmware-images", VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket="firmware-images", Key="fw/image.bin", Body=b"image v1")["VersionId"]
    new = s3.put_object(Bucket="firmware-images", Key="fw/image.bin", Body=b"image v2")["VersionId"]
    return {"old": old, "new": new}


def test_presigned_urls_download_and_expire(
    iot: Any, jobs_data: Any, emulator: LocalEmulator, firmware: dict[str, str]
) -> None:
    group_arn, names = make_fleet(iot, 1)
    v2_url = quote(
        f"https://firmware-images.s3.amazonaws.com/fw/image.bin?versionId={firmware['old']}", safe=""
    )
    document = json.dumps(
        {
            "latest": "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/firmware-images/fw/image.bin}",
            "pinned": "${aws:iot:s3-presigned-url-v2:" + v2_url + "}",
        }
    )
    with pytest.raises(ClientError) as excinfo:
        call(iot, "create_job", jobId="p", targets=[group_arn], document=document)
    assert error_of(excinfo) == ("InvalidRequestException", 400)  # no presignedUrlConfig
    call(
        iot,
        "create_job",
        jobId="p",
        targets=[group_arn],
        document=document,
        presignedUrlConfig={"roleArn": ROLE, "expiresInSec": 300},
    )
    assert call(iot, "get_job_document", jobId="p")["document"] == document  # before substitution

    execution = call(jobs_data, "start_next_pending_job_execution", thingName=names[0])["execution"]
    urls = json.loads(execution["jobDocument"])
    assert requests.get(urls["latest"], timeout=10).content == b"image v2"
    assert requests.get(urls["pinned"], timeout=10).content == b"image v1"
    emulator.advance(290)
    assert requests.get(urls["latest"], timeout=10).status_code == 200
    emulator.advance(15)
    expired = requests.get(urls["latest"], timeout=10)
    assert expired.status_code == 403
    fresh = json.loads(
        call(jobs_data, "describe_job_execution", thingName=names[0], jobId="p")["execution"]["jobDocument"]
    )
    assert requests.get(fresh["latest"], timeout=10).content == b"image v2"  # each read mints new URLs


def publish_package(iot: Any, firmware: dict[str, str], version: str = "2.0") -> str:
    iot.create_package(packageName="sensor-fw")
    arn = iot.create_package_version(
        packageName="sensor-fw",
        versionName=version,
        attributes={"sha256": "abc123", "channel": "stable"},
        artifact={
            "s3Location": {"bucket": "firmware-images", "key": "fw/image.bin", "version": firmware["old"]}
        },
    )["packageVersionArn"]
    return str(arn)


def test_package_placeholders_and_package_shadow(
    iot: Any, jobs_data: Any, boto_clients: Any, firmware: dict[str, str]
) -> None:
    group_arn, names = make_fleet(iot, 2)
    version_arn = publish_package(iot, firmware)
    document = json.dumps(
        {
            "url": "${aws:iot:package:sensor-fw:version:2.0:artifact:s3-presigned-url}",
            "sha": "${aws:iot:package:sensor-fw:version:2.0:attributes:sha256}",
            "all": "${aws:iot:package::version::attributes}",
        }
    )
    params: dict[str, Any] = dict(
        jobId="pkg",
        targets=[group_arn],
        document=document,
        destinationPackageVersions=[version_arn],
        presignedUrlConfig={"roleArn": ROLE, "expiresInSec": 600},
    )
    with pytest.raises(ClientError) as excinfo:
        call(iot, "create_job", **params)
    assert error_of(excinfo) == ("InvalidRequestException", 400)  # the version is still a DRAFT
    iot.update_package_version(packageName="sensor-fw", versionName="2.0", action="PUBLISH")
    iot.update_package_configuration(versionUpdateByJobsConfig={"enabled": True, "roleArn": ROLE})
    call(iot, "create_job", **params)
    assert call(iot, "describe_job", jobId="pkg")["job"]["destinationPackageVersions"] == [version_arn]

    execution = call(jobs_data, "start_next_pending_job_execution", thingName=names[0])["execution"]
    resolved = json.loads(execution["jobDocument"])
    assert requests.get(resolved["url"], timeout=10).content == b"image v1"  # the artifact's exact version
    assert resolved["sha"] == "abc123"
    assert json.loads(resolved["all"]) == {"channel": "stable", "sha256": "abc123"}

    iot_data = boto_clients.iot_data
    iot_data.update_thing_shadow(
        thingName=names[0],
        shadowName="$package",
        payload=json.dumps({"state": {"reported": {"other-pkg": {"version": "1.0"}}}}).encode(),
    )
    call(jobs_data, "update_job_execution", thingName=names[0], jobId="pkg", status="SUCCEEDED")
    shadow = json.loads(
        iot_data.get_thing_shadow(thingName=names[0], shadowName="$package")["payload"].read()
    )
    reported = shadow["state"]["reported"]
    assert reported["sensor-fw"] == {
        "version": "2.0",
        "attributes": {"sha256": "abc123", "channel": "stable"},
    }
    assert reported["other-pkg"] == {"version": "1.0"}  # merged with what was there

    call(jobs_data, "update_job_execution", thingName=names[1], jobId="pkg", status="FAILED")
    with pytest.raises(ClientError):
        iot_data.get_thing_shadow(thingName=names[1], shadowName="$package")

"""The Software Package Catalog over HTTP with boto3: every operation, success and error paths."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.pytest_plugin import BotoClients
from iotfleet.emulator.testing import assert_valid_output

ROLE = "arn:aws:iam::123456789012:role/package-updates"


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def firmware(boto_clients: BotoClients) -> dict[str, str]:
    """A versioned bucket holding one firmware object; returns its s3Location."""
    s3 = boto_clients.s3
    s3.create_bucket(Bucket="firmware")
    s3.put_bucket_versioning(Bucket="firmware", VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket="firmware", Key="fw/1.0.bin", Body=b"\x00" * 64)
    return {"bucket": "firmware", "key": "fw/1.0.bin", "version": put["VersionId"]}


def test_package_create_get_update_list_delete(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    created = iot.create_package(packageName="fw", description="Firmware", tags={"team": "ota"})
    assert_valid_output(iot, "create_package", created)
    assert created["packageName"] == "fw"
    assert created["packageArn"].endswith(":package/fw")
    got = iot.get_package(packageName="fw")
    assert_valid_output(iot, "get_package", got)
    assert got["description"] == "Firmware" and "defaultVersionName" not in got
    assert got["creationDate"] <= got["lastModifiedDate"]
    assert_valid_output(
        iot, "update_package", iot.update_package(packageName="fw", description="Main firmware")
    )
    assert iot.get_package(packageName="fw")["description"] == "Main firmware"
    listed = iot.list_packages()
    assert_valid_output(iot, "list_packages", listed)
    summaries = listed["packageSummaries"]
    assert [s["packageName"] for s in summaries] == ["fw"]
    assert_valid_output(iot, "delete_package", iot.delete_package(packageName="fw"))
    with pytest.raises(ClientError) as info:
        iot.get_package(packageName="fw")
    assert error_of(info) == ("ResourceNotFoundException", 404)


def test_package_errors(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot.create_package(packageName="fw")
    with pytest.raises(ClientError) as info:
        iot.create_package(packageName="fw")
    assert error_of(info) == ("ConflictException", 409)
    with pytest.raises(ClientError) as info:
        iot.update_package(packageName="missing", description="x")
    assert error_of(info) == ("ResourceNotFoundException", 404)
    iot.delete_package(packageName="missing")  # deleting nothing succeeds


def test_package_names_are_validated(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    for name in ("bad name", "x" * 129):
        with pytest.raises(ClientError) as info:
            iot.create_package(packageName=name)
        assert error_of(info) == ("ValidationException", 400)
    with pytest.raises(ClientError) as info:
        iot.create_package_version(packageName="fw", versionName="v" * 65)
    assert error_of(info) == ("ValidationException", 400)


def test_list_packages_pages_with_default_versions(
    firmware: dict[str, str], boto_clients: BotoClients
) -> None:
    iot = boto_clients.iot
    for name in ("a", "b", "c", "d", "e"):
        iot.create_package(packageName=name)
    iot.create_package_version(packageName="c", versionName="1.0", artifact={"s3Location": firmware})
    iot.update_package_version(packageName="c", versionName="1.0", action="PUBLISH")
    iot.update_package(packageName="c", defaultVersionName="1.0")
    names: list[str] = []
    kwargs: dict[str, Any] = {"maxResults": 2}
    while True:
        page = iot.list_packages(**kwargs)
        assert len(page["packageSummaries"]) <= 2
        names += [s["packageName"] for s in page["packageSummaries"]]
        for summary in page["packageSummaries"]:
            if summary["packageName"] == "c":
                assert summary["defaultVersionName"] == "1.0"
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert names == ["a", "b", "c", "d", "e"]
    paginated = [
        s["packageName"] for p in iot.get_paginator("list_packages").paginate() for s in p["packageSummaries"]
    ]
    assert paginated == names


def test_version_lifecycle(firmware: dict[str, str], boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot.create_package(packageName="fw")
    created = iot.create_package_version(
        packageName="fw",
        versionName="1.0.0",
        description="first",
        attributes={"checksum": "abc", "size": "64"},
        artifact={"s3Location": firmware},
        recipe='{"steps": []}',
        tags={"stage": "test"},
    )
    assert_valid_output(iot, "create_package_version", created)
    assert created["status"] == "DRAFT"
    assert created["packageVersionArn"].endswith(":package/fw/version/1.0.0")
    got = iot.get_package_version(packageName="fw", versionName="1.0.0")
    assert_valid_output(iot, "get_package_version", got)
    assert got["artifact"] == {"s3Location": firmware}
    assert got["attributes"] == {"checksum": "abc", "size": "64"}
    assert got["recipe"] == '{"steps": []}'

    iot.update_package_version(packageName="fw", versionName="1.0.0", attributes={"checksum": "def"})
    published = iot.update_package_version(packageName="fw", versionName="1.0.0", action="PUBLISH")
    assert_valid_output(iot, "update_package_version", published)
    assert iot.get_package_version(packageName="fw", versionName="1.0.0")["status"] == "PUBLISHED"
    with pytest.raises(ClientError) as info:
        iot.update_package_version(packageName="fw", versionName="1.0.0", attributes={"checksum": "x"})
    assert error_of(info) == ("ConflictException", 409)
    iot.update_package_version(packageName="fw", versionName="1.0.0", description="published one")
    iot.update_package_version(packageName="fw", versionName="1.0.0", action="DEPRECATE")
    assert iot.get_package_version(packageName="fw", versionName="1.0.0")["status"] == "DEPRECATED"
    iot.update_package_version(packageName="fw", versionName="1.0.0", action="PUBLISH")
    final = iot.get_package_version(packageName="fw", versionName="1.0.0")
    assert (final["status"], final["description"], final["attributes"]) == (
        "PUBLISHED",
        "published one",
        {"checksum": "def"},
    )


def test_draft_cannot_be_deprecated_or_default(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot.create_package(packageName="fw")
    iot.create_package_version(packageName="fw", versionName="0.1")
    with pytest.raises(ClientError) as info:
        iot.update_package_version(packageName="fw", versionName="0.1", action="DEPRECATE")
    assert error_of(info) == ("ConflictException", 409)
    with pytest.raises(ClientError) as info:
        iot.update_package(packageName="fw", defaultVersionName="0.1")
    assert error_of(info) == ("ConflictException", 409)


def test_version_errors(firmware: dict[str, str], boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    with pytest.raises(ClientError) as info:
        iot.create_package_version(packageName="missing", versionName="1")
    assert error_of(info) == ("ValidationException", 400)
    iot.create_package(packageName="fw")
    iot.create_package_version(packageName="fw", versionName="1")
    with pytest.raises(ClientError) as info:
        iot.create_package_version(packageName="fw", versionName="1")
    assert error_of(info) == ("ConflictException", 409)
    with pytest.raises(ClientError) as info:
        iot.get_package_version(packageName="fw", versionName="2")
    assert error_of(info) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as info:
        iot.update_package_version(packageName="fw", versionName="2", description="x")
    assert error_of(info) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as info:
        iot.create_package_version(packageName="fw", versionName="big", attributes={"k": "v" * 3100})
    assert error_of(info) == ("ValidationException", 400)
    assert "3KB" in info.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "location",
    [
        {"bucket": "nobucket", "key": "fw/1.0.bin"},
        {"bucket": "firmware", "key": "fw/missing.bin"},
        {"bucket": "firmware", "key": "fw/1.0.bin", "version": "no-such-version"},
    ],
)
def test_artifact_must_exist_in_s3(
    firmware: dict[str, str], location: dict[str, str], boto_clients: BotoClients
) -> None:
    iot = boto_clients.iot
    iot.create_package(packageName="fw")
    with pytest.raises(ClientError) as info:
        iot.create_package_version(packageName="fw", versionName="1", artifact={"s3Location": location})
    assert error_of(info) == ("ValidationException", 400)
    with pytest.raises(ClientError):
        iot.get_package_version(packageName="fw", versionName="1")


def test_artifact_can_change_only_in_draft(firmware: dict[str, str], boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    s3 = boto_clients.s3
    iot.create_package(packageName="fw")
    iot.create_package_version(packageName="fw", versionName="1")
    iot.update_package_version(packageName="fw", versionName="1", artifact={"s3Location": firmware})
    assert iot.get_package_version(packageName="fw", versionName="1")["artifact"]["s3Location"] == firmware
    iot.update_package_version(packageName="fw", versionName="1", action="PUBLISH")
    second = s3.put_object(Bucket="firmware", Key="fw/1.0.bin", Body=b"\x01")
    moved = {**firmware, "version": second["VersionId"]}
    with pytest.raises(ClientError) as info:
        iot.update_package_version(packageName="fw", versionName="1", artifact={"s3Location": moved})
    assert error_of(info) == ("ConflictException", 409)


def test_list_versions_filters_by_status_and_pages(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot.create_package(packageName="fw")
    for i in range(5):
        iot.create_package_version(packageName="fw", versionName=f"1.{i}")
    for i in (1, 3):
        iot.update_package_version(packageName="fw", versionName=f"1.{i}", action="PUBLISH")
    listed = iot.list_package_versions(packageName="fw", status="PUBLISHED")
    assert_valid_output(iot, "list_package_versions", listed)
    published = listed["packageVersionSummaries"]
    assert [(v["versionName"], v["status"]) for v in published] == [
        ("1.1", "PUBLISHED"),
        ("1.3", "PUBLISHED"),
    ]
    pages = list(
        iot.get_paginator("list_package_versions").paginate(
            packageName="fw", PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(p["packageVersionSummaries"]) for p in pages] == [2, 2, 1]
    assert [v["versionName"] for p in pages for v in p["packageVersionSummaries"]] == [
        f"1.{i}" for i in range(5)
    ]


def test_deletion_rules(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot.create_package(packageName="fw")
    iot.create_package_version(packageName="fw", versionName="1")
    iot.update_package_version(packageName="fw", versionName="1", action="PUBLISH")
    iot.update_package(packageName="fw", defaultVersionName="1")
    with pytest.raises(ClientError) as info:
        iot.delete_package_version(packageName="fw", versionName="1")
    assert error_of(info) == ("ValidationException", 400)
    with pytest.raises(ClientError) as info:
        iot.delete_package(packageName="fw")
    assert error_of(info) == ("ValidationException", 400)
    with pytest.raises(ClientError) as info:
        iot.update_package(packageName="fw", defaultVersionName="1", unsetDefaultVersion=True)
    assert error_of(info) == ("ValidationException", 400)
    iot.update_package(packageName="fw", unsetDefaultVersion=True)
    assert "defaultVersionName" not in iot.get_package(packageName="fw")
    assert_valid_output(
        iot, "delete_package_version", iot.delete_package_version(packageName="fw", versionName="1")
    )
    iot.delete_package_version(packageName="fw", versionName="1")  # again: nothing to delete, still fine
    iot.delete_package(packageName="fw")
    assert iot.list_packages()["packageSummaries"] == []


def test_client_token_makes_create_idempotent(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    token = "a" * 36
    first = iot.create_package(packageName="fw", clientToken=token)
    again = iot.create_package(packageName="fw", clientToken=token)
    assert first["packageArn"] == again["packageArn"]
    with pytest.raises(ClientError) as info:
        iot.create_package(packageName="fw")
    assert error_of(info) == ("ConflictException", 409)


def test_package_configuration(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    initial = iot.get_package_configuration()
    assert_valid_output(iot, "get_package_configuration", initial)
    assert initial["versionUpdateByJobsConfig"] == {"enabled": False}
    updated = iot.update_package_configuration(versionUpdateByJobsConfig={"enabled": True, "roleArn": ROLE})
    assert_valid_output(iot, "update_package_configuration", updated)
    assert iot.get_package_configuration()["versionUpdateByJobsConfig"] == {"enabled": True, "roleArn": ROLE}
    with pytest.raises(ClientError) as info:
        iot.update_package_configuration(
            versionUpdateByJobsConfig={"enabled": True, "roleArn": "arn:aws:s3:::not-a-role"}
        )
    assert error_of(info) == ("ValidationException", 400)
    iot.update_package_configuration(versionUpdateByJobsConfig={"enabled": False})
    assert iot.get_package_configuration()["versionUpdateByJobsConfig"] == {"enabled": False, "roleArn": ROLE}


def test_tags_on_packages_and_versions(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    package_arn = iot.create_package(packageName="fw", tags={"team": "ota"})["packageArn"]
    version_arn = iot.create_package_version(packageName="fw", versionName="1", tags={"stage": "dev"})[
        "packageVersionArn"
    ]
    tags = iot.list_tags_for_resource(resourceArn=package_arn)
    assert_valid_output(iot, "list_tags_for_resource", tags)
    assert tags["tags"] == [{"Key": "team", "Value": "ota"}]
    iot.tag_resource(
        resourceArn=version_arn, tags=[{"Key": "stage", "Value": "prod"}, {"Key": "owner", "Value": "me"}]
    )
    assert iot.list_tags_for_resource(resourceArn=version_arn)["tags"] == [
        {"Key": "owner", "Value": "me"},
        {"Key": "stage", "Value": "prod"},
    ]
    iot.untag_resource(resourceArn=version_arn, tagKeys=["stage"])
    assert iot.list_tags_for_resource(resourceArn=version_arn)["tags"] == [{"Key": "owner", "Value": "me"}]
    with pytest.raises(ClientError) as info:
        iot.list_tags_for_resource(resourceArn=package_arn.replace(":package/fw", ":package/other"))
    assert error_of(info) == ("ResourceNotFoundException", 404)
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    with pytest.raises(ClientError) as info:
        iot.tag_resource(resourceArn=package_arn, tags=too_many)
    assert error_of(info) == ("LimitExceededException", 410)

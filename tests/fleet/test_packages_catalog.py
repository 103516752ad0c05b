"""Package catalog on the emulator: versions from files, lifecycle rules, guarded deletes, configuration,
what devices report, and the version distribution."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from packages_setup import (
    BUCKET,
    FLEET,
    PACKAGE,
    aws_context,
    calls,
    enable_package_index,
    firmware,
    make_bucket,
    make_role,
    make_things,
    mutating_calls,
    report_version,
)

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.jobs import documents as docs
from iotfleet.fleet.packages.catalog import (
    create_package,
    delete_package,
    delete_version,
    deprecate_version,
    describe_package,
    describe_version,
    list_packages,
    list_versions,
    publish_version,
    set_default_version,
)
from iotfleet.fleet.packages.configuration import get_configuration, set_configuration
from iotfleet.fleet.packages.reported import device_packages, distribution
from iotfleet.fleet.packages.upload import (
    VersionUpload,
    artifact_key,
    file_digest,
    parse_attributes,
    upload_artifact,
    upload_version,
)


@pytest.fixture
def ctx(emulator: LocalEmulator) -> AwsContext:
    with aws_context(emulator) as context:
        make_bucket(context)
        create_package(context, FLEET, PACKAGE, "main board")
        yield context


def upload(ctx: AwsContext, tmp_path: Path, version: str, **options: object) -> VersionUpload:
    return upload_version(
        ctx, fleet=FLEET, bucket=BUCKET, package=PACKAGE, version=version, path=firmware(tmp_path, version),
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


def test_version_from_file_has_checksum_attributes_and_the_s3_version(ctx: AwsContext, tmp_path: Path) -> None:
    result = upload(ctx, tmp_path, "1.0.0", description="first build", attributes={"build": "812"})
    data = firmware(tmp_path, "1.0.0").read_bytes()
    version = ctx.iot.get_package_version(packageName=PACKAGE, versionName="1.0.0")
    assert version["status"] == "DRAFT"
    assert version["description"] == "first build"
    assert version["attributes"] == {"sha256": hashlib.sha256(data).hexdigest(), "size": str(len(data)), "build": "812"}
    location = version["artifact"]["s3Location"]
    head = ctx.s3.head_object(Bucket=BUCKET, Key=location["key"])
    assert location == {"bucket": BUCKET, "key": "firmware/fw-main/1.0.0/fw-1.0.0.bin", "version": head["VersionId"]}
    assert head["ServerSideEncryption"] == "AES256"
    body = ctx.s3.get_object(Bucket=BUCKET, Key=location["key"], VersionId=location["version"])["Body"].read()
    assert body == data
    assert (result.sha256, result.size, result.s3_version_id, result.created) == (
        hashlib.sha256(data).hexdigest(), len(data), head["VersionId"], True,
    )  # fmt: skip
    tags = ctx.iot.list_tags_for_resource(resourceArn=version["packageVersionArn"])["tags"]
    assert {"Key": "iotfleet:fleet", "Value": FLEET} in tags


def test_uploading_again_reuses_the_version_and_the_object(
    ctx: AwsContext, tmp_path: Path, emulator: LocalEmulator
) -> None:
    first = upload(ctx, tmp_path, "1.0.0")
    emulator.reset_counters()
    again = upload(ctx, tmp_path, "1.0.0", publish=True)
    assert (again.created, again.uploaded, again.s3_version_id) == (False, False, first.s3_version_id)
    assert again.status == "PUBLISHED"
    assert mutating_calls(emulator) == {"iot:UpdatePackageVersion": 1}


def test_an_interrupted_upload_resumes_without_a_second_object(
    ctx: AwsContext, tmp_path: Path, emulator: LocalEmulator
) -> None:
    path = firmware(tmp_path, "1.0.0")
    sha256, size = file_digest(path.open("rb"))
    key = artifact_key(PACKAGE, "1.0.0", path.name)
    object_version, uploaded = upload_artifact(ctx, BUCKET, key, path, sha256, size)  # then the run stopped
    assert uploaded
    emulator.reset_counters()
    result = upload(ctx, tmp_path, "1.0.0")
    assert (result.created, result.uploaded, result.s3_version_id) == (True, False, object_version)
    assert "s3:PutObject" not in calls(emulator)


def test_publish_at_once(ctx: AwsContext, tmp_path: Path) -> None:
    assert upload(ctx, tmp_path, "1.0.0", publish=True).status == "PUBLISHED"
    assert ctx.iot.get_package_version(packageName=PACKAGE, versionName="1.0.0")["status"] == "PUBLISHED"


@pytest.mark.parametrize(
    ("setup", "options", "param", "fragment"),
    [
        ("other-content", {}, "VERSION", "already exists with different content"),
        ("no-package", {}, "PACKAGE", "iotfleet packages create"),
        ("unversioned", {}, "--fleet", "does not keep object versions"),
        ("", {"attributes": {"bad key": "x"}}, "--attribute", "only letters"),
        ("", {"attributes": {"big": "x" * 3100}}, "--attribute", "3072"),
        ("", {"description": "x" * 1025}, "--description", "1 to 1024"),
    ],
)
def test_bad_version_requests_change_nothing(
    ctx: AwsContext, tmp_path: Path, emulator: LocalEmulator, setup: str, options: dict[str, object], param: str,
    fragment: str,
) -> None:  # fmt: skip
    package, bucket = PACKAGE, BUCKET
    if setup == "other-content":
        upload_version(ctx, fleet=FLEET, bucket=BUCKET, package=PACKAGE, version="1.0.0",
                           path=firmware(tmp_path, "other"))  # fmt: skip
    elif setup == "no-package":
        package = "not-there"
    elif setup == "unversioned":
        bucket = "plain-bucket"
        ctx.s3.create_bucket(Bucket=bucket)
    emulator.reset_counters()
    with pytest.raises(UsageError) as caught:
        upload_version(ctx, fleet=FLEET, bucket=bucket, package=package, version="1.0.0",
                           path=firmware(tmp_path, "1.0.0"), **options)  # type: ignore[arg-type]  # fmt: skip
    assert caught.value.param == param and fragment in caught.value.message
    assert mutating_calls(emulator) == {}


def test_computed_attributes_cannot_be_given() -> None:
    with pytest.raises(UsageError, match="computed from the file"):
        parse_attributes(["sha256=abc"])
    assert parse_attributes(["build=812", "channel=beta"]) == {"build": "812", "channel": "beta"}


def test_lifecycle_rules(ctx: AwsContext, tmp_path: Path, emulator: LocalEmulator) -> None:
    upload(ctx, tmp_path, "1.0.0")
    emulator.reset_counters()
    with pytest.raises(UsageError, match="only a PUBLISHED version can be deprecated"):
        deprecate_version(ctx, PACKAGE, "1.0.0")
    with pytest.raises(UsageError, match="only a PUBLISHED or DEPRECATED version can be the default"):
        set_default_version(ctx, PACKAGE, "1.0.0")
    with pytest.raises(UsageError, match="does not exist"):
        publish_version(ctx, PACKAGE, "9.9.9")
    assert mutating_calls(emulator) == {}

    assert publish_version(ctx, PACKAGE, "1.0.0").changed
    assert not publish_version(ctx, PACKAGE, "1.0.0").changed
    assert deprecate_version(ctx, PACKAGE, "1.0.0").status == "DEPRECATED"
    assert not deprecate_version(ctx, PACKAGE, "1.0.0").changed
    assert publish_version(ctx, PACKAGE, "1.0.0").message.endswith("DEPRECATED -> PUBLISHED")
    assert set_default_version(ctx, PACKAGE, "1.0.0")["changed"]
    assert ctx.iot.get_package(packageName=PACKAGE)["defaultVersionName"] == "1.0.0"
    assert set_default_version(ctx, PACKAGE, None)["previous"] == "1.0.0"
    assert "defaultVersionName" not in ctx.iot.get_package(packageName=PACKAGE)


def test_list_and_describe_every_page(ctx: AwsContext, tmp_path: Path) -> None:
    for i in range(3):
        create_package(ctx, FLEET, f"extra-{i}")
    for i in range(3):
        upload(ctx, tmp_path, f"1.0.{i}")
    names = [p["packageName"] for p in list_packages(ctx)]
    assert sorted(names) == sorted([PACKAGE, "extra-0", "extra-1", "extra-2"])
    described = describe_package(ctx, PACKAGE)
    assert [v["versionName"] for v in described["versions"]] == ["1.0.0", "1.0.1", "1.0.2"]
    assert describe_version(ctx, PACKAGE, "1.0.1")["attributes"]["size"] == "2048"


def _job_deploying(ctx: AwsContext, role: str, thing_arn: str, job_id: str, *, via_document_only: bool) -> None:
    arn = ctx.iot.get_package_version(packageName=PACKAGE, versionName="1.0.0")["packageVersionArn"]
    request = {
        "jobId": job_id,
        "targets": [thing_arn],
        "document": docs.render(docs.ota_document(PACKAGE, "1.0.0")),
        "presignedUrlConfig": {"roleArn": role, "expiresInSec": 600},
    }
    if not via_document_only:
        request["destinationPackageVersions"] = [arn]
    ctx.iot.create_job(**request)


@pytest.mark.parametrize("via_document_only", [False, True])
def test_delete_is_refused_while_an_active_job_deploys_the_version(
    ctx: AwsContext, tmp_path: Path, emulator: LocalEmulator, via_document_only: bool
) -> None:
    upload(ctx, tmp_path, "1.0.0", publish=True)
    upload(ctx, tmp_path, "1.1.0", publish=True)
    arns = make_things(ctx, ["dev-1"])
    _job_deploying(ctx, make_role(ctx), arns["dev-1"], "ota-active", via_document_only=via_document_only)
    emulator.reset_counters()
    with pytest.raises(UsageError, match=r"ota-active \(IN_PROGRESS: 1.0.0\)") as caught:
        delete_version(ctx, PACKAGE, "1.0.0")
    assert caught.value.param == "--force"
    with pytest.raises(UsageError, match="ota-active"):
        delete_package(ctx, PACKAGE)
    assert mutating_calls(emulator) == {}
    assert delete_version(ctx, PACKAGE, "1.1.0").deleted_versions == ("1.1.0",)  # not deployed: allowed
    forced = delete_version(ctx, PACKAGE, "1.0.0", force=True)
    assert [job.job_id for job in forced.active_jobs] == ["ota-active"]
    assert list_versions(ctx, PACKAGE) == []


def test_a_finished_job_does_not_block_deletion(ctx: AwsContext, tmp_path: Path) -> None:
    upload(ctx, tmp_path, "1.0.0", publish=True)
    arns = make_things(ctx, ["dev-1"])
    _job_deploying(ctx, make_role(ctx), arns["dev-1"], "ota-old", via_document_only=False)
    ctx.iot.cancel_job(jobId="ota-old")
    assert delete_version(ctx, PACKAGE, "1.0.0").deleted_versions == ("1.0.0",)


def test_delete_package_takes_its_versions_and_unsets_the_default(ctx: AwsContext, tmp_path: Path) -> None:
    upload(ctx, tmp_path, "1.0.0", publish=True)
    upload(ctx, tmp_path, "1.1.0")
    set_default_version(ctx, PACKAGE, "1.0.0")
    result = delete_package(ctx, PACKAGE)
    assert (sorted(result.deleted_versions), result.package_deleted, result.unset_default) == (
        ["1.0.0", "1.1.0"], True, "1.0.0",
    )  # fmt: skip
    assert PACKAGE not in [p["packageName"] for p in list_packages(ctx)]
    assert not delete_package(ctx, PACKAGE).package_deleted


def test_package_configuration(ctx: AwsContext) -> None:
    assert get_configuration(ctx)["enabled"] is False
    role = make_role(ctx, "iotfleet-demo-package")
    changed = set_configuration(ctx, enabled=True, role_arn=role)
    assert changed["previous"]["enabled"] is False
    assert changed["current"] == {"enabled": True, "roleArn": role}
    assert set_configuration(ctx, enabled=False)["current"]["enabled"] is False
    with pytest.raises(UsageError, match="needs a role"):
        set_configuration(ctx, enabled=True)


def test_device_view_reads_the_package_shadow(ctx: AwsContext) -> None:
    make_things(ctx, ["dev-1", "dev-2"])
    report_version(ctx, "dev-1", PACKAGE, "1.1.0")
    report_version(ctx, "dev-1", "bootloader", "7")
    found = device_packages(ctx, "dev-1")
    assert [(p.package, p.version) for p in found] == [("bootloader", "7"), (PACKAGE, "1.1.0")]
    assert found[1].attributes == {"build": "1.1.0"}
    assert found[1].reported_at is not None
    assert device_packages(ctx, "dev-2") == []
    with pytest.raises(UsageError, match="does not exist"):
        device_packages(ctx, "nobody")


def test_distribution_counts_devices_per_version_with_one_call_per_version(
    ctx: AwsContext, tmp_path: Path, emulator: LocalEmulator
) -> None:
    enable_package_index(ctx)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        upload(ctx, tmp_path, version, publish=True)
    reports = {"d1": "1.0.0", "d2": "1.0.0", "d3": "1.1.0", "d4": "1.1.0", "d5": "1.1.0", "d6": "0.9-lab"}
    make_things(ctx, [*reports, "d7"])
    for thing, version in reports.items():
        report_version(ctx, thing, PACKAGE, version)
    report_version(ctx, "d7", "bootloader", "7")
    emulator.reset_counters()
    result = distribution(ctx, PACKAGE)
    assert result.as_dict() == {
        "package": PACKAGE, "total": 6, "versions": {"1.0.0": 2, "1.1.0": 3, "1.2.0": 0}, "other": 1,
    }  # fmt: skip
    assert calls(emulator)["iot:GetStatistics"] == 4
    assert json.dumps(result.as_dict())


def test_distribution_needs_the_package_shadow_indexed(ctx: AwsContext) -> None:
    with pytest.raises(UsageError, match="indexing"):
        distribution(ctx, PACKAGE)

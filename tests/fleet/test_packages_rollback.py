"""Rollback on the emulator: a real OTA job back to an earlier version, for exactly the devices that report
another version, by name or through a dynamic group; shadows are never written."""

from __future__ import annotations

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
    job_document,
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
from iotfleet.fleet.jobs.settings import ConstantRollout, JobSettings
from iotfleet.fleet.packages.catalog import create_package
from iotfleet.fleet.packages.reported import device_packages
from iotfleet.fleet.packages.rollback import (
    DYNAMIC_GROUP,
    THINGS,
    RollbackPlan,
    apply_rollback,
    plan_rollback,
)
from iotfleet.fleet.packages.upload import upload_version

REPORTS = {"d1": "1.0.0", "d2": "1.0.0", "d3": "1.1.0", "d4": "1.1.0", "d5": "1.2.0", "d6": "0.9-lab"}


class Fleet:
    def __init__(self, ctx: AwsContext, role: str, things: dict[str, str]) -> None:
        self.ctx, self.role, self.things = ctx, role, things

    def plan(self, version: str = "1.0.0", **options: object) -> RollbackPlan:
        return plan_rollback(self.ctx, fleet=FLEET, package=PACKAGE, version=version,
                                 presign_role_arn=self.role, **options)  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture
def fleet(emulator: LocalEmulator, tmp_path: Path) -> Fleet:
    with aws_context(emulator) as ctx:
        make_bucket(ctx)
        enable_package_index(ctx)
        create_package(ctx, FLEET, PACKAGE)
        for version in ("1.0.0", "1.1.0", "1.2.0"):
            upload_version(ctx, fleet=FLEET, bucket=BUCKET, package=PACKAGE, version=version,
                               path=firmware(tmp_path, version), publish=True)  # fmt: skip
        upload_version(ctx, fleet=FLEET, bucket=BUCKET, package=PACKAGE, version="1.3.0",
                           path=firmware(tmp_path, "1.3.0"))  # fmt: skip
        things = make_things(ctx, [*REPORTS, "no-report"])
        for thing, version in REPORTS.items():
            report_version(ctx, thing, PACKAGE, version)
        role = make_role(ctx)
        emulator.reset_counters()
        yield Fleet(ctx, role, things)


def shadows(ctx: AwsContext) -> dict[str, str | None]:
    return {thing: next((p.version for p in device_packages(ctx, thing) if p.package == PACKAGE), None)
            for thing in REPORTS}  # fmt: skip


def test_rollback_targets_exactly_the_devices_on_other_versions(fleet: Fleet, emulator: LocalEmulator) -> None:
    before = shadows(fleet.ctx)
    plan = fleet.plan(settings=JobSettings(rollout=ConstantRollout(10)))
    assert plan.method == THINGS
    assert plan.devices == ["d3", "d4", "d5", "d6"]
    assert mutating_calls(emulator) == {}
    answer = apply_rollback(fleet.ctx, plan)
    assert mutating_calls(emulator) == {"iot:CreateJob": 1}
    job = fleet.ctx.iot.describe_job(jobId=answer["jobId"])["job"]
    assert sorted(job["targets"]) == sorted(fleet.things[t] for t in ("d3", "d4", "d5", "d6"))
    assert job["destinationPackageVersions"] == [
        fleet.ctx.iot.get_package_version(packageName=PACKAGE, versionName="1.0.0")["packageVersionArn"]
    ]
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 10}
    assert job_document(fleet.ctx, answer["jobId"]) == docs.ota_document(PACKAGE, "1.0.0")
    assert answer["jobId"].startswith("rollback-fw-main-1_0_0-")
    tags = fleet.ctx.iot.list_tags_for_resource(resourceArn=answer["jobArn"])["tags"]
    assert {"Key": "iotfleet:job-kind", "Value": "rollback"} in tags
    assert shadows(fleet.ctx) == before
    assert not [op for op in calls(emulator) if op.startswith("iot-data:Update")]


def test_a_large_rollback_goes_through_a_tagged_dynamic_group(fleet: Fleet, emulator: LocalEmulator) -> None:
    plan = fleet.plan(max_listed_things=3)
    assert plan.method == DYNAMIC_GROUP and plan.group_name is not None
    assert plan.query == (
        'shadow.name.$package.reported.fw-main.version:* AND NOT shadow.name.$package.reported.fw-main.version:"1.0.0"'
    )
    assert mutating_calls(emulator) == {}
    answer = apply_rollback(fleet.ctx, plan)
    group = fleet.ctx.iot.describe_thing_group(thingGroupName=plan.group_name)
    assert group["queryString"] == plan.query
    members = fleet.ctx.iot.list_things_in_thing_group(thingGroupName=plan.group_name)["things"]
    assert sorted(members) == ["d3", "d4", "d5", "d6"]
    tags = fleet.ctx.iot.list_tags_for_resource(resourceArn=group["thingGroupArn"])["tags"]
    assert {"Key": "iotfleet:fleet", "Value": FLEET} in tags
    job = fleet.ctx.iot.describe_job(jobId=answer["jobId"])["job"]
    assert job["targets"] == [group["thingGroupArn"]] == [answer["dynamicGroupArn"]]
    assert job["targetSelection"] == "CONTINUOUS"


@pytest.mark.parametrize(
    ("version", "fragment"),
    [("1.3.0", "it is DRAFT"), ("1.2.0", "is the newest released version"), ("7.7.7", "does not exist")],
)
def test_rollback_refuses_versions_that_are_not_earlier_and_deployable(
    fleet: Fleet, emulator: LocalEmulator, version: str, fragment: str
) -> None:
    with pytest.raises(UsageError, match=fragment):
        fleet.plan(version)
    assert mutating_calls(emulator) == {}


def test_bad_rollback_settings_make_no_call(fleet: Fleet, emulator: LocalEmulator) -> None:
    with pytest.raises(UsageError, match="invalid job id"):
        fleet.plan(job_id="not valid!")
    assert calls(emulator) == {}


def test_nothing_to_roll_back_creates_nothing(fleet: Fleet, emulator: LocalEmulator) -> None:
    for thing in REPORTS:
        report_version(fleet.ctx, thing, PACKAGE, "1.1.0")
    plan = fleet.plan("1.1.0")
    assert (plan.method, plan.devices) == (None, [])
    assert apply_rollback(fleet.ctx, plan) == {}
    assert "iot:CreateJob" not in calls(emulator)

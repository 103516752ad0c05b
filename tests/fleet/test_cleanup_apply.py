"""Applying a cleanup on the emulator: everything of the fleet goes, in dependency order, settings come back,
failures are reported per resource, and a second run finishes what the first left."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cleanup_setup import FLEET, SmallFleet, aws_context, build_fleet, calls, report, shadow_names

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import Interrupted
from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.extension import Call, temporary_handler
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.cleanup.apply import ALREADY_GONE, DELETED, FAILED, RESTORED, CleanupResult, apply_cleanup
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.packages.configuration import get_configuration


@pytest.fixture
def ctx(emulator: LocalEmulator) -> Iterator[AwsContext]:
    with aws_context(emulator) as context:
        yield context


@pytest.fixture
def fleet(ctx: AwsContext, tmp_path: Path) -> SmallFleet:
    return build_fleet(ctx, tmp_path)


def missing(call: Any, code: str = "ResourceNotFoundException", **request: Any) -> bool:
    try:
        call(**request)
    except ClientError as err:
        return err.response["Error"]["Code"] == code
    return False


def record_calls(ctx: AwsContext) -> list[tuple[str, dict[str, Any]]]:
    """Every call the context's clients make from now on, in order: (operation, parameters)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def note(model: Any, params: dict[str, Any], **_: Any) -> None:
        seen.append((model.name, dict(params)))

    for client in (ctx.iot, ctx.iot_data, ctx.s3, ctx.iam):
        client.meta.events.register("provide-client-params.*.*", note)
    return seen


def test_cleanup_deletes_every_resource_of_the_fleet_and_puts_settings_back(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    with aws_context(emulator) as ctx:
        indexing_before = ctx.iot.get_indexing_configuration()["thingIndexingConfiguration"]
        packages_before = get_configuration(ctx)
        fleet = build_fleet(ctx, tmp_path)
        report(ctx, fleet.things[0], "diagnostics", {"uptime": 5})
        assert sorted(shadow_names(ctx, fleet.things[0])) == ["$package", "diagnostics"]
        emulator.reset_counters()

        result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET))

        assert result.ok, result.failures
        assert {o.status for o in result.outcomes} <= {DELETED, RESTORED}
        assert result.removed()["shadows"] == 2 * len(fleet.things) + 1
        assert calls(emulator)["iot-data:DeleteThingShadow"] == 2 * len(fleet.things) + 1
        for thing in fleet.things:
            assert missing(ctx.iot.describe_thing, thingName=thing)
            assert missing(ctx.iot_data.get_thing_shadow, thingName=thing)
            assert missing(ctx.iot_data.get_thing_shadow, thingName=thing, shadowName="$package")
        # DeleteThing leaves a thing's shadows in place (on AWS and on the emulator): cleanup deleted them.
        assert missing(ctx.iot_data.get_thing_shadow, thingName=fleet.things[0], shadowName="diagnostics")
        assert shadow_names(ctx, fleet.things[0]) == []
        for group in [*fleet.country_groups, fleet.continent_group, fleet.dynamic_group]:
            assert missing(ctx.iot.describe_thing_group, thingGroupName=group)
        for package in fleet.packages:
            assert missing(ctx.iot.get_package, packageName=package)
        for role in fleet.roles:
            assert missing(ctx.iam.get_role, "NoSuchEntity", RoleName=role)
        for thing_type in fleet.thing_types:
            assert missing(ctx.iot.describe_thing_type, thingTypeName=thing_type)
        assert missing(ctx.iot.describe_job_template, jobTemplateId=fleet.templates[0])
        assert missing(ctx.s3.head_bucket, "404", Bucket=fleet.bucket)
        emulator.advance(5)  # AWS takes a while to finish a job deletion
        assert missing(ctx.iot.describe_job, jobId=fleet.jobs[0])
        assert ctx.iot.get_indexing_configuration()["thingIndexingConfiguration"] == indexing_before
        assert get_configuration(ctx)["enabled"] == packages_before["enabled"] is False
        assert plan_cleanup(ctx, FLEET).empty


def test_deletions_follow_the_dependency_order(ctx: AwsContext, fleet: SmallFleet) -> None:
    plan = plan_cleanup(ctx, FLEET)
    seen = record_calls(ctx)
    assert apply_cleanup(ctx, plan).ok
    operations = [name for name, _ in seen]

    def first(operation: str) -> int:
        return operations.index(operation)

    def last(operation: str) -> int:
        return len(operations) - 1 - operations[::-1].index(operation)

    sequence = ["DeprecateThingType", "CancelJob", "DeleteJob", "DeleteDynamicThingGroup", "DeleteThing",
                "DeleteThingGroup", "DeletePackage", "UpdatePackageConfiguration", "UpdateIndexingConfiguration",
                "DeleteBucket", "DeleteRole", "DeleteThingType"]  # fmt: skip
    for before, after in pairwise(sequence):
        assert last(before) < first(after), f"{before} must all come before {after}"
    assert ("CancelJob", {"jobId": fleet.jobs[0], "force": True, "comment": "iotfleet cleanup"}) in seen
    assert ("DeleteJob", {"jobId": fleet.jobs[0], "force": True}) in seen
    # Within a thing: shadows before the thing; within a package: default unset, versions, then the package.
    thing = fleet.things[0]
    thing_calls = [name for name, params in seen if params.get("thingName") == thing]
    assert thing_calls.index("DeleteThingShadow") < thing_calls.index("DeleteThing")
    assert thing_calls.count("DeleteThingShadow") == 2
    package_calls = [
        (name, params) for name, params in seen if params.get("packageName") == fleet.packages[0]
    ]
    assert [name for name, _ in package_calls if name.startswith(("Update", "Delete"))] == [
        "UpdatePackage", "DeletePackageVersion", "DeletePackageVersion", "DeletePackage",
    ]  # fmt: skip
    assert (
        package_calls[[n for n, _ in package_calls].index("UpdatePackage")][1]["unsetDefaultVersion"] is True
    )
    # Children before parents, versions before the bucket, policies before the role.
    groups = [params["thingGroupName"] for name, params in seen if name == "DeleteThingGroup"]
    assert groups[-1] == fleet.continent_group
    assert last("DeleteObjects") < first("DeleteBucket")
    # Roles are deleted side by side, so the order holds per role, not across roles.
    for role in {params["RoleName"] for name, params in seen if name == "DeleteRole"}:
        role_calls = [name for name, params in seen if params.get("RoleName") == role]
        assert "DeleteRolePolicy" in role_calls, role
        assert role_calls.index("DeleteRole") > max(
            i for i, name in enumerate(role_calls) if name == "DeleteRolePolicy"
        ), role


def test_a_resource_already_gone_counts_as_deleted(ctx: AwsContext, fleet: SmallFleet) -> None:
    plan = plan_cleanup(ctx, FLEET)
    ctx.iot_data.delete_thing_shadow(thingName=fleet.things[0])
    ctx.iot_data.delete_thing_shadow(thingName=fleet.things[0], shadowName="$package")
    ctx.iot.delete_thing(thingName=fleet.things[0])
    ctx.iot.delete_job_template(jobTemplateId=fleet.templates[0])
    ctx.iot.delete_dynamic_thing_group(thingGroupName=fleet.dynamic_group)
    result = apply_cleanup(ctx, plan)
    assert result.ok, result.failures
    status = {(o.kind, o.name): o.status for o in result.outcomes}
    assert status[("thing", fleet.things[0])] == ALREADY_GONE
    assert status[("job template", fleet.templates[0])] == ALREADY_GONE
    assert status[("thing", fleet.things[1])] == DELETED
    assert result.summary()["thing"] == {"deleted": len(fleet.things), "skipped": 0, "failed": 0}


def test_failures_are_reported_per_resource_and_a_second_run_finishes_the_cleanup(
    ctx: AwsContext, fleet: SmallFleet, emulator: LocalEmulator
) -> None:
    stuck = set(fleet.things[:2])

    def refuse_some(call: Call) -> dict[str, Any]:
        if call.params["thingName"] in stuck:
            raise InvalidRequestException(f"Thing {call.params['thingName']} is busy")
        return call.moto()

    with temporary_handler("iot", "DeleteThing", refuse_some):
        first = apply_cleanup(ctx, plan_cleanup(ctx, FLEET))
    assert not first.ok
    failed = {f.name: f for f in first.failures if f.kind == "thing"}
    assert set(failed) == stuck
    assert all(f.code == "InvalidRequestException" for f in failed.values())
    # AWS refuses to delete a thing type that a remaining thing still uses; the second run deletes it too.
    others = [f for f in first.failures if f.kind != "thing"]
    assert all(f.kind == "thing type" and "use" in f.error for f in others), others
    assert "is busy" in failed[fleet.things[0]].error
    assert first.summary()["thing"] == {"deleted": len(fleet.things) - 2, "skipped": 0, "failed": 2}

    again = plan_cleanup(ctx, FLEET)
    assert sorted(r.name for r in again.resources("thing")) == sorted(stuck)
    assert sum(len(step.resources) for step in again.steps) == len(stuck) + len(others)
    emulator.reset_counters()
    second = apply_cleanup(ctx, again)
    assert second.ok
    assert calls(emulator)["iot:DeleteThing"] == 2
    assert plan_cleanup(ctx, FLEET).empty


def test_a_failed_settings_restore_keeps_the_bucket_that_records_them(
    ctx: AwsContext, fleet: SmallFleet
) -> None:
    def refuse(call: Call) -> dict[str, Any]:
        raise InvalidRequestException("indexing is being rebuilt")

    with temporary_handler("iot", "UpdateIndexingConfiguration", refuse):
        result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET))
    status = {(o.kind, o.name): (o.status, o.detail) for o in result.outcomes}
    assert status[("account setting", "fleet indexing configuration")][0] == FAILED
    assert status[("bucket", fleet.bucket)][0] == "skipped"
    assert ctx.s3.head_bucket(Bucket=fleet.bucket)
    second = apply_cleanup(ctx, plan_cleanup(ctx, FLEET))
    assert second.ok
    assert missing(ctx.s3.head_bucket, "404", Bucket=fleet.bucket)


@pytest.mark.emulator(time_scale=0.001)  # a forced deletion takes a second of emulator time
def test_an_in_progress_job_is_cancelled_with_force_before_it_is_deleted(
    ctx: AwsContext, fleet: SmallFleet
) -> None:
    assert ctx.iot.describe_job(jobId=fleet.jobs[0])["job"]["status"] == "IN_PROGRESS"
    plan = plan_cleanup(ctx, FLEET, "jobs")
    seen = record_calls(ctx)
    assert apply_cleanup(ctx, plan).ok
    job_calls = [name for name, params in seen if params.get("jobId") == fleet.jobs[0]]
    assert job_calls == ["CancelJob", "DeleteJob"]
    assert ctx.iot.describe_job(jobId=fleet.jobs[0])["job"]["status"] == "DELETION_IN_PROGRESS"


class StopAfter:
    """A Progress that presses Ctrl-C once ``count`` things are done."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.label = ""
        self.done = 0

    def start(self, total: int | None, label: str) -> None:
        self.label = label

    def advance(self, n: int = 1) -> None:
        if self.label == "Deleting things":
            self.done += n
            if self.done == self.count:
                raise KeyboardInterrupt

    def finish(self) -> None:
        return None


def test_an_interrupted_cleanup_reports_what_it_did_and_a_second_run_finishes_it(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    with aws_context(emulator, concurrency=1) as ctx:
        fleet = build_fleet(ctx, tmp_path)
        with pytest.raises(Interrupted) as stopped:
            apply_cleanup(ctx, plan_cleanup(ctx, FLEET), progress=StopAfter(2))
        partial = stopped.value.partial
        assert isinstance(partial, CleanupResult) and partial.interrupted
        assert [o.name for o in partial.outcomes if o.kind == "thing"] == fleet.things[:2]
        assert {o.kind for o in partial.outcomes} == {"job", "job template", "dynamic group", "thing"}

        again = plan_cleanup(ctx, FLEET)
        assert [p.step.key for p in again.steps if p.resources][:2] == ["things", "static-groups"]
        assert sorted(r.name for r in again.resources("thing")) == sorted(fleet.things[2:])
        assert apply_cleanup(ctx, again).ok
        assert plan_cleanup(ctx, FLEET).empty


def test_a_disabled_configuration_gets_its_earlier_role_back_not_the_deleted_one(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    earlier = "arn:aws:iam::123456789012:role/operations-package-writer"
    with aws_context(emulator) as ctx:
        # Before iotfleet: disabled, with a role AWS kept from an earlier time it was on.
        ctx.iot.update_package_configuration(versionUpdateByJobsConfig={"enabled": True, "roleArn": earlier})
        ctx.iot.update_package_configuration(versionUpdateByJobsConfig={"enabled": False})
        fleet = build_fleet(ctx, tmp_path)
        assert get_configuration(ctx)["roleArn"] != earlier
        result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET))
        assert result.ok, result.failures
        config = ctx.iot.get_package_configuration()["versionUpdateByJobsConfig"]
        assert config == {"enabled": False, "roleArn": earlier}
        assert all(role not in config["roleArn"] for role in fleet.roles)

"""The cleanup plan on the emulator: read calls only, ownership decides, lookalikes are skipped with their reason,
dependency order, and what the fleet's own resources must keep when others depend on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cleanup_setup import (
    CONTINENT_GROUP_NAME,
    FLEET,
    SmallFleet,
    aws_context,
    build_fleet,
    calls,
    mutating_calls,
)

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.pytest_plugin import BotoClients
from iotfleet.fleet.cleanup.account_settings import INDEXING, PACKAGES, RESTORE
from iotfleet.fleet.cleanup.kinds import ALL, ONLY_KINDS, parse_only
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE, tag_list


@pytest.fixture
def ctx(emulator: LocalEmulator) -> Iterator[AwsContext]:
    with aws_context(emulator) as context:
        yield context


@pytest.fixture
def fleet(ctx: AwsContext, tmp_path: Path) -> SmallFleet:
    return build_fleet(ctx, tmp_path)


def make_foreign(boto: BotoClients) -> None:
    """What iotfleet did not create: same thing prefix, country-style groups elsewhere, untagged bucket and roles."""
    for number in (900, 901):
        boto.iot.create_thing(thingName=f"Vehicle-VIN-{number}")
    boto.iot.create_thing_group(thingGroupName="Europe_Fleet")
    boto.iot.create_thing_group(thingGroupName="DE_Fleet", parentGroupName="Europe_Fleet")
    boto.s3.create_bucket(Bucket="iotfleet-demo-lookalike")
    boto.s3.create_bucket(Bucket="plain-firmware")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    boto.iam.create_role(RoleName="iotfleet-demo-jobs-presign-old", AssumeRolePolicyDocument=trust)
    boto.iam.create_role(RoleName="demo-firmware-reader", AssumeRolePolicyDocument=trust)


def test_plan_reads_only_and_lists_the_fleet_in_dependency_order(
    ctx: AwsContext, fleet: SmallFleet, emulator: LocalEmulator, boto_clients: BotoClients
) -> None:
    make_foreign(boto_clients)
    emulator.reset_counters()
    plan = plan_cleanup(ctx, FLEET)
    assert calls(emulator), "the plan reads"
    assert mutating_calls(emulator) == {}
    assert [planned.step.key for planned in plan.steps] == [
        "jobs", "rollouts", "dynamic-groups", "certificates", "things", "static-groups", "packages",
        "package-configuration", "account-settings", "bucket", "roles", "policy", "ca-certificate", "key-store",
        "thing-types",
    ]  # fmt: skip
    assert plan.counts() == {
        "job": 1, "job template": 1, "rollout record": 0, "dynamic group": 1, "thing": 6, "static group": 3, "package": 2,
        "package configuration": 1, "account setting": 1, "bucket": 1, "role": 2, "thing type": 2,
        "certificate": 0, "IoT policy": 0, "CA certificate": 0, "key store": 0,
    }  # fmt: skip
    assert sorted(r.name for r in plan.resources("thing")) == sorted(fleet.things)
    assert [(c.name, c.action) for c in plan.settings] == [(PACKAGES, RESTORE), (INDEXING, RESTORE)]
    indexing = plan.settings[1]
    assert indexing.target["thingIndexingMode"] == "OFF"
    assert indexing.current["thingIndexingMode"] == "REGISTRY_AND_SHADOW"
    assert not plan.empty


def test_lookalikes_are_skipped_with_their_reason_and_never_planned(
    ctx: AwsContext, fleet: SmallFleet, boto_clients: BotoClients
) -> None:
    make_foreign(boto_clients)
    plan = plan_cleanup(ctx, FLEET)
    skipped = {(s.kind, s.name): s.reason for s in plan.skipped}
    for key in [
        ("thing", "Vehicle-VIN-900"),
        ("thing", "Vehicle-VIN-901"),
        ("static group", "DE_Fleet"),
        ("static group", "Europe_Fleet"),
        ("bucket", "iotfleet-demo-lookalike"),
        ("role", "iotfleet-demo-jobs-presign-old"),
    ]:
        assert "no ownership record for fleet 'demo'" in skipped[key]
    planned = {resource.name for step in plan.steps for resource in step.resources}
    foreign = {"Vehicle-VIN-900", "Vehicle-VIN-901", "DE_Fleet", "Europe_Fleet", "iotfleet-demo-lookalike",
               "plain-firmware", "iotfleet-demo-jobs-presign-old", "demo-firmware-reader"}  # fmt: skip
    assert not planned & foreign
    # A bucket not named like iotfleet's is not even a candidate; an unrelated role is not listed either.
    assert ("bucket", "plain-firmware") not in skipped


def test_another_fleets_resources_are_named_as_such(ctx: AwsContext, fleet: SmallFleet) -> None:
    ctx.iot.create_thing(
        thingName="Vehicle-VIN-700", attributePayload={"attributes": {FLEET_ATTRIBUTE: "other"}}
    )
    ctx.iot.create_thing_group(thingGroupName="MX_Fleet", tags=tag_list("other"))
    plan = plan_cleanup(ctx, FLEET)
    skipped = {(s.kind, s.name): s.reason for s in plan.skipped}
    assert skipped[("thing", "Vehicle-VIN-700")] == "belongs to iotfleet fleet 'other'"
    assert skipped[("static group", "MX_Fleet")] == "belongs to iotfleet fleet 'other'"
    assert plan.other_fleets == ["other"]


def test_static_groups_go_children_first_and_a_group_holding_others_things_stays(
    ctx: AwsContext, fleet: SmallFleet, boto_clients: BotoClients
) -> None:
    plan = plan_cleanup(ctx, FLEET)
    order = [r.name for r in plan.resources("static group")]
    assert order.index("US_Fleet") < order.index(CONTINENT_GROUP_NAME)
    assert order.index("CA_Fleet") < order.index(CONTINENT_GROUP_NAME)

    boto_clients.iot.create_thing(thingName="Vehicle-VIN-950")
    boto_clients.iot.add_thing_to_thing_group(thingGroupName="US_Fleet", thingName="Vehicle-VIN-950")
    plan = plan_cleanup(ctx, FLEET)
    skipped = {s.name: s.reason for s in plan.skipped if s.kind == "static group"}
    assert skipped["US_Fleet"] == "holds 1 thing(s) this fleet does not own: Vehicle-VIN-950"
    assert skipped[CONTINENT_GROUP_NAME].startswith("its child group US_Fleet is kept")
    assert [r.name for r in plan.resources("static group")] == ["CA_Fleet"]


def test_a_group_with_a_child_group_it_does_not_own_stays(
    ctx: AwsContext, fleet: SmallFleet, boto_clients: BotoClients
) -> None:
    boto_clients.iot.create_thing_group(thingGroupName="MX_Fleet", parentGroupName=CONTINENT_GROUP_NAME)
    plan = plan_cleanup(ctx, FLEET)
    skipped = {s.name: s.reason for s in plan.skipped if s.kind == "static group"}
    assert skipped[CONTINENT_GROUP_NAME] == "has child groups this fleet does not own: MX_Fleet"
    assert sorted(r.name for r in plan.resources("static group")) == ["CA_Fleet", "US_Fleet"]


def test_thing_types_others_use_are_skipped_or_handed_to_the_iotfleet_fleet_using_them(
    ctx: AwsContext, fleet: SmallFleet, boto_clients: BotoClients
) -> None:
    boto_clients.iot.create_thing(thingName="someone-truck", thingTypeName="TruckVehicle")
    ctx.iot.create_thing(
        thingName="Other-1",
        thingTypeName="SedanVehicle",
        attributePayload={"attributes": {FLEET_ATTRIBUTE: "other"}},
    )
    plan = plan_cleanup(ctx, FLEET)
    assert plan.resources("thing type") == []
    skipped = {s.name: s.reason for s in plan.skipped if s.kind == "thing type"}
    assert skipped == {"TruckVehicle": "used by 1 thing(s) this fleet does not own: someone-truck"}
    assert [(r.name, r.info["hand_over_to"]) for r in plan.handovers] == [("SedanVehicle", "other")]


def test_only_selects_steps_and_keeps_the_bucket_while_its_record_has_work(
    ctx: AwsContext, fleet: SmallFleet
) -> None:
    plan = plan_cleanup(ctx, FLEET, "things")
    assert [p.step.key for p in plan.steps] == ["certificates", "things"]
    assert plan.settings == []

    plan = plan_cleanup(ctx, FLEET, ["groups,jobs"])
    assert [p.step.key for p in plan.steps] == ["jobs", "rollouts", "dynamic-groups", "static-groups"]

    plan = plan_cleanup(ctx, FLEET, "storage")
    assert plan.resources("bucket") == []
    [kept] = [s for s in plan.skipped if s.kind == "bucket"]
    assert "record of account settings still to put back" in kept.reason
    assert "--only all" in kept.reason

    # Roles alone: the package configuration still names the fleet's package role, so that one stays.
    plan = plan_cleanup(ctx, FLEET, "roles")
    assert [r.name for r in plan.resources("role")] == ["iotfleet-demo-jobs-presign"]
    [kept] = [s for s in plan.skipped if s.kind == "role"]
    assert kept.name == "iotfleet-demo-package-config"


def test_parse_only() -> None:
    assert parse_only(None) == frozenset((*ONLY_KINDS, ALL))
    assert parse_only(["all"]) == frozenset((*ONLY_KINDS, ALL))
    assert parse_only(["things,groups", "jobs"]) == frozenset({"things", "groups", "jobs"})
    assert ALL in parse_only([",".join(ONLY_KINDS)])
    with pytest.raises(UsageError) as raised:
        parse_only(["things,bogus"])
    assert raised.value.param == "--only"
    assert "unknown kind 'bogus'" in raised.value.message


def test_an_invalid_fleet_name_is_refused_before_any_call(ctx: AwsContext, emulator: LocalEmulator) -> None:
    emulator.reset_counters()
    with pytest.raises(UsageError) as raised:
        plan_cleanup(ctx, "Bad_Name")
    assert raised.value.param == "--fleet"
    assert calls(emulator) == {}


def test_nothing_of_the_fleet_means_an_empty_plan(ctx: AwsContext, boto_clients: BotoClients) -> None:
    make_foreign(boto_clients)
    plan = plan_cleanup(ctx, FLEET)
    assert plan.empty
    assert all(not planned.resources for planned in plan.steps)


@pytest.mark.parametrize("values", [[""], [" "], [","], ["jobs", ""], [" , "], []])
def test_an_only_list_that_names_no_kind_is_a_usage_error_never_everything(values: list[str]) -> None:
    with pytest.raises(UsageError) as raised:
        parse_only(values)
    assert raised.value.param == "--only"
    assert "names no kind" in raised.value.message

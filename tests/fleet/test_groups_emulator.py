"""Dynamic groups on a provisioned fleet in the emulator: exact members, preview, list, describe, delete."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from provision_setup import fleet_context, group_members, mutating_calls

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet import groups as grp
from iotfleet.fleet.provision import inventory
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.resources import discover
from iotfleet.fleet.spec import FleetSpec

SPEC = FleetSpec(fleet="demo", devices=60)


@pytest.fixture
def fleet(emulator: LocalEmulator) -> Iterator[AwsContext]:
    with fleet_context(emulator) as ctx:
        assert provision(ctx, SPEC).ok
        emulator.reset_counters()
        yield ctx


def _batteries(ctx: AwsContext, names: list[str]) -> dict[str, float]:
    levels = {}
    for name in names:
        shadow = json.loads(ctx.iot_data.get_thing_shadow(thingName=name)["payload"].read())
        levels[name] = shadow["state"]["reported"]["batteryStatus"]
    return levels


def test_a_battery_above_50_group_has_exactly_the_things_whose_shadow_says_so(fleet: AwsContext) -> None:
    names = [d.name for d in inventory.devices(SPEC.validated())]
    # Put one device exactly on the boundary: >50 must leave it out, >=50 must take it in.
    fleet.iot_data.update_thing_shadow(
        thingName=names[0], payload=json.dumps({"state": {"reported": {"batteryStatus": 50}}}).encode()
    )
    levels = _batteries(fleet, names)
    above = {name for name, level in levels.items() if level > 50}
    at_least = {name for name, level in levels.items() if level >= 50}
    assert 0 < len(above) < len(names) and at_least == above | {names[0]}

    created = grp.create_dynamic_group(
        fleet, "HighBattery", grp.build_query(fleet="demo", battery=">50"), fleet="demo"
    )
    assert created.created
    assert group_members(fleet, "HighBattery") == above
    grp.create_dynamic_group(fleet, "Charged", grp.build_query(fleet="demo", battery=">=50"), fleet="demo")
    assert group_members(fleet, "Charged") == at_least
    count, sample = grp.preview(fleet, "shadow.reported.batteryStatus>50", sample=5)
    assert count == len(above) and len(sample) == 5 and {t.name for t in sample} <= above

    # Membership follows the shadows.
    fleet.iot_data.update_thing_shadow(
        thingName=names[0], payload=json.dumps({"state": {"reported": {"batteryStatus": 51}}}).encode()
    )
    assert names[0] in group_members(fleet, "HighBattery")
    assert discover(fleet, "demo", kinds={"groups"}).dynamic_groups == ["Charged", "HighBattery"]


def test_the_builder_matches_the_inventory(fleet: AwsContext) -> None:
    devices = list(inventory.devices(SPEC.validated()))
    text = grp.build_query(fleet="demo", countries=["US", "MX"], thing_type="SUVVehicle", versions=["1.0.0"])
    found = grp.preview(fleet, text, sample=100)
    wanted = {d.name for d in devices if d.country in ("US", "MX") and d.thing_type == "SUVVehicle"}
    assert found.count == len(wanted) == len(found.sample)
    assert {t.name for t in found.sample} == wanted
    assert all(t.attributes["country"] in ("US", "MX") for t in found.sample)
    assert (
        grp.preview(fleet, grp.build_query(fleet="demo", thing_type="SUVVehicle", versions=["1.1.0"])).count
        == 0
    )


def test_creating_again_is_idempotent_and_a_taken_name_is_refused_before_any_change(
    fleet: AwsContext, emulator: LocalEmulator
) -> None:
    text = grp.build_query(fleet="demo", battery="<20")
    assert grp.create_dynamic_group(fleet, "Low", text, fleet="demo").created
    emulator.reset_counters()
    again = grp.create_dynamic_group(fleet, "Low", text, fleet="demo")
    assert not again.created and again.group.query == text
    with pytest.raises(UsageError, match="already exists"):
        grp.create_dynamic_group(fleet, "Low", "shadow.reported.batteryStatus<10", fleet="demo")
    with pytest.raises(UsageError, match="already exists"):
        grp.create_dynamic_group(fleet, "US_Fleet", text, fleet="demo")
    with pytest.raises(grp.InvalidQuery):
        grp.create_dynamic_group(fleet, "Broken", "shadow.reported.batteryStatus>", fleet="demo")
    with pytest.raises(grp.InvalidQuery, match="not indexed"):
        grp.create_dynamic_group(fleet, "Unindexed", "shadow.name.config.reported.x:1", fleet="demo")
    assert mutating_calls(emulator) == {}


def test_list_describe_and_delete(fleet: AwsContext, emulator: LocalEmulator) -> None:
    grp.create_dynamic_group(fleet, "HighBattery", grp.build_query(fleet="demo", battery=">50"), fleet="demo")
    fleet.iot.create_thing_group(thingGroupName="Foreign")
    listed = {g.name: g for g in grp.list_groups(fleet)}
    assert set(listed) == {"US_Fleet", "CA_Fleet", "MX_Fleet", "NorthAmerica_Fleet", "HighBattery", "Foreign"}
    us_devices = sum(1 for d in inventory.devices(SPEC.validated()) if d.country == "US")
    assert listed["US_Fleet"].members == us_devices == 21 and listed["US_Fleet"].kind == grp.STATIC
    assert listed["US_Fleet"].parent == "NorthAmerica_Fleet" and listed["US_Fleet"].fleet == "demo"
    assert listed["HighBattery"].kind == grp.DYNAMIC and listed["Foreign"].fleet is None
    assert {g.name for g in grp.list_groups(fleet, fleet="demo", members=False)} == set(listed) - {"Foreign"}

    first = grp.describe_group(fleet, "CA_Fleet", page_size=7)
    assert len(first.members) == 7 and first.next_token
    second = grp.describe_group(fleet, "CA_Fleet", page_size=7, next_token=first.next_token)
    members = first.members + second.members
    while second.next_token:
        second = grp.describe_group(fleet, "CA_Fleet", page_size=7, next_token=second.next_token)
        members += second.members
    devices = {d.name: d for d in inventory.devices(SPEC.validated()) if d.country == "CA"}
    assert {m.name for m in members} == set(devices)
    for member in members:
        assert member.attributes == devices[member.name].attributes("demo")
        assert member.thing_type == devices[member.name].thing_type

    emulator.reset_counters()
    with pytest.raises(UsageError, match="--force"):
        grp.check_deletable(fleet, "Foreign", fleet="demo")
    with pytest.raises(UsageError, match="does not exist"):
        grp.check_deletable(fleet, "Nothing", fleet="demo")
    assert mutating_calls(emulator) == {}
    grp.delete_group(fleet, grp.check_deletable(fleet, "HighBattery", fleet="demo"))
    grp.delete_group(fleet, grp.check_deletable(fleet, "Foreign", fleet="demo", force=True))
    assert {g.name for g in grp.list_groups(fleet, members=False)} == {
        "US_Fleet",
        "CA_Fleet",
        "MX_Fleet",
        "NorthAmerica_Fleet",
    }

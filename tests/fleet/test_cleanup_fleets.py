"""Two iotfleet fleets in one account share its settings: cleaning up the first must not break the second, and
cleaning up the last puts back what was there before iotfleet."""

from __future__ import annotations

from pathlib import Path

from cleanup_setup import aws_context, build_fleet

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet import indexing, roles
from iotfleet.fleet.cleanup.account_settings import HAND_OVER, INDEXING, PACKAGES
from iotfleet.fleet.cleanup.apply import HANDED_OVER, apply_cleanup
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.fleet_state import read_state
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE
from iotfleet.fleet.packages.configuration import get_configuration


def test_the_last_fleet_cleaned_up_puts_the_settings_back(emulator: LocalEmulator, tmp_path: Path) -> None:
    with aws_context(emulator) as ctx:
        indexing_before = ctx.iot.get_indexing_configuration()["thingIndexingConfiguration"]
        build_fleet(ctx, tmp_path, "demo")
        other = build_fleet(
            ctx, tmp_path, "other", devices=2, thing_types=("BusVehicle",), countries=("MX",),
            continent="Central_Fleet", job=False, first=500,
        )  # fmt: skip
        # The other fleet also uses one of demo's thing types, as provisioning allows for a type that fits.
        ctx.iot.create_thing(
            thingName="Vehicle-VIN-600", thingTypeName="SedanVehicle",
            attributePayload={"attributes": {FLEET_ATTRIBUTE: "other"}},
        )  # fmt: skip
        other_role = f"arn:aws:iam::{ctx.account_id}:role/{roles.role_name('other', roles.PACKAGE_CONFIG)}"
        assert get_configuration(ctx)["roleArn"] == other_role

        plan = plan_cleanup(ctx, "demo")
        assert plan.other_fleets == ["other"]
        changes = {change.name: change for change in plan.settings}
        assert changes[INDEXING].action == changes[PACKAGES].action == HAND_OVER
        assert changes[INDEXING].heir is not None and changes[INDEXING].heir.fleet == "other"
        assert [r.name for r in plan.handovers] == ["SedanVehicle"]
        result = apply_cleanup(ctx, plan)
        assert result.ok, result.failures
        assert {(o.name, o.status) for o in result.outcomes if o.kind == "thing type"} == {
            ("SedanVehicle", HANDED_OVER), ("TruckVehicle", "deleted"),
        }  # fmt: skip

        # The other fleet keeps working: indexing and its package role untouched, and it holds demo's record.
        assert indexing.changes_needed(indexing.read_configuration(ctx)) == []
        assert get_configuration(ctx) == {"enabled": True, "roleArn": other_role}
        state = read_state(ctx, other.bucket, "other")
        assert state.indexing_previous is not None
        assert state.indexing_previous["thingIndexingMode"] == "OFF"
        assert state.package_configuration_previous == {"enabled": False, "roleArn": None}

        last = apply_cleanup(ctx, plan_cleanup(ctx, "other"))
        assert last.ok, last.failures
        assert ctx.iot.get_indexing_configuration()["thingIndexingConfiguration"] == indexing_before
        assert get_configuration(ctx)["enabled"] is False
        assert "SedanVehicle" in {o.name for o in last.outcomes if o.status == "deleted"}
        assert plan_cleanup(ctx, "demo").empty and plan_cleanup(ctx, "other").empty

"""Provisioning against the emulator over HTTP: the exact inventory, idempotent re-runs, growth, account-wide
settings merged and recorded, ownership, conflicts."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest
from provision_setup import (
    assert_inventory,
    calls,
    fleet_context,
    fleet_thing_summaries,
    indexed_shadows,
    mutating_calls,
)

from iotfleet.aws.errors import UsageError
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet import fleet_state, indexing, roles, storage
from iotfleet.fleet.firmware import firmware_bytes
from iotfleet.fleet.ownership import FLEET_TAG, tag_dict
from iotfleet.fleet.packages.configuration import get_configuration
from iotfleet.fleet.provision import inventory
from iotfleet.fleet.provision.apply import apply_provision, provision
from iotfleet.fleet.provision.model import (
    CONFLICT,
    CREATE,
    PRESENT,
    SHADOW,
    THING,
    THING_GROUP,
    THING_TYPE,
    USED,
)
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.resources import discover
from iotfleet.fleet.spec import FleetSpec

SPEC = FleetSpec(fleet="demo", devices=1000, countries=("US", "CA", "MX"))


def test_a_thousand_devices_give_exactly_the_requested_inventory_and_a_rerun_changes_nothing(
    emulator: LocalEmulator,
) -> None:
    with fleet_context(emulator) as ctx:
        result = provision(ctx, SPEC)
        assert result.ok, result.failures
        counts = result.counts
        assert (counts[THING].created, counts[SHADOW].created, counts[THING_TYPE].created) == (1000, 2000, 3)
        assert counts[THING_GROUP].created == 4  # US, CA, MX and NorthAmerica

        assert_inventory(ctx, SPEC)
        spread = Counter(
            (t["attributes"]["country"], t["thingTypeName"])
            for t in fleet_thing_summaries(ctx, "demo").values()
        )
        assert len(spread) == 9 and set(spread.values()) == {111, 112}

        emulator.reset_counters()
        plan = plan_provision(ctx, SPEC)
        assert not plan.changes
        assert {item.action for item in plan.items} == {PRESENT}
        rerun = apply_provision(ctx, plan)
        assert rerun.counts[THING].present == 1000 and rerun.counts[SHADOW].present == 2000
    assert mutating_calls(emulator) == {}
    # The re-run reads things in pages, not one by one.
    assert calls(emulator)["iot:ListThings"] == 4
    assert "iot:DescribeThing" not in calls(emulator)


def test_everything_is_owned_and_configured_as_documented(emulator: LocalEmulator) -> None:
    spec = FleetSpec(fleet="demo", devices=12, versions=("1.0.0", "1.1.0", "2.0.0"))
    with fleet_context(emulator) as ctx:
        assert provision(ctx, spec).ok
        found = discover(ctx, "demo")
        assert found.thing_types == sorted(spec.thing_types) and found.packages == sorted(spec.packages)
        assert found.country_groups == ["CA_Fleet", "MX_Fleet", "US_Fleet"]
        assert found.continent_groups == ["NorthAmerica_Fleet"]
        assert found.bucket and found.bucket.startswith("iotfleet-demo-123456789012-")
        assert found.jobs_role_arn and found.jobs_role_arn.endswith(":role/iotfleet-demo-jobs-presign")
        assert found.package_role_arn and found.package_role_arn.endswith(
            ":role/iotfleet-demo-package-config"
        )
        bucket = found.bucket
        assert storage.inspect_bucket(ctx, bucket, "demo").missing == []
        assert (
            ctx.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
                "ApplyServerSideEncryptionByDefault"
            ]["SSEAlgorithm"]
            == "AES256"
        )
        policy = json.loads(ctx.s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert policy["Statement"] == [storage.tls_only_statement(bucket)]

        presign = ctx.iam.get_role_policy(RoleName="iotfleet-demo-jobs-presign", PolicyName=roles.POLICY_NAME)
        assert presign["PolicyDocument"]["Statement"][0]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
        assert presign["PolicyDocument"]["Statement"][0]["Resource"] == f"arn:aws:s3:::{bucket}/*"
        package_role = ctx.iam.get_role_policy(
            RoleName="iotfleet-demo-package-config", PolicyName=roles.POLICY_NAME
        )
        statements = package_role["PolicyDocument"]["Statement"]
        # Only the fleet's things: their names all start with the spec's prefix.
        assert statements[0]["Resource"] == "arn:aws:iot:us-east-1:123456789012:thing/Vehicle-VIN-*/$package"
        actions = [
            a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        ]
        assert sorted(actions) == ["iot:DescribeEndpoint", "iot:GetThingShadow", "iot:UpdateThingShadow"]
        for role in ("iotfleet-demo-jobs-presign", "iotfleet-demo-package-config"):
            described = ctx.iam.get_role(RoleName=role)["Role"]
            assert described["AssumeRolePolicyDocument"] == roles.trust_policy("us-east-1", "123456789012")
            assert tag_dict(described["Tags"])[FLEET_TAG] == "demo"

        assert get_configuration(ctx) == {"enabled": True, "roleArn": found.package_role_arn}
        for package in spec.packages:
            assert ctx.iot.get_package(packageName=package)["defaultVersionName"] == "1.0.0"
            for version in spec.versions:
                described = ctx.iot.get_package_version(packageName=package, versionName=version)
                assert described["status"] == "PUBLISHED"
                location = described["artifact"]["s3Location"]
                body = ctx.s3.get_object(
                    Bucket=location["bucket"], Key=location["key"], VersionId=location["version"]
                )
                content = body["Body"].read()
                assert content == firmware_bytes(package, version, spec.firmware_size)
                assert described["attributes"] == {
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "size": str(len(content)),
                }
                assert location["key"] == f"firmware/{package}/{version}/firmware.bin"

        config = indexing.read_configuration(ctx)
        assert (config["thingIndexingMode"], config["thingConnectivityIndexingMode"]) == (
            "REGISTRY_AND_SHADOW",
            "STATUS",
        )
        assert config["filter"]["namedShadowNames"] == ["$package"]
        state = fleet_state.load_fleet_state(ctx, "demo")
        assert state is not None
        assert state.indexing_previous is not None and state.indexing_previous["thingIndexingMode"] == "OFF"
        assert state.package_configuration_enabled_by_iotfleet
        assert state.package_configuration_previous == {"enabled": False, "roleArn": None}


def test_indexing_is_merged_and_the_first_previous_configuration_is_kept(
    emulator: LocalEmulator,
) -> None:
    original = {
        "thingIndexingMode": "REGISTRY",
        "thingConnectivityIndexingMode": "OFF",
        "namedShadowIndexingMode": "ON",
        "filter": {"namedShadowNames": ["config"]},
        "customFields": [{"name": "attributes.model", "type": "String"}],
    }
    spec = FleetSpec(fleet="demo", devices=3)
    with fleet_context(emulator) as ctx:
        ctx.iot.update_indexing_configuration(thingIndexingConfiguration=original)
        assert provision(ctx, spec).ok
        merged = indexing.read_configuration(ctx)
        assert merged["filter"]["namedShadowNames"] == ["config", "$package"]
        assert {"name": "attributes.model", "type": "String"} in merged["customFields"]
        assert merged["thingIndexingMode"] == "REGISTRY_AND_SHADOW"
        recorded = fleet_state.load_fleet_state(ctx, "demo")
        assert recorded is not None and recorded.indexing_previous is not None
        assert recorded.indexing_previous["thingIndexingMode"] == "REGISTRY"
        assert recorded.indexing_previous["filter"] == {"namedShadowNames": ["config"]}

        # Someone drops $package; the next run puts it back but keeps the original record.
        ctx.iot.update_indexing_configuration(
            thingIndexingConfiguration={
                **merged,
                "filter": {"namedShadowNames": ["config"]},
                "managedFields": [],
            }
        )
        assert provision(ctx, spec).counts["fleet indexing"].updated == 1
        again = fleet_state.load_fleet_state(ctx, "demo")
        assert again is not None and again.indexing_previous == recorded.indexing_previous
        assert again.indexing_recorded_at == recorded.indexing_recorded_at

        indexing.restore_configuration(ctx, again.indexing_previous)
        restored = indexing.read_configuration(ctx)
        assert restored["thingIndexingMode"] == "REGISTRY"
        assert restored["filter"]["namedShadowNames"] == ["config"]


def test_growing_from_100_to_1000_keeps_the_first_100_things_as_they_were(
    emulator: LocalEmulator,
) -> None:
    small = FleetSpec(fleet="demo", devices=100)
    large = FleetSpec(fleet="demo", devices=1000)
    with fleet_context(emulator) as ctx:
        assert provision(ctx, small).ok
        before = fleet_thing_summaries(ctx, "demo")
        shadows_before = indexed_shadows(ctx, "demo")
        plan = plan_provision(ctx, large)
        assert plan.counts[THING][CREATE] == 900 and plan.counts[THING][PRESENT] == 100
        assert all(work.create for work in plan.things)
        assert provision(ctx, large).ok
        after = fleet_thing_summaries(ctx, "demo")
        shadows_after = indexed_shadows(ctx, "demo")
        assert_inventory(ctx, large)
    assert set(before) == {f"Vehicle-VIN-{n}" for n in range(1, 101)}
    for name, thing in before.items():
        assert after[name]["attributes"] == thing["attributes"]
        assert after[name]["version"] == thing["version"]  # never updated
        assert shadows_after[name]["reported"] == shadows_before[name]["reported"]


def test_device_state_already_reported_is_kept_and_missing_keys_are_written(
    emulator: LocalEmulator,
) -> None:
    spec = FleetSpec(fleet="demo", devices=4)
    with fleet_context(emulator) as ctx:
        assert provision(ctx, spec).ok
        # A device reported a new battery level and version; another lost its $package shadow.
        ctx.iot_data.update_thing_shadow(
            thingName="Vehicle-VIN-1",
            payload=json.dumps({"state": {"reported": {"batteryStatus": 7}}}).encode(),
        )
        ctx.iot_data.delete_thing_shadow(thingName="Vehicle-VIN-2", shadowName="$package")
        ctx.iot.update_thing(
            thingName="Vehicle-VIN-3", attributePayload={"attributes": {"customerId": "x"}, "merge": True}
        )
        emulator.reset_counters()
        plan = plan_provision(ctx, spec)
        assert [w.device.name for w in plan.things] == ["Vehicle-VIN-2", "Vehicle-VIN-3"]
        result = apply_provision(ctx, plan)
        assert result.counts[SHADOW].created == 1 and result.counts[THING].updated == 1
        assert mutating_calls(emulator) == {"iot-data:UpdateThingShadow": 1, "iot:UpdateThing": 1}
        shadows = indexed_shadows(ctx, "demo")
        assert shadows["Vehicle-VIN-1"]["reported"]["batteryStatus"] == 7
        device = inventory.device_at(spec.validated(), 1)
        assert shadows["Vehicle-VIN-2"]["name"]["$package"]["reported"] == device.package_reported()
        assert fleet_thing_summaries(ctx, "demo")["Vehicle-VIN-3"]["attributes"]["customerId"] != "x"


def test_a_group_of_someone_else_is_never_adopted_and_nothing_is_changed(
    emulator: LocalEmulator,
) -> None:
    spec = FleetSpec(fleet="demo", devices=5)
    with fleet_context(emulator) as ctx:
        ctx.iot.create_thing_group(thingGroupName="CA_Fleet")
        emulator.reset_counters()
        plan = plan_provision(ctx, spec)
        assert [(c.kind, c.name) for c in plan.conflicts] == [("thing group", "CA_Fleet")]
        with pytest.raises(UsageError, match="CA_Fleet") as refused:
            apply_provision(ctx, plan)
        assert refused.value.exit_code == 2
        assert mutating_calls(emulator) == {}

        # With a group prefix the two fleets' groups no longer collide.
        prefixed = FleetSpec(fleet="demo", devices=5, group_prefix="Demo_")
        assert provision(ctx, prefixed).ok
        assert ctx.iot.list_things_in_thing_group(thingGroupName="CA_Fleet")["things"] == []
        assert len(ctx.iot.list_things_in_thing_group(thingGroupName="Demo_US_Fleet")["things"]) == 3


def test_thing_types_of_others_are_used_when_they_fit_and_refused_when_not(
    emulator: LocalEmulator,
) -> None:
    with fleet_context(emulator) as ctx:
        ctx.iot.create_thing_type(
            thingTypeName="SedanVehicle",
            thingTypeProperties={"searchableAttributes": ["customerId", "country", "manufacturingDate"]},
        )
        ctx.iot.create_thing_type(
            thingTypeName="TruckVehicle", thingTypeProperties={"searchableAttributes": ["vin"]}
        )
        plan = plan_provision(ctx, FleetSpec(fleet="demo", devices=3))
        actions = {item.name: item.action for item in plan.items if item.kind == THING_TYPE}
        assert actions == {"SedanVehicle": USED, "SUVVehicle": CREATE, "TruckVehicle": CONFLICT}

        fits = FleetSpec(fleet="demo", devices=3, thing_types=("SedanVehicle", "SUVVehicle"))
        assert provision(ctx, fits).ok
        assert discover(ctx, "demo", kinds={"thing_types"}).thing_types == ["SUVVehicle"]


def test_a_deprecated_type_of_the_fleet_is_undeprecated(emulator: LocalEmulator) -> None:
    spec = FleetSpec(fleet="demo", devices=3)
    with fleet_context(emulator) as ctx:
        assert provision(ctx, spec).ok
        ctx.iot.deprecate_thing_type(thingTypeName="SUVVehicle")
        result = provision(ctx, spec)
        assert result.counts[THING_TYPE].updated == 1
        assert (
            ctx.iot.describe_thing_type(thingTypeName="SUVVehicle")["thingTypeMetadata"]["deprecated"]
            is False
        )


def test_the_bucket_is_found_by_its_tag_not_by_its_name(emulator: LocalEmulator) -> None:
    spec = FleetSpec(fleet="demo", devices=2)
    with fleet_context(emulator) as ctx:
        # Named like the fleet's, but untagged: never used.
        ctx.s3.create_bucket(Bucket="iotfleet-demo-123456789012-us-east-1-00000000")
        plan = plan_provision(ctx, spec)
        assert plan.bucket.name != "iotfleet-demo-123456789012-us-east-1-00000000" and not plan.bucket.exists
        assert any("no ownership tag" in warning for warning in plan.warnings)
        assert apply_provision(ctx, plan).ok
        owned = storage.owned_buckets(ctx, "demo")
        assert owned == [plan.bucket.name]
        # A setting someone removed is put back on the next run.
        ctx.s3.delete_bucket_encryption(Bucket=owned[0])
        again = plan_provision(ctx, spec)
        assert again.bucket.missing == [storage.ENCRYPTION]
        assert apply_provision(ctx, again).counts["bucket"].updated == 1
        assert storage.inspect_bucket(ctx, owned[0], "demo").missing == []


def test_a_foreign_role_with_the_fleet_role_name_is_a_conflict(emulator: LocalEmulator) -> None:
    with fleet_context(emulator) as ctx:
        ctx.iam.create_role(
            RoleName="iotfleet-demo-jobs-presign", AssumeRolePolicyDocument=json.dumps(roles.trust_policy("us-east-1", "123456789012"))
        )
        emulator.reset_counters()
        plan = plan_provision(ctx, FleetSpec(fleet="demo", devices=2))
        assert [(c.kind, c.name) for c in plan.conflicts] == [("role", "iotfleet-demo-jobs-presign")]
        with pytest.raises(UsageError):
            apply_provision(ctx, plan)
    assert mutating_calls(emulator) == {}

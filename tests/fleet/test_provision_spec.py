"""The pieces of provisioning that need no AWS: spec files and checks, the generated inventory, firmware images,
the indexing merge, the state record, names and policies."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from iotfleet.aws.errors import UsageError
from iotfleet.fleet import indexing, roles, storage
from iotfleet.fleet.firmware import firmware_bytes, generate_firmware
from iotfleet.fleet.fleet_state import FleetState
from iotfleet.fleet.provision import inventory
from iotfleet.fleet.spec import FleetSpec, load_spec, save_spec

# ------------------------------------------------------------------------------------------ spec


def test_the_default_spec_is_the_documented_demo_fleet() -> None:
    spec = FleetSpec().validated()
    assert spec.thing_types == ("SedanVehicle", "SUVVehicle", "TruckVehicle")
    assert spec.versions == ("1.0.0", "1.1.0")
    assert (spec.continent, spec.countries) == ("North America", ("US", "CA", "MX"))
    assert (spec.devices, spec.prefix, spec.fleet) == (100, "Vehicle-VIN-", "default")
    assert spec.country_group_names() == ["US_Fleet", "CA_Fleet", "MX_Fleet"]
    assert spec.continent_group_names() == ["NorthAmerica_Fleet"]
    assert spec.parent_group("CA") == "NorthAmerica_Fleet"


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".toml"])
def test_spec_files_round_trip(tmp_path: Path, suffix: str) -> None:
    spec = FleetSpec(
        fleet="lab-2", devices=5000, thing_types=("Bike",), versions=("2.0", "2.1-rc"), continent="Europe",
        countries=("DE", "FR"), prefix='Bike "A"-', seed=-3, group_prefix="Lab_", continent_groups=False,
        searchable_attributes=("country",), firmware_size=1024,
    )  # fmt: skip
    path = save_spec(spec, tmp_path / f"fleet{suffix}")
    assert load_spec(path) == spec


def test_a_spec_file_may_give_countries_as_a_number_and_leave_out_anything(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("continent: Europe\ncountries: 4\ndevices: 10\nthing_types: Bike, Scooter\n")
    spec = load_spec(path)
    assert spec.countries == ("DE", "FR", "GB", "IT")
    assert spec.thing_types == ("Bike", "Scooter") and spec.versions == ("1.0.0", "1.1.0")
    path.write_text("continent: Oceania\n")
    assert load_spec(path).countries == ("AU", "NZ", "PG")
    path.write_text("")
    assert load_spec(path) == FleetSpec()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "devices: [1\n", "not valid YAML"),
        ("bad.toml", "devices = \n", "not valid TOML"),
        ("unknown.yaml", "device: 10\n", "unknown setting(s) device"),
        ("list.yaml", "- 1\n- 2\n", "must be a mapping"),
        ("versions.yaml", "versions: [1.0, 1.1]\n", "quote version numbers"),
        ("countries.yaml", "countries: [US, 1]\n", "ISO codes"),
        ("spec.json", "{}", "ends in .yaml"),
    ],
)
def test_malformed_spec_files_are_usage_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        load_spec(path)
    assert error.value.exit_code == 2


@pytest.mark.parametrize(
    ("changes", "flag", "message"),
    [
        ({"devices": 0}, "--devices", "positive integer"),
        ({"devices": "12a"}, "--devices", "positive integer"),
        ({"devices": True}, "--devices", "positive integer"),
        ({"thing_types": ("Sedan Vehicle",)}, "--thing-types", "invalid thing type name"),
        ({"thing_types": ("Sedan:Vehicle",)}, "--thing-types", "package name"),
        ({"thing_types": ("A", "A")}, "--thing-types", "unique"),
        ({"versions": ("1.0/0",)}, "--versions", "package version name"),
        ({"countries": ("US", "ZZ")}, "--countries", "unknown country code"),
        ({"continent": "Atlantis"}, "--continent", "unknown continent"),
        ({"prefix": "Vehicle VIN-"}, "--prefix", "invalid thing name"),
        ({"prefix": "x" * 126, "devices": 1000}, "--prefix", "length"),
        ({"group_prefix": "Fleet/"}, "--group-prefix", "invalid thing group name"),
        ({"searchable_attributes": ("a", "b", "c", "d")}, "--searchable-attributes", "at most 3"),
        ({"fleet": "Demo"}, "--fleet", "lowercase"),
        ({"seed": "7"}, "--seed", "whole number"),
    ],
)
def test_bad_values_name_their_flag(changes: dict[str, object], flag: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as error:
        FleetSpec(**changes).validated()  # type: ignore[arg-type]
    assert error.value.param == flag


# ------------------------------------------------------------------------------------------ inventory


def test_every_value_of_a_device_depends_only_on_its_index_and_the_seed() -> None:
    small = FleetSpec(devices=500).validated()
    large = FleetSpec(devices=5000).validated()
    assert list(inventory.devices(small)) == list(inventory.devices(large))[:500]
    other_seed = FleetSpec(devices=500, seed=7).validated()
    first, second = inventory.device_at(small, 0), inventory.device_at(other_seed, 0)
    assert first.name == second.name and first.customer_id != second.customer_id
    assert [d.name for d in inventory.devices(small)][:3] == [
        "Vehicle-VIN-1",
        "Vehicle-VIN-2",
        "Vehicle-VIN-3",
    ]


def test_types_and_countries_spread_evenly_and_independently() -> None:
    spec = FleetSpec(devices=100, thing_types=("A", "B", "C"), countries=("US", "CA", "MX", "GT")).validated()
    pairs = Counter((d.country, d.thing_type) for d in inventory.devices(spec))
    assert len(pairs) == 12 and set(pairs.values()) == {8, 9}
    assert pairs == Counter(inventory.spread(spec))
    assert set(Counter(d.thing_type for d in inventory.devices(spec)).values()) == {33, 34}
    assert set(Counter(d.country for d in inventory.devices(spec)).values()) == {24, 25, 27}


def test_a_device_carries_its_attributes_and_initial_shadows() -> None:
    spec = FleetSpec(fleet="demo", versions=("3.0.0", "3.1.0")).validated()
    device = inventory.device_at(spec, 4)
    assert device.thing_type == "SUVVehicle" and device.country == "CA" and device.package == "SUVVehicle"
    attributes = device.attributes("demo")
    assert set(attributes) == {
        "customerId",
        "country",
        "manufacturingDate",
        "thingTypeName",
        "iotfleet_fleet",
    }
    assert "2019-01-01" <= attributes["manufacturingDate"] <= "2024-12-31"
    assert 0 <= device.battery <= 100
    assert device.classic_reported() == {
        "batteryStatus": device.battery,
        "firmware": {"version": "3.0.0", "package": "SUVVehicle"},
    }
    assert device.package_reported() == {"SUVVehicle": {"version": "3.0.0"}}
    assert inventory.index_of("Vehicle-VIN-", "Vehicle-VIN-5") == 4
    assert inventory.index_of("Vehicle-VIN-", "Vehicle-VIN-05") is None


# ------------------------------------------------------------------------------------------ firmware


def test_firmware_images_are_deterministic_and_sized(tmp_path: Path) -> None:
    sha, size = generate_firmware(tmp_path / "a.bin", "Pkg", "1.0.0", size=100_000)
    again, _ = generate_firmware(tmp_path / "b.bin", "Pkg", "1.0.0", size=100_000)
    other, _ = generate_firmware(tmp_path / "c.bin", "Pkg", "1.0.1", size=100_000)
    content = (tmp_path / "a.bin").read_bytes()
    assert size == len(content) == 100_000 and sha == again != other
    assert hashlib.sha256(content).hexdigest() == sha
    assert content.startswith(b"IOTFLEET-FIRMWARE\npackage=Pkg\nversion=1.0.0\n")
    assert len(firmware_bytes("Pkg", "1.0.0", 10)) == 10
    with pytest.raises(ValueError):
        firmware_bytes("Pkg", "1.0.0", 0)


# ------------------------------------------------------------------------------------------ indexing and state


def test_the_indexing_merge_keeps_what_others_configured() -> None:
    current = {
        "thingIndexingMode": "REGISTRY",
        "thingConnectivityIndexingMode": "OFF",
        "deviceDefenderIndexingMode": "VIOLATIONS",
        "namedShadowIndexingMode": "ON",
        "managedFields": [{"name": "thingName", "type": "String"}],
        "customFields": [{"name": "attributes.model", "type": "String"}],
        "filter": {
            "namedShadowNames": ["config"],
            "geoLocations": [{"name": "attributes.pos", "order": "LatLon"}],
        },
    }
    merged = indexing.merged_configuration(current)
    assert merged == {
        "thingIndexingMode": "REGISTRY_AND_SHADOW",
        "thingConnectivityIndexingMode": "STATUS",
        "deviceDefenderIndexingMode": "VIOLATIONS",
        "namedShadowIndexingMode": "ON",
        "customFields": [{"name": "attributes.model", "type": "String"}],
        "filter": {
            "namedShadowNames": ["config", "$package"],
            "geoLocations": [{"name": "attributes.pos", "order": "LatLon"}],
        },
    }
    assert current["filter"]["namedShadowNames"] == ["config"]  # not modified in place
    assert indexing.changes_needed(current) == [
        "thingIndexingMode: REGISTRY -> REGISTRY_AND_SHADOW",
        "thingConnectivityIndexingMode: OFF -> STATUS",
        "filter.namedShadowNames: add $package",
    ]
    assert indexing.changes_needed(merged) == []


def test_the_state_record_keeps_the_first_previous_values() -> None:
    state = FleetState("demo")
    assert state.empty
    assert state.record_indexing({"thingIndexingMode": "OFF"}, ["a"])
    assert not state.record_indexing({"thingIndexingMode": "REGISTRY_AND_SHADOW"}, ["b"])
    assert state.record_package_configuration({"enabled": False})
    assert not state.record_package_configuration({"enabled": True, "roleArn": "x"})
    copy = FleetState.from_document(state.to_document(), "demo")
    assert copy == state and not copy.empty
    assert copy.indexing_previous == {"thingIndexingMode": "OFF"}
    assert copy.package_configuration_previous == {"enabled": False}


# ------------------------------------------------------------------------------------------ names and policies


def test_bucket_names_are_the_same_for_a_fleet_account_and_region_and_fit_s3s_limit() -> None:
    assert (
        storage.bucket_name("demo", "123456789012", "us-east-1", "ab12cd34")
        == "iotfleet-demo-123456789012-us-east-1-ab12cd34"
    )
    long_fleet = "f" * 24
    name = storage.bucket_name(long_fleet, "123456789012", "ap-southeast-2", "ab12cd34")
    assert len(name) <= 63 and "ap-southeast-2" not in name
    # One name per fleet, account and region: two runs at once ask S3 for the same bucket.
    assert storage.bucket_name("demo", "123456789012", "eu-west-1") == "iotfleet-demo-123456789012-eu-west-1"
    assert storage.bucket_name(long_fleet, "1" * 12, "ap-southeast-2") != storage.bucket_name(
        long_fleet, "1" * 12, "ap-southeast-1"
    )


def test_roles_allow_named_actions_only() -> None:
    specs = roles.fleet_role_specs("demo", "bucket-1", "eu-west-1", "111122223333", thing_prefix="demo-car-")
    assert [s.name for s in specs] == ["iotfleet-demo-jobs-presign", "iotfleet-demo-package-config"]
    for spec in specs:
        for statement in spec.policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions)
    package = specs[1].policy["Statement"][0]
    assert package["Resource"] == "arn:aws:iot:eu-west-1:111122223333:thing/demo-car-*/$package"
    trust = roles.trust_policy("eu-west-1", "111122223333")["Statement"][0]
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}


def test_both_trust_policies_guard_against_a_confused_deputy() -> None:
    for spec in roles.fleet_role_specs("demo", "bucket-1", "eu-west-1", "111122223333", thing_prefix="demo-"):
        (statement,) = spec.trust["Statement"]
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": "111122223333"},
            "ArnLike": {"aws:SourceArn": "arn:aws:iot:eu-west-1:111122223333:*"},
        }

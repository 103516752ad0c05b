"""The query builder and local query checks: exact comparison semantics, errors with positions, no AWS."""

from __future__ import annotations

import pytest

from iotfleet import query as fiq
from iotfleet.aws.errors import UsageError
from iotfleet.fleet import groups as grp


@pytest.mark.parametrize(
    ("condition", "term", "matches", "misses"),
    [
        (">50", "shadow.reported.batteryStatus>50", [51, 100], [50, 0]),
        (">=50", "shadow.reported.batteryStatus>=50", [50, 51], [49]),
        ("<50", "shadow.reported.batteryStatus<50", [0, 49], [50]),
        ("<=50", "shadow.reported.batteryStatus<=50", [50, 0], [51]),
        ("=50", "shadow.reported.batteryStatus:50", [50], [49, 51]),
        ("50", "shadow.reported.batteryStatus:50", [50], [51]),
        (" > 7.5 ", "shadow.reported.batteryStatus>7.5", [8], [7]),
    ],
)
def test_battery_conditions_mean_exactly_what_they_say(
    condition: str, term: str, matches: list[int], misses: list[int]
) -> None:
    built = grp.build_query(battery=condition)
    assert built == term
    compiled = fiq.compile_query(built)
    for level in matches:
        assert compiled.matches({"thingName": "t", "shadow": {"reported": {"batteryStatus": level}}}), level
    for level in misses:
        assert not compiled.matches({"thingName": "t", "shadow": {"reported": {"batteryStatus": level}}}), (
            level
        )


@pytest.mark.parametrize("condition", ["> fifty", "=>50", "101", "-1", ">", "50%"])
def test_bad_battery_conditions_are_usage_errors(condition: str) -> None:
    with pytest.raises(UsageError) as error:
        grp.parse_battery(condition)
    assert error.value.param == "--battery"


def test_the_builder_combines_criteria_scoped_to_the_fleet() -> None:
    text = grp.build_query(
        fleet="demo",
        countries=["us", "CA"],
        thing_type="SedanVehicle",
        versions=["1.0.0", "1.1.0"],
        battery=">50",
    )
    assert text == (
        "attributes.iotfleet_fleet:demo AND (attributes.country:US OR attributes.country:CA) AND "
        'thingTypeName:SedanVehicle AND (shadow.name.$package.reported.SedanVehicle.version:"1.0.0" OR '
        'shadow.name.$package.reported.SedanVehicle.version:"1.1.0") AND shadow.reported.batteryStatus>50'
    )
    compiled = fiq.compile_query(text)
    device = {
        "thingName": "Vehicle-VIN-1",
        "thingTypeName": "SedanVehicle",
        "attributes": {"iotfleet_fleet": "demo", "country": "CA"},
        "shadow": {
            "reported": {"batteryStatus": 80},
            "name": {"$package": {"reported": {"SedanVehicle": {"version": "1.1.0"}}}},
        },
    }
    assert compiled.matches(device)
    assert not compiled.matches({**device, "attributes": {"iotfleet_fleet": "other", "country": "CA"}})
    assert grp.build_query(package="Fw", versions=["2.0"]) == 'shadow.name.$package.reported.Fw.version:"2.0"'


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({}, "--query"),
        ({"fleet": "demo"}, "--query"),
        ({"countries": ["XX"]}, "--country"),
        ({"versions": ["1.0.0"]}, "--version"),
        ({"thing_type": "bad type"}, "--thing-type"),
        (
            {"countries": ["US", "CA", "MX", "GT", "CU", "DO", "CR", "PA", "HN", "SV", "NI", "JM", "TT"]},
            "--country",
        ),
    ],
)
def test_builder_mistakes_name_their_flag(arguments: dict[str, object], param: str) -> None:
    with pytest.raises(UsageError) as error:
        grp.build_query(**arguments)  # type: ignore[arg-type]
    assert error.value.param == param


def test_an_invalid_query_points_at_the_problem() -> None:
    with pytest.raises(grp.InvalidQuery) as error:
        grp.check_query("attributes.country:US AND (thingTypeName:Sedan")
    assert error.value.exit_code == 2
    assert error.value.position == 26
    assert "^" in error.value.message
    indexing_off = {"thingIndexingMode": "REGISTRY"}
    with pytest.raises(grp.InvalidQuery, match="REGISTRY_AND_SHADOW"):
        grp.check_query("shadow.reported.batteryStatus>5", indexing_off)
    with pytest.raises(UsageError, match="empty"):
        grp.check_query("  ")

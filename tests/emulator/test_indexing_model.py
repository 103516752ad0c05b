"""Indexing-configuration validation and managed fields, on the model alone."""

from __future__ import annotations

from typing import Any

import pytest

from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.indexing import (
    IndexingSettings,
    managed_fields,
    normalized_group_configuration,
    normalized_thing_configuration,
)


def names(fields: list[dict[str, str]]) -> set[str]:
    return {field["name"] for field in fields}


def test_defaults_fill_in_the_modes() -> None:
    assert normalized_thing_configuration({"thingIndexingMode": "REGISTRY"}) == {
        "thingIndexingMode": "REGISTRY",
        "thingConnectivityIndexingMode": "OFF",
        "deviceDefenderIndexingMode": "OFF",
        "namedShadowIndexingMode": "OFF",
    }


def test_everything_round_trips() -> None:
    raw: dict[str, Any] = {
        "thingIndexingMode": "REGISTRY_AND_SHADOW",
        "thingConnectivityIndexingMode": "STATUS",
        "deviceDefenderIndexingMode": "VIOLATIONS",
        "namedShadowIndexingMode": "ON",
        "customFields": [
            {"name": "attributes.num", "type": "Number"},
            {"name": "shadow.reported.batteryStatus", "type": "Number"},
            {"name": "shadow.name.$package.reported.fw.version", "type": "String"},
        ],
        "filter": {
            "namedShadowNames": ["$package", "config"],
            "geoLocations": [{"name": "shadow.reported.location", "order": "LonLat"}],
            "connectivity": {"includeSocketInformation": ["GET_THING_CONNECTIVITY_DATA"]},
        },
    }
    assert normalized_thing_configuration(raw) == raw


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({}, "thingIndexingMode is required"),
        ({"thingIndexingMode": "ALL"}, "must be one of"),
        ({"thingIndexingMode": "OFF", "thingConnectivityIndexingMode": "STATUS"}, "must not be OFF"),
        ({"thingIndexingMode": "OFF", "namedShadowIndexingMode": "ON"}, "must not be OFF"),
        ({"thingIndexingMode": "REGISTRY", "namedShadowIndexingMode": "ON"}, "filter.namedShadowNames"),
        (
            {
                "thingIndexingMode": "REGISTRY_AND_SHADOW",
                "filter": {"namedShadowNames": [f"s{i}" for i in range(11)]},
            },
            "at most 10",
        ),
        (
            {"thingIndexingMode": "REGISTRY", "customFields": [{"name": "thingName", "type": "String"}]},
            "managed",
        ),
        (
            {
                "thingIndexingMode": "REGISTRY",
                "customFields": [{"name": "shadow.reported.x", "type": "Number"}],
            },
            "REGISTRY_AND_SHADOW",
        ),
        (
            {
                "thingIndexingMode": "REGISTRY_AND_SHADOW",
                "customFields": [{"name": "shadow.name.cfg.reported.x", "type": "Number"}],
            },
            "not indexed",
        ),
        (
            {
                "thingIndexingMode": "REGISTRY",
                "customFields": [
                    {"name": "attributes.a", "type": "Number"},
                    {"name": "attributes.a", "type": "String"},
                ],
            },
            "more than once",
        ),
        (
            {"thingIndexingMode": "REGISTRY", "customFields": [{"name": "attributes.a", "type": "Text"}]},
            "type",
        ),
        ({"thingIndexingMode": "REGISTRY", "customFields": [{"name": "color", "type": "String"}]}, "color"),
    ],
)
def test_invalid_configurations_are_refused(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidRequestException, match=problem):
        normalized_thing_configuration(raw)


def test_managed_fields_follow_the_data_sources() -> None:
    assert managed_fields({"thingIndexingMode": "OFF"}) == []
    registry = names(managed_fields({"thingIndexingMode": "REGISTRY"}))
    assert registry == {
        "thingName",
        "thingId",
        "registry.version",
        "registry.thingTypeName",
        "registry.thingGroupNames",
    }
    full = names(
        managed_fields(
            {
                "thingIndexingMode": "REGISTRY_AND_SHADOW",
                "thingConnectivityIndexingMode": "STATUS",
                "namedShadowIndexingMode": "ON",
            }
        )
    )
    assert {"shadow.version", "shadow.hasDelta", "shadow.name.*.hasDelta", "connectivity.connected"} <= full


def test_settings_know_what_is_indexed() -> None:
    current = IndexingSettings()
    assert not current.things_enabled and current.indexed_named_shadows == ()
    current.thing = normalized_thing_configuration(
        {
            "thingIndexingMode": "REGISTRY_AND_SHADOW",
            "namedShadowIndexingMode": "ON",
            "filter": {"namedShadowNames": ["$package"]},
            "customFields": [{"name": "attributes.num", "type": "Number"}],
        }
    )
    assert current.indexed_named_shadows == ("$package",)
    assert current.field_types()["attributes.num"] == "Number"
    assert current.schema() == "MULTI_INDEXING_MODE"
    assert "managedFields" in current.thing_configuration()
    current.thing = normalized_thing_configuration(
        {"thingIndexingMode": "REGISTRY", "thingConnectivityIndexingMode": "STATUS"}
    )
    assert current.schema() == "REGISTRY_AND_CONNECTIVITY_STATUS"


def test_thing_group_configuration() -> None:
    assert normalized_group_configuration({"thingGroupIndexingMode": "ON"}) == {
        "thingGroupIndexingMode": "ON"
    }
    with pytest.raises(InvalidRequestException, match="managed"):
        normalized_group_configuration(
            {"thingGroupIndexingMode": "ON", "customFields": [{"name": "thingGroupName", "type": "String"}]}
        )

"""Fleet indexing configuration over HTTP: round trip, AWS's validation, indexes, connectivity."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.indexing import set_connectivity
from iotfleet.emulator.moto_patches.gateway import DEFAULT_ACCOUNT
from iotfleet.emulator.pytest_plugin import REGION, BotoClients
from iotfleet.emulator.testing import assert_valid_output

FULL: dict[str, Any] = {
    "thingIndexingMode": "REGISTRY_AND_SHADOW",
    "thingConnectivityIndexingMode": "STATUS",
    "deviceDefenderIndexingMode": "VIOLATIONS",
    "namedShadowIndexingMode": "ON",
    "customFields": [
        {"name": "attributes.num", "type": "Number"},
        {"name": "shadow.reported.batteryStatus", "type": "Number"},
    ],
    "filter": {
        "namedShadowNames": ["$package", "config"],
        "geoLocations": [{"name": "shadow.reported.location", "order": "LatLon"}],
    },
}


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_new_account_has_indexing_off(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    config = iot.get_indexing_configuration()
    assert_valid_output(iot, "get_indexing_configuration", config)
    assert config["thingIndexingConfiguration"]["thingIndexingMode"] == "OFF"
    assert config["thingGroupIndexingConfiguration"] == {"thingGroupIndexingMode": "OFF"}
    assert iot.list_indices()["indexNames"] == []
    with pytest.raises(ClientError) as info:
        iot.search_index(queryString="thingName:*")
    assert error_of(info) == ("ResourceNotFoundException", 404)
    assert "UpdateIndexingConfiguration" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        iot.describe_index(indexName="AWS_Things")
    assert error_of(info) == ("ResourceNotFoundException", 404)


def test_every_field_round_trips(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    updated = iot.update_indexing_configuration(
        thingIndexingConfiguration=FULL,
        thingGroupIndexingConfiguration={
            "thingGroupIndexingMode": "ON",
            "customFields": [{"name": "attributes.site", "type": "String"}],
        },
    )
    assert_valid_output(iot, "update_indexing_configuration", updated)
    config = iot.get_indexing_configuration()
    assert_valid_output(iot, "get_indexing_configuration", config)
    thing = dict(config["thingIndexingConfiguration"])
    managed = {field["name"] for field in thing.pop("managedFields")}
    assert thing == FULL
    assert {"thingName", "registry.version", "shadow.hasDelta", "connectivity.connected"} <= managed
    group = config["thingGroupIndexingConfiguration"]
    assert group["customFields"] == [{"name": "attributes.site", "type": "String"}]
    assert {"thingGroupName", "parentGroupNames"} <= {field["name"] for field in group["managedFields"]}
    indices = iot.list_indices()
    assert_valid_output(iot, "list_indices", indices)
    assert indices["indexNames"] == ["AWS_Things", "AWS_ThingGroups"]
    described = iot.describe_index(indexName="AWS_Things")
    assert_valid_output(iot, "describe_index", described)
    assert (described["indexStatus"], described["schema"]) == ("ACTIVE", "MULTI_INDEXING_MODE")


def test_an_update_without_a_part_keeps_that_part(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    iot.update_indexing_configuration(thingGroupIndexingConfiguration={"thingGroupIndexingMode": "ON"})
    config = iot.get_indexing_configuration()
    assert config["thingIndexingConfiguration"]["thingIndexingMode"] == "REGISTRY"
    assert config["thingGroupIndexingConfiguration"]["thingGroupIndexingMode"] == "ON"
    assert iot.describe_index(indexName="AWS_Things")["schema"] == "REGISTRY"


@pytest.mark.parametrize(
    "thing_config",
    [
        {"thingIndexingMode": "OFF", "thingConnectivityIndexingMode": "STATUS"},
        {"thingIndexingMode": "REGISTRY_AND_SHADOW", "namedShadowIndexingMode": "ON"},
        {"thingIndexingMode": "REGISTRY", "customFields": [{"name": "shadow.reported.a", "type": "Number"}]},
        {"thingIndexingMode": "REGISTRY", "customFields": [{"name": "thingName", "type": "String"}]},
    ],
)
def test_invalid_updates_are_refused_and_change_nothing(
    thing_config: dict[str, Any], boto_clients: BotoClients
) -> None:
    iot = boto_clients.iot
    with pytest.raises(ClientError) as info:
        iot.update_indexing_configuration(thingIndexingConfiguration=thing_config)
    assert error_of(info) == ("InvalidRequestException", 400)
    assert iot.get_indexing_configuration()["thingIndexingConfiguration"]["thingIndexingMode"] == "OFF"


def test_connectivity_is_disconnected_until_reported(emulator: Any, boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot.update_indexing_configuration(
        thingIndexingConfiguration={
            "thingIndexingMode": "REGISTRY",
            "thingConnectivityIndexingMode": "STATUS",
        }
    )
    iot.create_thing(thingName="dev")
    thing = iot.search_index(queryString="thingName:dev")["things"][0]
    assert thing["connectivity"] == {"connected": False}
    assert iot.search_index(queryString="connectivity.connected:true")["things"] == []

    set_connectivity(emulator.state, DEFAULT_ACCOUNT, REGION, "dev", True)
    connected = iot.search_index(queryString="connectivity.connected:true")["things"][0]["connectivity"]
    assert connected["connected"] is True
    assert connected["timestamp"] == pytest.approx(emulator.clock.now() * 1000, abs=5000)

    set_connectivity(emulator.state, DEFAULT_ACCOUNT, REGION, "dev", False, "CONNECTION_LOST")
    found = iot.search_index(queryString="connectivity.disconnectReason:CONNECTION_LOST")["things"]
    assert [t["thingName"] for t in found] == ["dev"]


def test_connectivity_fields_need_connectivity_indexing(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    iot.create_thing(thingName="dev")
    assert "connectivity" not in iot.search_index(queryString="thingName:dev")["things"][0]
    with pytest.raises(ClientError) as info:
        iot.search_index(queryString="connectivity.connected:true")
    assert error_of(info) == ("InvalidQueryException", 400)
    assert "thingConnectivityIndexingMode" in info.value.response["Error"]["Message"]

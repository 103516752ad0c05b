"""Dynamic thing groups over HTTP: lifecycle, membership that follows the fleet, AWS's constraints."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from iotfleet.emulator.events import GROUP_MEMBERSHIP_CHANGED
from iotfleet.emulator.indexing import set_connectivity
from iotfleet.emulator.moto_patches.gateway import DEFAULT_ACCOUNT
from iotfleet.emulator.pytest_plugin import REGION, BotoClients
from iotfleet.emulator.testing import assert_valid_output

QUERY = "shadow.reported.batteryStatus>50"


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def members(iot: Any, group: str) -> list[str]:
    pages = iot.get_paginator("list_things_in_thing_group").paginate(thingGroupName=group)
    return sorted(name for page in pages for name in page["things"])


def report_battery(iot_data: Any, thing: str, level: int) -> None:
    iot_data.update_thing_shadow(
        thingName=thing, payload=json.dumps({"state": {"reported": {"batteryStatus": level}}})
    )


@pytest.fixture
def fleet(boto_clients: BotoClients) -> Any:
    """Indexing on; dev-0..dev-7 with battery 0, 15, ... 105 (dev-4..dev-7 above 50)."""
    iot = boto_clients.iot
    iot_data = boto_clients.iot_data
    iot.update_indexing_configuration(
        thingIndexingConfiguration={
            "thingIndexingMode": "REGISTRY_AND_SHADOW",
            "thingConnectivityIndexingMode": "STATUS",
        }
    )
    for i in range(8):
        iot.create_thing(thingName=f"dev-{i}", attributePayload={"attributes": {"rack": str(i % 2)}})
        report_battery(iot_data, f"dev-{i}", i * 15)
    return iot


def test_membership_is_the_query_and_follows_shadow_updates(fleet: Any, boto_clients: BotoClients) -> None:
    iot_data = boto_clients.iot_data
    created = fleet.create_dynamic_thing_group(thingGroupName="charged", queryString=QUERY)
    assert_valid_output(fleet, "create_dynamic_thing_group", created)
    assert (created["indexName"], created["queryVersion"], created["queryString"]) == (
        "AWS_Things",
        "2017-09-30",
        QUERY,
    )
    assert members(fleet, "charged") == ["dev-4", "dev-5", "dev-6", "dev-7"]
    report_battery(iot_data, "dev-0", 99)
    report_battery(iot_data, "dev-7", 10)
    assert members(fleet, "charged") == ["dev-0", "dev-4", "dev-5", "dev-6"]
    groups = fleet.list_thing_groups_for_thing(thingName="dev-0")["thingGroups"]
    assert [g["groupName"] for g in groups] == ["charged"]
    assert fleet.list_thing_groups_for_thing(thingName="dev-7")["thingGroups"] == []
    searched = fleet.search_index(queryString="thingGroupNames:charged")["things"]
    assert sorted(t["thingName"] for t in searched) == ["dev-0", "dev-4", "dev-5", "dev-6"]


def test_membership_follows_new_things_attributes_and_deletions(fleet: Any) -> None:
    fleet.create_dynamic_thing_group(thingGroupName="rack1", queryString="attributes.rack:1")
    assert members(fleet, "rack1") == ["dev-1", "dev-3", "dev-5", "dev-7"]
    fleet.create_thing(thingName="new", attributePayload={"attributes": {"rack": "1"}})
    fleet.update_thing(thingName="dev-1", attributePayload={"attributes": {"rack": "0"}})
    fleet.delete_thing(thingName="dev-3")
    assert members(fleet, "rack1") == ["dev-5", "dev-7", "new"]


def test_membership_follows_static_groups_and_connectivity(emulator: Any, fleet: Any) -> None:
    fleet.create_thing_group(thingGroupName="pilot")
    fleet.create_dynamic_thing_group(
        thingGroupName="pilot-online", queryString="thingGroupNames:pilot AND connectivity.connected:true"
    )
    fleet.add_thing_to_thing_group(thingGroupName="pilot", thingName="dev-2")
    fleet.add_thing_to_thing_group(thingGroupName="pilot", thingName="dev-3")
    assert members(fleet, "pilot-online") == []
    set_connectivity(emulator.state, DEFAULT_ACCOUNT, REGION, "dev-3", True)
    assert members(fleet, "pilot-online") == ["dev-3"]
    fleet.remove_thing_from_thing_group(thingGroupName="pilot", thingName="dev-3")
    assert members(fleet, "pilot-online") == []
    fleet.add_thing_to_thing_group(thingGroupName="pilot", thingName="dev-3")
    fleet.delete_thing_group(thingGroupName="pilot")
    assert members(fleet, "pilot-online") == []


def test_describe_update_and_delete(fleet: Any) -> None:
    fleet.create_dynamic_thing_group(
        thingGroupName="charged",
        queryString=QUERY,
        thingGroupProperties={
            "thingGroupDescription": "above half",
            "attributePayload": {"attributes": {"a": "1"}},
        },
        tags=[{"Key": "team", "Value": "ota"}],
    )
    described = fleet.describe_thing_group(thingGroupName="charged")
    assert_valid_output(fleet, "describe_thing_group", described)
    assert (described["status"], described["queryString"], described["indexName"]) == (
        "ACTIVE",
        QUERY,
        "AWS_Things",
    )
    assert described["queryVersion"] == "2017-09-30"
    assert described["thingGroupProperties"]["thingGroupDescription"] == "above half"
    assert "parentGroupName" not in described["thingGroupMetadata"]
    version = described["version"]

    updated = fleet.update_dynamic_thing_group(
        thingGroupName="charged",
        queryString="shadow.reported.batteryStatus>=90",
        thingGroupProperties={"thingGroupDescription": "almost full"},
        expectedVersion=version,
    )
    assert_valid_output(fleet, "update_dynamic_thing_group", updated)
    assert updated["version"] == version + 1
    assert members(fleet, "charged") == ["dev-6", "dev-7"]
    again = fleet.describe_thing_group(thingGroupName="charged")
    assert (again["queryString"], again["thingGroupProperties"]["thingGroupDescription"]) == (
        "shadow.reported.batteryStatus>=90",
        "almost full",
    )
    with pytest.raises(ClientError) as info:
        fleet.update_dynamic_thing_group(
            thingGroupName="charged",
            thingGroupProperties={"thingGroupDescription": "x"},
            expectedVersion=version,
        )
    assert error_of(info) == ("VersionConflictException", 409)
    with pytest.raises(ClientError) as info:
        fleet.delete_dynamic_thing_group(thingGroupName="charged", expectedVersion=version)
    assert error_of(info) == ("VersionConflictException", 409)

    arn = again["thingGroupArn"]
    assert fleet.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "team", "Value": "ota"}]
    assert "charged" in [g["groupName"] for g in fleet.list_thing_groups()["thingGroups"]]
    deleted = fleet.delete_dynamic_thing_group(thingGroupName="charged")
    assert_valid_output(fleet, "delete_dynamic_thing_group", deleted)
    assert fleet.list_thing_groups_for_thing(thingName="dev-7")["thingGroups"] == []
    with pytest.raises(ClientError) as info:
        fleet.describe_thing_group(thingGroupName="charged")
    assert error_of(info) == ("ResourceNotFoundException", 404)
    fleet.delete_dynamic_thing_group(thingGroupName="charged")  # gone already: still fine


def test_create_errors(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    with pytest.raises(ClientError) as info:
        iot.create_dynamic_thing_group(thingGroupName="g", queryString="thingName:*")
    assert error_of(info) == ("ResourceNotFoundException", 404)  # indexing is off
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    for query, code in [
        ("thingName:(a", "InvalidQueryException"),
        ("shadow.reported.x:1", "InvalidQueryException"),  # shadows are not indexed
    ]:
        with pytest.raises(ClientError) as info:
            iot.create_dynamic_thing_group(thingGroupName="g", queryString=query)
        assert error_of(info) == (code, 400)
    with pytest.raises(ClientError) as info:
        iot.create_dynamic_thing_group(
            thingGroupName="g", queryString="thingName:*", indexName="AWS_ThingGroups"
        )
    assert error_of(info) == ("InvalidRequestException", 400)
    with pytest.raises(ClientError) as info:
        iot.create_dynamic_thing_group(
            thingGroupName="g", queryString="thingName:*", queryVersion="2020-01-01"
        )
    assert error_of(info) == ("InvalidRequestException", 400)
    iot.create_thing_group(thingGroupName="static")
    with pytest.raises(ClientError) as info:
        iot.create_dynamic_thing_group(thingGroupName="static", queryString="thingName:*")
    assert error_of(info) == ("ResourceAlreadyExistsException", 409)
    iot.create_dynamic_thing_group(thingGroupName="g", queryString="thingName:*")
    with pytest.raises(ClientError) as info:
        iot.create_dynamic_thing_group(thingGroupName="g", queryString="thingName:*")
    assert error_of(info) == ("ResourceAlreadyExistsException", 409)
    assert iot.list_thing_groups()["thingGroups"]  # nothing half-made: both groups still listed once
    assert sorted(g["groupName"] for g in iot.list_thing_groups()["thingGroups"]) == ["g", "static"]


def test_at_most_100_dynamic_groups(boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    for i in range(100):
        iot.create_dynamic_thing_group(thingGroupName=f"g{i}", queryString=f"attributes.n:{i}")
    with pytest.raises(ClientError) as info:
        iot.create_dynamic_thing_group(thingGroupName="g100", queryString="attributes.n:100")
    assert error_of(info) == ("LimitExceededException", 410)


def test_static_operations_on_dynamic_groups_are_refused(fleet: Any) -> None:
    fleet.create_dynamic_thing_group(thingGroupName="charged", queryString=QUERY)
    arn = fleet.describe_thing_group(thingGroupName="charged")["thingGroupArn"]
    refused = [
        lambda: fleet.add_thing_to_thing_group(thingGroupName="charged", thingName="dev-0"),
        lambda: fleet.add_thing_to_thing_group(thingGroupArn=arn, thingName="dev-0"),
        lambda: fleet.remove_thing_from_thing_group(thingGroupName="charged", thingName="dev-7"),
        lambda: fleet.update_thing_groups_for_thing(thingName="dev-0", thingGroupsToAdd=["charged"]),
        lambda: fleet.update_thing_groups_for_thing(thingName="dev-7", thingGroupsToRemove=["charged"]),
        lambda: fleet.create_thing_group(thingGroupName="child", parentGroupName="charged"),
        lambda: fleet.update_thing_group(
            thingGroupName="charged", thingGroupProperties={"thingGroupDescription": "x"}
        ),
        lambda: fleet.delete_thing_group(thingGroupName="charged"),
        lambda: fleet.attach_policy(policyName="p", target=arn),
    ]
    for call in refused:
        with pytest.raises(ClientError) as info:
            call()
        assert error_of(info) == ("InvalidRequestException", 400)
    fleet.create_thing_group(thingGroupName="static")
    with pytest.raises(ClientError) as info:
        fleet.update_dynamic_thing_group(
            thingGroupName="static", queryString="thingName:*", thingGroupProperties={}
        )
    assert error_of(info) == ("InvalidRequestException", 400)
    with pytest.raises(ClientError) as info:
        fleet.update_dynamic_thing_group(
            thingGroupName="missing", queryString="thingName:*", thingGroupProperties={}
        )
    assert error_of(info) == ("ResourceNotFoundException", 404)
    assert members(fleet, "charged") == ["dev-4", "dev-5", "dev-6", "dev-7"]


def test_indexing_cannot_drop_what_dynamic_groups_need(fleet: Any) -> None:
    fleet.create_dynamic_thing_group(thingGroupName="charged", queryString=QUERY)
    for config in ({"thingIndexingMode": "OFF"}, {"thingIndexingMode": "REGISTRY"}):
        with pytest.raises(ClientError) as info:
            fleet.update_indexing_configuration(thingIndexingConfiguration=config)
        assert error_of(info) == ("InvalidRequestException", 400)
    assert fleet.get_indexing_configuration()["thingIndexingConfiguration"]["thingIndexingMode"] == (
        "REGISTRY_AND_SHADOW"
    )


def test_a_thing_belongs_to_at_most_ten_groups(fleet: Any) -> None:
    for i in range(9):
        fleet.create_thing_group(thingGroupName=f"s{i}")
        fleet.add_thing_to_thing_group(thingGroupName=f"s{i}", thingName="dev-7")
    fleet.create_dynamic_thing_group(thingGroupName="older", queryString=QUERY)
    fleet.create_dynamic_thing_group(thingGroupName="newer", queryString="attributes.rack:1")
    assert "dev-7" in members(fleet, "older")
    assert "dev-7" not in members(fleet, "newer")  # at the limit: the newer dynamic group cannot take it
    assert "dev-5" in members(fleet, "newer")

    fleet.create_thing_group(thingGroupName="s9")
    with pytest.raises(ClientError) as info:
        fleet.add_thing_to_thing_group(thingGroupName="s9", thingName="dev-7")
    assert error_of(info) == ("InvalidRequestException", 400)
    fleet.add_thing_to_thing_group(thingGroupName="s9", thingName="dev-7", overrideDynamicGroups=True)
    groups = sorted(
        g["groupName"] for g in fleet.list_thing_groups_for_thing(thingName="dev-7")["thingGroups"]
    )
    assert groups == sorted(f"s{i}" for i in range(10))


def test_membership_changes_reach_subscribers(emulator: Any, fleet: Any, boto_clients: BotoClients) -> None:
    iot_data = boto_clients.iot_data
    seen: list[tuple[str, str, bool]] = []

    def record(account_id: str, region: str, group_name: str, thing_name: str, added: bool) -> None:
        seen.append((group_name, thing_name, added))

    emulator.state.events.subscribe(GROUP_MEMBERSHIP_CHANGED, record)
    try:
        fleet.create_dynamic_thing_group(thingGroupName="charged", queryString=QUERY)
        report_battery(iot_data, "dev-4", 1)
    finally:
        emulator.state.events.unsubscribe(GROUP_MEMBERSHIP_CHANGED, record)
    assert sorted(seen) == sorted(
        [("charged", f"dev-{i}", True) for i in (4, 5, 6, 7)] + [("charged", "dev-4", False)]
    )


def test_membership_is_exact_after_concurrent_shadow_updates(fleet: Any, make_client: Any) -> None:
    fleet.create_dynamic_thing_group(thingGroupName="charged", queryString=QUERY)
    final = {f"dev-{i}": (i * 37) % 101 for i in range(8)}

    def churn(thing: str) -> None:
        client = make_client("iot-data", config=Config(max_pool_connections=2))
        for level in (100, 0, 75, 25, final[thing]):
            report_battery(client, thing, level)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(churn, final))
    assert members(fleet, "charged") == sorted(name for name, level in final.items() if level > 50)

"""SearchIndex and the aggregation operations over HTTP: shapes, paging, indexing rules, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.pytest_plugin import BotoClients
from iotfleet.emulator.testing import assert_valid_output

INDEXING: dict[str, Any] = {
    "thingIndexingMode": "REGISTRY_AND_SHADOW",
    "namedShadowIndexingMode": "ON",
    "filter": {"namedShadowNames": ["$package"]},
    "customFields": [
        {"name": "attributes.num", "type": "Number"},
        {"name": "attributes.model", "type": "String"},
        {"name": "shadow.reported.batteryStatus", "type": "Number"},
        {"name": "shadow.reported.charging", "type": "Boolean"},
    ],
}


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def names(answer: dict[str, Any]) -> list[str]:
    return [thing["thingName"] for thing in answer["things"]]


@pytest.fixture
def fleet(boto_clients: BotoClients) -> Any:
    """Ten things: dev-0..dev-9 with num=i*10, battery=i*10, charging on even i, model A/B, a group, a type."""
    iot = boto_clients.iot
    iot_data = boto_clients.iot_data
    iot.update_indexing_configuration(thingIndexingConfiguration=INDEXING)
    iot.create_thing_type(thingTypeName="sensor")
    iot.create_thing_group(thingGroupName="even")
    for i in range(10):
        name = f"dev-{i}"
        typed = {"thingTypeName": "sensor"} if i < 5 else {}
        iot.create_thing(
            thingName=name,
            attributePayload={"attributes": {"num": str(i * 10), "model": "A" if i % 2 else "B"}},
            **typed,
        )
        if i % 2 == 0:
            iot.add_thing_to_thing_group(thingGroupName="even", thingName=name)
        reported = {"batteryStatus": i * 10, "charging": i % 2 == 0}
        iot_data.update_thing_shadow(thingName=name, payload=json.dumps({"state": {"reported": reported}}))
    iot_data.update_thing_shadow(
        thingName="dev-3",
        shadowName="$package",
        payload=json.dumps({"state": {"reported": {"MyPkg": {"version": "1.0.0"}}}}),
    )
    iot_data.update_thing_shadow(
        thingName="dev-3", shadowName="private", payload=json.dumps({"state": {"reported": {"secret": 1}}})
    )
    return iot


def test_search_answers_the_thing_document_shape(fleet: Any) -> None:
    answer = fleet.search_index(indexName="AWS_Things", queryString="thingName:dev-3")
    assert_valid_output(fleet, "search_index", answer)
    found = answer["things"]
    assert len(found) == 1
    thing = found[0]
    assert thing["thingName"] == "dev-3"
    assert thing["thingId"] == fleet.describe_thing(thingName="dev-3")["thingId"]
    assert thing["thingTypeName"] == "sensor"
    assert thing["thingGroupNames"] == []
    assert thing["attributes"] == {"num": "30", "model": "A"}
    shadow = json.loads(thing["shadow"])
    assert shadow["reported"] == {"batteryStatus": 30, "charging": False}
    assert shadow["version"] == 1 and shadow["hasDelta"] is False
    assert "metadata" in shadow
    assert shadow["name"] == {"$package": shadow["name"]["$package"]}  # only the indexed named shadow
    assert shadow["name"]["$package"]["reported"] == {"MyPkg": {"version": "1.0.0"}}
    assert "connectivity" not in thing


def test_queries_over_attributes_shadows_groups_and_named_shadows(fleet: Any) -> None:
    assert names(fleet.search_index(queryString="shadow.reported.batteryStatus>50")) == [
        "dev-6",
        "dev-7",
        "dev-8",
        "dev-9",
    ]
    assert names(fleet.search_index(queryString="attributes.num:[20 TO 40}")) == ["dev-2", "dev-3"]
    assert names(fleet.search_index(queryString="thingGroupNames:even AND thingTypeName:sensor")) == [
        "dev-0",
        "dev-2",
        "dev-4",
    ]
    assert names(fleet.search_index(queryString="shadow.name.$package.reported.MyPkg.version:1.*")) == [
        "dev-3"
    ]
    assert names(fleet.search_index(queryString="shadow.reported.charging:true -attributes.num<40")) == [
        "dev-4",
        "dev-6",
        "dev-8",
    ]


def test_search_pages_in_name_order(fleet: Any) -> None:
    first = fleet.search_index(queryString="thingName:dev-*", maxResults=4)
    assert_valid_output(fleet, "search_index", first)
    assert names(first) == ["dev-0", "dev-1", "dev-2", "dev-3"]
    second = fleet.search_index(queryString="thingName:dev-*", maxResults=4, nextToken=first["nextToken"])
    assert names(second) == ["dev-4", "dev-5", "dev-6", "dev-7"]
    fleet.delete_thing(thingName="dev-8")
    third = fleet.search_index(queryString="thingName:dev-*", maxResults=4, nextToken=second["nextToken"])
    assert names(third) == ["dev-9"] and "nextToken" not in third
    with pytest.raises(ClientError) as info:
        fleet.search_index(queryString="thingName:dev-*", maxResults=101)
    assert error_of(info) == ("InvalidRequestException", 400)
    with pytest.raises(ClientError) as info:
        fleet.search_index(queryString="thingName:dev-*", nextToken="forged")
    assert error_of(info) == ("InvalidRequestException", 400)


def test_bad_queries_are_errors_with_positions_never_empty_results(fleet: Any) -> None:
    for query, explanation, caret_at in [
        ("attributes.num > 5", "comparisons are written without spaces", 15),
        ("thingname:dev-1", "case-sensitive, did you mean 'thingName'", 0),
        (
            "shadow.name.private.reported.secret:1",
            "named shadow 'private' is not in filter.namedShadowNames",
            0,
        ),
        ("thingName:/dev.*/", "regular expressions are not supported", 10),
    ]:
        with pytest.raises(ClientError) as info:
            fleet.search_index(queryString=query)
        assert error_of(info) == ("InvalidQueryException", 400), query
        message = info.value.response["Error"]["Message"]
        assert explanation in message, message
        assert message.endswith(f"  {query}\n  {' ' * caret_at}^"), message


def test_shadow_fields_need_shadow_indexing(fleet: Any) -> None:
    fleet.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    assert "shadow" not in fleet.search_index(queryString="thingName:dev-3")["things"][0]
    with pytest.raises(ClientError) as info:
        fleet.search_index(queryString="shadow.reported.batteryStatus>50")
    assert error_of(info) == ("InvalidQueryException", 400)


def test_unknown_index_and_query_version(fleet: Any) -> None:
    with pytest.raises(ClientError) as info:
        fleet.search_index(indexName="Nope", queryString="*")
    assert error_of(info) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as info:
        fleet.search_index(queryString="*", queryVersion="2020-01-01")
    assert error_of(info) == ("InvalidRequestException", 400)


def test_statistics_of_a_number_field(fleet: Any) -> None:
    answer = fleet.get_statistics(
        queryString="thingGroupNames:even", aggregationField="shadow.reported.batteryStatus"
    )
    assert_valid_output(fleet, "get_statistics", answer)
    stats = answer["statistics"]
    # batteries 0, 20, 40, 60, 80
    assert stats["count"] == 5
    assert (stats["sum"], stats["average"], stats["minimum"], stats["maximum"]) == (200.0, 40.0, 0.0, 80.0)
    assert stats["sumOfSquares"] == 12000.0
    assert stats["variance"] == pytest.approx(800.0)
    assert stats["stdDeviation"] == pytest.approx(800.0**0.5)
    attributes = fleet.get_statistics(queryString="*", aggregationField="attributes.num")["statistics"]
    assert attributes["sum"] == 450.0


def test_statistics_count_without_a_field_string_and_boolean_fields(fleet: Any) -> None:
    assert fleet.get_statistics(queryString="attributes.model:A")["statistics"] == {"count": 5}
    assert fleet.get_statistics(queryString="*", aggregationField="attributes.model")["statistics"] == {
        "count": 10
    }
    charging = fleet.get_statistics(queryString="*", aggregationField="shadow.reported.charging")[
        "statistics"
    ]
    assert (charging["count"], charging["average"], charging["minimum"], charging["maximum"]) == (
        10,
        0.5,
        0.0,
        1.0,
    )


def test_statistics_errors(fleet: Any) -> None:
    with pytest.raises(ClientError) as info:
        fleet.get_statistics(queryString="*", aggregationField="shadow.reported.unknown")
    assert error_of(info) == ("InvalidAggregationException", 400)
    with pytest.raises(ClientError) as info:
        fleet.get_statistics(queryString="attributes.num:[1 TO")
    assert error_of(info) == ("InvalidQueryException", 400)


def test_cardinality_percentiles_and_buckets(fleet: Any) -> None:
    cardinality = fleet.get_cardinality(queryString="*", aggregationField="attributes.model")
    assert_valid_output(fleet, "get_cardinality", cardinality)
    assert cardinality["cardinality"] == 2
    assert (
        fleet.get_cardinality(queryString="thingName:none", aggregationField="attributes.model")[
            "cardinality"
        ]
        == 0
    )
    answer = fleet.get_percentiles(
        queryString="*", aggregationField="shadow.reported.batteryStatus", percents=[0, 50, 100]
    )
    assert_valid_output(fleet, "get_percentiles", answer)
    percentiles = answer["percentiles"]
    assert percentiles == [
        {"percent": 0.0, "value": 0.0},
        {"percent": 50.0, "value": 45.0},
        {"percent": 100.0, "value": 90.0},
    ]
    with pytest.raises(ClientError) as info:
        fleet.get_percentiles(queryString="*", aggregationField="attributes.model")
    assert error_of(info) == ("InvalidAggregationException", 400)
    buckets = fleet.get_buckets_aggregation(
        queryString="thingName:dev-*",
        aggregationField="registry.thingTypeName",
        bucketsAggregationType={"termsAggregation": {"maxBuckets": 5}},
    )
    assert_valid_output(fleet, "get_buckets_aggregation", buckets)
    assert buckets["totalCount"] == 10
    assert buckets["buckets"] == [{"keyValue": "sensor", "count": 5}]

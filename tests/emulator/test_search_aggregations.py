"""The aggregation arithmetic and aggregation-field rules behind GetStatistics, GetPercentiles and friends."""

from __future__ import annotations

import math

import pytest

from iotfleet.emulator.errors import ServiceError
from iotfleet.emulator.indexing import IndexingSettings, normalized_thing_configuration
from iotfleet.emulator.search import aggregation_field, percentiles, statistics


def test_statistics_match_the_aws_documentation_example() -> None:
    # The developer guide's example: count 3, sum 100, sumOfSquares 43750.
    result = statistics([-125.0, 75.0, 150.0])
    assert result["count"] == 3
    assert result["sum"] == 100.0
    assert result["minimum"] == -125.0 and result["maximum"] == 150.0
    assert result["sumOfSquares"] == 43750.0
    assert math.isclose(result["average"], 33.333333333333336)
    assert math.isclose(result["variance"], 13472.22222222222)
    assert math.isclose(result["stdDeviation"], 116.06990230986766)


def test_statistics_of_nothing_is_a_zero_count() -> None:
    assert statistics([]) == {"count": 0}


def test_percentiles_interpolate_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentiles(values, [0, 50, 100]) == [
        {"percent": 0.0, "value": 1.0},
        {"percent": 50.0, "value": 3.0},
        {"percent": 100.0, "value": 5.0},
    ]
    assert percentiles(values, [25])[0]["value"] == 2.0
    assert percentiles([10.0, 20.0], [50])[0]["value"] == 15.0
    assert percentiles([], [50]) == []


def indexed(**extra: object) -> IndexingSettings:
    config = {"thingIndexingMode": "REGISTRY_AND_SHADOW", **extra}
    return IndexingSettings(thing=normalized_thing_configuration(config))


def test_aggregation_fields_are_managed_or_custom_fields() -> None:
    current = indexed(customFields=[{"name": "attributes.num", "type": "Number"}])
    assert aggregation_field(current, "attributes.num").kind == "Number"
    assert aggregation_field(current, "registry.version").kind == "Number"
    assert aggregation_field(current, "shadow.hasDelta").kind == "Boolean"
    with pytest.raises(ServiceError, match="not an indexed field") as info:
        aggregation_field(current, "attributes.other")
    assert info.value.code == "InvalidAggregationException"
    with pytest.raises(ServiceError, match="needs a Number field"):
        aggregation_field(current, "thingName", numeric=True)


def test_named_shadow_managed_fields_need_the_shadow_indexed() -> None:
    current = indexed(namedShadowIndexingMode="ON", filter={"namedShadowNames": ["config"]})
    assert aggregation_field(current, "shadow.name.config.version").kind == "Number"
    with pytest.raises(ServiceError, match="not an indexed field"):
        aggregation_field(current, "shadow.name.other.version")


def test_values_that_do_not_fit_the_type_are_ignored() -> None:
    current = indexed(
        customFields=[
            {"name": "attributes.num", "type": "Number"},
            {"name": "shadow.reported.on", "type": "Boolean"},
        ]
    )
    number = aggregation_field(current, "attributes.num")
    assert number.numbers({"attributes": {"num": "12.5"}}) == [12.5]
    assert number.numbers({"attributes": {"num": "twelve"}}) == []
    flag = aggregation_field(current, "shadow.reported.on")
    assert flag.numbers({"shadow": {"reported": {"on": True}}}) == [1.0]
    assert flag.numbers({"shadow": {"reported": {"on": "false"}}}) == [0.0]
    assert flag.numbers({"shadow": {"reported": {"on": 3}}}) == []


def test_count_is_the_number_of_things_holding_values() -> None:
    # One thing reporting an array [1, 2] and another reporting 3: two things, three values.
    result = statistics([1.0, 2.0, 3.0], things=2)
    assert (result["count"], result["sum"], result["average"]) == (2, 6.0, 2.0)

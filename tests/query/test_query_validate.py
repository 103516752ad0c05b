"""Validation of queries against fleet indexing configurations."""

from __future__ import annotations

from typing import Any

import pytest

from iotfleet.query import (
    FieldNotIndexedError,
    IndexingDisabledError,
    QueryFieldError,
    compile_query,
    parse,
    validate,
)

FULL: dict[str, Any] = {
    "thingIndexingMode": "REGISTRY_AND_SHADOW",
    "thingConnectivityIndexingMode": "STATUS",
    "namedShadowIndexingMode": "ON",
    "filter": {"namedShadowNames": ["$package", "config"]},
    "customFields": [{"name": "attributes.num", "type": "Number"}],
}
REGISTRY_ONLY: dict[str, Any] = {"thingIndexingMode": "REGISTRY", "thingConnectivityIndexingMode": "OFF"}


@pytest.mark.parametrize(
    "query",
    [
        "thingName:a AND attributes.num>5 thingGroupNames:g thingTypeName:t thingId:i",
        "shadow.reported.a.b:1 shadow.desired.x:1 shadow.delta.x:1 shadow.hasDelta:true shadow.version:1",
        "shadow.name.$package.reported.MyPkg.version:1.0.0 shadow.name.config.hasDelta:false",
        "connectivity.connected:true connectivity.timestamp>1 connectivity.disconnectReason:x",
        "anything at all",
    ],
)
def test_full_configuration_accepts_every_field(query: str) -> None:
    validate(parse(query), FULL)


def test_registry_only_accepts_registry_fields_and_bare_terms() -> None:
    validate(parse("thingName:a attributes.x:1 thingGroupNames:g abc *"), REGISTRY_ONLY)


@pytest.mark.parametrize(
    ("query", "field", "position", "words"),
    [
        ("thingName:a shadow.reported.x:1", "shadow.reported.x", 12, "REGISTRY_AND_SHADOW"),
        ("shadow.hasDelta:true", "shadow.hasDelta", 0, "REGISTRY_AND_SHADOW"),
        ("thingName:a OR -shadow.name.config.reported.mode:x", "shadow.name.config.reported.mode", 16, "REGISTRY_AND_SHADOW"),
        ("connectivity.connected:true", "connectivity.connected", 0, "thingConnectivityIndexingMode STATUS"),
    ],
)
def test_registry_only_rejects_shadow_and_connectivity(query: str, field: str, position: int, words: str) -> None:
    with pytest.raises(FieldNotIndexedError) as caught:
        validate(parse(query), REGISTRY_ONLY)
    error = caught.value
    assert (error.field, error.position) == (field, position)
    assert words in error.message
    assert isinstance(error, QueryFieldError)


def test_named_shadow_must_be_in_the_filter() -> None:
    with pytest.raises(FieldNotIndexedError) as caught:
        validate(parse("shadow.name.diag.reported.errors>0"), FULL)
    assert "'diag' is not in filter.namedShadowNames (indexed: $package, config)" in caught.value.message


def test_named_shadows_need_named_shadow_indexing_on() -> None:
    config = {**FULL, "namedShadowIndexingMode": "OFF"}
    with pytest.raises(FieldNotIndexedError) as caught:
        validate(parse("shadow.name.$package.hasDelta:true"), config)
    assert "namedShadowIndexingMode ON" in caught.value.message
    config = {**FULL, "filter": {}}
    with pytest.raises(FieldNotIndexedError) as caught:
        validate(parse("shadow.name.$package.hasDelta:true"), config)
    assert "(indexed: none)" in caught.value.message


def test_field_group_error_points_at_the_group_field() -> None:
    with pytest.raises(FieldNotIndexedError) as caught:
        validate(parse("thingName:a shadow.reported.mode:(on OR off)"), REGISTRY_ONLY)
    assert caught.value.position == 12


def test_indexing_off() -> None:
    for config in ({"thingIndexingMode": "OFF"}, {}):
        with pytest.raises(IndexingDisabledError):
            validate(parse("thingName:a"), config)


def test_compile_query_validates_and_errors_carry_the_text() -> None:
    with pytest.raises(FieldNotIndexedError) as caught:
        compile_query("thingName:a connectivity.connected:true", REGISTRY_ONLY)
    assert caught.value.query == "thingName:a connectivity.connected:true"
    assert str(caught.value).endswith("thingName:a connectivity.connected:true\n              ^")
    compile_query("thingName:a connectivity.connected:true")  # no configuration: no check


def test_validate_takes_bare_nodes_and_explicit_text() -> None:
    node = parse("shadow.version:1").root
    with pytest.raises(FieldNotIndexedError) as caught:
        validate(node, REGISTRY_ONLY, text="shadow.version:1")
    assert caught.value.query == "shadow.version:1"

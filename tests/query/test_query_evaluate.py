"""Evaluation semantics over hand-made thing documents, and reading field values out of them."""

from __future__ import annotations

from typing import Any

import pytest

from iotfleet.query import (
    UnknownFieldError,
    compile_query,
    field_values,
    matches,
    numeric_values,
    parse,
    searchable_values,
)


def thing(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "thingName": "dev-1",
        "thingId": "id-1",
        "thingTypeName": "sensor",
        "thingGroupNames": ["lab", "factory-a"],
        "attributes": {"num": "75", "model": "S100", "label": "n/a"},
        "shadow": {
            "reported": {
                "battery": 40,
                "temp": -2.5,
                "ok": True,
                "fw": {"version": "1.2.0", "parts": [{"id": "a", "rev": 3}, {"id": "b", "rev": 7}]},
                "tags": ["Indoor", "critical"],
                "matrix": [[1, 2], [3]],
                "dotted.key": "yes",
                "nothing": None,
                "note": "Hello World",
            },
            "desired": {"battery": 100},
            "delta": {"battery": 100},
            "hasDelta": True,
            "version": 9,
            "name": {"$package": {"reported": {"MyPkg": {"version": "1.0.0"}}, "hasDelta": False, "version": 2}},
        },
        "connectivity": {"connected": False, "timestamp": 1700000000000, "disconnectReason": "CONNECTION_LOST"},
    }
    doc.update(overrides)
    return doc


def hit(query: str, doc: dict[str, Any] | None = None) -> bool:
    return matches(parse(query), doc if doc is not None else thing())


# -- matching values ----------------------------------------------------------------------------------


def test_values_match_whole_and_case_insensitively() -> None:
    assert hit("thingName:DEV-1")
    assert not hit("thingName:dev")
    assert hit("attributes.model:s100")
    assert hit('shadow.reported.note:"hello world"')
    assert not hit("shadow.reported.note:hello")


def test_field_names_are_case_sensitive_in_lookup() -> None:
    assert not hit("attributes.Model:S100")


def test_thing_group_names_match_any_group() -> None:
    assert hit("thingGroupNames:factory-a")
    assert hit("thingGroupNames:fac*")
    assert not hit("thingGroupNames:factory")


def test_wildcards() -> None:
    assert hit("thingName:dev-?")
    assert not hit("thingName:dev?")
    assert hit("thingName:*-1")
    assert hit("thingName:D*1")
    assert hit("shadow.reported.note:hello*")
    assert hit("shadow.reported.battery:4*")  # numbers match wildcards by their text


def test_escaped_wildcard_is_literal() -> None:
    doc = thing(attributes={"pattern": "a*b"})
    assert hit(r"attributes.pattern:a\*b", doc)
    assert not hit(r"attributes.pattern:a\*b", thing(attributes={"pattern": "axxb"}))
    assert hit(r"attributes.pattern:a\**", doc)


def test_missing_fields_and_documents_have_no_value() -> None:
    doc = thing(shadow=None, connectivity=None, thingTypeName=None, attributes={})
    assert not hit("shadow.reported.battery:40", doc)
    assert not hit("shadow.hasDelta:true", doc)
    assert not hit("connectivity.connected:false", doc)
    assert not hit("thingTypeName:*", doc)
    assert not hit("attributes.num:*", doc)
    assert hit("thingName:dev-1", {"thingName": "dev-1"})


def test_exists() -> None:
    assert hit("thingTypeName:*")
    assert hit("shadow.reported.fw:*")  # an object with values under it
    assert not hit("shadow.reported.nothing:*")
    assert not hit("shadow.reported.missing:*")
    assert not hit("shadow.reported.fw:*", thing(shadow={"reported": {"fw": {}}}))


def test_match_all() -> None:
    assert hit("*", {"thingName": "x"})


# -- shadows ------------------------------------------------------------------------------------------


def test_nested_paths_arrays_and_arrays_of_objects() -> None:
    assert hit("shadow.reported.fw.version:1.2.0")
    assert hit("shadow.reported.tags:indoor")
    assert hit("shadow.reported.fw.parts.id:b")
    assert hit("shadow.reported.fw.parts.rev>5")
    assert not hit("shadow.reported.fw.parts.rev>7")
    assert hit("shadow.reported.matrix:3")


def test_json_keys_with_dots() -> None:
    assert hit("shadow.reported.dotted.key:yes")


def test_desired_delta_has_delta_and_version() -> None:
    assert hit("shadow.desired.battery:100")
    assert hit("shadow.delta.battery:100")
    assert not hit("shadow.reported.battery:100")
    assert hit("shadow.hasDelta:true")
    assert hit("shadow.hasDelta:TRUE")
    assert not hit("shadow.hasDelta:false")
    assert hit("shadow.version:9")
    assert hit("shadow.version:[5 TO 10]")


def test_named_shadows() -> None:
    assert hit("shadow.name.$package.reported.MyPkg.version:1.0.0")
    assert hit("shadow.name.$package.hasDelta:false")
    assert hit("shadow.name.$package.version<3")
    assert not hit("shadow.name.other.reported.MyPkg.version:1.0.0")
    assert not hit("shadow.name.$package.reported.MyPkg.version:1.0")


def test_booleans() -> None:
    assert hit("shadow.reported.ok:true")
    assert not hit("shadow.reported.ok:false")
    assert hit("connectivity.connected:false")
    assert hit("shadow.reported.ok:t*")


def test_connectivity() -> None:
    assert hit("connectivity.disconnectReason:connection_lost")
    assert hit("connectivity.timestamp>=1700000000000")
    assert not hit("connectivity.timestamp>1700000000000")


# -- numbers and ordering -----------------------------------------------------------------------------


def test_comparisons_are_exact() -> None:
    assert not hit("shadow.reported.battery>40")
    assert hit("shadow.reported.battery>=40")
    assert not hit("shadow.reported.battery<40")
    assert hit("shadow.reported.battery<=40")


def test_numeric_strings_compare_as_numbers() -> None:
    assert hit("attributes.num>8")  # "75" > 8 numerically, although "75" < "8" as text
    assert hit("attributes.num:[9 TO 100]")
    assert hit("attributes.num:75.0")  # equal as numbers
    assert not hit("attributes.num<75")


def test_negative_and_fractional_numbers() -> None:
    assert hit("shadow.reported.temp:-2.5")
    assert hit("shadow.reported.temp<-2")
    assert hit("shadow.reported.temp:[-3 TO -2]")
    assert not hit("shadow.reported.temp>-2.5")


def test_non_numbers_compare_as_text() -> None:
    assert hit("attributes.model>s")  # "s100" > "s"
    assert hit('attributes.model:["S0" TO "S2"]')
    assert hit("attributes.label>5")  # "n/a" sorts after "5" as text
    assert not hit("attributes.model<abc")


def test_open_and_exclusive_range_bounds() -> None:
    assert hit("shadow.reported.battery:[* TO 40]")
    assert not hit("shadow.reported.battery:[* TO 40}")
    assert hit("shadow.reported.battery:{39 TO *]")
    assert hit("shadow.reported.battery:[* TO *]")
    assert not hit("shadow.reported.missing:[* TO *]")


def test_large_integers_compare_exactly() -> None:
    doc = thing(attributes={"big": "9007199254740993"})
    assert hit("attributes.big>9007199254740992", doc)
    assert not hit("attributes.big:9007199254740992", doc)


# -- boolean logic -------------------------------------------------------------------------------------


def test_not_is_a_complement_including_missing_fields() -> None:
    assert hit("NOT attributes.color:red")
    assert not hit("NOT thingName:dev-1")
    assert hit("-thingTypeName:camera")


def test_and_or() -> None:
    assert hit("thingName:dev-1 AND thingTypeName:sensor")
    assert not hit("thingName:dev-1 AND thingTypeName:camera")
    assert hit("thingName:nope OR thingTypeName:sensor")



def test_precedence_decides_the_result() -> None:
    # (dev-1 OR camera) AND nope is false; dev-1 OR (camera AND nope) would be true.
    assert not hit("thingName:dev-1 OR thingTypeName:camera thingName:nope")
    # dev-1 OR (camera AND nope) is true; (dev-1 OR camera) AND nope would be false.
    assert hit("thingName:dev-1 OR thingTypeName:camera AND thingName:nope")
    # (NOT dev-1) OR sensor is true; NOT (dev-1 OR sensor) would be false.
    assert hit("NOT thingName:dev-1 OR thingTypeName:sensor")
    # (NOT nope) AND camera is false; NOT (nope AND camera) would be true.
    assert not hit("NOT thingName:nope AND thingTypeName:camera")


# -- bare terms ----------------------------------------------------------------------------------------


def test_bare_terms_search_registry_attributes_and_shadows() -> None:
    assert hit("dev-1")
    assert hit("id-1")
    assert hit("sensor")
    assert hit("lab")
    assert hit("S100")
    assert hit("critical")
    assert hit("1.0.0")  # $package named shadow
    assert hit("100")  # desired and delta
    assert hit("h*world")
    assert not hit("CONNECTION_LOST")  # connectivity is not searched
    assert not hit("num")  # attribute names are not values
    assert not hit("9")  # shadow version is not content


def test_searchable_values() -> None:
    values = searchable_values(thing())
    assert "dev-1" in values and "S100" in values and "critical" in values and 7 in values
    assert searchable_values({"thingName": "x"}) == ["x"]


# -- field values for statistics --------------------------------------------------------------------


def test_field_values() -> None:
    doc = thing()
    assert field_values(doc, "thingGroupNames") == ["lab", "factory-a"]
    assert field_values(doc, "attributes.num") == ["75"]
    assert field_values(doc, "shadow.reported.fw.parts.rev") == [3, 7]
    assert field_values(doc, "shadow.reported.matrix") == [1, 2, 3]
    assert field_values(doc, "shadow.reported.fw") == []  # an object is not a value
    assert field_values(doc, "shadow.hasDelta") == [True]
    assert field_values(doc, "connectivity.timestamp") == [1700000000000]
    assert field_values(doc, "thingTypeName") == ["sensor"]
    assert field_values(thing(thingTypeName=None), "thingTypeName") == []
    with pytest.raises(UnknownFieldError):
        field_values(doc, "thingname")


def test_numeric_values() -> None:
    doc = thing()
    assert numeric_values(doc, "attributes.num") == [75]
    assert numeric_values(doc, "attributes.model") == []
    assert numeric_values(doc, "shadow.reported.temp") == [-2.5]
    assert numeric_values(doc, "shadow.reported.ok") == []  # booleans are not numbers


# -- compiled queries ----------------------------------------------------------------------------------


def test_compiled_query_filters_and_describes_itself() -> None:
    compiled = compile_query("thingTypeName:sensor AND shadow.reported.battery<50")
    docs = [thing(), thing(thingName="dev-2", thingTypeName="camera")]
    assert compiled.matches(docs[0]) and compiled(docs[0])
    assert compiled.filter(docs) == [docs[0]]
    assert compiled.fields_used() == ["thingTypeName", "shadow.reported.battery"]
    assert compiled.to_query_string() == "thingTypeName:sensor AND shadow.reported.battery<50"
    assert compiled.explain().startswith("AND")
    assert compiled.text == "thingTypeName:sensor AND shadow.reported.battery<50"
    assert "thingTypeName:sensor" in repr(compiled)


def test_ten_thousand_documents() -> None:
    """Evaluation over a large fleet gives the exact expected count (speed is measured, not asserted)."""
    docs = [
        thing(thingName=f"dev-{i}", attributes={"num": str(i % 100)}, thingGroupNames=[f"g{i % 7}"])
        for i in range(10_000)
    ]
    compiled = compile_query("attributes.num>=90 AND (thingGroupNames:g1 OR thingGroupNames:g2) -thingName:dev-9*")
    expected = [
        d
        for i, d in enumerate(docs)
        if i % 100 >= 90 and i % 7 in (1, 2) and not str(i).startswith("9")
    ]
    assert compiled.filter(docs) == expected

"""Property tests: the thing index and the scan agree, for random queries over a random fleet.

Each example builds a fleet through the API, builds the index, and changes the fleet again (so the index
follows every change from the events: creates, attribute and thing type updates, shadow writes and
deletes, group moves, group and thing deletions, connectivity, and a dynamic group's membership moving
with them), then runs random queries in search mode ``index`` and in
search mode ``scan`` and compares every page of SearchIndex, GetStatistics (count and a numeric field),
GetCardinality and GetBucketsAggregation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from iotfleet.emulator.indexing import set_connectivity
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.moto_patches.gateway import DEFAULT_ACCOUNT
from iotfleet.emulator.pytest_plugin import REGION
from iotfleet.query import (
    Bound,
    Compare,
    Exists,
    Match,
    MatchAll,
    Node,
    Not,
    QueryError,
    Range,
    Wildcard,
    compile_query,
    iter_leaves,
    to_query_string,
)
from iotfleet.query.nodes import make_and, make_or
from iotfleet.query.parser import MAX_TERMS

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CONFIG: dict[str, Any] = {
    "thingIndexingMode": "REGISTRY_AND_SHADOW",
    "thingConnectivityIndexingMode": "STATUS",
    "namedShadowIndexingMode": "ON",
    "filter": {"namedShadowNames": ["cfg"]},
    "customFields": [
        {"name": "attributes.num", "type": "Number"},
        {"name": "shadow.reported.battery", "type": "Number"},
        {"name": "attributes.color", "type": "String"},
    ],
}
NAMES = [f"t{index:02d}" for index in range(10)]
TYPES = ["alpha", "Beta"]
GROUPS = ["g1", "G2", "g3"]
TEXTS = ["red", "Red", "blue", "a b", "x*y", "true", "5", "5.0", "12", "-3", "1e3", "0.5", "t01", "g1", "dyn"]
DYNAMIC = "attributes.color:red OR shadow.reported.battery>50"
"""The query of a dynamic group, whose membership moves (through the accessors) as the fleet changes."""
SCALARS = st.one_of(
    st.sampled_from(TEXTS),
    st.integers(-20, 120),
    st.sampled_from([0.5, 5.0, 12.25, -3.0]),
    st.booleans(),
)
JSON_VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.builds(lambda v: {"rssi": v}, SCALARS))
ATTRIBUTES = st.dictionaries(st.sampled_from(["color", "num", "mixed"]), st.sampled_from(TEXTS), max_size=3)
REPORTED = st.dictionaries(st.sampled_from(["battery", "fw", "net", "tags"]), JSON_VALUES, max_size=3)

# --- the fleet: things, then a random sequence of changes ------------------------------------------------

things = st.lists(
    st.tuples(st.sampled_from(NAMES), st.sampled_from([None, *TYPES]), ATTRIBUTES, REPORTED),
    min_size=3,
    max_size=len(NAMES),
    unique_by=lambda thing: thing[0],
)

operations = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(NAMES), st.sampled_from([None, *TYPES]), ATTRIBUTES),
    st.tuples(st.just("update"), st.sampled_from(NAMES), st.sampled_from([None, "remove", *TYPES]), ATTRIBUTES),
    st.tuples(st.just("report"), st.sampled_from(NAMES), st.sampled_from([None, "cfg"]), REPORTED),
    st.tuples(st.just("desire"), st.sampled_from(NAMES), st.just(None), REPORTED),
    st.tuples(st.just("unshadow"), st.sampled_from(NAMES), st.sampled_from([None, "cfg"]), st.none()),
    st.tuples(st.just("join"), st.sampled_from(NAMES), st.sampled_from(GROUPS), st.none()),
    st.tuples(st.just("leave"), st.sampled_from(NAMES), st.sampled_from(GROUPS), st.none()),
    st.tuples(st.just("connect"), st.sampled_from(NAMES), st.booleans(), st.none()),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.none(), st.none()),
    st.tuples(st.just("drop_group"), st.sampled_from(GROUPS), st.none(), st.none()),
)


def _apply(emulator: Any, iot: Any, data: Any, operation: tuple[str, Any, Any, Any]) -> None:
    kind, name, option, payload = operation
    try:
        if kind == "create":
            typed = {"thingTypeName": option} if option else {}
            iot.create_thing(thingName=name, attributePayload={"attributes": payload}, **typed)
        elif kind == "update":
            typed = {"removeThingType": True} if option == "remove" else {"thingTypeName": option} if option else {}
            iot.update_thing(thingName=name, attributePayload={"attributes": payload, "merge": True}, **typed)
        elif kind in ("report", "desire"):
            section = "reported" if kind == "report" else "desired"
            named = {"shadowName": option} if option else {}
            body = json.dumps({"state": {section: payload}})
            data.update_thing_shadow(thingName=name, payload=body.encode(), **named)
        elif kind == "unshadow":
            data.delete_thing_shadow(thingName=name, **({"shadowName": option} if option else {}))
        elif kind == "join":
            iot.add_thing_to_thing_group(thingGroupName=option, thingName=name)
        elif kind == "leave":
            iot.remove_thing_from_thing_group(thingGroupName=option, thingName=name)
        elif kind == "connect":
            if any(t["thingName"] == name for t in iot.list_things()["things"]):
                with emulator.state.lock:
                    set_connectivity(emulator.state, DEFAULT_ACCOUNT, REGION, name, option)
        elif kind == "delete":
            iot.delete_thing(thingName=name)
        elif kind == "drop_group":
            iot.delete_thing_group(thingGroupName=name)
            iot.create_thing_group(thingGroupName=name)
    except ClientError:
        pass  # a change the registry refuses (a missing thing, too many attributes) changes nothing


# --- the queries ----------------------------------------------------------------------------------------

STRING_FIELDS = [
    "thingName",
    "thingTypeName",
    "thingGroupNames",
    "attributes.color",
    "attributes.num",
    "attributes.mixed",
    "shadow.reported.fw",
    "shadow.reported.battery",
    "shadow.reported.net.rssi",
    "shadow.reported.tags",
    "shadow.desired.battery",
    "shadow.delta.fw",
    "shadow.name.cfg.reported.battery",
    "shadow.name.cfg.reported.fw",
    "connectivity.disconnectReason",
]
NUMBER_FIELDS = ["shadow.version", "shadow.name.cfg.version", "connectivity.timestamp"]
BOOLEAN_FIELDS = ["shadow.hasDelta", "connectivity.connected"]
VALUES = st.one_of(st.sampled_from(TEXTS), st.integers(-20, 120).map(str), st.sampled_from(["*", "0", "99.5"]))
PATTERNS = st.sampled_from(["re*", "R?d", "*lue", "1*", "t0?", "a*", "-*", "x\\*y", "5*", "?"])
COMPARE_OPS = st.sampled_from([">", ">=", "<", "<="])
field = st.sampled_from(STRING_FIELDS)


def _bound(values: st.SearchStrategy[str]) -> st.SearchStrategy[Bound | None]:
    return st.one_of(st.none(), st.builds(Bound, values, st.just(True)))


leaves = st.one_of(
    st.builds(Match, st.sampled_from([None, *STRING_FIELDS]), st.sampled_from(TEXTS), st.just(True)),
    st.builds(Match, st.sampled_from(BOOLEAN_FIELDS), st.sampled_from(["true", "false"])),
    st.builds(Match, st.sampled_from(NUMBER_FIELDS), st.integers(0, 4).map(str)),
    st.builds(Wildcard, st.sampled_from([None, *STRING_FIELDS]), PATTERNS),
    st.builds(Exists, st.sampled_from([*STRING_FIELDS, *NUMBER_FIELDS, "shadow.reported.net", "attributes.none"])),
    st.just(MatchAll()),
    st.builds(Range, field, _bound(VALUES), _bound(VALUES), st.booleans(), st.booleans()),
    st.builds(Range, st.sampled_from(NUMBER_FIELDS), _bound(st.integers(0, 5).map(str)), _bound(st.just("3"))),
    st.builds(Compare, field, COMPARE_OPS, st.sampled_from(TEXTS), st.just(True)),
    st.builds(Compare, st.sampled_from(NUMBER_FIELDS), COMPARE_OPS, st.integers(0, 5).map(str)),
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(Not, children),
        st.builds(lambda items: make_and(items, False), st.lists(children, min_size=2, max_size=3)),
        st.builds(make_or, st.lists(children, min_size=2, max_size=3)),
    ),
    max_leaves=6,
)


def _query_text(tree: Node) -> str | None:
    """The tree as query text, if the emulator can run it (term and leading-wildcard limits, validation)."""
    found = list(iter_leaves(tree))
    if len(found) > MAX_TERMS or sum(isinstance(leaf, Wildcard) and leaf.leading for leaf in found) > 1:
        return None
    text = to_query_string(tree)
    try:
        compile_query(text, CONFIG)
    except QueryError:
        return None
    return text


# --- the two paths --------------------------------------------------------------------------------------


def _answers(iot: Any, query: str) -> dict[str, Any]:
    pages = [iot.search_index(queryString=query, maxResults=3)]
    while "nextToken" in pages[-1]:
        pages.append(iot.search_index(queryString=query, maxResults=3, nextToken=pages[-1]["nextToken"]))
    things = [thing for page in pages for thing in page["things"]]
    answer: dict[str, Any] = {
        "names": [thing["thingName"] for thing in things],
        "things": things,
        "count": iot.get_statistics(queryString=query)["statistics"],
        "battery": iot.get_statistics(queryString=query, aggregationField="shadow.reported.battery")["statistics"],
        "colors": iot.get_cardinality(queryString=query, aggregationField="attributes.color")["cardinality"],
        "groups": iot.get_buckets_aggregation(
            queryString=query,
            aggregationField="registry.thingGroupNames",
            bucketsAggregationType={"termsAggregation": {"maxBuckets": 10}},
        ),
    }
    answer["groups"].pop("ResponseMetadata", None)
    return answer


@pytest.mark.timeout(240)
@PROPERTY
@given(
    fleet=things,
    before=st.lists(operations, max_size=8),
    after=st.lists(operations, min_size=3, max_size=25),
    queries=st.lists(trees, min_size=4, max_size=8),
)
def test_the_index_and_the_scan_return_the_same_things(
    emulator: Any, boto_clients: Any, fleet: list[Any], before: list[Any], after: list[Any], queries: list[Node]
) -> None:
    texts = [text for text in map(_query_text, queries) if text is not None]
    assume(texts)
    emulator.reset()
    iot, data = boto_clients.iot, boto_clients.iot_data
    for type_name in TYPES:
        iot.create_thing_type(thingTypeName=type_name)
    for group in GROUPS:
        iot.create_thing_group(thingGroupName=group)
    for name, type_name, attributes, reported in fleet:
        _apply(emulator, iot, data, ("create", name, type_name, attributes))
        _apply(emulator, iot, data, ("report", name, None, reported))
        _apply(emulator, iot, data, ("join", name, GROUPS[len(attributes) % len(GROUPS)], None))
    for operation in before:
        _apply(emulator, iot, data, operation)
    iot.update_indexing_configuration(thingIndexingConfiguration=CONFIG)
    iot.create_dynamic_thing_group(thingGroupName="dyn", queryString=DYNAMIC)
    iot.get_statistics(queryString="thingName:t0*")  # the index is built here: what follows it follows
    for text in texts[:2]:
        iot.search_index(queryString=text)  # field indexes built before the changes too
    for operation in after:
        _apply(emulator, iot, data, operation)
    for text in texts:
        emulator.set_search_mode("scan")
        scanned = _answers(iot, text)
        emulator.set_search_mode("index")
        indexed = _answers(iot, text)
        for part in ("names", "count", "battery", "colors", "groups", "things"):
            assert indexed[part] == scanned[part], f"{part} differ for {text!r}"


def test_a_configuration_change_rebuilds_the_index(emulator: Any, boto_clients: Any) -> None:
    iot, data = boto_clients.iot, boto_clients.iot_data
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    iot.create_thing(thingName="lamp")
    data.update_thing_shadow(thingName="lamp", payload=b'{"state":{"reported":{"on":true}}}')
    assert iot.get_statistics(queryString="thingName:lamp")["statistics"]["count"] == 1
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY_AND_SHADOW"})
    assert iot.get_statistics(queryString="shadow.reported.on:true")["statistics"]["count"] == 1
    found = iot.search_index(queryString="shadow.reported.on:true")["things"]
    assert [thing["thingName"] for thing in found] == ["lamp"]


def test_a_thing_created_without_an_event_is_indexed_on_the_next_query(emulator: Any, boto_clients: Any) -> None:
    iot = boto_clients.iot
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    iot.create_thing(thingName="seen")
    assert iot.get_statistics(queryString="*")["statistics"]["count"] == 1
    with emulator.state.lock:  # straight into the registry: no call, no event
        accessors.iot_backend(DEFAULT_ACCOUNT, REGION).create_thing("unseen", None, None)
    found = iot.search_index(queryString="thingName:*seen")["things"]
    assert sorted(thing["thingName"] for thing in found) == ["seen", "unseen"]

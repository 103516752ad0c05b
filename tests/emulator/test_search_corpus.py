"""The query corpus (tests/query/data) run through search_index over HTTP against the same fleet.

The fleet is created through the AWS API: thing types, things and attributes, static groups, classic and
named shadows (updated as many times as their fixture version says), and connectivity through the
emulator's connectivity hook at the fixture's timestamps. Entries that depend on what the API cannot set
are adapted, never dropped:

* ``thingId`` values are assigned by the registry, so the fixture id in a query is replaced by the real one;
* a thing the fixture shows with no connectivity has never connected, which the emulator indexes as
  ``connected: false`` (as GetThingConnectivityData reports it); for queries on connectivity the expected
  things are worked out from the fixture with that one difference, by the shared evaluator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.indexing import set_connectivity
from iotfleet.emulator.moto_patches.gateway import DEFAULT_ACCOUNT
from iotfleet.emulator.pytest_plugin import REGION, BotoClients
from iotfleet.query import compile_query

DATA = Path(__file__).resolve().parents[1] / "query" / "data"
FLEET: dict[str, Any] = json.loads((DATA / "fleet.json").read_text(encoding="utf-8"))
CORPUS: dict[str, Any] = json.loads((DATA / "corpus.json").read_text(encoding="utf-8"))


def _write_shadow(iot_data: Any, thing: str, shadow: dict[str, Any], shadow_name: str | None) -> None:
    state: dict[str, Any] = {}
    if shadow.get("reported"):
        state["reported"] = shadow["reported"]
    if shadow.get("desired"):
        state["desired"] = shadow["desired"]
    named = {"shadowName": shadow_name} if shadow_name is not None else {}
    payload = json.dumps({"state": state})
    for _ in range(int(shadow.get("version") or 1)):
        iot_data.update_thing_shadow(thingName=thing, payload=payload, **named)


def _build_fleet(emulator: Any, iot: Any, iot_data: Any) -> dict[str, str]:
    """Create the fixture fleet; returns fixture thingId -> the thingId the registry assigned."""
    config = dict(FLEET["indexingConfiguration"])
    iot.update_indexing_configuration(thingIndexingConfiguration=config)
    things = FLEET["things"]
    for type_name in sorted({t["thingTypeName"] for t in things if t.get("thingTypeName")}):
        iot.create_thing_type(thingTypeName=type_name)
    for group in sorted({g for t in things for g in t.get("thingGroupNames", [])}):
        iot.create_thing_group(thingGroupName=group)
    ids: dict[str, str] = {}
    for thing in things:
        name = thing["thingName"]
        typed = {"thingTypeName": thing["thingTypeName"]} if thing.get("thingTypeName") else {}
        created = iot.create_thing(
            thingName=name, attributePayload={"attributes": thing.get("attributes", {})}, **typed
        )
        ids[thing["thingId"]] = created["thingId"]
        for group in thing.get("thingGroupNames", []):
            iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)
        shadow = thing.get("shadow") or {}
        if shadow.get("version"):
            _write_shadow(iot_data, name, shadow, None)
        for shadow_name, named in (shadow.get("name") or {}).items():
            _write_shadow(iot_data, name, named, shadow_name)
        connectivity = thing.get("connectivity")
        if connectivity is not None:
            set_connectivity(
                emulator.state,
                DEFAULT_ACCOUNT,
                REGION,
                name,
                connectivity["connected"],
                connectivity.get("disconnectReason"),
                timestamp_ms=connectivity["timestamp"],
            )
    return ids


def _never_connected_is_disconnected() -> list[dict[str, Any]]:
    docs = []
    for thing in FLEET["things"]:
        doc = dict(thing)
        if doc.get("connectivity") is None:
            doc["connectivity"] = {"connected": False}
        docs.append(doc)
    return docs


def _expected(entry: dict[str, Any]) -> set[str]:
    if "connectivity" not in entry.get("requires", []):
        return set(entry["expected"])
    query = compile_query(entry["query"], FLEET["indexingConfiguration"])
    return {doc["thingName"] for doc in _never_connected_is_disconnected() if query.matches(doc)}


def _pages(iot: Any, query: str, page_size: int = 100) -> list[dict[str, Any]]:
    """Every page of a search (boto3 has no paginator for SearchIndex)."""
    pages = [iot.search_index(queryString=query, maxResults=page_size)]
    while "nextToken" in pages[-1]:
        pages.append(
            iot.search_index(queryString=query, maxResults=page_size, nextToken=pages[-1]["nextToken"])
        )
    return pages


def _search_all(iot: Any, query: str) -> set[str]:
    found = [thing["thingName"] for page in _pages(iot, query, page_size=7) for thing in page["things"]]
    assert len(found) == len(set(found)), f"duplicates for {query!r}"
    return set(found)


def test_the_fleet_is_reproduced(emulator: Any, boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot_data = boto_clients.iot_data
    _build_fleet(emulator, iot, iot_data)
    by_name = {t["thingName"]: t for t in FLEET["things"]}
    for page in _pages(iot, "thingName:*"):
        for thing in page["things"]:
            fixture = by_name.pop(thing["thingName"])
            assert sorted(thing["thingGroupNames"]) == sorted(fixture.get("thingGroupNames", []))
            assert thing["attributes"] == fixture.get("attributes", {})
            if fixture.get("shadow") and fixture["shadow"].get("version"):
                shadow = json.loads(thing["shadow"])
                assert shadow["version"] == fixture["shadow"]["version"]
                assert shadow["hasDelta"] == fixture["shadow"]["hasDelta"]
    assert by_name == {}


def test_every_corpus_query_returns_exactly_the_expected_things(
    emulator: Any, boto_clients: BotoClients
) -> None:
    iot = boto_clients.iot
    ids = _build_fleet(emulator, iot, boto_clients.iot_data)
    assert len(CORPUS["queries"]) >= 60
    mismatches = []
    for entry in CORPUS["queries"]:
        query = entry["query"]
        for fixture_id, real_id in ids.items():
            query = query.replace(fixture_id, real_id)
        found = _search_all(iot, query)
        expected = _expected(entry)
        if found != expected:
            mismatches.append((entry["query"], sorted(found - expected), sorted(expected - found)))
    assert mismatches == [], "query, unexpected, missing:\n" + "\n".join(map(str, mismatches))


def test_every_corpus_error_is_an_invalid_query(emulator: Any, boto_clients: BotoClients) -> None:
    iot = boto_clients.iot
    iot_data = boto_clients.iot_data
    _build_fleet(emulator, iot, iot_data)
    for entry in CORPUS["errors"]:
        config = entry.get("config")
        if config is not None:
            iot.update_indexing_configuration(thingIndexingConfiguration=config)
        expected = (
            ("ResourceNotFoundException", 404)
            if entry["error"] == "IndexingDisabledError"
            else (
                "InvalidQueryException",
                400,
            )
        )
        with pytest.raises(ClientError) as info:
            iot.search_index(queryString=entry["query"])
        response = info.value.response
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == expected, entry
        if config is not None:
            iot.update_indexing_configuration(thingIndexingConfiguration=FLEET["indexingConfiguration"])

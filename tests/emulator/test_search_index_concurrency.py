"""The thing index and dynamic groups under many clients at once: exact when the updates stop.

Threads create things, rewrite their shadows and attributes and move them between groups while others
search; afterwards every query answers the same through the index as through the scan, and the dynamic
group holds exactly the things its query matches.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from iotfleet.emulator.control import EmulatorControl, EmulatorControlError

THREADS = 16
THINGS_PER_THREAD = 6
DYNAMIC_QUERY = "shadow.reported.battery<30 OR attributes.zone:b"
QUERIES = [
    "*",
    DYNAMIC_QUERY,
    "shadow.reported.battery:[10 TO 60]",
    "attributes.zone:a AND NOT thingGroupNames:low",
    "thingGroupNames:low",
    "thingName:dev-1*",
]


def _names(iot: Any, query: str) -> list[str]:
    pages = [iot.search_index(queryString=query, maxResults=50)]
    while "nextToken" in pages[-1]:
        pages.append(iot.search_index(queryString=query, maxResults=50, nextToken=pages[-1]["nextToken"]))
    return [thing["thingName"] for page in pages for thing in page["things"]]


def test_concurrent_changes_leave_the_index_and_a_dynamic_group_exact(emulator: Any, boto_clients: Any) -> None:
    iot, data = boto_clients.iot, boto_clients.iot_data
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY_AND_SHADOW"})
    iot.create_thing_group(thingGroupName="static")
    iot.create_dynamic_thing_group(thingGroupName="low", queryString=DYNAMIC_QUERY)

    def work(worker: int) -> None:
        for index in range(THINGS_PER_THREAD):
            name = f"dev-{worker:02d}-{index}"
            iot.create_thing(thingName=name, attributePayload={"attributes": {"zone": "ab"[index % 2]}})
            for step in range(3):
                battery = (worker * 7 + index * 13 + step * 29) % 100
                payload = json.dumps({"state": {"reported": {"battery": battery}}}).encode()
                data.update_thing_shadow(thingName=name, payload=payload)["payload"].read()
                _names(iot, QUERIES[(worker + step) % len(QUERIES)])
            if index % 3 == 0:
                iot.add_thing_to_thing_group(thingGroupName="static", thingName=name)
            if (worker + index) % 4 == 0:
                iot.update_thing(thingName=name, attributePayload={"attributes": {"zone": "c"}, "merge": True})
            if (worker + index) % 5 == 0:
                iot.delete_thing(thingName=name)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))

    indexed = {query: _names(iot, query) for query in QUERIES}
    emulator.set_search_mode("scan")
    scanned = {query: _names(iot, query) for query in QUERIES}
    assert indexed == scanned
    members = iot.list_things_in_thing_group(thingGroupName="low")["things"]
    assert sorted(members) == sorted(scanned[DYNAMIC_QUERY])
    assert len(scanned["*"]) == THREADS * THINGS_PER_THREAD - sum(
        1 for worker in range(THREADS) for index in range(THINGS_PER_THREAD) if (worker + index) % 5 == 0
    )


def test_the_search_mode_is_a_control_route(emulator: Any) -> None:
    control = EmulatorControl(emulator.endpoint_url)
    assert control.search_mode() == "index"
    control.set_search_mode("scan")
    assert control.search_mode() == "scan" and emulator.state.search_mode == "scan"
    refused = requests.post(f"{emulator.endpoint_url}/_emulator/search", json={"mode": "fast"}, timeout=5)
    assert refused.status_code == 400 and "index, scan" in refused.json()["error"]
    with pytest.raises(EmulatorControlError, match="search mode must be one of"):
        control.set_search_mode("fast")
    emulator.reset()
    assert control.search_mode() == "index"

"""Many clients at once: every call is applied exactly once and nothing is lost (moto runs under one lock)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

THREADS = 32
THINGS_PER_THREAD = 8
GROUPS = ("north", "south", "east", "west")


def test_32_threads_of_registry_and_shadow_calls_are_exact(boto_clients, emulator) -> None:
    iot, data = boto_clients.iot, boto_clients.iot_data
    for group in GROUPS:
        iot.create_thing_group(thingGroupName=group)

    def work(worker: int) -> list[str]:
        names = []
        for index in range(THINGS_PER_THREAD):
            name = f"dev-{worker:02d}-{index}"
            iot.create_thing(thingName=name, attributePayload={"attributes": {"worker": str(worker)}})
            iot.add_thing_to_thing_group(thingGroupName=GROUPS[(worker + index) % len(GROUPS)], thingName=name)
            data.update_thing_shadow(thingName=name, payload=b'{"state":{"reported":{"fw":"1.0"}}}')
            data.update_thing_shadow(thingName=name, payload=b'{"state":{"reported":{"fw":"1.1"}},"version":1}')
            names.append(name)
        return names

    with ThreadPoolExecutor(THREADS) as pool:
        created = [name for names in pool.map(work, range(THREADS)) for name in names]

    total = THREADS * THINGS_PER_THREAD
    assert len(set(created)) == total
    listed = [t["thingName"] for page in iot.get_paginator("list_things").paginate() for t in page["things"]]
    assert sorted(listed) == sorted(created)
    for position, group in enumerate(GROUPS):
        expected = {
            f"dev-{worker:02d}-{index}"
            for worker in range(THREADS)
            for index in range(THINGS_PER_THREAD)
            if (worker + index) % len(GROUPS) == position
        }
        members = iot.list_things_in_thing_group(thingGroupName=group)["things"]
        assert len(members) == len(expected) and set(members) == expected, group
    for name in created[::17]:
        shadow = json.loads(data.get_thing_shadow(thingName=name)["payload"].read())
        assert shadow["version"] == 2 and shadow["state"]["reported"] == {"fw": "1.1"}
    counts = emulator.counters()
    assert counts["iot:CreateThing"]["calls"] == total
    assert counts["iot:AddThingToThingGroup"]["calls"] == total
    assert counts["iot-data:UpdateThingShadow"]["calls"] == 2 * total

"""Steady shadow updates keep memory flat: the emulator holds each shadow's current version, nothing more."""

from __future__ import annotations

import json
import resource
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from moto.iotdata.models import FakeShadow

from iotfleet.emulator.inprocess import LocalEmulator

THINGS = 20
UPDATES = 1500
PAYLOAD_BYTES = 8192
# Before, every update kept its shadow version alive (some 14 MiB over these updates; now about 3 MiB, allocator noise).
GROWTH_BOUND = 8 * 1024 * 1024


def current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def test_many_shadow_updates_keep_memory_flat(emulator: LocalEmulator, iot_data: Any) -> None:
    def update(i: int) -> None:
        payload = {"state": {"reported": {"counter": i, "blob": "x" * PAYLOAD_BYTES}}}
        iot_data.update_thing_shadow(thingName=f"soak-{i % THINGS}", payload=json.dumps(payload).encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(update, range(THINGS * 5)))  # every shadow exists, allocations warmed up
        tracked = len(FakeShadow.instances_tracked)  # type: ignore[attr-defined]
        before = current_rss()
        list(pool.map(update, range(UPDATES)))
    growth = current_rss() - before
    assert growth < GROWTH_BOUND, f"RSS grew by {growth / 2**20:.1f} MiB over {UPDATES} updates"
    assert len(FakeShadow.instances_tracked) == tracked  # type: ignore[attr-defined]
    last = json.loads(iot_data.get_thing_shadow(thingName="soak-0")["payload"].read())
    assert last["version"] == 5 + UPDATES // THINGS

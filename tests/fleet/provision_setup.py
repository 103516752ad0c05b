"""Helpers for the provisioning and group tests: an iotfleet context on the emulator, call counting, and a check
of a provisioned fleet against its spec, read back from the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.pacing import RetryPolicy
from iotfleet.aws.settings import TargetSettings
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE
from iotfleet.fleet.provision import inventory
from iotfleet.fleet.spec import FleetSpec

# Operations that change something; a refused request must make none of them.
MUTATING_PREFIXES = ("Create", "Update", "Delete", "Put", "Publish", "Tag", "Untag", "Add", "Remove", "Attach",
                     "Detach", "Cancel", "Associate", "Deprecate", "Set", "Register", "Enable", "Disable")  # fmt: skip
# The emulator enforces no quotas in these tests; high local rates keep them quick.
FAST_QUOTAS = tuple(f"{service}:*=2000" for service in ("iot", "iot-data", "s3", "iam", "sts"))


def settings_for(emulator: LocalEmulator, concurrency: int = 16) -> TargetSettings:
    return TargetSettings.resolve(
        target="local", endpoint_url=emulator.endpoint_url, concurrency=concurrency, quota_overrides=FAST_QUOTAS,
        env={},
    )  # fmt: skip


# Retries as the product makes them, with short waits: tests that inject faults stay quick.
QUICK_RETRIES = RetryPolicy(base_delay=0.005, max_delay=0.05)
# At 15 % faults, five attempts all fail for about one call in 13,000, and a run makes a few hundred: tests whose
# subject is convergence after lost replies, not the attempt limit, give each call eight attempts.
PATIENT = RetryPolicy(max_transient_attempts=8, base_delay=QUICK_RETRIES.base_delay, max_delay=QUICK_RETRIES.max_delay)


@contextmanager
def fleet_context(
    emulator: LocalEmulator, concurrency: int = 16, retry_policy: RetryPolicy = QUICK_RETRIES
) -> Iterator[AwsContext]:
    with AwsContext(settings_for(emulator, concurrency), retry_policy=retry_policy) as ctx:
        yield ctx


def calls(emulator: LocalEmulator) -> dict[str, int]:
    """Calls per ``service:Operation`` since the last counter reset."""
    return {key: count["calls"] for key, count in emulator.counters().items() if count["calls"]}


def mutating_calls(emulator: LocalEmulator) -> dict[str, int]:
    return {
        key: n for key, n in calls(emulator).items() if key.split(":", 1)[1].startswith(MUTATING_PREFIXES)
    }


def fleet_thing_summaries(ctx: AwsContext, fleet: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in ctx.iot.get_paginator("list_things").paginate(
        attributeName=FLEET_ATTRIBUTE, attributeValue=fleet
    ):
        for thing in page.get("things", []):
            found[thing["thingName"]] = thing
    return found


def group_members(ctx: AwsContext, group: str) -> set[str]:
    names: set[str] = set()
    for page in ctx.iot.get_paginator("list_things_in_thing_group").paginate(thingGroupName=group):
        names.update(page.get("things", []))
    return names


def indexed_shadows(ctx: AwsContext, fleet: str) -> dict[str, dict[str, Any]]:
    """Every fleet thing's shadow document from the fleet index (classic ``reported`` and ``name``)."""
    shadows: dict[str, dict[str, Any]] = {}
    token = None
    while True:
        request: dict[str, Any] = {"queryString": f"attributes.{FLEET_ATTRIBUTE}:{fleet}", "maxResults": 100}
        if token:
            request["nextToken"] = token
        answer = ctx.iot.search_index(**request)
        for thing in answer.get("things", []):
            shadows[thing["thingName"]] = json.loads(thing.get("shadow") or "{}")
        token = answer.get("nextToken")
        if not token:
            return shadows


def assert_inventory(ctx: AwsContext, spec: FleetSpec) -> None:
    """The fleet in the emulator is exactly ``spec``'s: names, types, attributes, groups and shadows."""
    spec = spec.validated()
    expected = {device.name: device for device in inventory.devices(spec)}
    things = fleet_thing_summaries(ctx, spec.fleet)
    assert set(things) == set(expected), (
        f"missing {sorted(set(expected) - set(things))[:5]}, extra {sorted(set(things) - set(expected))[:5]}"
    )
    for name, device in expected.items():
        assert things[name].get("thingTypeName") == device.thing_type, name
        assert things[name]["attributes"] == device.attributes(spec.fleet), name
    for country in spec.countries:
        wanted = {name for name, device in expected.items() if device.country == country}
        assert group_members(ctx, spec.country_group(country)) == wanted, country
    shadows = indexed_shadows(ctx, spec.fleet)
    assert set(shadows) == set(expected)
    for name, device in expected.items():
        document = shadows[name]
        assert document.get("reported") == device.classic_reported(), name
        assert document["name"]["$package"]["reported"] == device.package_reported(), name

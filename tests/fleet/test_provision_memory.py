"""A provisioning plan's memory does not grow with the fleet: a dry run of 100,000 new devices against an empty
emulator holds a few bytes per device, and the plan's things are made one at a time when asked for."""

from __future__ import annotations

import tracemalloc
from itertools import islice
from pathlib import Path

from provision_setup import fleet_context, mutating_calls

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.provision import inventory
from iotfleet.fleet.provision.model import CERTIFICATE, CREATE, MEMBERSHIP, SHADOW, THING, ProvisionPlan
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.spec import FleetSpec

DEVICES = 100_000
# The plan before it was kept compact held about 1,800 bytes per new device (180 MB here), 2,300 with
# certificates; now it is a few bytes each. The bound leaves room for the reads' own allocations.
BYTES_PER_DEVICE = 40


def _traced_peak_of_plan(emulator: LocalEmulator, spec: FleetSpec, keys: Path) -> tuple[int, ProvisionPlan]:
    with fleet_context(emulator) as ctx:
        plan_provision(ctx, FleetSpec(fleet=spec.fleet, devices=10, certificates=spec.certificates), keys_dir=keys)
        tracemalloc.start()
        try:
            plan = plan_provision(ctx, spec, keys_dir=keys)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return peak, plan


def test_a_dry_run_of_100000_new_devices_holds_a_few_bytes_per_device(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    spec = FleetSpec(fleet="big", devices=DEVICES)
    peak, plan = _traced_peak_of_plan(emulator, spec, tmp_path / "keys")
    assert peak < BYTES_PER_DEVICE * DEVICES, f"planning took {peak / DEVICES:.0f} bytes per device"
    assert mutating_calls(emulator) == {}
    # Counted as before: every thing, membership and both shadows of each to create.
    assert plan.counts[THING] == {CREATE: DEVICES}
    assert plan.counts[MEMBERSHIP] == {CREATE: DEVICES}
    assert plan.counts[SHADOW] == {CREATE: 2 * DEVICES}
    things = plan.things
    assert len(things) == DEVICES
    first = list(islice(things, 3))
    assert [work.device for work in first] == [inventory.device_at(spec, i) for i in range(3)]
    assert all(work.create and work.add_to == spec.country_group(work.device.country) for work in first)
    assert first[0].classic == first[0].device.classic_reported()


def test_a_dry_run_with_certificates_holds_a_few_bytes_per_device_too(emulator: LocalEmulator, tmp_path: Path) -> None:
    spec = FleetSpec(fleet="big", devices=DEVICES, certificates=True)
    peak, plan = _traced_peak_of_plan(emulator, spec, tmp_path / "keys")
    assert peak < BYTES_PER_DEVICE * DEVICES, f"planning took {peak / DEVICES:.0f} bytes per device"
    assert plan.counts[CERTIFICATE] == {CREATE: DEVICES}
    work = next(iter(plan.things))
    assert work.identity is not None and work.identity.issue and work.identity.attach_thing

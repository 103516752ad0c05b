"""Provisioning a chunk at a time: the plan (things, shadows, memberships, certificates) read and made in small
chunks is the same plan, and applying it in small chunks counts and reports every thing as one run does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from identity_setup import assert_identities, lean_spec, thing_certificates
from provision_setup import assert_inventory, fleet_context

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet import runner
from iotfleet.fleet.identity.keystore import KeyStore
from iotfleet.fleet.identity.policy import policy_name
from iotfleet.fleet.provision.apply import apply_provision, provision
from iotfleet.fleet.provision.model import CERTIFICATE, CREATE, MEMBERSHIP, PRESENT, SHADOW, THING, UPDATE
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.spec import FleetSpec


def _name(number: int) -> str:
    return f"Vehicle-VIN-{number}"


def test_a_plan_made_in_chunks_of_three_is_the_plan_made_at_once_and_applies_the_same(
    emulator: LocalEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = KeyStore(tmp_path / "keys")
    grown = lean_spec("lab", 14, countries=("US", "CA"))
    groups = [grown.country_group(country) for country in grown.countries]
    with fleet_context(emulator) as ctx:
        assert provision(ctx, lean_spec("lab", 10, countries=("US", "CA")), keys_dir=keys.root).ok
        certificates = thing_certificates(ctx, [_name(n) for n in (5, 6, 7)])
        ctx.iot.update_thing(thingName=_name(2), attributePayload={"attributes": {"customerId": "x"}, "merge": True})
        ctx.iot_data.delete_thing_shadow(thingName=_name(3))
        members = {g: ctx.iot.list_things_in_thing_group(thingGroupName=g)["things"] for g in groups}
        here, there = groups if _name(4) in members[groups[0]] else reversed(groups)
        ctx.iot.remove_thing_from_thing_group(thingGroupName=here, thingName=_name(4))
        ctx.iot.add_thing_to_thing_group(thingGroupName=there, thingName=_name(4))
        ctx.iot.update_certificate(certificateId=certificates[_name(5)][0].rsplit("/", 1)[1], newStatus="INACTIVE")
        ctx.iot.detach_policy(policyName=policy_name("lab"), target=certificates[_name(6)][0])
        ctx.iot.detach_thing_principal(thingName=_name(7), principal=certificates[_name(7)][0])

        whole = plan_provision(ctx, grown, keys_dir=keys.root)
        monkeypatch.setattr(runner, "CHUNK", 3)
        chunked = plan_provision(ctx, grown, keys_dir=keys.root)

        assert whole.counts[THING] == {CREATE: 4, UPDATE: 1, PRESENT: 9}
        assert whole.counts[MEMBERSHIP] == {CREATE: 4, UPDATE: 1, PRESENT: 9}
        assert whole.counts[SHADOW] == {CREATE: 9, PRESENT: 19}
        assert whole.counts[CERTIFICATE] == {CREATE: 4, UPDATE: 3, PRESENT: 7}
        assert [w.device.name for w in whole.things] == [_name(n) for n in (2, 3, 4, 5, 6, 7, 11, 12, 13, 14)]
        assert (chunked.counts, chunked.items, chunked.warnings) == (whole.counts, whole.items, whole.warnings)
        assert list(chunked.things) == list(whole.things)
        work = {w.device.name: w for w in chunked.things}
        assert work[_name(2)].attributes == {"customerId": work[_name(2)].device.customer_id}
        assert work[_name(3)].classic == work[_name(3)].device.classic_reported() and work[_name(3)].package is None
        assert (work[_name(4)].add_to, work[_name(4)].remove_from) == (here, [there])
        identities = {n: work[_name(n)].identity for n in (5, 6, 7)}
        assert identities[5] is not None and identities[5].activate and not identities[5].attach_policy
        assert identities[6] is not None and identities[6].attach_policy and not identities[6].attach_thing
        assert identities[7] is not None and identities[7].attach_thing
        assert identities[7].certificate_arn == certificates[_name(7)][0]

        result = apply_provision(ctx, chunked)
        assert result.ok, result.failures
        assert (result.counts[THING].created, result.counts[THING].updated, result.counts[THING].present) == (4, 1, 9)
        assert (result.counts[CERTIFICATE].created, result.counts[CERTIFICATE].updated) == (4, 3)
        assert_inventory(ctx, grown)
        assert_identities(ctx, grown, keys)
        assert not plan_provision(ctx, grown, keys_dir=keys.root).changes


@pytest.mark.emulator(fault_rate=1.0, fault_operations=["iot:AddThingToThingGroup"])
def test_failures_in_every_chunk_are_reported_by_name_in_order_and_counted(
    emulator: LocalEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "CHUNK", 3)
    spec = FleetSpec(fleet="demo", devices=10)
    with fleet_context(emulator) as ctx:
        plan = plan_provision(ctx, spec)
        run_parallel, batches = runner.run_parallel, []

        def recording(items: list[Any], *args: Any, **kwargs: Any) -> Any:
            batches.append(len(items))
            return run_parallel(items, *args, **kwargs)

        monkeypatch.setattr(runner, "run_parallel", recording)
        result = apply_provision(ctx, plan)
        # The three package tasks fill the first chunk; the things follow in chunks of three.
        assert batches == [3, 3, 3, 3, 1]
        assert [(f.kind, f.name) for f in result.failures] == [(MEMBERSHIP, _name(n)) for n in range(1, 11)]
        assert result.counts[THING].created == 10 and result.counts[MEMBERSHIP].failed == 10
        assert result.counts[SHADOW].skipped == 20 and result.counts[SHADOW].created == 0
        assert result.counts["package"].created == 3

        monkeypatch.undo()
        emulator.set_faults(0.0)
        assert provision(ctx, spec).ok
        assert_inventory(ctx, spec)

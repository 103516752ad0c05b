"""Cleanup of a fleet with certificates: the dry run lists every certificate, the policy, the CA and the key
store; the deletion goes in order and leaves none of them; others' certificates are only detached; the keys
stay when asked to, or while AWS still holds something they belong to."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from cleanup_setup import aws_context, calls, mutating_calls
from identity_setup import all_certificates, lean_spec, thing_certificates

from iotfleet.aws.context import AwsContext
from iotfleet.aws.quotas import DEFAULT_QUOTAS
from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.extension import Call, temporary_handler
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.cleanup.apply import DELETED, FAILED, SKIPPED, apply_cleanup
from iotfleet.fleet.cleanup.kinds import CA_CERTIFICATE, CERTIFICATE, KEY_STORE, POLICY
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.identity.keystore import KeyStore
from iotfleet.fleet.identity.policy import policy_name
from iotfleet.fleet.provision.apply import provision

FLEET = "lab"
THINGS = ["Vehicle-VIN-1", "Vehicle-VIN-2", "Vehicle-VIN-3"]


@pytest.fixture
def ctx(emulator: LocalEmulator) -> Iterator[AwsContext]:
    with aws_context(emulator) as context:
        yield context


def record(ctx: AwsContext) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    ctx.iot.meta.events.register(
        "provide-client-params.iot", lambda params, model, **_: seen.append((model.name, dict(params)))
    )
    return seen


def identity_left(ctx: AwsContext) -> tuple[int, int, bool]:
    policies = [p["policyName"] for p in ctx.iot.list_policies()["policies"]]
    return len(all_certificates(ctx)), len(ctx.iot.list_ca_certificates()["certificates"]), policy_name(FLEET) in policies


@pytest.mark.parametrize("source", ["ca", "aws"])
def test_cleanup_lists_then_deletes_every_certificate_the_policy_the_ca_and_the_keys(
    ctx: AwsContext, emulator: LocalEmulator, tmp_path: Path, source: str
) -> None:
    keys = tmp_path / "keys"
    assert provision(ctx, lean_spec(FLEET, 3, cert_source=source), keys_dir=keys).ok
    attached = thing_certificates(ctx, THINGS)
    emulator.reset_counters()
    plan = plan_cleanup(ctx, FLEET, keys_dir=keys)
    assert mutating_calls(emulator) == {}
    counts = plan.counts()
    assert (counts[CERTIFICATE], counts[POLICY], counts[CA_CERTIFICATE], counts[KEY_STORE]) == (
        3, 1, 1 if source == "ca" else 0, 1,
    )  # fmt: skip
    listed = {r["name"]: r for step in plan.as_dict()["order"] for r in step["resources"]}
    for thing, [arn] in attached.items():
        assert listed[arn.rsplit("/", 1)[1]]["things"] == [thing]
    assert str(keys) in listed and policy_name(FLEET) in listed

    seen = record(ctx)
    result = apply_cleanup(ctx, plan)
    assert result.ok, [o.as_dict() for o in result.outcomes if o.status == FAILED]
    assert identity_left(ctx) == (0, 0, False)
    assert not keys.exists()
    assert result.removed()["key files"] == (3 * 3 + 2 + 1 if source == "ca" else 3 * 2 + 1)
    for thing, [arn] in attached.items():
        identifier = arn.rsplit("/", 1)[1]
        mine = [
            name for name, params in seen if params.get("principal") == arn or params.get("certificateId") == identifier
        ]
        assert mine == ["DetachThingPrincipal", "UpdateCertificate", "DeleteCertificate"], thing
        assert ("DeleteCertificate", {"certificateId": identifier, "forceDelete": True}) in seen
    operations = [name for name, _ in seen]
    order = ["DeleteCertificate", "DeleteThing", "DeletePolicy"]
    order += ["UpdateCACertificate", "DeleteCACertificate"] if source == "ca" else []
    for before, after in pairwise(order):
        assert max(i for i, o in enumerate(operations) if o == before) < operations.index(after), (before, after)
    emulator.reset_counters()
    assert plan_cleanup(ctx, FLEET, keys_dir=keys).empty


def test_every_version_of_the_policy_goes_with_it(ctx: AwsContext, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert provision(ctx, lean_spec(FLEET, 1), keys_dir=keys).ok
    name = policy_name(FLEET)
    document = ctx.iot.get_policy(policyName=name)["policyDocument"]
    ctx.iot.create_policy_version(policyName=name, policyDocument=document)
    ctx.iot.create_policy_version(policyName=name, policyDocument=document, setAsDefault=True)
    assert len(ctx.iot.list_policy_versions(policyName=name)["policyVersions"]) == 3
    seen = record(ctx)
    result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET, keys_dir=keys))
    assert result.ok, [o.as_dict() for o in result.outcomes if o.status == FAILED]
    deleted = sorted(params["policyVersionId"] for operation, params in seen if operation == "DeletePolicyVersion")
    assert deleted == ["1", "2"]  # every version but the default, which DeletePolicy takes with it
    assert [params["policyName"] for operation, params in seen if operation == "DeletePolicy"] == [name]
    assert identity_left(ctx) == (0, 0, False)


def test_keep_keys_keeps_the_key_store_and_nothing_else(ctx: AwsContext, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert provision(ctx, lean_spec(FLEET, 2), keys_dir=keys).ok
    plan = plan_cleanup(ctx, FLEET, keys_dir=keys, keep_keys=True)
    assert [(s.kind, s.reason) for s in plan.skipped if s.kind == KEY_STORE] == [(KEY_STORE, "kept (--keep-keys)")]
    assert apply_cleanup(ctx, plan).ok
    assert identity_left(ctx) == (0, 0, False)
    assert len(KeyStore(keys).device_entries()) == 2


def test_identity_alone_keeps_what_the_things_still_hold(ctx: AwsContext, emulator: LocalEmulator, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert provision(ctx, lean_spec(FLEET, 2), keys_dir=keys).ok
    plan = plan_cleanup(ctx, FLEET, "identity", keys_dir=keys)
    assert [p.step.key for p in plan.steps] == ["policy", "ca-certificate", "key-store"]
    reasons = {s.kind: s.reason for s in plan.skipped}
    assert "still attached to 2 target(s)" in reasons[POLICY]
    assert "2 certificate(s) it signed remain" in reasons[CA_CERTIFICATE]
    assert "remain in AWS; the keys are kept" in reasons[KEY_STORE]
    emulator.reset_counters()
    assert apply_cleanup(ctx, plan).ok
    assert mutating_calls(emulator) == {}
    assert identity_left(ctx) == (2, 1, True)


def test_a_certificate_that_is_not_the_fleets_is_only_detached(ctx: AwsContext, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert provision(ctx, lean_spec(FLEET, 2), keys_dir=keys).ok
    theirs = ctx.iot.create_keys_and_certificate(setAsActive=True)
    ctx.iot.attach_thing_principal(thingName=THINGS[0], principal=theirs["certificateArn"])
    plan = plan_cleanup(ctx, FLEET, keys_dir=keys)
    assert theirs["certificateId"] not in {r.name for r in plan.resources(CERTIFICATE)}
    principals = {r.name: r.info["principals"] for r in plan.resources("thing")}
    assert principals == {THINGS[0]: [theirs["certificateArn"]], THINGS[1]: []}
    assert apply_cleanup(ctx, plan).ok
    [left] = all_certificates(ctx).values()
    assert (left["certificateId"], left["status"]) == (theirs["certificateId"], "ACTIVE")
    assert ctx.iot.list_principal_things(principal=theirs["certificateArn"])["things"] == []


def test_certificates_a_stopped_run_never_attached_are_found_and_deleted(ctx: AwsContext, tmp_path: Path) -> None:
    keys = tmp_path / "keys"

    def refuse(call: Call) -> dict[str, Any]:
        raise InvalidRequestException("refused by the test")

    with temporary_handler("iot", "AttachThingPrincipal", refuse):
        assert not provision(ctx, lean_spec(FLEET, 2), keys_dir=keys).ok
    assert len(all_certificates(ctx)) == 2 and thing_certificates(ctx, THINGS[:2]) == {t: [] for t in THINGS[:2]}
    plan = plan_cleanup(ctx, FLEET, keys_dir=keys)
    assert [r.info["things"] for r in plan.resources(CERTIFICATE)] == [[], []]
    assert apply_cleanup(ctx, plan).ok
    assert identity_left(ctx) == (0, 0, False) and not keys.exists()


def test_the_keys_stay_while_a_certificate_could_not_be_deleted(ctx: AwsContext, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert provision(ctx, lean_spec(FLEET, 2), keys_dir=keys).ok

    def refuse(call: Call) -> dict[str, Any]:
        raise InvalidRequestException("refused by the test")

    with temporary_handler("iot", "DeleteCertificate", refuse):
        result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET, keys_dir=keys))
    statuses = {(o.kind, o.status) for o in result.outcomes}
    assert (CERTIFICATE, FAILED) in statuses and (KEY_STORE, SKIPPED) in statuses
    assert len(KeyStore(keys).device_entries()) == 2
    again = apply_cleanup(ctx, plan_cleanup(ctx, FLEET, keys_dir=keys))
    assert again.ok and (KEY_STORE, DELETED) in {(o.kind, o.status) for o in again.outcomes}
    assert identity_left(ctx) == (0, 0, False) and not keys.exists()


def test_files_that_are_not_the_key_stores_are_never_deleted(ctx: AwsContext, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert provision(ctx, lean_spec(FLEET, 1), keys_dir=keys).ok
    mine = keys / "things" / THINGS[0] / "notes.txt"
    mine.write_text("mine")
    result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET, keys_dir=keys))
    [failed] = [o for o in result.outcomes if o.status == FAILED]
    assert failed.kind == KEY_STORE and "holds files that are not the store's" in failed.detail
    assert mine.read_text() == "mine"
    assert sorted(p.name for p in mine.parent.iterdir()) == ["notes.txt"]
    assert identity_left(ctx) == (0, 0, False)


def test_every_identity_call_is_paced_at_its_own_quota(ctx: AwsContext, emulator: LocalEmulator, tmp_path: Path) -> None:
    emulator.reset_counters()
    for fleet, source in ((FLEET, "ca"), ("cloud", "aws")):
        assert provision(ctx, lean_spec(fleet, 2, cert_source=source), keys_dir=tmp_path / fleet).ok
        assert apply_cleanup(ctx, plan_cleanup(ctx, fleet, keys_dir=tmp_path / fleet)).ok
    identity_calls = [
        key for key in calls(emulator)
        if key.startswith("iot:") and any(word in key for word in ("Certificate", "Polic", "Principal", "Registration"))
    ]  # fmt: skip
    assert len(identity_calls) >= 15
    unpaced = [key for key in identity_calls if key not in DEFAULT_QUOTAS]
    assert unpaced == []
    assert all(DEFAULT_QUOTAS[key] <= 100 for key in identity_calls)

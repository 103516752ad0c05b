"""Provisioning with certificates against the emulator: one ACTIVE certificate per thing from the fleet CA (or
AWS), a least-privilege policy, keys that stay in the key store, idempotent re-runs, problems reported per
device and never repaired by replacing a certificate."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from identity_setup import (
    all_certificates,
    assert_identities,
    lean_spec,
    mode,
    secret_pem_lines,
    thing_certificates,
)
from provision_setup import QUICK_RETRIES, calls, fleet_context, mutating_calls, settings_for

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.extension import Call, temporary_handler
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.identity.keystore import KEY_FILE, STORE_FILE, KeyStore
from iotfleet.fleet.identity.policy import THING_VARIABLE, least_privilege_problems, policy_name
from iotfleet.fleet.ownership import FLEET_TAG, tag_dict
from iotfleet.fleet.provision.apply import apply_provision, provision
from iotfleet.fleet.provision.model import CA_CERTIFICATE, CERTIFICATE, CONFLICT, CREATE, KEY_STORE, UPDATE
from iotfleet.fleet.provision.plan import plan_provision

PER_DEVICE = ("iot:RegisterCertificate", "iot:AttachPolicy", "iot:AttachThingPrincipal")


def test_a_thousand_devices_get_certificates_from_the_fleet_ca_and_a_rerun_changes_nothing(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    spec = lean_spec("big", 1000)
    keys = KeyStore(tmp_path / "keys")
    with fleet_context(emulator) as ctx:
        result = provision(ctx, spec, keys_dir=keys.root)
        assert result.ok, result.failures[:3]
        assert result.counts[CERTIFICATE].created == 1000
        made = calls(emulator)
        # The only per-device calls are register and attach: the certificates are signed here.
        assert [made.get(key) for key in PER_DEVICE] == [1000, 1000, 1000]
        assert "iot:CreateKeysAndCertificate" not in made
        ids = assert_identities(ctx, spec, keys)
        assert len(set(ids.values())) == 1000
        [ca] = ctx.iot.list_ca_certificates()["certificates"]
        assert tag_dict(ctx.iot.list_tags_for_resource(resourceArn=ca["certificateArn"])["tags"])[FLEET_TAG] == "big"
        by_ca = {
            c["certificateId"]
            for page in ctx.iot.get_paginator("list_certificates_by_ca").paginate(caCertificateId=ca["certificateId"])
            for c in page["certificates"]
        }
        assert by_ca == set(ids.values())
        assert mode(keys.root) == 0o700 and mode(keys.root / "ca" / "ca.key") == 0o600

        emulator.reset_counters()
        again = plan_provision(ctx, spec, keys_dir=keys.root)
        assert not again.changes and again.problems == []
        assert again.counts[CERTIFICATE] == {"present": 1000}
        assert apply_provision(ctx, again).ok
        assert mutating_calls(emulator) == {}


def test_the_fleet_policy_lets_a_device_reach_only_its_own_topics(emulator: LocalEmulator, tmp_path: Path) -> None:
    with fleet_context(emulator) as ctx:
        assert provision(ctx, lean_spec("lab", 2), keys_dir=tmp_path / "keys").ok
        found = ctx.iot.get_policy(policyName=policy_name("lab"))
        document = json.loads(found["policyDocument"])
        assert least_privilege_problems(document) == []
        statements = document["Statement"]
        actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
        assert sorted(actions) == ["iot:Connect", "iot:Publish", "iot:Receive", "iot:Subscribe"]
        resources = [r for s in statements for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
        assert "*" not in resources and all(THING_VARIABLE in r for r in resources)
        base = "arn:aws:iot:us-east-1:123456789012"
        assert f"{base}:client/{THING_VARIABLE}" in resources
        assert {r.rsplit("/", 2)[-2] for r in resources if ":topic" in r} == {"jobs", "shadow"}
        [connect] = [s for s in statements if s["Action"] == "iot:Connect"]
        assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
        tags = tag_dict(ctx.iot.list_tags_for_resource(resourceArn=found["policyArn"])["tags"])
        assert tags[FLEET_TAG] == "lab"
    broad = {"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
    assert len(least_privilege_problems(broad)) == 2


def test_certificates_from_aws_are_kept_in_the_key_store_the_same_way(emulator: LocalEmulator, tmp_path: Path) -> None:
    spec = lean_spec("cloud", 3, cert_source="aws")
    keys = KeyStore(tmp_path / "keys")
    with fleet_context(emulator) as ctx:
        assert provision(ctx, spec, keys_dir=keys.root).ok
        assert calls(emulator).get("iot:CreateKeysAndCertificate") == 3
        assert "iot:RegisterCertificate" not in calls(emulator)
        assert_identities(ctx, spec, keys)
        assert ctx.iot.list_ca_certificates()["certificates"] == []
        assert not (keys.root / "ca").exists()
        emulator.reset_counters()
        assert not plan_provision(ctx, spec, keys_dir=keys.root).changes
        assert mutating_calls(emulator) == {}


@pytest.mark.parametrize("source", ["ca", "aws"])
def test_a_debug_log_of_the_whole_run_holds_no_private_key(
    emulator: LocalEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, source: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="iotfleet.api")
    keys = KeyStore(tmp_path / "keys")
    with AwsContext(settings_for(emulator).with_debug(), retry_policy=QUICK_RETRIES) as ctx:
        assert provision(ctx, lean_spec("dbg", 3, cert_source=source), keys_dir=keys.root).ok
    log = caplog.text
    first_call = "iot:CreateKeysAndCertificate" if source == "aws" else "iot:RegisterCertificate"
    assert f"{first_call} -> HTTP 200" in log and "iot:AttachThingPrincipal -> HTTP 200" in log
    assert "PRIVATE KEY" not in log
    key_files = sorted(keys.root.rglob("*.key"))
    assert len(key_files) == (3 if source == "aws" else 4)
    for path in key_files:
        secret = secret_pem_lines(path.read_bytes())
        assert secret and not any(line in log for line in secret), path



def test_a_missing_key_or_an_unsafe_one_is_reported_per_device_and_never_replaced(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    spec = lean_spec("lab", 3)
    keys = KeyStore(tmp_path / "keys")
    with fleet_context(emulator) as ctx:
        assert provision(ctx, spec, keys_dir=keys.root).ok
        before = thing_certificates(ctx, ["Vehicle-VIN-1", "Vehicle-VIN-2", "Vehicle-VIN-3"])
        (keys.device_folder("Vehicle-VIN-2") / KEY_FILE).unlink()
        os.chmod(keys.device_folder("Vehicle-VIN-3") / KEY_FILE, 0o644)
        emulator.reset_counters()
        plan = plan_provision(ctx, spec, keys_dir=keys.root)
        problems = {p.name: p.error for p in plan.problems}
        assert sorted(problems) == ["Vehicle-VIN-2", "Vehicle-VIN-3"]
        assert "is not in the key store" in problems["Vehicle-VIN-2"]
        assert "readable by others" in problems["Vehicle-VIN-3"] and "chmod 600" in problems["Vehicle-VIN-3"]
        assert not plan.changes
        result = apply_provision(ctx, plan)
        assert sorted((f.kind, f.name) for f in result.failures) == [
            (CERTIFICATE, "Vehicle-VIN-2"), (CERTIFICATE, "Vehicle-VIN-3"),
        ]  # fmt: skip
        assert result.counts[CERTIFICATE].present == 1 and result.counts[CERTIFICATE].failed == 2
        assert mutating_calls(emulator) == {}
        assert not (keys.device_folder("Vehicle-VIN-2") / KEY_FILE).exists()
        assert thing_certificates(ctx, list(before)) == before


def test_an_inactive_certificate_is_activated_and_a_lost_policy_attachment_restored(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    spec = lean_spec("lab", 3)
    keys = KeyStore(tmp_path / "keys")
    with fleet_context(emulator) as ctx:
        assert provision(ctx, spec, keys_dir=keys.root).ok
        attached = thing_certificates(ctx, ["Vehicle-VIN-1", "Vehicle-VIN-2"])
        ctx.iot.update_certificate(certificateId=attached["Vehicle-VIN-1"][0].rsplit("/", 1)[1], newStatus="INACTIVE")
        ctx.iot.detach_policy(policyName=policy_name("lab"), target=attached["Vehicle-VIN-2"][0])
        emulator.reset_counters()
        plan = plan_provision(ctx, spec, keys_dir=keys.root)
        assert plan.counts[CERTIFICATE] == {UPDATE: 2, "present": 1}
        assert apply_provision(ctx, plan).ok
        assert mutating_calls(emulator) == {"iot:UpdateCertificate": 1, "iot:AttachPolicy": 1}
        assert_identities(ctx, spec, keys)


def test_a_thing_with_two_certificates_is_a_problem_and_left_alone(emulator: LocalEmulator, tmp_path: Path) -> None:
    spec = lean_spec("lab", 2)
    with fleet_context(emulator) as ctx:
        assert provision(ctx, spec, keys_dir=tmp_path / "keys").ok
        extra = ctx.iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
        ctx.iot.attach_thing_principal(thingName="Vehicle-VIN-1", principal=extra)
        emulator.reset_counters()
        plan = plan_provision(ctx, spec, keys_dir=tmp_path / "keys")
        assert [(p.name, p.error) for p in plan.problems] == [
            ("Vehicle-VIN-1", "2 certificates are attached; iotfleet expects one and changes none")
        ]
        assert not apply_provision(ctx, plan).ok
        assert mutating_calls(emulator) == {}


def test_a_key_store_that_is_not_this_fleets_here_is_refused_before_any_change(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / STORE_FILE).write_text(json.dumps({"fleet": "lab", "account": "210987654321", "region": "us-east-1"}))
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("not keys")
    with fleet_context(emulator) as ctx:
        for folder, reason in ((other, "account 210987654321"), (stranger, "is not a key store")):
            emulator.reset_counters()
            plan = plan_provision(ctx, lean_spec("lab", 2), keys_dir=folder)
            [conflict] = [item for item in plan.conflicts if item.kind == KEY_STORE]
            assert reason in conflict.detail and "--keys-dir" in conflict.detail
            with pytest.raises(UsageError):
                apply_provision(ctx, plan)
            assert mutating_calls(emulator) == {}
    assert sorted(p.name for p in stranger.iterdir()) == ["notes.txt"]


def test_without_the_fleet_cas_key_no_new_certificate_can_be_made(emulator: LocalEmulator, tmp_path: Path) -> None:
    with fleet_context(emulator) as ctx:
        assert provision(ctx, lean_spec("lab", 2), keys_dir=tmp_path / "first").ok
        emulator.reset_counters()
        plan = plan_provision(ctx, lean_spec("lab", 3), keys_dir=tmp_path / "second")
        [conflict] = [item for item in plan.conflicts if item.kind == CA_CERTIFICATE]
        assert "1 device(s) need a new certificate" in conflict.detail and "--cert-source aws" in conflict.detail
        assert sorted(p.name for p in plan.problems) == ["Vehicle-VIN-1", "Vehicle-VIN-2"]
        with pytest.raises(UsageError):
            apply_provision(ctx, plan)
        assert mutating_calls(emulator) == {}


def test_a_certificate_written_but_never_registered_is_registered_by_the_rerun(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    spec = lean_spec("lab", 3)
    keys = KeyStore(tmp_path / "keys")

    def refuse(call: Call) -> dict[str, Any]:
        raise InvalidRequestException("refused by the test")

    with fleet_context(emulator) as ctx:
        with temporary_handler("iot", "RegisterCertificate", refuse):
            result = provision(ctx, spec, keys_dir=keys.root)
        assert sorted(f.name for f in result.failures if f.kind == CERTIFICATE) == [d for d in _names(3)]
        written = {name: keys.read_device(name).certificate_id for name in _names(3)}
        assert all(written.values())
        plan = plan_provision(ctx, spec, keys_dir=keys.root)
        assert plan.counts[CERTIFICATE] == {CREATE: 3}
        assert all(plan.identity.devices[name].register_pem for name in _names(3))  # type: ignore[union-attr]
        assert apply_provision(ctx, plan).ok
        assert assert_identities(ctx, spec, keys) == written


def test_certificates_for_an_existing_fleet_are_added_by_a_rerun_with_certificates(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    spec = lean_spec("lab", 3, certificates=False)
    with fleet_context(emulator) as ctx:
        assert provision(ctx, spec).ok
        assert not (tmp_path / "keys").exists()
        with_certificates = lean_spec("lab", 3)
        plan = plan_provision(ctx, with_certificates, keys_dir=tmp_path / "keys")
        assert plan.counts[CERTIFICATE] == {CREATE: 3} and plan.counts["thing"] == {"present": 3}
        assert apply_provision(ctx, plan).ok
        assert_identities(ctx, with_certificates, KeyStore(tmp_path / "keys"))


def _names(count: int) -> list[str]:
    return [f"Vehicle-VIN-{n}" for n in range(1, count + 1)]


def test_a_run_killed_among_its_certificates_is_finished_by_the_next_without_a_spare(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    devices, keys = 60, tmp_path / "keys"
    command = [
        sys.executable, "-c", "from iotfleet.cli.main import main; main()",
        "--target", "local", "--endpoint-url", emulator.endpoint_url, "--yes",
        "--quota", "iot:RegisterCertificate=20",  # slow enough to be caught midway
        "provision", "--fleet", "lab", "--devices", str(devices), "--thing-types", "Sensor", "--versions", "1.0.0",
        "--countries", "US", "--no-continent-group", "--firmware-size", "1024", "--certificates",
        "--keys-dir", str(keys),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IOTFLEET_"))}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(tmp_path / "c"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "s"))  # fmt: skip
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while emulator.counters().get("iot:RegisterCertificate", {}).get("calls", 0) < 20:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never got to its certificates"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    spec = lean_spec("lab", devices)
    with fleet_context(emulator) as ctx:
        assert 0 < len(all_certificates(ctx)) < devices
        assert provision(ctx, spec, keys_dir=keys).ok
        ids = assert_identities(ctx, spec, KeyStore(keys))
        assert set(all_certificates(ctx)) == set(ids.values())  # no certificate left over from the killed run
        assert not plan_provision(ctx, spec, keys_dir=keys).changes
    assert all(re.fullmatch(r"Vehicle-VIN-\d+", p.name) for p in (keys / "things").iterdir())


def test_bad_certificate_settings_are_usage_errors(emulator: LocalEmulator) -> None:
    with fleet_context(emulator) as ctx:
        emulator.reset_counters()
        with pytest.raises(UsageError) as bad:
            plan_provision(ctx, lean_spec("lab", 1).__class__(fleet="lab", certificates=True, cert_source="acme"))
        assert bad.value.param == "--cert-source"
        assert calls(emulator) == {}
    assert CONFLICT == "conflict"

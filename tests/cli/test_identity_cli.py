"""``iotfleet provision --certificates`` and ``iotfleet cleanup --keep-keys`` end to end: the key store named, no
key material in any output, bad flags refused before any call, problems reported with exit code 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from identity_setup import secret_pem_lines

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.identity.certificates import certificate_id
from iotfleet.fleet.identity.keystore import KEY_FILE, KeyStore

LEAN = ["--thing-types", "Sensor", "--versions", "1.0.0", "--countries", "US", "--no-continent-group",
        "--firmware-size", "1024"]  # fmt: skip


def _local(emulator: LocalEmulator) -> list[str]:
    return ["--target", "local", "--endpoint-url", emulator.endpoint_url]


def _key_lines(root: Path) -> list[str]:
    return [line for path in root.rglob("*.key") for line in secret_pem_lines(path.read_bytes())]


def test_provision_with_certificates_names_the_key_store_and_never_shows_a_key(
    invoke, emulator: LocalEmulator, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    args = [*_local(emulator), "--output", "json", "--yes", "provision", "--fleet", "lab", "--devices", "3", *LEAN,
            "--certificates", "--keys-dir", str(keys)]  # fmt: skip
    ran = invoke(*args)
    assert ran.exit_code == 0, ran.stderr
    document = json.loads(ran.stdout)
    ca_id = certificate_id((keys / "ca" / "ca.pem").read_bytes())
    assert document["plan"]["identity"] == {
        "source": "ca", "keyStore": str(keys), "policy": "iotfleet-lab-device", "caCertificateId": ca_id,
    }  # fmt: skip
    assert document["result"]["counts"]["certificate"]["created"] == 3
    assert document["result"]["counts"]["CA certificate"]["created"] == 1
    lines = _key_lines(keys)
    assert len(lines) > 4
    for shown in (ran.stdout, ran.stderr):
        assert "PRIVATE KEY" not in shown and not any(line in shown for line in lines)

    text = invoke(*_local(emulator), "provision", "--fleet", "lab", "--devices", "3", *LEAN, "--certificates",
                  "--keys-dir", str(keys))  # fmt: skip
    assert text.exit_code == 0, text.stderr
    assert "Key store" in text.stdout and "present 3" in text.stdout
    assert "Nothing to change" in text.stdout + text.stderr


def test_a_missing_key_is_a_problem_shown_by_device_with_exit_code_1(
    invoke, emulator: LocalEmulator, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    args = [*_local(emulator), "--yes", "provision", "--fleet", "lab", "--devices", "2", *LEAN, "--certificates",
            "--keys-dir", str(keys)]  # fmt: skip
    assert invoke(*args).exit_code == 0
    (KeyStore(keys).device_folder("Vehicle-VIN-2") / KEY_FILE).unlink()
    ran = invoke(*args)
    assert ran.exit_code == 1
    assert "Problem:" in ran.stdout and "certificate of Vehicle-VIN-2" in ran.stdout


def test_bad_certificate_flags_are_usage_errors_before_any_call(
    invoke, emulator: LocalEmulator
) -> None:  # type: ignore[no-untyped-def]
    emulator.reset_counters()
    ran = invoke(*_local(emulator), "--yes", "provision", "--fleet", "lab", "--cert-source", "aws")
    assert ran.exit_code == 2 and "--cert-source" in ran.stderr and "--certificates" in ran.stderr
    ran = invoke(*_local(emulator), "--yes", "provision", "--fleet", "lab", "--certificates", "--cert-source", "acme")
    assert ran.exit_code == 2
    assert emulator.counters() == {}


def test_cleanup_keeps_the_keys_when_asked_and_removes_them_otherwise(
    invoke, emulator: LocalEmulator, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    assert invoke(*_local(emulator), "--yes", "provision", "--fleet", "lab", "--devices", "2", *LEAN,
                  "--certificates", "--keys-dir", str(keys)).exit_code == 0  # fmt: skip
    dry = invoke(*_local(emulator), "--output", "json", "cleanup", "--fleet", "lab", "--keys-dir", str(keys), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    counts = json.loads(dry.stdout)["plan"]["counts"]
    assert (counts["certificate"], counts["IoT policy"], counts["CA certificate"], counts["key store"]) == (2, 1, 1, 1)
    kept = invoke(*_local(emulator), "cleanup", "--fleet", "lab", "--keys-dir", str(keys), "--keep-keys", "--yes",
                  "--no-wait")  # fmt: skip
    assert kept.exit_code == 0, kept.stderr
    assert "kept (--keep-keys)" in kept.stdout and len(KeyStore(keys).device_entries()) == 2
    gone = invoke(*_local(emulator), "cleanup", "--fleet", "lab", "--keys-dir", str(keys), "--yes", "--no-wait")
    assert gone.exit_code == 0, gone.stderr
    assert not keys.exists()

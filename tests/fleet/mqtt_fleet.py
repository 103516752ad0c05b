"""Device identities for the MQTT tests, made fast: a fleet CA, one certificate per thing signed here, the fleet
policy, written into the emulator's registry directly and into a key store on disk.

Provisioning does the same over HTTP at the account's identity quotas (10 TPS), minutes for thousands of
devices; its own tests cover that path. These tests are about what devices do once enrolled.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from iotfleet.emulator.identity.models import ACTIVE, NON_EXCLUSIVE_THING
from iotfleet.emulator.identity.registry import identity_registry
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.identity import certificates as x509_tools
from iotfleet.fleet.identity.keystore import KeyStore
from iotfleet.fleet.identity.policy import policy_document, policy_name, policy_text

ACCOUNT = "123456789012"
REGION = "us-east-1"


def enrol(emulator: LocalEmulator, fleet: str, things: list[str], root: Path) -> KeyStore:
    """Give each thing an ACTIVE certificate of the fleet CA with the fleet policy; returns the key store."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, ca = x509_tools.create_ca(fleet, now)
    ca_pem = x509_tools.certificate_pem(ca)
    store = KeyStore(root)
    store.bind(fleet, ACCOUNT, REGION)
    state = emulator.state
    with state.lock:
        registry = identity_registry(state, ACCOUNT, REGION)
        code = registry.get_registration_code()
        verification = x509_tools.certificate_pem(x509_tools.verification_certificate(ca_key, ca, code, now))
        registry.register_ca(
            ca_pem, verification, active=True, auto_registration=False, mode="DEFAULT", registration_config=None,
            tags={}, now=now.timestamp(),
        )  # fmt: skip
        name = policy_name(fleet)
        if name not in registry.policies:
            registry.create_policy(name, policy_text(policy_document("aws", REGION, ACCOUNT)), {}, now.timestamp())
        files = []
        for thing in things:
            key, leaf = x509_tools.sign_device_certificate(ca_key, ca, thing, now)
            pem = x509_tools.certificate_pem(leaf)
            record = registry.register_certificate(pem, ca_pem, ACTIVE, now.timestamp())
            registry.attach_policy(name, record.arn)
            registry.attach_thing(thing, record.arn, NON_EXCLUSIVE_THING)
            files.append((thing, pem, x509_tools.private_key_pem(key), ca_pem))
    with ThreadPoolExecutor(8) as pool:  # each file is synced to disk: in parallel, the waits overlap
        list(pool.map(lambda entry: store.write_device(*entry), files))
    return store

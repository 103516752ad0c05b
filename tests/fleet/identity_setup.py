"""Helpers for the device identity tests: small and large specs, and a check of every thing's certificate."""

from __future__ import annotations

import base64
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from iotfleet.aws.context import AwsContext
from iotfleet.fleet.identity.certificates import (
    certificate_id,
    key_matches,
    load_certificate,
    load_private_key,
)
from iotfleet.fleet.identity.keystore import CERTIFICATE_FILE, KEY_FILE, KeyStore
from iotfleet.fleet.identity.policy import policy_name
from iotfleet.fleet.provision import inventory
from iotfleet.fleet.spec import FleetSpec


def lean_spec(fleet: str, devices: int, **extra: Any) -> FleetSpec:
    """A fleet with certificates and as little else as provisioning allows: one type, one country."""
    settings: dict[str, Any] = {
        "thing_types": ("Sensor",), "versions": ("1.0.0",), "countries": ("US",), "continent_groups": False,
        "firmware_size": 1024, "certificates": True, **extra,
    }  # fmt: skip
    return FleetSpec(fleet=fleet, devices=devices, **settings).validated()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def thing_certificates(ctx: AwsContext, things: list[str]) -> dict[str, list[str]]:
    """Each thing's certificate principals (over HTTP, in parallel)."""

    def principals(thing: str) -> list[str]:
        found: list[str] = []
        for page in ctx.iot.get_paginator("list_thing_principals").paginate(thingName=thing):
            found += [p for p in page.get("principals", []) if ":cert/" in p]
        return found

    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(zip(things, pool.map(principals, things), strict=True))


def all_certificates(ctx: AwsContext) -> dict[str, dict[str, Any]]:
    """Every certificate in the account by id (status, ARN)."""
    return {
        c["certificateId"]: c
        for page in ctx.iot.get_paginator("list_certificates").paginate(PaginationConfig={"PageSize": 250})
        for c in page["certificates"]
    }


def assert_identities(ctx: AwsContext, spec: FleetSpec, keys: KeyStore) -> dict[str, str]:
    """Every thing has exactly one ACTIVE certificate, with the fleet policy, whose key on disk (0600, in a
    0700 folder) matches it; returns thing -> certificate id."""
    things = [device.name for device in inventory.devices(spec)]
    attached = thing_certificates(ctx, things)
    statuses = {cid: c["status"] for cid, c in all_certificates(ctx).items()}
    targets: set[str] = set()
    for page in ctx.iot.get_paginator("list_targets_for_policy").paginate(
        policyName=policy_name(spec.fleet), PaginationConfig={"PageSize": 250}
    ):
        targets.update(page["targets"])
    ids: dict[str, str] = {}
    for thing in things:
        assert len(attached[thing]) == 1, (thing, attached[thing])
        arn = attached[thing][0]
        identifier = arn.rsplit("/", 1)[1]
        assert statuses[identifier] == "ACTIVE", thing
        assert arn in targets, thing
        folder = keys.device_folder(thing)
        certificate = load_certificate((folder / CERTIFICATE_FILE).read_bytes())
        assert certificate_id(certificate) == identifier, thing
        assert key_matches(certificate, load_private_key((folder / KEY_FILE).read_bytes())), thing
        assert mode(folder / KEY_FILE) == 0o600 and mode(folder) == 0o700, thing
        ids[thing] = identifier
    return ids


def secret_pem_lines(pem: bytes) -> list[str]:
    """The lines of a private key's PEM that hold more than public-key bytes.

    A private key's encoding carries its public key too (the EC point, the RSA modulus), and that part is
    rightly in the log inside the certificate, so a line made only of it can match by chance."""
    key = serialization.load_pem_private_key(pem, password=None)
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    body = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
    return [line for line in body if base64.b64decode(line) not in public]

"""A fleet's device identity in a cleanup: its certificates, its IoT policy, its CA and the local key store.

Which certificates are the fleet's: those attached to the fleet's things that the fleet's policy is
attached to, that the fleet's CA signed, or that the key store holds for that thing; and, attached to no
thing of the fleet, the same kinds (left by a provisioning run that stopped half way), unless another
thing uses them. Any other principal of a fleet thing is someone else's: it is only detached (by the
things step). The policy and the CA are the fleet's by their ``iotfleet:fleet`` tag; the key store by its
record (fleet, account and region).

Order: each certificate is detached from the fleet's things, deactivated and deleted (with ``forceDelete``,
which takes its policy attachments with it); the things follow; then the policy (its other versions
first), the CA (deactivated first), and last the key store, only once AWS holds none of the fleet's
certificates, policy or CA (``--keep-keys`` keeps it). Every step treats "not found" as already done, and
waits (on the context's clock) while AWS propagates a detachment.

Planning reads one principal list per thing, so it is done only when the fleet has an identity at all (its
policy, a CA or a key store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import is_error
from iotfleet.fleet.cleanup.kinds import CA_CERTIFICATE, CERTIFICATE, KEY_STORE, POLICY, THING
from iotfleet.fleet.cleanup.scan import Found, Resource, Skipped
from iotfleet.fleet.identity.keystore import KeyStore, KeyStoreError
from iotfleet.fleet.identity.plan import ca_arns, policy_targets, thing_principals
from iotfleet.fleet.identity.policy import policy_name
from iotfleet.fleet.ownership import FLEET_TAG
from iotfleet.fleet.resources import resource_tags
from iotfleet.fleet.runner import run_parallel

NOT_FOUND = "ResourceNotFoundException"
CERT = ":cert/"
PAGE = 250
# AWS takes a few seconds to let go of a detached thing, and up to five minutes of a detached policy.
DETACH_PATIENCE = 30.0
POLICY_PATIENCE = 300.0
MAX_DELAY = 8.0


@dataclass
class IdentityScan(Found):
    """The fleet's identity resources, and for each fleet thing the principals that are not the fleet's."""

    other_principals: dict[str, list[str]] = field(default_factory=dict)
    scanned: bool = False


def scan_identity(
    ctx: AwsContext,
    fleet: str,
    things: list[Resource],
    store: KeyStore,
    *,
    deleting_certificates: bool,
    keep_keys: bool,
) -> IdentityScan:
    """Find the fleet's certificates, policy, CA and key store (read calls only; see the module docstring)."""
    scan = IdentityScan()
    policy = _scan_policy(ctx, fleet, scan)
    cas = _scan_cas(ctx, fleet, scan)
    key_store, store_ids = _scan_store(ctx, fleet, store, scan)
    if policy is None and not cas and key_store is None:
        return scan
    scan.scanned = True
    targets = policy_targets(ctx, policy.name) if policy is not None else set()
    signed: dict[str, str] = {}  # certificate id -> status, for the fleet CA's certificates
    for ca in cas:
        for page in ctx.iot.get_paginator("list_certificates_by_ca").paginate(
            caCertificateId=ca.name, PaginationConfig={"PageSize": PAGE}
        ):
            signed.update({str(c["certificateId"]): str(c["status"]) for c in page.get("certificates", [])})
    run = run_parallel(
        [thing.name for thing in things], lambda name: thing_principals(ctx, name), concurrency=ctx.concurrency
    )
    run.raise_for_failures("cleanup plan: read the principals of the fleet's things", THING)
    certificates: dict[str, dict[str, Any]] = {}
    for outcome in run.outcomes:
        others: list[str] = []
        for principal in outcome.value or []:
            identifier = principal.rsplit("/", 1)[1] if CERT in principal else None
            ours = identifier is not None and (
                principal in targets or identifier in signed or store_ids.get(outcome.item) == identifier
            )
            if ours and identifier is not None:
                entry = certificates.setdefault(identifier, {"arn": principal, "things": []})
                entry["things"].append(outcome.item)
            else:
                others.append(principal)
        scan.other_principals[outcome.item] = others
    _add_orphans(ctx, certificates, targets, signed, store_ids, scan)
    for identifier, entry in sorted(certificates.items()):
        info = {"things": sorted(entry["things"]), "status": signed.get(identifier)}
        scan.owned.append(Resource(CERTIFICATE, identifier, entry["arn"], info))
    _deletable_rest(scan, policy, cas, key_store, targets, certificates, signed, deleting_certificates, keep_keys)
    return scan


def _scan_policy(ctx: AwsContext, fleet: str, scan: IdentityScan) -> Resource | None:
    name = policy_name(fleet)
    try:
        found = ctx.iot.get_policy(policyName=name)
    except ClientError as err:
        if is_error(err, NOT_FOUND):
            return None
        raise
    arn = str(found["policyArn"])
    owner = resource_tags(ctx, arn).get(FLEET_TAG)
    resource = Resource(POLICY, name, arn)
    if owner == fleet:
        return resource
    scan.classify(resource, owner, fleet, looks_like=True)
    return None


def _scan_cas(ctx: AwsContext, fleet: str, scan: IdentityScan) -> list[Resource]:
    owned: list[Resource] = []
    for arn in ca_arns(ctx):
        owner = resource_tags(ctx, arn).get(FLEET_TAG)
        identifier = arn.rsplit("/", 1)[1]
        if owner == fleet:
            status = ctx.iot.describe_ca_certificate(certificateId=identifier)["certificateDescription"]["status"]
            owned.append(Resource(CA_CERTIFICATE, identifier, arn, {"status": status}))
        elif owner:
            scan.other_fleets.add(owner)
    return owned


def _scan_store(
    ctx: AwsContext, fleet: str, store: KeyStore, scan: IdentityScan
) -> tuple[Resource | None, dict[str, str]]:
    """The key store, when it is this fleet's in this account and region, and its certificate id per thing."""
    try:
        binding = store.binding()
    except KeyStoreError as exc:
        scan.skipped.append(Skipped(KEY_STORE, str(store.root), str(exc)))
        return None, {}
    if binding is None:
        return None, {}
    problem = store.binding_problem(fleet, ctx.account_id, ctx.region)
    if problem:
        scan.skipped.append(Skipped(KEY_STORE, str(store.root), f"{problem}; never touched"))
        return None, {}
    entries = store.device_entries()
    ids = {entry.thing: entry.certificate_id for entry in entries if entry.certificate_id}
    return Resource(KEY_STORE, str(store.root), None, {"things": len(entries)}), ids


def _add_orphans(
    ctx: AwsContext,
    certificates: dict[str, dict[str, Any]],
    targets: set[str],
    signed: dict[str, str],
    store_ids: dict[str, str],
    scan: IdentityScan,
) -> None:
    """The fleet's certificates attached to none of its things; kept when another thing uses them."""
    prefix = f"arn:{ctx.iot.meta.partition}:iot:{ctx.region}:{ctx.account_id}:cert/"
    candidates = {t.rsplit("/", 1)[1] for t in targets if CERT in t} | set(signed)
    unknown = set(store_ids.values()) - candidates - set(certificates)
    for identifier in sorted(unknown):
        try:
            ctx.iot.describe_certificate(certificateId=identifier)
        except ClientError as err:
            if is_error(err, NOT_FOUND):
                continue
            raise
        candidates.add(identifier)
    for identifier in sorted(candidates - set(certificates)):
        arn = prefix + identifier
        users: list[str] = []
        for page in ctx.iot.get_paginator("list_principal_things").paginate(principal=arn):
            users += page.get("things", [])
        if users:
            scan.skipped.append(Skipped(CERTIFICATE, identifier, f"attached to thing {users[0]}, not the fleet's"))
        else:
            certificates[identifier] = {"arn": arn, "things": []}


def _deletable_rest(
    scan: IdentityScan,
    policy: Resource | None,
    cas: list[Resource],
    key_store: Resource | None,
    targets: set[str],
    certificates: dict[str, dict[str, Any]],
    signed: dict[str, str],
    deleting_certificates: bool,
    keep_keys: bool,
) -> None:
    """The policy, CA and key store can go only when nothing else needs them."""
    going = {entry["arn"] for entry in certificates.values()} if deleting_certificates else set()
    staying = sorted(targets - going)
    kept: list[str] = []
    if policy is not None:
        if staying:
            reason = f"still attached to {len(staying)} target(s), e.g. {staying[0]}"
            scan.skipped.append(Skipped(POLICY, policy.name, reason))
            kept.append("policy")
        else:
            scan.owned.append(policy)
    for ca in cas:
        remaining = [i for i in signed if not deleting_certificates or i not in certificates]
        if remaining:
            scan.skipped.append(Skipped(CA_CERTIFICATE, ca.name, f"{len(remaining)} certificate(s) it signed remain"))
            kept.append("CA")
        else:
            scan.owned.append(ca)
    if key_store is not None and keep_keys:
        scan.skipped.append(Skipped(KEY_STORE, key_store.name, "kept (--keep-keys)"))
    if any(skipped.kind == CERTIFICATE for skipped in scan.skipped):
        kept.append("certificates")
    if key_store is None or keep_keys:
        return
    if kept or (certificates and not deleting_certificates):
        what = ", ".join(kept) or "certificates"
        reason = f"the fleet's {what} remain in AWS; the keys are kept"
        scan.skipped.append(Skipped(KEY_STORE, key_store.name, reason))
    else:
        scan.owned.append(key_store)


# --- workers -------------------------------------------------------------------------------------------------

Removed = dict[str, int]


def _patiently(ctx: AwsContext, call: Callable[[], Any], code: str, patience: float) -> None:
    """``call()``, retried while AWS answers ``code`` (a detachment still propagating), up to ``patience`` s."""
    deadline = ctx.clock.monotonic() + patience
    delay = 1.0
    while True:
        try:
            call()
            return
        except ClientError as err:
            if not is_error(err, code) or ctx.clock.monotonic() >= deadline:
                raise
        ctx.clock.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)


def delete_certificate(ctx: AwsContext, certificate: Resource) -> Removed | None:
    """Detach from the fleet's things, deactivate, delete (``forceDelete`` detaches its policies)."""
    arn, identifier = str(certificate.arn), certificate.name
    things = list(certificate.info.get("things") or [])
    for thing in things:
        try:
            ctx.iot.detach_thing_principal(thingName=thing, principal=arn)
        except ClientError as err:
            if not is_error(err, NOT_FOUND):
                raise
    try:
        if certificate.info.get("status") not in ("INACTIVE", "REVOKED"):
            ctx.iot.update_certificate(certificateId=identifier, newStatus="INACTIVE")
        _patiently(
            ctx, lambda: ctx.iot.delete_certificate(certificateId=identifier, forceDelete=True),
            "DeleteConflictException", DETACH_PATIENCE,
        )  # fmt: skip
    except ClientError as err:
        if is_error(err, NOT_FOUND):
            return None
        raise
    return {"things detached": len(things)}


def delete_policy(ctx: AwsContext, policy: Resource) -> Removed | None:
    """Delete every version but the default, then the policy (retried while AWS lets go of detachments)."""
    name = policy.name
    try:
        versions = ctx.iot.list_policy_versions(policyName=name).get("policyVersions") or []
        others = [str(v["versionId"]) for v in versions if not v.get("isDefaultVersion")]
        for version in others:
            ctx.iot.delete_policy_version(policyName=name, policyVersionId=version)
        _patiently(ctx, lambda: ctx.iot.delete_policy(policyName=name), "DeleteConflictException", POLICY_PATIENCE)
    except ClientError as err:
        if is_error(err, NOT_FOUND):
            return None
        raise
    return {"policy versions": len(versions)}


def delete_ca(ctx: AwsContext, ca: Resource) -> Removed | None:
    try:
        if ca.info.get("status") == "ACTIVE":
            ctx.iot.update_ca_certificate(certificateId=ca.name, newStatus="INACTIVE")
        ctx.iot.delete_ca_certificate(certificateId=ca.name)
    except ClientError as err:
        if is_error(err, NOT_FOUND):
            return None
        raise
    return {}


class KeysLeft(Exception):
    """Files that are not the key store's were found in its folders, which are therefore kept."""


def remove_key_store(ctx: AwsContext, key_store: Resource) -> Removed | None:
    """Delete the key store's own files; a folder holding anything else is left, and said so."""
    removed, left = KeyStore(key_store.name).remove()
    if left:
        raise KeysLeft(
            f"{removed} key store file(s) deleted; kept {left[0]}: it holds files that are not the store's"
        )
    return {"key files": removed} if removed else None


WORKERS: dict[str, Callable[[AwsContext, Resource], Removed | None]] = {
    "certificates": delete_certificate,
    "policy": delete_policy,
    "ca-certificate": delete_ca,
    "key-store": remove_key_store,
}
AWS_KINDS = (CERTIFICATE, POLICY, CA_CERTIFICATE)

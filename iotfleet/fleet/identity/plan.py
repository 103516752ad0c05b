"""Planning a fleet's device identity: the key store, the fleet CA, the IoT policy, one certificate per thing.

Reads only. A thing's certificate is found by its attachment (``ListThingPrincipals``), never by a local
file alone, and the key store is checked against it:

* no certificate attached: the key store's certificate is used when it is complete and registered (an
  earlier run stopped before attaching it) or can be registered (signed by the fleet CA); a stale entry
  (its certificate unknown to AWS and not the fleet CA's) or one cut short is replaced, with a warning;
  otherwise a new key and certificate are issued;
* one certificate attached: its key must be in the key store; an INACTIVE certificate is activated and a
  missing policy attachment is made; a missing or mismatched key, or a REVOKED certificate, is a problem
  reported for that device and never repaired by replacing anything (the device may hold the key);
* more than one certificate attached: a problem; nothing is changed.

With the ``ca`` source the fleet CA lives in the key store. A CA registered for the fleet whose key is not
in this key store can sign nothing: when new certificates are needed that is a conflict, refused before
any change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from cryptography import x509

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import ResourceFailure, is_error
from iotfleet.fleet.identity import policy as fleet_policy
from iotfleet.fleet.identity.certificates import (
    CertificateIssuerPrivateKeyTypes,
    certificate_id,
    certificate_pem,
    issued_by,
    load_certificate,
)
from iotfleet.fleet.identity.keystore import DeviceEntry, KeyStore, KeyStoreError
from iotfleet.fleet.ownership import owned_by
from iotfleet.fleet.provision import model
from iotfleet.fleet.resources import resource_tags
from iotfleet.fleet.runner import Progress, run_parallel
from iotfleet.fleet.spec import CERT_SOURCE_CA, FleetSpec

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
MAX_POLICY_VERSIONS = 5
PAGE = 250
# Attached certificates whose status is read one by one (DescribeCertificate) rather than by listing.
CERTIFICATE = ":cert/"

_Note = Callable[..., None]


@dataclass
class DeviceIdentity:
    """What one thing's identity needs. ``certificate_arn`` is the certificate to use, once known."""

    thing: str
    issue: bool = False
    replace_entry: bool = False
    register_pem: str | None = None
    certificate_arn: str | None = None
    activate: bool = False
    attach_policy: bool = False
    attach_thing: bool = False

    @property
    def new_certificate(self) -> bool:
        return self.issue or self.register_pem is not None

    @property
    def pending(self) -> bool:
        return self.new_certificate or self.activate or self.attach_policy or self.attach_thing

    @property
    def action(self) -> str:
        if self.new_certificate:
            return model.CREATE
        return model.UPDATE if self.pending else model.PRESENT


@dataclass
class FleetCa:
    """The fleet CA: in the key store (``certificate``/``key``) and as AWS has it."""

    action: str = model.PRESENT
    certificate: x509.Certificate | None = None
    key: CertificateIssuerPrivateKeyTypes | None = None
    certificate_id: str | None = None
    arn: str | None = None
    registered: bool = False
    activate: bool = False
    tag: bool = False
    # A CA AWS records as the fleet's whose key this key store lacks (it can sign nothing here).
    keyless_arn: str | None = None

    @property
    def pem(self) -> str | None:
        return certificate_pem(self.certificate) if self.certificate is not None else None


@dataclass
class IdentityPlan:
    """The fleet-wide part of the identity (key store, CA, policy) and every thing's :class:`DeviceIdentity`."""

    source: str
    store: KeyStore
    bind: bool
    policy_name: str
    policy_document: dict[str, Any]
    policy_action: str = model.CREATE
    policy_version_to_delete: str | None = None
    ca: FleetCa | None = None
    devices: dict[str, DeviceIdentity] = field(default_factory=dict)
    problems: list[ResourceFailure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "keyStore": str(self.store.root),
            "policy": self.policy_name,
            "caCertificateId": self.ca.certificate_id if self.ca else None,
        }


def plan_fleet_identity(
    ctx: AwsContext, spec: FleetSpec, store: KeyStore, account: str, region: str, partition: str, note: _Note
) -> IdentityPlan:
    """The key store, the fleet's policy and (``ca`` source) the fleet CA, against what AWS has."""
    name = fleet_policy.policy_name(spec.fleet)
    plan = IdentityPlan(
        source=spec.cert_source, store=store, bind=False, policy_name=name,
        policy_document=fleet_policy.policy_document(partition, region, account),
    )  # fmt: skip
    problem = store.binding_problem(spec.fleet, account, region)
    if problem:
        detail = f"{problem}; pass --keys-dir for a key store of its own"
        note(model.KEY_STORE, str(store.root), model.CONFLICT, detail)
    elif store.binding() is None:
        plan.bind = True
        note(model.KEY_STORE, str(store.root), model.CREATE, "folders 0700, private keys 0600")
    else:
        note(model.KEY_STORE, str(store.root), model.PRESENT)
    _plan_policy(ctx, spec, plan, note)
    if spec.cert_source == CERT_SOURCE_CA:
        plan.ca = _plan_ca(ctx, spec, store, note)
    return plan


def _plan_policy(ctx: AwsContext, spec: FleetSpec, plan: IdentityPlan, note: _Note) -> None:
    try:
        found = ctx.iot.get_policy(policyName=plan.policy_name)
    except ClientError as err:
        if not is_error(err, "ResourceNotFoundException"):
            raise
        note(model.POLICY, plan.policy_name, model.CREATE, "least privilege: each device its own topics only")
        return
    if not owned_by(resource_tags(ctx, str(found["policyArn"])), spec.fleet):
        plan.policy_action = model.CONFLICT
        note(model.POLICY, plan.policy_name, model.CONFLICT, f"exists without fleet {spec.fleet!r}'s ownership tag")
        return
    if fleet_policy.same_document(found.get("policyDocument"), plan.policy_document):
        plan.policy_action = model.PRESENT
        note(model.POLICY, plan.policy_name, model.PRESENT, f"version {found.get('defaultVersionId')}")
        return
    plan.policy_action = model.UPDATE
    versions = ctx.iot.list_policy_versions(policyName=plan.policy_name).get("policyVersions") or []
    detail = "document differs: a new default version"
    if len(versions) >= MAX_POLICY_VERSIONS:
        oldest = min((v for v in versions if not v.get("isDefaultVersion")), key=lambda v: int(v["versionId"]))
        plan.policy_version_to_delete = str(oldest["versionId"])
        detail += f" (version {oldest['versionId']}, the oldest, is deleted to make room)"
    note(model.POLICY, plan.policy_name, model.UPDATE, detail)


def _plan_ca(ctx: AwsContext, spec: FleetSpec, store: KeyStore, note: _Note) -> FleetCa:
    ca = FleetCa()
    try:
        local = store.read_ca()
    except KeyStoreError as exc:
        ca.action = model.CONFLICT
        note(model.CA_CERTIFICATE, "fleet CA", model.CONFLICT, str(exc))
        return ca
    if local is None:
        owned = _fleet_cas(ctx, spec.fleet)
        if owned:
            ca.keyless_arn = owned[0]
            ca.action = model.PRESENT
            note(model.CA_CERTIFICATE, owned[0].rsplit("/", 1)[1], model.PRESENT, f"its key is not in {store.root}")
        else:
            ca.action = model.CREATE
            detail = "EC P-256, made here, registered with a verification certificate"
            note(model.CA_CERTIFICATE, "fleet CA", model.CREATE, detail)
        return ca
    ca.certificate, ca.key = local
    ca.certificate_id = certificate_id(ca.certificate)
    try:
        described = ctx.iot.describe_ca_certificate(certificateId=ca.certificate_id)["certificateDescription"]
    except ClientError as err:
        if not is_error(err, "ResourceNotFoundException"):
            raise
        ca.action = model.CREATE
        note(model.CA_CERTIFICATE, ca.certificate_id, model.CREATE, "in the key store, not registered: registered")
        return ca
    ca.registered = True
    ca.arn = str(described["certificateArn"])
    ca.activate = described.get("status") != ACTIVE
    ca.tag = not owned_by(resource_tags(ctx, ca.arn), spec.fleet)
    changes = (["activated"] if ca.activate else []) + (["tagged as the fleet's"] if ca.tag else [])
    ca.action = model.UPDATE if changes else model.PRESENT
    note(model.CA_CERTIFICATE, ca.certificate_id, ca.action, ", ".join(changes))
    return ca


def _fleet_cas(ctx: AwsContext, fleet: str) -> list[str]:
    """ARNs of the CA certificates AWS records (by tag) as ``fleet``'s."""
    return [arn for arn in ca_arns(ctx) if owned_by(resource_tags(ctx, arn), fleet)]


def ca_arns(ctx: AwsContext) -> list[str]:
    """Every CA certificate's ARN in the account and region (all pages)."""
    arns: list[str] = []
    for page in ctx.iot.get_paginator("list_ca_certificates").paginate(PaginationConfig={"PageSize": PAGE}):
        arns += [str(ca["certificateArn"]) for ca in page.get("certificates", [])]
    return arns


# --- devices ---------------------------------------------------------------------------------------------


def thing_principals(ctx: AwsContext, thing: str) -> list[str]:
    """The principals attached to ``thing`` (all pages)."""
    principals: list[str] = []
    for page in ctx.iot.get_paginator("list_thing_principals").paginate(thingName=thing):
        principals += page.get("principals", [])
    return principals


def policy_targets(ctx: AwsContext, policy_name: str) -> set[str]:
    targets: set[str] = set()
    for page in ctx.iot.get_paginator("list_targets_for_policy").paginate(
        policyName=policy_name, PaginationConfig={"PageSize": PAGE}
    ):
        targets.update(page.get("targets", []))
    return targets


def plan_devices(
    ctx: AwsContext,
    plan: IdentityPlan,
    things: list[tuple[str, bool]],
    account: str,
    region: str,
    partition: str,
    warnings: list[str],
    progress: Progress | None = None,
) -> None:
    """Fill ``plan.devices`` and ``plan.problems`` for ``things`` (name, whether it exists already)."""
    existing = [name for name, exists in things if exists]
    principals: dict[str, list[str]] = {}
    if existing:
        run = run_parallel(
            existing, lambda name: thing_principals(ctx, name), concurrency=ctx.concurrency, progress=progress,
            label="checking certificates",
        )  # fmt: skip
        run.raise_for_failures("read the principals of the fleet's things", model.CERTIFICATE)
        principals = {o.item: [p for p in (o.value or []) if CERTIFICATE in p] for o in run.outcomes}
    targets = policy_targets(ctx, plan.policy_name) if plan.policy_action in (model.PRESENT, model.UPDATE) else set()
    entries = {name: plan.store.read_device(name) for name, _ in things}
    arn_prefix = f"arn:{partition}:iot:{region}:{account}:cert/"
    wanted: set[str] = set()
    for name, _ in things:
        attached = principals.get(name, [])
        if len(attached) == 1:
            wanted.add(attached[0].rsplit("/", 1)[1])
        elif not attached and entries[name].complete and entries[name].certificate_id:
            wanted.add(str(entries[name].certificate_id))
    statuses = _statuses(ctx, plan, wanted)
    replaced = 0
    for name, _ in things:
        device, problem, replacing = _plan_device(
            plan, name, principals.get(name, []), entries[name], statuses, targets, arn_prefix
        )
        replaced += replacing
        if problem is not None:
            plan.problems.append(ResourceFailure(model.CERTIFICATE, name, problem))
        else:
            plan.devices[name] = device
    if replaced:
        warnings.append(
            f"{replaced} key store entr{'y' if replaced == 1 else 'ies'} held a certificate AWS does not have or "
            "were cut short; new keys and certificates replace them"
        )


def _statuses(ctx: AwsContext, plan: IdentityPlan, wanted: set[str]) -> dict[str, str]:
    """Status of each certificate id in ``wanted`` that AWS has (absent ids are not registered)."""
    statuses: dict[str, str] = {}
    if plan.ca is not None and plan.ca.registered and wanted:
        paginator = ctx.iot.get_paginator("list_certificates_by_ca")
        for page in paginator.paginate(caCertificateId=plan.ca.certificate_id, PaginationConfig={"PageSize": PAGE}):
            for certificate in page.get("certificates", []):
                if certificate["certificateId"] in wanted:
                    statuses[str(certificate["certificateId"])] = str(certificate["status"])
    rest = sorted(wanted - set(statuses))

    def describe(certificate_id: str) -> str | None:
        try:
            return str(ctx.iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["status"])
        except ClientError as err:
            if is_error(err, "ResourceNotFoundException"):
                return None
            raise

    if rest:
        run = run_parallel(rest, describe, concurrency=ctx.concurrency)
        run.raise_for_failures("read the status of the fleet's certificates", model.CERTIFICATE)
        statuses.update({o.item: o.value for o in run.outcomes if o.value is not None})
    return statuses


def _plan_device(
    plan: IdentityPlan,
    name: str,
    attached: list[str],
    entry: DeviceEntry,
    statuses: dict[str, str],
    targets: set[str],
    arn_prefix: str,
) -> tuple[DeviceIdentity, str | None, bool]:
    """(the work, a problem that blocks it, whether a key store entry is replaced)."""
    device = DeviceIdentity(name)
    if len(attached) > 1:
        return device, f"{len(attached)} certificates are attached; iotfleet expects one and changes none", False
    if attached:
        arn = attached[0]
        identifier = arn.rsplit("/", 1)[1]
        if entry.problem:
            return device, entry.problem, False
        if entry.certificate_id not in (None, identifier):
            return device, (
                f"certificate {identifier[:12]}... is attached but the key store holds {entry.certificate_id[:12]}... "
                f"({entry.folder}); nothing is replaced"
            ), False  # fmt: skip
        if not entry.has_key:
            return device, (
                f"the private key of the attached certificate {identifier[:12]}... is not in the key store "
                f"({entry.folder}); it is never replaced on its own (the device may hold it): delete the "
                "certificate, or restore the key"
            ), False  # fmt: skip
        problem = _status_problem(device, arn, statuses.get(identifier))
        if problem:
            return device, problem, False
        device.attach_policy = arn not in targets
        return device, None, False
    if entry.unsafe:
        return device, entry.problem, False
    if entry.complete and entry.certificate_id:
        arn = arn_prefix + entry.certificate_id
        status = statuses.get(entry.certificate_id)
        if status is not None:
            problem = _status_problem(device, arn, status)
            if problem:
                return device, problem, False
            device.attach_policy, device.attach_thing = arn not in targets, True
            return device, None, False
        if _signed_by_fleet_ca(plan, entry.certificate_pem):
            device.register_pem = entry.certificate_pem
            device.attach_policy = device.attach_thing = True
            return device, None, False
    device.issue = device.attach_policy = device.attach_thing = True
    device.replace_entry = entry.exists
    return device, None, entry.exists


def _status_problem(device: DeviceIdentity, arn: str, status: str | None) -> str | None:
    device.certificate_arn = arn
    if status == INACTIVE:
        device.activate = True
    elif status != ACTIVE:
        return f"certificate {arn.rsplit('/', 1)[1][:12]}... is {status}; iotfleet does not reactivate it"
    return None


def _signed_by_fleet_ca(plan: IdentityPlan, pem: str | None) -> bool:
    if plan.ca is None or plan.ca.certificate is None or pem is None:
        return False
    try:
        return issued_by(load_certificate(pem), plan.ca.certificate)
    except ValueError:
        return False


def needs_ca_key(plan: IdentityPlan) -> bool:
    """Whether applying needs the fleet CA's key (a device certificate to sign or register)."""
    return plan.ca is not None and any(d.new_certificate for d in plan.devices.values())

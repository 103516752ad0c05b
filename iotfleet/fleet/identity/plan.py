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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from cryptography import x509

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import ResourceFailure, is_error
from iotfleet.fleet.identity import policy as fleet_policy
from iotfleet.fleet.identity.certificate_ids import CertificateIds, CertificateStatuses
from iotfleet.fleet.identity.certificates import (
    CertificateIssuerPrivateKeyTypes,
    certificate_id,
    certificate_pem,
    issued_by,
    load_certificate,
)
from iotfleet.fleet.identity.devices import DeviceIdentities, DeviceIdentity
from iotfleet.fleet.identity.keystore import DeviceEntry, KeyStore, KeyStoreError
from iotfleet.fleet.ownership import owned_by
from iotfleet.fleet.provision import model
from iotfleet.fleet.provision.inventory import index_of
from iotfleet.fleet.resources import resource_tags
from iotfleet.fleet.runner import NoProgress, Progress, ProgressPart, index_chunks, run_parallel
from iotfleet.fleet.spec import CERT_SOURCE_CA, FleetSpec

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
MAX_POLICY_VERSIONS = 5
PAGE = 250
# Attached certificates whose status is read one by one (DescribeCertificate) rather than by listing.
CERTIFICATE = ":cert/"

_Note = Callable[..., None]


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
    # Every thing's work, once planned (plan_devices); a problem blocks a thing's work and is listed instead.
    devices: DeviceIdentities | None = None
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


def policy_target_arns(ctx: AwsContext, policy_name: str) -> Iterator[str]:
    """The targets of ``policy_name``, page by page."""
    for page in ctx.iot.get_paginator("list_targets_for_policy").paginate(
        policyName=policy_name, PaginationConfig={"PageSize": PAGE}
    ):
        yield from page.get("targets", [])


def policy_targets(ctx: AwsContext, policy_name: str) -> set[str]:
    return set(policy_target_arns(ctx, policy_name))


def plan_devices(
    ctx: AwsContext,
    plan: IdentityPlan,
    spec: FleetSpec,
    exists: Callable[[int], bool],
    existing: int,
    where: tuple[str, str, str],
    warnings: list[str],
    progress: Progress | None = None,
) -> None:
    """Fill ``plan.devices`` and ``plan.problems`` for every thing of ``spec``, :data:`~iotfleet.fleet.runner.CHUNK`
    things at a time; ``exists(i)`` says whether thing ``i`` exists already (``existing`` of them do).

    Only what is known of each thing is read: the principals of things that exist, the key store entries of
    things with a folder there (one listing of the store finds them), the status of certificates in use.
    ``where`` is (account, region, partition).
    """
    account, region, partition = where
    arn_prefix = f"arn:{partition}:iot:{region}:{account}:cert/"
    devices = DeviceIdentities(spec.prefix, spec.devices, plan.store, arn_prefix)
    plan.devices = devices
    for name in plan.store.device_names():
        index = index_of(spec.prefix, name)
        if index is not None and index < spec.devices:
            devices.mark_folder(index)
    targets = CertificateIds()
    if plan.policy_action in (model.PRESENT, model.UPDATE):
        targets = CertificateIds(
            arn.rsplit("/", 1)[1] for arn in policy_target_arns(ctx, plan.policy_name) if CERTIFICATE in arn
        )
    statuses = _Statuses(ctx, plan)
    replaced = 0
    part = ProgressPart(progress) if progress is not None and existing else NoProgress()
    if existing and progress is not None:
        progress.start(existing, "checking certificates")
    try:
        for chunk in index_chunks(spec.devices):
            replaced += _plan_chunk(ctx, plan, devices, chunk, exists, (statuses, targets, arn_prefix), part)
    finally:
        if existing and progress is not None:
            progress.finish()
    if replaced:
        warnings.append(
            f"{replaced} key store entr{'y' if replaced == 1 else 'ies'} held a certificate AWS does not have or "
            "were cut short; new keys and certificates replace them"
        )


def _plan_chunk(
    ctx: AwsContext,
    plan: IdentityPlan,
    devices: DeviceIdentities,
    chunk: range,
    exists: Callable[[int], bool],
    known_certificates: tuple[_Statuses, CertificateIds, str],
    progress: Progress,
) -> int:
    """Plan the things of ``chunk`` into ``devices``; returns how many key store entries are replaced.
    ``known_certificates``: the statuses, the policy's targets and the ARN prefix of certificates."""
    statuses, targets, arn_prefix = known_certificates
    known = [i for i in chunk if exists(i) or devices.has_folder(i)]
    for index in chunk:
        if not exists(index) and not devices.has_folder(index):
            devices.record(index, FRESH)  # nothing attached, nothing in the key store
    if not known:
        return 0
    names = {i: devices.name(i) for i in known}
    existing = [i for i in known if exists(i)]
    principals: dict[int, list[str]] = {}
    if existing:
        run = run_parallel(
            existing, lambda i: thing_principals(ctx, names[i]), concurrency=ctx.concurrency, progress=progress
        )
        run.raise_for_failures("read the principals of the fleet's things", model.CERTIFICATE, lambda i: names[i])
        principals = {o.item: [p for p in (o.value or []) if CERTIFICATE in p] for o in run.outcomes}
    entries = {i: plan.store.read_device(names[i]) for i in known}
    wanted: set[str] = set()
    for index in known:
        attached, entry = principals.get(index, []), entries[index]
        if len(attached) == 1:
            wanted.add(attached[0].rsplit("/", 1)[1])
        elif not attached and entry.complete and entry.certificate_id:
            wanted.add(str(entry.certificate_id))
    found = statuses.of(wanted)
    replaced = 0
    for index in known:
        device, problem, replacing = _plan_device(
            plan, names[index], principals.get(index, []), entries[index], found, targets, arn_prefix
        )
        replaced += replacing
        if problem is not None:
            plan.problems.append(ResourceFailure(model.CERTIFICATE, names[index], problem))
        else:
            devices.record(index, device)
    return replaced


class _Statuses:
    """The status of certificates AWS has: the fleet CA's all listed once (when first needed), others
    described one by one."""

    def __init__(self, ctx: AwsContext, plan: IdentityPlan) -> None:
        self._ctx, self._plan = ctx, plan
        self._by_ca: CertificateStatuses | None = None

    def of(self, wanted: set[str]) -> dict[str, str]:
        """Status of each certificate id in ``wanted`` that AWS has (absent ids are not registered)."""
        ctx, plan = self._ctx, self._plan
        statuses: dict[str, str] = {}
        if plan.ca is not None and plan.ca.registered and wanted:
            if self._by_ca is None:
                self._by_ca = CertificateStatuses()
                paginator = ctx.iot.get_paginator("list_certificates_by_ca")
                pages = paginator.paginate(caCertificateId=plan.ca.certificate_id, PaginationConfig={"PageSize": PAGE})
                for page in pages:
                    for certificate in page.get("certificates", []):
                        self._by_ca.add(str(certificate["certificateId"]), str(certificate["status"]))
            for identifier in wanted:
                status = self._by_ca.get(identifier)
                if status is not None:
                    statuses[identifier] = status
        rest = sorted(wanted - set(statuses))

        def describe(certificate_id: str) -> str | None:
            try:
                answer = ctx.iot.describe_certificate(certificateId=certificate_id)
            except ClientError as err:
                if is_error(err, "ResourceNotFoundException"):
                    return None
                raise
            return str(answer["certificateDescription"]["status"])

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
    targets: CertificateIds,
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
        device.attach_policy = identifier not in targets
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
            device.attach_policy, device.attach_thing = entry.certificate_id not in targets, True
            return device, None, False
        if _signed_by_fleet_ca(plan, entry.certificate_pem):
            device.register_id, device.register_pem = entry.certificate_id, entry.certificate_pem
            device.attach_policy = device.attach_thing = True
            return device, None, False
    device = _fresh(name)
    device.replace_entry = entry.exists
    return device, None, entry.exists


def _fresh(name: str) -> DeviceIdentity:
    """The work of a thing with no certificate to use: a new key and certificate, the policy, the attachment."""
    return DeviceIdentity(name, issue=True, attach_policy=True, attach_thing=True)


# What every thing with nothing attached and nothing in the key store needs (the name is not kept).
FRESH = _fresh("")


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
    return plan.ca is not None and plan.devices is not None and plan.devices.new_certificates > 0

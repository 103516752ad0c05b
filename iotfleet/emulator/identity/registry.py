"""The certificate and policy registry of one account and region, with the rules AWS IoT enforces.

Every lookup a broker needs at connect and publish time is a dictionary read, whatever the fleet's size:

* a certificate by its id, its PEM, its DER bytes (the id is the SHA-256 of the DER, the certificate's
  fingerprint) or its ARN; its status; its CA (:meth:`IdentityRegistry.ca_of`) and the CA's status;
* the policies attached to a principal, each with its default document (:meth:`policies_of`), and the
  targets of a policy;
* the things a principal is attached to (:meth:`things_of`) and the principals of a thing.

Rules, as AWS applies them:

* a CA is registered once (``ResourceAlreadyExistsException``), with a verification certificate whose
  common name is the account's registration code and which the CA signed (``DEFAULT`` mode); at most 10
  CAs share a subject;
* a certificate registered with a CA must be signed by that CA, and the CA must be registered
  (``CertificateValidationException``); it takes the CA's id and mode;
* a certificate of an INACTIVE CA cannot be made ACTIVE (``CertificateStateException``);
* an ACTIVE certificate, or one attached to a thing, cannot be deleted; one with policies only with
  ``forceDelete``; an ACTIVE CA cannot be deleted;
* a policy keeps at most five versions; it cannot be deleted while attached or while it has versions
  other than the default; at most 10 policies are attached to one target;
* a principal attached to a thing as ``EXCLUSIVE_THING`` belongs to that thing alone.

Call under the emulator's global lock (handlers are).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from cryptography import x509

from iotfleet.emulator.errors import (
    InvalidRequestException,
    LimitExceededException,
    NamedServiceError,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from iotfleet.emulator.identity.authorization import check_supported
from iotfleet.emulator.identity.models import (
    ACTIVE,
    DEFAULT_MODE,
    DISABLE,
    ENABLE,
    EXCLUSIVE_THING,
    INACTIVE,
    PENDING_ACTIVATION,
    PENDING_TRANSFER,
    SNI_ONLY,
    CaCertificate,
    Certificate,
    Policy,
    PolicyVersion,
    utc,
)
from iotfleet.emulator.identity.policy_documents import check_policy_document
from iotfleet.emulator.identity.x509_checks import (
    CertificateStateException,
    CertificateValidationException,
    RegistrationCodeValidationException,
    parse_certificate,
)
from iotfleet.fleet.identity.certificates import certificate_id, common_name, is_ca, issued_by

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

STORE = "identity"
MAX_POLICY_VERSIONS = 5
MAX_POLICIES_PER_TARGET = 10
MAX_CAS_PER_SUBJECT = 10


class DeleteConflictException(NamedServiceError):
    code = "DeleteConflictException"
    status = 409


class VersionsLimitExceededException(NamedServiceError):
    code = "VersionsLimitExceededException"
    status = 409


def _ordered_add(index: dict[str, dict[str, Any]], key: str, member: str, value: Any = None) -> None:
    index.setdefault(key, {})[member] = value


def _ordered_remove(index: dict[str, dict[str, Any]], key: str, member: str) -> None:
    members = index.get(key)
    if members is not None:
        members.pop(member, None)
        if not members:
            del index[key]


class IdentityRegistry:
    """Certificates, CA certificates, policies and their attachments in one account and region."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.certificates: dict[str, Certificate] = {}
        self.ca_certificates: dict[str, CaCertificate] = {}
        self.policies: dict[str, Policy] = {}
        self.registration_code: str | None = None
        # target -> policy names, policy name -> targets (insertion-ordered)
        self._policies_of: dict[str, dict[str, Any]] = {}
        self._targets_of: dict[str, dict[str, Any]] = {}
        # principal -> {thing: attachment type}, thing -> {principal: attachment type}
        self._things_of: dict[str, dict[str, Any]] = {}
        self._principals_of: dict[str, dict[str, Any]] = {}
        # What a TLS server must trust to accept this account's certificates (registered CAs, and the
        # certificates registered without one), in the order added; never shrinks (the broker checks
        # the registry itself after the handshake).
        self.trust_anchors: dict[str, str] = {}
        # Bumped by every change to what a certificate may do (status, policies, attachments), so a
        # connected client's compiled permissions are rebuilt when they may be stale.
        self.generation = 0

    # --- ARNs -----------------------------------------------------------------------------------------

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:iot:{self.region}:{self.account_id}:{kind}/{name}"

    def certificate_arn(self, certificate_id: str) -> str:
        return self._arn("cert", certificate_id)

    def ca_arn(self, certificate_id: str) -> str:
        return self._arn("cacert", certificate_id)

    def policy_arn(self, name: str) -> str:
        return self._arn("policy", name)

    # --- lookups ----------------------------------------------------------------------------------------

    def find_certificate(self, certificate_id: str) -> Certificate | None:
        return self.certificates.get(certificate_id.lower().removeprefix("0x"))

    def certificate_by_pem(self, pem: str) -> Certificate | None:
        try:
            return self.find_certificate(certificate_id(pem))
        except ValueError:
            return None

    def certificate_by_der(self, der: bytes) -> Certificate | None:
        """The certificate a TLS client presented (its DER bytes), or None."""
        return self.find_certificate(hashlib.sha256(der).hexdigest())

    def certificate_by_arn(self, arn: str) -> Certificate | None:
        prefix = self._arn("cert", "")
        if not arn.startswith(prefix):
            return None
        return self.find_certificate(arn[len(prefix) :])

    def certificate(self, certificate_id: str) -> Certificate:
        found = self.find_certificate(certificate_id)
        if found is None:
            raise ResourceNotFoundException(f"The certificate {certificate_id} does not exist")
        return found

    def ca_certificate(self, certificate_id: str) -> CaCertificate:
        found = self.ca_certificates.get(certificate_id.lower().removeprefix("0x"))
        if found is None:
            raise ResourceNotFoundException(f"The CA certificate {certificate_id} does not exist")
        return found

    def ca_of(self, certificate: Certificate) -> CaCertificate | None:
        """The registered CA that signed ``certificate`` (None for certificates without one)."""
        if certificate.ca_certificate_id is None:
            return None
        return self.ca_certificates.get(certificate.ca_certificate_id)

    def policy(self, name: str) -> Policy:
        found = self.policies.get(name)
        if found is None:
            raise ResourceNotFoundException(f"The policy {name} does not exist")
        return found

    def policies_of(self, target: str) -> list[Policy]:
        """The policies attached to a principal or thing group, in the order attached."""
        return [self.policies[name] for name in self._policies_of.get(target, {})]

    def targets_of(self, policy_name: str) -> list[str]:
        return list(self._targets_of.get(policy_name, {}))

    def things_of(self, principal: str) -> list[str]:
        """The things ``principal`` is attached to."""
        return list(self._things_of.get(principal, {}))

    def principals_of(self, thing_name: str) -> list[tuple[str, str]]:
        """``(principal, attachment type)`` of each principal attached to the thing."""
        return list(self._principals_of.get(thing_name, {}).items())

    def things_with_types(self, principal: str) -> list[tuple[str, str]]:
        return list(self._things_of.get(principal, {}).items())

    # --- registration code and CA certificates -----------------------------------------------------------

    def get_registration_code(self) -> str:
        """The account's registration code: 64 hex digits, the same until it is deleted."""
        if self.registration_code is None:
            self.registration_code = secrets.token_hex(32)
        return self.registration_code

    def delete_registration_code(self) -> None:
        if self.registration_code is None:
            raise ResourceNotFoundException("There is no registration code to delete")
        self.registration_code = None

    def register_ca(
        self,
        pem: str,
        verification_pem: str | None,
        *,
        active: bool,
        auto_registration: bool,
        mode: str,
        registration_config: dict[str, Any] | None,
        tags: dict[str, str],
        now: float,
    ) -> CaCertificate:
        when = utc(now)
        ca = parse_certificate(pem, "CA certificate", when)
        if not is_ca(ca):
            raise CertificateValidationException(
                "The CA certificate is not a CA: it has no basic constraints CA:TRUE"
            )
        if mode == DEFAULT_MODE:
            self._check_verification(ca, verification_pem, when)
        identifier = certificate_id(ca)
        arn = self.ca_arn(identifier)
        if identifier in self.ca_certificates:
            raise ResourceAlreadyExistsException(
                "The certificate is already provisioned or registered", resourceId=identifier, resourceArn=arn
            )
        subject = ca.subject.rfc4514_string()
        if sum(1 for other in self.ca_certificates.values() if other.subject == subject) >= MAX_CAS_PER_SUBJECT:
            raise LimitExceededException(
                f"At most {MAX_CAS_PER_SUBJECT} CA certificates with the subject {subject} can be registered"
            )
        record = CaCertificate(
            certificate_id=identifier, arn=arn, pem=pem, subject=subject,
            status=ACTIVE if active else INACTIVE, owner=self.account_id, created=now,
            not_before=ca.not_valid_before_utc, not_after=ca.not_valid_after_utc,
            auto_registration=ENABLE if auto_registration else DISABLE, mode=mode,
            registration_config=dict(registration_config or {}), tags=dict(tags), parsed=ca,
        )  # fmt: skip
        self.ca_certificates[identifier] = record
        self.trust_anchors.setdefault(identifier, pem)
        return record

    def _check_verification(self, ca: x509.Certificate, verification_pem: str | None, when: dt.datetime) -> None:
        if not verification_pem:
            raise InvalidRequestException(
                "A verification certificate is required to register a CA certificate in DEFAULT mode"
            )
        verification = parse_certificate(verification_pem, "verification certificate", when)
        if self.registration_code is None or common_name(verification) != self.registration_code:
            raise RegistrationCodeValidationException(
                "The verification certificate's common name is not this account's registration code"
            )
        if not issued_by(verification, ca):
            raise CertificateValidationException("The verification certificate is not signed by the CA certificate")

    def update_ca(
        self,
        certificate_id: str,
        *,
        status: str | None,
        auto_registration: str | None,
        registration_config: dict[str, Any] | None,
        remove_auto_registration: bool,
        now: float,
    ) -> None:
        ca = self.ca_certificate(certificate_id)
        if status is not None:
            ca.status = status
        if auto_registration is not None:
            ca.auto_registration = auto_registration
        if registration_config is not None:
            ca.registration_config = dict(registration_config)
        if remove_auto_registration:
            ca.registration_config = {}
        ca.modified = now
        ca.generation += 1
        self.generation += 1

    def delete_ca(self, certificate_id: str) -> None:
        ca = self.ca_certificate(certificate_id)
        if ca.status == ACTIVE:
            raise CertificateStateException("The CA certificate must be deactivated (not ACTIVE) before deletion")
        del self.ca_certificates[ca.certificate_id]
        self.generation += 1

    # --- device certificates ------------------------------------------------------------------------------

    def register_certificate(
        self, pem: str, ca_pem: str | None, status: str, now: float, *, without_ca: bool = False
    ) -> Certificate:
        """A certificate registered by its owner: with its CA (given, or found among the registered ones)."""
        when = utc(now)
        leaf = parse_certificate(pem, "certificate", when)
        ca: CaCertificate | None = None
        if without_ca:
            mode = SNI_ONLY
        else:
            ca = self._signing_ca(leaf, ca_pem, when)
            mode = ca.mode
        record = self._add(leaf, pem, status, now, ca.certificate_id if ca else None, mode)
        if ca is None:
            self.trust_anchors.setdefault(record.certificate_id, pem)
        return record

    def _signing_ca(self, leaf: x509.Certificate, ca_pem: str | None, when: dt.datetime) -> CaCertificate:
        if ca_pem:
            parsed = parse_certificate(ca_pem, "CA certificate", when)
            ca = self.ca_certificates.get(certificate_id(parsed))
            if ca is None:
                raise CertificateValidationException("The CA certificate is not registered in this account")
            if not issued_by(leaf, parsed):
                raise CertificateValidationException("The certificate is not signed by the CA certificate given")
            return ca
        for ca in self.ca_certificates.values():
            if ca.parsed is not None and ca.subject == leaf.issuer.rfc4514_string() and issued_by(leaf, ca.parsed):
                return ca
        raise CertificateValidationException(
            "The certificate's CA is not registered in this account: register the CA, or use "
            "RegisterCertificateWithoutCA"
        )

    def add_issued(self, certificate: x509.Certificate, pem: str, status: str, now: float) -> Certificate:
        """A certificate the service itself issued (CreateKeysAndCertificate, CreateCertificateFromCsr)."""
        return self._add(certificate, pem, status, now, None, DEFAULT_MODE)

    def _add(
        self, leaf: x509.Certificate, pem: str, status: str, now: float, ca_id: str | None, mode: str
    ) -> Certificate:
        identifier = certificate_id(leaf)
        arn = self.certificate_arn(identifier)
        if identifier in self.certificates:
            raise ResourceAlreadyExistsException(
                "The certificate is already provisioned or registered", resourceId=identifier, resourceArn=arn
            )
        if status == ACTIVE and ca_id is not None and self.ca_certificates[ca_id].status != ACTIVE:
            raise CertificateStateException("The certificate's CA is not ACTIVE, so the certificate cannot be")
        record = Certificate(
            certificate_id=identifier, arn=arn, pem=pem, status=status, owner=self.account_id, created=now,
            not_before=leaf.not_valid_before_utc, not_after=leaf.not_valid_after_utc, ca_certificate_id=ca_id,
            mode=mode,
        )  # fmt: skip
        self.certificates[identifier] = record
        return record

    def update_certificate(self, certificate_id: str, status: str, now: float) -> None:
        certificate = self.certificate(certificate_id)
        if status in (PENDING_TRANSFER, PENDING_ACTIVATION):
            raise InvalidRequestException(f"{status} is set by AWS IoT only and cannot be requested")
        if certificate.status == PENDING_TRANSFER:
            raise CertificateStateException("The certificate is pending transfer and cannot be updated")
        ca = self.ca_of(certificate)
        if status == ACTIVE and ca is not None and ca.status != ACTIVE:
            raise CertificateStateException(
                f"The certificate's CA {ca.certificate_id} is {ca.status}; activate the CA first"
            )
        if certificate.status != status:
            certificate.status = status
            certificate.modified = now
            certificate.generation += 1
            self.generation += 1

    def delete_certificate(self, certificate_id: str, force: bool) -> None:
        certificate = self.certificate(certificate_id)
        if certificate.status == ACTIVE:
            raise CertificateStateException("Certificate must be deactivated (not ACTIVE) before deletion.")
        things = self.things_of(certificate.arn)
        if things:
            raise DeleteConflictException(f"Things must be detached before deletion (thing: {things[0]})")
        policies = list(self._policies_of.get(certificate.arn, {}))
        if policies and not force:
            raise DeleteConflictException(
                f"Certificate policies must be detached before deletion (policy: {policies[0]})"
            )
        for name in policies:
            self.detach_policy(name, certificate.arn)
        del self.certificates[certificate.certificate_id]
        self.generation += 1

    def certificates_by_ca(self, ca_certificate_id: str) -> list[Certificate]:
        return [c for c in self.certificates.values() if c.ca_certificate_id == ca_certificate_id]

    # --- policies and versions --------------------------------------------------------------------------

    def create_policy(self, name: str, document: str, tags: dict[str, str], now: float) -> Policy:
        check_supported(check_policy_document(document))
        if name in self.policies:
            raise ResourceAlreadyExistsException(
                f"Policy cannot be created - name already exists (name={name})",
                resourceId=name,
                resourceArn=self.policy_arn(name),
            )
        policy = Policy(
            name=name, arn=self.policy_arn(name), versions={"1": PolicyVersion("1", document, now, now)},
            default_version_id="1", created=now, tags=dict(tags),
        )  # fmt: skip
        self.policies[name] = policy
        return policy

    def create_policy_version(self, name: str, document: str, set_default: bool, now: float) -> PolicyVersion:
        policy = self.policy(name)
        check_supported(check_policy_document(document))
        if len(policy.versions) >= MAX_POLICY_VERSIONS:
            raise VersionsLimitExceededException(
                f"The policy {name} already has the maximum number of versions ({MAX_POLICY_VERSIONS}); delete one"
            )
        version = PolicyVersion(str(policy.next_version), document, now, now)
        policy.next_version += 1
        policy.versions[version.version_id] = version
        if set_default:
            self.set_default_version(name, version.version_id)
        return version

    def policy_version(self, name: str, version_id: str) -> PolicyVersion:
        version = self.policy(name).versions.get(version_id)
        if version is None:
            raise ResourceNotFoundException(f"The policy {name} has no version {version_id}")
        return version

    def set_default_version(self, name: str, version_id: str) -> None:
        policy = self.policy(name)
        self.policy_version(name, version_id)
        if policy.default_version_id != version_id:
            policy.default_version_id = version_id
            policy.generation += 1
            self.generation += 1

    def delete_policy_version(self, name: str, version_id: str) -> None:
        policy = self.policy(name)
        self.policy_version(name, version_id)
        if version_id == policy.default_version_id:
            raise DeleteConflictException(
                "Cannot delete the default version of a policy; make another version the default, or delete "
                "the policy"
            )
        del policy.versions[version_id]

    def delete_policy(self, name: str) -> None:
        policy = self.policy(name)
        if self._targets_of.get(name):
            raise DeleteConflictException(
                f"The policy cannot be deleted as the policy is attached to one or more principals (name={name})"
            )
        if len(policy.versions) > 1:
            raise DeleteConflictException(
                f"Cannot delete the policy because it has one or more policy versions attached to it (name={name})"
            )
        del self.policies[name]

    # --- attachments -------------------------------------------------------------------------------------

    def attach_policy(self, name: str, target: str) -> None:
        self.policy(name)
        attached = self._policies_of.get(target, {})
        if name in attached:
            return
        if len(attached) >= MAX_POLICIES_PER_TARGET:
            raise LimitExceededException(f"At most {MAX_POLICIES_PER_TARGET} policies can be attached to {target}")
        _ordered_add(self._policies_of, target, name)
        _ordered_add(self._targets_of, name, target)
        self.generation += 1

    def detach_policy(self, name: str, target: str) -> None:
        self.policy(name)
        _ordered_remove(self._policies_of, target, name)
        _ordered_remove(self._targets_of, name, target)
        self.generation += 1

    def forget_target(self, target: str) -> None:
        """A thing group was deleted: its policy attachments go with it."""
        for name in list(self._policies_of.get(target, {})):
            _ordered_remove(self._targets_of, name, target)
        self._policies_of.pop(target, None)

    def attach_thing(self, thing_name: str, principal: str, attachment: str) -> None:
        things = self._things_of.get(principal, {})
        if thing_name in things and things[thing_name] == attachment:
            return
        others = [name for name in things if name != thing_name]
        if others and (attachment == EXCLUSIVE_THING or EXCLUSIVE_THING in things.values()):
            raise InvalidRequestException(
                f"The principal is attached to thing {others[0]}; an exclusive attachment allows one thing only"
            )
        _ordered_add(self._things_of, principal, thing_name, attachment)
        _ordered_add(self._principals_of, thing_name, principal, attachment)
        self.generation += 1

    def detach_thing(self, thing_name: str, principal: str) -> None:
        _ordered_remove(self._things_of, principal, thing_name)
        _ordered_remove(self._principals_of, thing_name, principal)
        self.generation += 1


def identity_registry(state: EmulatorState, account_id: str, region: str) -> IdentityRegistry:
    """The registry of (account, region), created on first use and wiped with the emulator's state."""
    return state.store(STORE, account_id, region, lambda: IdentityRegistry(account_id, region))

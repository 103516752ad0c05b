"""Certificates, CA certificates, policies and policy versions as AWS IoT keeps them, and how the API shows them.

Plain data: the rules (who may register what, what may be deleted when) live in :mod:`.registry`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cryptography import x509

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
REVOKED = "REVOKED"
PENDING_TRANSFER = "PENDING_TRANSFER"
REGISTER_INACTIVE = "REGISTER_INACTIVE"
PENDING_ACTIVATION = "PENDING_ACTIVATION"
CERTIFICATE_STATUSES = (ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, REGISTER_INACTIVE, PENDING_ACTIVATION)
CA_STATUSES = (ACTIVE, INACTIVE)
ENABLE = "ENABLE"
DISABLE = "DISABLE"
DEFAULT_MODE = "DEFAULT"
SNI_ONLY = "SNI_ONLY"
EXCLUSIVE_THING = "EXCLUSIVE_THING"
NON_EXCLUSIVE_THING = "NON_EXCLUSIVE_THING"


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _description(record: Certificate | CaCertificate) -> dict[str, Any]:
    """What DescribeCertificate and DescribeCACertificate both say of a certificate."""
    return {
        "certificateArn": record.arn,
        "certificateId": record.certificate_id,
        "status": record.status,
        "certificatePem": record.pem,
        "ownedBy": record.owner,
        "creationDate": utc(record.created),
        "lastModifiedDate": utc(record.modified or record.created),
        "customerVersion": record.generation,
        "generationId": str(record.generation),
        "validity": {"notBefore": record.not_before, "notAfter": record.not_after},
        "certificateMode": record.mode,
    }


@dataclass
class Certificate:
    """A device certificate (registered, or created by the service). Its id is the SHA-256 of its DER."""

    certificate_id: str
    arn: str
    pem: str
    status: str
    owner: str
    created: float
    not_before: datetime
    not_after: datetime
    ca_certificate_id: str | None = None
    mode: str = DEFAULT_MODE
    modified: float = 0.0
    generation: int = 1

    def summary(self) -> dict[str, Any]:
        """A ListCertificates / ListCertificatesByCA entry."""
        return {
            "certificateArn": self.arn,
            "certificateId": self.certificate_id,
            "status": self.status,
            "certificateMode": self.mode,
            "creationDate": utc(self.created),
        }

    def describe(self) -> dict[str, Any]:
        """The DescribeCertificate ``certificateDescription``."""
        answer = {**_description(self), "transferData": {}}
        if self.ca_certificate_id:
            answer["caCertificateId"] = self.ca_certificate_id
        return answer


@dataclass
class CaCertificate:
    """A registered CA certificate, with its subject (AWS allows 10 CAs with one subject per account)."""

    certificate_id: str
    arn: str
    pem: str
    subject: str
    status: str
    owner: str
    created: float
    not_before: datetime
    not_after: datetime
    auto_registration: str = DISABLE
    mode: str = DEFAULT_MODE
    registration_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    modified: float = 0.0
    generation: int = 1
    # The certificate itself, parsed once: device certificates are checked against it.
    parsed: x509.Certificate | None = field(default=None, repr=False, compare=False)

    def summary(self) -> dict[str, Any]:
        return {
            "certificateArn": self.arn,
            "certificateId": self.certificate_id,
            "status": self.status,
            "creationDate": utc(self.created),
        }

    def describe(self) -> dict[str, Any]:
        """The DescribeCACertificate ``certificateDescription``."""
        return {**_description(self), "autoRegistrationStatus": self.auto_registration}


@dataclass
class PolicyVersion:
    version_id: str
    document: str
    created: float
    modified: float

    @property
    def parsed(self) -> dict[str, Any]:
        """The document as JSON (validated when the version was created)."""
        return json.loads(self.document)  # type: ignore[no-any-return]


@dataclass
class Policy:
    """An IoT policy: up to five versions, one of them the default (the one AWS evaluates)."""

    name: str
    arn: str
    versions: dict[str, PolicyVersion]
    default_version_id: str
    created: float
    next_version: int = 2
    tags: dict[str, str] = field(default_factory=dict)
    generation: int = 1

    @property
    def default(self) -> PolicyVersion:
        return self.versions[self.default_version_id]

    @property
    def document(self) -> str:
        """The default version's document: what AWS IoT authorises a principal with."""
        return self.default.document

    def describe(self) -> dict[str, Any]:
        """The GetPolicy answer."""
        return {
            "policyName": self.name,
            "policyArn": self.arn,
            "policyDocument": self.document,
            "defaultVersionId": self.default_version_id,
            "creationDate": utc(self.created),
            "lastModifiedDate": utc(self.default.modified),
            "generationId": str(self.generation),
        }

    def describe_version(self, version: PolicyVersion) -> dict[str, Any]:
        """The GetPolicyVersion answer."""
        return {
            "policyArn": self.arn,
            "policyName": self.name,
            "policyDocument": version.document,
            "policyVersionId": version.version_id,
            "isDefaultVersion": version.version_id == self.default_version_id,
            "creationDate": utc(version.created),
            "lastModifiedDate": utc(version.modified),
            "generationId": str(self.generation),
        }

    def summary(self) -> dict[str, str]:
        return {"policyName": self.name, "policyArn": self.arn}

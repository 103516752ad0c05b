"""The ``iot`` operations on the registration code, CA certificates and device certificates.

Answered from the emulator's registry (:mod:`.registry`) instead of moto, whose certificates are not
checked against their CA, whose registration code changes on every call and which cannot list CA
certificates. Lists page with ``marker``/``nextMarker`` (``pageSize`` up to 250), newest first unless
``ascendingOrder``. Certificate transfers between accounts are not emulated: they answer 501.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from iotfleet.emulator.errors import NotImplementedException
from iotfleet.emulator.extension import Call, handles
from iotfleet.emulator.identity import issuer
from iotfleet.emulator.identity.models import ACTIVE, DEFAULT_MODE, INACTIVE, utc
from iotfleet.emulator.identity.registry import IdentityRegistry, identity_registry
from iotfleet.emulator.pagination import page
from iotfleet.emulator.tagging import tags_from_list
from iotfleet.fleet.identity.certificates import load_certificate

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 25


def registry_of(call: Call) -> IdentityRegistry:
    return identity_registry(call.state, call.account_id, call.region)


def marker_page(
    call: Call, items: Sequence[T], created: Callable[[T], tuple[float, str]] | None = None
) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items`` (``marker``, ``pageSize``) and its ``nextMarker``; with ``created``, ordered by
    creation, newest first unless ``ascendingOrder``."""
    if created is not None:
        items = sorted(items, key=created, reverse=not call.params.get("ascendingOrder", False))
    chunk, marker = page(items, int(call.params.get("pageSize") or DEFAULT_PAGE_SIZE), call.params.get("marker"))
    return chunk, ({"nextMarker": marker} if marker else {})


# --- registration code ----------------------------------------------------------------------------------


@handles("iot", "GetRegistrationCode")
def get_registration_code(call: Call) -> dict[str, Any]:
    return {"registrationCode": registry_of(call).get_registration_code()}


@handles("iot", "DeleteRegistrationCode")
def delete_registration_code(call: Call) -> dict[str, Any]:
    registry_of(call).delete_registration_code()
    return {}


# --- CA certificates -----------------------------------------------------------------------------------


@handles("iot", "RegisterCACertificate")
def register_ca_certificate(call: Call) -> dict[str, Any]:
    params = call.params
    ca = registry_of(call).register_ca(
        params["caCertificate"],
        params.get("verificationCertificate"),
        active=bool(params.get("setAsActive", False)),
        auto_registration=bool(params.get("allowAutoRegistration", False)),
        mode=params.get("certificateMode") or DEFAULT_MODE,
        registration_config=params.get("registrationConfig"),
        tags=tags_from_list(params.get("tags")),
        now=call.state.clock.now(),
    )
    return {"certificateArn": ca.arn, "certificateId": ca.certificate_id}


@handles("iot", "DescribeCACertificate")
def describe_ca_certificate(call: Call) -> dict[str, Any]:
    ca = registry_of(call).ca_certificate(call.params["certificateId"])
    answer: dict[str, Any] = {"certificateDescription": ca.describe()}
    if ca.registration_config:
        answer["registrationConfig"] = dict(ca.registration_config)
    return answer


@handles("iot", "ListCACertificates")
def list_ca_certificates(call: Call) -> dict[str, Any]:
    cas = list(registry_of(call).ca_certificates.values())
    template = call.params.get("templateName")
    if template:
        cas = [ca for ca in cas if ca.registration_config.get("templateName") == template]
    chunk, more = marker_page(call, cas, lambda ca: (ca.created, ca.certificate_id))
    return {"certificates": [ca.summary() for ca in chunk], **more}


@handles("iot", "UpdateCACertificate")
def update_ca_certificate(call: Call) -> dict[str, Any]:
    params = call.params
    registry_of(call).update_ca(
        params["certificateId"],
        status=params.get("newStatus"),
        auto_registration=params.get("newAutoRegistrationStatus"),
        registration_config=params.get("registrationConfig"),
        remove_auto_registration=bool(params.get("removeAutoRegistration", False)),
        now=call.state.clock.now(),
    )
    return {}


@handles("iot", "DeleteCACertificate")
def delete_ca_certificate(call: Call) -> dict[str, Any]:
    registry_of(call).delete_ca(call.params["certificateId"])
    return {}


# --- device certificates --------------------------------------------------------------------------------


def _status(params: dict[str, Any]) -> str:
    """``setAsActive`` (deprecated) wins over ``status``; neither means INACTIVE."""
    if params.get("setAsActive"):
        return ACTIVE
    return str(params.get("status") or INACTIVE)


@handles("iot", "RegisterCertificate")
def register_certificate(call: Call) -> dict[str, Any]:
    params = call.params
    certificate = registry_of(call).register_certificate(
        params["certificatePem"], params.get("caCertificatePem"), _status(params), call.state.clock.now()
    )
    return {"certificateArn": certificate.arn, "certificateId": certificate.certificate_id}


@handles("iot", "RegisterCertificateWithoutCA")
def register_certificate_without_ca(call: Call) -> dict[str, Any]:
    params = call.params
    certificate = registry_of(call).register_certificate(
        params["certificatePem"], None, _status(params), call.state.clock.now(), without_ca=True
    )
    return {"certificateArn": certificate.arn, "certificateId": certificate.certificate_id}


@handles("iot", "CreateKeysAndCertificate")
def create_keys_and_certificate(call: Call) -> dict[str, Any]:
    now = call.state.clock.now()
    pem, key_pair = issuer.keys_and_certificate(utc(now))
    status = ACTIVE if call.params.get("setAsActive") else INACTIVE
    certificate = registry_of(call).add_issued(load_certificate(pem), pem, status, now)
    return {
        "certificateArn": certificate.arn,
        "certificateId": certificate.certificate_id,
        "certificatePem": pem,
        "keyPair": key_pair,
    }


@handles("iot", "CreateCertificateFromCsr")
def create_certificate_from_csr(call: Call) -> dict[str, Any]:
    now = call.state.clock.now()
    pem = issuer.certificate_from_csr(call.params["certificateSigningRequest"], utc(now))
    status = ACTIVE if call.params.get("setAsActive") else INACTIVE
    certificate = registry_of(call).add_issued(load_certificate(pem), pem, status, now)
    return {"certificateArn": certificate.arn, "certificateId": certificate.certificate_id, "certificatePem": pem}


@handles("iot", "DescribeCertificate")
def describe_certificate(call: Call) -> dict[str, Any]:
    return {"certificateDescription": registry_of(call).certificate(call.params["certificateId"]).describe()}


@handles("iot", "ListCertificates")
def list_certificates(call: Call) -> dict[str, Any]:
    certificates = list(registry_of(call).certificates.values())
    chunk, more = marker_page(call, certificates, lambda c: (c.created, c.certificate_id))
    return {"certificates": [c.summary() for c in chunk], **more}


@handles("iot", "ListCertificatesByCA")
def list_certificates_by_ca(call: Call) -> dict[str, Any]:
    registry = registry_of(call)
    ca = registry.ca_certificate(call.params["caCertificateId"])
    signed = registry.certificates_by_ca(ca.certificate_id)
    chunk, more = marker_page(call, signed, lambda c: (c.created, c.certificate_id))
    return {"certificates": [c.summary() for c in chunk], **more}


@handles("iot", "UpdateCertificate")
def update_certificate(call: Call) -> dict[str, Any]:
    params = call.params
    registry_of(call).update_certificate(params["certificateId"], params["newStatus"], call.state.clock.now())
    return {}


@handles("iot", "DeleteCertificate")
def delete_certificate(call: Call) -> dict[str, Any]:
    params = call.params
    registry_of(call).delete_certificate(params["certificateId"], bool(params.get("forceDelete", False)))
    return {}


def _not_emulated(call: Call) -> dict[str, Any]:
    raise NotImplementedException(
        f"the iotfleet emulator does not emulate certificate transfers between accounts ({call.operation})"
    )


for _operation in (
    "TransferCertificate",
    "AcceptCertificateTransfer",
    "RejectCertificateTransfer",
    "CancelCertificateTransfer",
    "ListOutgoingCertificates",
):
    handles("iot", _operation)(_not_emulated)

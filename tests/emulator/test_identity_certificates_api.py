"""The emulator's certificate registry over HTTP: CA registration, device certificates, status and deletion rules."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from botocore.exceptions import ClientError
from certificate_setup import ACCOUNT, CONNECT, NOW, REGION, document, error_of, new_ca, registered_ca
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from iotfleet.emulator import features  # noqa: F401  (registers the handlers)
from iotfleet.emulator.extension import handler_for
from iotfleet.emulator.moto_patches.gateway import MotoGateway
from iotfleet.emulator.routing import service_model
from iotfleet.emulator.testing import assert_valid_output
from iotfleet.fleet.identity import certificates as x509_tools


def test_the_registration_code_is_64_hex_digits_and_stable_until_deleted(boto_clients) -> None:
    iot = boto_clients.iot
    code = iot.get_registration_code()["registrationCode"]
    assert re.fullmatch(r"[0-9a-f]{64}", code)
    assert iot.get_registration_code()["registrationCode"] == code
    iot.delete_registration_code()
    assert iot.get_registration_code()["registrationCode"] != code


def test_a_ca_registers_once_with_its_verification_certificate(boto_clients) -> None:
    iot = boto_clients.iot
    ca = registered_ca(iot, tags=[{"Key": "team", "Value": "ops"}])
    assert ca.arn == f"arn:aws:iot:{REGION}:{ACCOUNT}:cacert/{ca.certificate_id}"
    assert ca.certificate_id == x509_tools.certificate_id(ca.pem)
    code = iot.get_registration_code()["registrationCode"]
    with pytest.raises(ClientError) as again:
        iot.register_ca_certificate(caCertificate=ca.pem, verificationCertificate=ca.verification(code))
    assert error_of(again) == ("ResourceAlreadyExistsException", 409)
    assert again.value.response["resourceId"] == ca.certificate_id
    described = iot.describe_ca_certificate(certificateId=ca.certificate_id)
    assert_valid_output(iot, "describe_ca_certificate", described)
    description = described["certificateDescription"]
    assert (description["status"], description["autoRegistrationStatus"]) == ("ACTIVE", "DISABLE")
    assert description["certificatePem"] == ca.pem and description["ownedBy"] == ACCOUNT
    assert iot.list_tags_for_resource(resourceArn=ca.arn)["tags"] == [{"Key": "team", "Value": "ops"}]


def test_ca_registration_checks_the_verification_certificate(boto_clients) -> None:
    iot = boto_clients.iot
    code = iot.get_registration_code()["registrationCode"]
    ca, other = new_ca("a"), new_ca("b")
    refusals = {
        "RegistrationCodeValidationException": ca.verification("0" * 64),
        "CertificateValidationException": other.verification(code),
    }
    for expected, verification in refusals.items():
        with pytest.raises(ClientError) as refused:
            iot.register_ca_certificate(caCertificate=ca.pem, verificationCertificate=verification)
        assert error_of(refused)[0] == expected
    with pytest.raises(ClientError) as missing:
        iot.register_ca_certificate(caCertificate=ca.pem)
    assert error_of(missing) == ("InvalidRequestException", 400)
    with pytest.raises(ClientError) as not_a_ca:
        iot.register_ca_certificate(caCertificate=ca.sign("thing-1"), verificationCertificate=ca.verification(code))
    assert error_of(not_a_ca) == ("CertificateValidationException", 400)
    with pytest.raises(ClientError) as garbage:
        iot.register_ca_certificate(caCertificate="not a certificate", verificationCertificate=ca.verification(code))
    assert error_of(garbage) == ("CertificateValidationException", 400)
    assert iot.list_ca_certificates()["certificates"] == []
    # SNI_ONLY mode needs no verification certificate.
    iot.register_ca_certificate(caCertificate=ca.pem, certificateMode="SNI_ONLY")
    assert len(iot.list_ca_certificates()["certificates"]) == 1


def test_ca_certificates_are_listed_in_pages(boto_clients) -> None:
    iot = boto_clients.iot
    ids = {registered_ca(iot, f"fleet-{n}").certificate_id for n in range(3)}
    first = iot.list_ca_certificates(pageSize=2)
    assert_valid_output(iot, "list_ca_certificates", first)
    assert len(first["certificates"]) == 2 and first["nextMarker"]
    rest = iot.list_ca_certificates(pageSize=2, marker=first["nextMarker"])
    assert "nextMarker" not in rest
    assert {c["certificateId"] for c in first["certificates"] + rest["certificates"]} == ids
    listed = [c["certificateId"] for c in iot.list_ca_certificates(ascendingOrder=True)["certificates"]]
    assert listed == sorted(listed, key=lambda i: iot.describe_ca_certificate(certificateId=i)[
        "certificateDescription"]["creationDate"])  # fmt: skip


def test_a_device_certificate_must_be_signed_by_a_registered_ca(boto_clients) -> None:
    iot = boto_clients.iot
    ca = registered_ca(iot)
    registered = iot.register_certificate(certificatePem=ca.sign("t-1"), caCertificatePem=ca.pem, status="ACTIVE")
    described = iot.describe_certificate(certificateId=registered["certificateId"])
    assert_valid_output(iot, "describe_certificate", described)
    assert described["certificateDescription"]["caCertificateId"] == ca.certificate_id
    assert described["certificateDescription"]["status"] == "ACTIVE"
    assert registered["certificateArn"] == f"arn:aws:iot:{REGION}:{ACCOUNT}:cert/{registered['certificateId']}"
    # Without the CA's PEM, the registered CA that signed it is found.
    found = iot.register_certificate(certificatePem=ca.sign("t-2"))
    assert iot.describe_certificate(certificateId=found["certificateId"])["certificateDescription"][
        "caCertificateId"] == ca.certificate_id  # fmt: skip
    stranger = new_ca("stranger")
    for leaf, given in ((stranger.sign("t-3"), ca.pem), (stranger.sign("t-4"), stranger.pem), (stranger.sign("t-5"), None)):
        request = {"certificatePem": leaf, **({"caCertificatePem": given} if given else {})}
        with pytest.raises(ClientError) as refused:
            iot.register_certificate(**request)
        assert error_of(refused) == ("CertificateValidationException", 400)
    with pytest.raises(ClientError) as twice:
        iot.register_certificate(certificatePem=described["certificateDescription"]["certificatePem"], caCertificatePem=ca.pem)
    assert error_of(twice) == ("ResourceAlreadyExistsException", 409)
    without = iot.register_certificate_without_ca(certificatePem=stranger.sign("t-6"), status="ACTIVE")
    description = iot.describe_certificate(certificateId=without["certificateId"])["certificateDescription"]
    assert description["certificateMode"] == "SNI_ONLY" and "caCertificateId" not in description


def test_certificates_of_an_inactive_ca_cannot_be_active(boto_clients) -> None:
    iot = boto_clients.iot
    ca = registered_ca(iot, active=False)
    with pytest.raises(ClientError) as refused:
        iot.register_certificate(certificatePem=ca.sign("t-1"), caCertificatePem=ca.pem, status="ACTIVE")
    assert error_of(refused) == ("CertificateStateException", 406)
    inactive = iot.register_certificate(certificatePem=ca.sign("t-1"), caCertificatePem=ca.pem, status="INACTIVE")
    with pytest.raises(ClientError) as refused:
        iot.update_certificate(certificateId=inactive["certificateId"], newStatus="ACTIVE")
    assert error_of(refused) == ("CertificateStateException", 406)
    iot.update_ca_certificate(certificateId=ca.certificate_id, newStatus="ACTIVE", newAutoRegistrationStatus="ENABLE")
    iot.update_certificate(certificateId=inactive["certificateId"], newStatus="ACTIVE")
    assert iot.describe_ca_certificate(certificateId=ca.certificate_id)["certificateDescription"][
        "autoRegistrationStatus"] == "ENABLE"  # fmt: skip
    listed = iot.list_certificates_by_ca(caCertificateId=ca.certificate_id)
    assert [(c["certificateId"], c["status"]) for c in listed["certificates"]] == [(inactive["certificateId"], "ACTIVE")]
    with pytest.raises(ClientError) as internal:
        iot.update_certificate(certificateId=inactive["certificateId"], newStatus="PENDING_TRANSFER")
    assert error_of(internal)[1] == 400


def test_deletion_rules_of_certificates_and_cas(boto_clients) -> None:
    iot = boto_clients.iot
    ca = registered_ca(iot)
    cert = iot.register_certificate(certificatePem=ca.sign("t-1"), caCertificatePem=ca.pem, status="ACTIVE")
    cert_id, arn = cert["certificateId"], cert["certificateArn"]
    iot.create_thing(thingName="t-1")
    iot.create_policy(policyName="device", policyDocument=document(CONNECT))
    iot.attach_policy(policyName="device", target=arn)
    iot.attach_thing_principal(thingName="t-1", principal=arn)

    def refused(**request: object) -> tuple[str, int]:
        with pytest.raises(ClientError) as info:
            iot.delete_certificate(certificateId=cert_id, **request)
        return error_of(info)

    assert refused() == ("CertificateStateException", 406)
    iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
    assert refused(forceDelete=True) == ("DeleteConflictException", 409)  # attached to a thing
    iot.detach_thing_principal(thingName="t-1", principal=arn)
    assert refused() == ("DeleteConflictException", 409)  # a policy is attached
    iot.delete_certificate(certificateId=cert_id, forceDelete=True)
    assert iot.list_targets_for_policy(policyName="device")["targets"] == []
    with pytest.raises(ClientError) as gone:
        iot.describe_certificate(certificateId=cert_id)
    assert error_of(gone) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as active_ca:
        iot.delete_ca_certificate(certificateId=ca.certificate_id)
    assert error_of(active_ca) == ("CertificateStateException", 406)
    iot.update_ca_certificate(certificateId=ca.certificate_id, newStatus="INACTIVE")
    iot.delete_ca_certificate(certificateId=ca.certificate_id)
    assert iot.list_ca_certificates()["certificates"] == []


def test_aws_issued_certificates_come_with_their_keys(boto_clients) -> None:
    iot = boto_clients.iot
    created = iot.create_keys_and_certificate(setAsActive=True)
    assert_valid_output(iot, "create_keys_and_certificate", created)
    certificate = x509_tools.load_certificate(created["certificatePem"])
    key = serialization.load_pem_private_key(created["keyPair"]["PrivateKey"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert x509_tools.key_matches(certificate, key)
    assert created["certificateId"] == x509_tools.certificate_id(certificate)
    description = iot.describe_certificate(certificateId=created["certificateId"])["certificateDescription"]
    assert description["status"] == "ACTIVE" and "caCertificateId" not in description
    assert x509_tools.common_name(certificate) == "AWS IoT Certificate"


def _csr(key: object, name: str = "sensor-1") -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())  # type: ignore[arg-type]
    return request.public_bytes(serialization.Encoding.PEM).decode()


def test_a_certificate_from_a_csr_keeps_the_device_key(boto_clients) -> None:
    iot = boto_clients.iot
    key = ec.generate_private_key(ec.SECP256R1())
    created = iot.create_certificate_from_csr(certificateSigningRequest=_csr(key))
    certificate = x509_tools.load_certificate(created["certificatePem"])
    assert x509_tools.key_matches(certificate, key)
    assert iot.describe_certificate(certificateId=created["certificateId"])["certificateDescription"]["status"] == "INACTIVE"
    with pytest.raises(ClientError) as weak:
        iot.create_certificate_from_csr(certificateSigningRequest=_csr(rsa.generate_private_key(65537, 1024)))
    assert error_of(weak) == ("InvalidRequestException", 400)


def test_certificates_are_listed_in_pages_and_cannot_be_tagged(boto_clients) -> None:
    iot = boto_clients.iot
    ca = registered_ca(iot)
    arns = {iot.register_certificate(certificatePem=ca.sign(f"t-{n}"))["certificateArn"] for n in range(3)}
    pages = list(iot.get_paginator("list_certificates").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 2
    assert {c["certificateArn"] for page in pages for c in page["certificates"]} == arns
    with pytest.raises(ClientError) as refused:
        iot.tag_resource(resourceArn=sorted(arns)[0], tags=[{"Key": "a", "Value": "b"}])
    assert error_of(refused) == ("InvalidRequestException", 400)


def test_certificate_transfers_are_refused_as_not_emulated(boto_clients) -> None:
    with pytest.raises(ClientError) as refused:
        boto_clients.iot.transfer_certificate(certificateId="a" * 64, targetAwsAccount="210987654321")
    assert error_of(refused) == ("NotImplementedException", 501)


def test_no_certificate_policy_or_principal_operation_reaches_moto() -> None:
    """moto keeps certificates and policies of its own; one operation answered there would split the registry."""
    gateway = MotoGateway()
    identity = [
        name for name in service_model("iot").operation_names
        if any(word in name for word in ("Certificate", "Polic", "Principal", "RegistrationCode"))
    ]  # fmt: skip
    assert len(identity) > 30
    reaching_moto = [name for name in identity if gateway.implements("iot", name) and handler_for("iot", name) is None]
    assert reaching_moto == []
    assert handler_for("iot", "DeleteThing") is not None  # refuses a thing that still has principals


def test_expired_certificates_are_refused(boto_clients) -> None:
    iot = boto_clients.iot
    ca = registered_ca(iot)
    key = ec.generate_private_key(ec.SECP256R1())
    expired = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=3 * 365))
        .not_valid_after(NOW - dt.timedelta(days=365))
        .sign(ca.key, hashes.SHA256())
    )
    with pytest.raises(ClientError) as refused:
        iot.register_certificate(certificatePem=x509_tools.certificate_pem(expired), caCertificatePem=ca.pem)
    assert error_of(refused) == ("CertificateValidationException", 400)

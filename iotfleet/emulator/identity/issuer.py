"""The emulator's stand-in for the CA AWS IoT signs its own certificates with (CreateKeysAndCertificate,
CreateCertificateFromCsr).

AWS answers CreateKeysAndCertificate with a new RSA 2048 key pair and a certificate whose subject is
``CN=AWS IoT Certificate``, signed by an Amazon CA that is not registered in the account (so the
certificate has no ``caCertificateId``). The emulator does the same with a CA of its own, made once per
process; its MQTT endpoint trusts that CA (:func:`issuer_certificate_pem`), as AWS IoT trusts its own.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.identity.x509_checks import key_problem
from iotfleet.fleet.identity.certificates import SIGNATURE_HASH

ISSUED_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AWS IoT Certificate")])
ISSUER_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "iotfleet emulator"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Amazon Web Services stand-in"),
    ]
)
ISSUED_VALIDITY = dt.timedelta(days=36500)
KEY_BITS = 2048

_lock = threading.Lock()


@functools.cache
def _issuer_key() -> ec.EllipticCurvePrivateKey:
    with _lock:
        return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def issuer_certificate_pem() -> str:
    """The self-signed certificate of the stand-in CA (what a TLS server trusts to accept what it issued)."""
    key = _issuer_key()
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(ISSUER_NAME)
        .issuer_name(ISSUER_NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + ISSUED_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, SIGNATURE_HASH)
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _issue(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, subject: x509.Name, now: dt.datetime) -> str:
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ISSUER_NAME)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + ISSUED_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(_issuer_key(), SIGNATURE_HASH)
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def keys_and_certificate(now: dt.datetime) -> tuple[str, dict[str, str]]:
    """A certificate PEM and its ``keyPair`` (``PublicKey``, ``PrivateKey``), as CreateKeysAndCertificate gives."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pair = {
        "PublicKey": key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii"),
        "PrivateKey": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode("ascii"),
    }
    return _issue(key.public_key(), ISSUED_SUBJECT, now), pair


def certificate_from_csr(csr_pem: str, now: dt.datetime) -> str:
    """A certificate for the key and subject of a certificate signing request (InvalidRequestException when
    AWS would refuse the request)."""
    try:
        request = x509.load_pem_x509_csr(csr_pem.encode("ascii", "replace"))
    except ValueError:
        raise InvalidRequestException("The certificate signing request is not a valid PEM CSR") from None
    if not request.is_signature_valid:
        raise InvalidRequestException("The certificate signing request's signature does not verify")
    public_key = request.public_key()
    problem = key_problem(public_key)
    if problem is not None:
        raise InvalidRequestException(problem)
    assert isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey))
    subject = request.subject if len(request.subject) else ISSUED_SUBJECT
    return _issue(public_key, subject, now)

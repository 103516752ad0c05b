"""X.509 for a fleet: the fleet CA, device certificates signed here, and the checks both ends of AWS share.

Keys are EC P-256 with ECDSA-SHA256 signatures: AWS IoT accepts them for CA and device certificates (as it
accepts RSA keys of 2048 bits or more), and making one takes microseconds where an RSA 2048 key takes tens
of milliseconds, which is what lets a fleet of thousands be signed locally in seconds.

A certificate's id on AWS IoT is the SHA-256 of its DER encoding (:func:`certificate_id`); the emulator
computes it with the same function, so the two can never disagree.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CURVE = ec.SECP256R1()
SIGNATURE_HASH = hashes.SHA256()
CA_VALIDITY = dt.timedelta(days=3650)
# Verification certificates prove possession of the CA key once, at registration.
VERIFICATION_VALIDITY = dt.timedelta(days=1)
# Valid from a day back, so a device whose clock runs a little behind accepts it.
BACKDATE = dt.timedelta(days=1)
ORGANIZATION = "iotfleet"

PrivateKey = ec.EllipticCurvePrivateKey


def new_private_key() -> PrivateKey:
    """A fresh EC P-256 private key."""
    return ec.generate_private_key(CURVE)


def private_key_pem(key: PrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM (what device SDKs and ``openssl`` read)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pem: bytes) -> CertificateIssuerPrivateKeyTypes:
    """A PEM private key; ValueError when it is not one."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificate(pem: str | bytes) -> x509.Certificate:
    """One PEM certificate (the first, when there are several); ValueError when the text holds none."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificate(data)


def certificate_id(certificate: str | bytes | x509.Certificate) -> str:
    """The id AWS IoT gives a certificate: the SHA-256 of its DER encoding, as 64 hex digits."""
    parsed = certificate if isinstance(certificate, x509.Certificate) else load_certificate(certificate)
    return hashlib.sha256(parsed.public_bytes(serialization.Encoding.DER)).hexdigest()


def common_name(certificate: x509.Certificate) -> str | None:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def is_ca(certificate: x509.Certificate) -> bool:
    """True when the certificate may sign others (basic constraints CA:TRUE)."""
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer`` signed ``certificate``: the issuer name matches and the signature verifies."""
    if certificate.issuer != issuer.subject:
        return False
    public_key = issuer.public_key()
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None:
        return False
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(
                certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(), algorithm
            )
        else:
            return False
    except InvalidSignature:
        return False
    return True


def key_matches(certificate: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> bool:
    """True when ``key`` is the private half of the certificate's public key."""
    public = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mine = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return public == mine


def _name(common: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def create_ca(fleet: str, now: dt.datetime) -> tuple[PrivateKey, x509.Certificate]:
    """A new self-signed CA for ``fleet``: it signs only device certificates (path length 0)."""
    key = new_private_key()
    name = _name(f"iotfleet {fleet} device CA", f"fleet {fleet}")
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, SIGNATURE_HASH)
    )
    return key, certificate


def _leaf(
    ca_key: CertificateIssuerPrivateKeyTypes,
    ca_certificate: x509.Certificate,
    subject: x509.Name,
    key: PrivateKey,
    now: dt.datetime,
    lifetime: dt.timedelta,
    client_auth: bool,
) -> x509.Certificate:
    not_after = min(now + lifetime, ca_certificate.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_certificate.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if client_auth:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(ca_key, SIGNATURE_HASH)


def sign_device_certificate(
    ca_key: CertificateIssuerPrivateKeyTypes, ca_certificate: x509.Certificate, thing_name: str, now: dt.datetime
) -> tuple[PrivateKey, x509.Certificate]:
    """A new key and a client certificate for ``thing_name``, signed by the fleet CA, valid as long as the CA."""
    key = new_private_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, thing_name),
        ]
    )
    certificate = _leaf(ca_key, ca_certificate, subject, key, now, CA_VALIDITY, client_auth=True)
    return key, certificate


def verification_certificate(
    ca_key: CertificateIssuerPrivateKeyTypes,
    ca_certificate: x509.Certificate,
    registration_code: str,
    now: dt.datetime,
) -> x509.Certificate:
    """The certificate AWS IoT asks for to register a CA: CN = the account's registration code, signed by the CA.

    Its key is thrown away: the certificate only proves that whoever registers the CA holds the CA's key.
    """
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, registration_code)])
    return _leaf(ca_key, ca_certificate, subject, new_private_key(), now, VERIFICATION_VALIDITY, client_auth=False)

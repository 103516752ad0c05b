"""What AWS IoT checks in a certificate it is given: that it parses, is in date, uses an accepted signature,
is a CA when it must be, and was signed by the CA it claims.

The X.509 primitives (the certificate id, signature verification, key matching) are the library's
(:mod:`iotfleet.fleet.identity.certificates`), so the emulator and iotfleet compute ids the same way.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from iotfleet.emulator.errors import NamedServiceError
from iotfleet.fleet.identity.certificates import load_certificate

# Signature hashes AWS IoT accepts (SHA256WITHRSA ... ECDSA-WITH-SHA512).
ACCEPTED_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
# Keys a certificate signing request may carry: RSA of 2048 bits or more, or EC on NIST P-256 / P-384.
MIN_RSA_BITS = 2048
ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1)


class CertificateValidationException(NamedServiceError):
    code = "CertificateValidationException"
    status = 400


class CertificateStateException(NamedServiceError):
    code = "CertificateStateException"
    status = 406


class RegistrationCodeValidationException(NamedServiceError):
    code = "RegistrationCodeValidationException"
    status = 400


def parse_certificate(pem: str, what: str, now: dt.datetime) -> x509.Certificate:
    """The certificate in ``pem``, or CertificateValidationException saying why AWS would refuse it."""
    try:
        certificate = load_certificate(pem)
    except ValueError:
        raise CertificateValidationException(f"The {what} is not a valid PEM X.509 certificate") from None
    algorithm = certificate.signature_hash_algorithm
    if not isinstance(algorithm, ACCEPTED_HASHES):
        name = algorithm.name if algorithm is not None else "unknown"
        raise CertificateValidationException(
            f"The {what} is signed with {name}; AWS IoT accepts SHA-256, SHA-384 and SHA-512 signatures"
        )
    if certificate.not_valid_after_utc < now:
        raise CertificateValidationException(
            f"The {what} expired on {certificate.not_valid_after_utc.isoformat()}"
        )
    return certificate


def key_problem(key: object) -> str | None:
    """Why AWS IoT would refuse ``key`` in a certificate signing request, or None when it accepts it."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return f"The RSA key has {key.key_size} bits; AWS IoT requires at least {MIN_RSA_BITS}"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ACCEPTED_CURVES):
        return None
    return "The key must be RSA (2048 bits or more) or EC on NIST P-256 or P-384"

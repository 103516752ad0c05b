"""Helpers for the certificate and policy tests: a CA made locally and registered, device certificates, errors."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509

from iotfleet.fleet.identity import certificates as x509_tools

NOW = dt.datetime.now(dt.timezone.utc)
ACCOUNT = "123456789012"
REGION = "us-east-1"


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@dataclass
class Ca:
    key: Any
    certificate: x509.Certificate
    certificate_id: str = ""
    arn: str = ""

    @property
    def pem(self) -> str:
        return x509_tools.certificate_pem(self.certificate)

    def sign(self, thing: str) -> str:
        _, leaf = x509_tools.sign_device_certificate(self.key, self.certificate, thing, NOW)
        return x509_tools.certificate_pem(leaf)

    def verification(self, code: str) -> str:
        return x509_tools.certificate_pem(x509_tools.verification_certificate(self.key, self.certificate, code, NOW))


def new_ca(name: str = "demo") -> Ca:
    key, certificate = x509_tools.create_ca(name, NOW)
    return Ca(key, certificate)


def registered_ca(iot: Any, name: str = "demo", active: bool = True, **extra: Any) -> Ca:
    ca = new_ca(name)
    code = iot.get_registration_code()["registrationCode"]
    answer = iot.register_ca_certificate(
        caCertificate=ca.pem, verificationCertificate=ca.verification(code), setAsActive=active, **extra
    )
    ca.certificate_id, ca.arn = answer["certificateId"], answer["certificateArn"]
    return ca


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


CONNECT = {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"arn:aws:iot:{REGION}:{ACCOUNT}:client/x"}

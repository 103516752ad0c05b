"""S3 bucket policies honour aws:SecureTransport, so TLS-only buckets work on the emulator and deny plain HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.moto_patches.s3 import bucket_policy_permission

BUCKET = "tls-only"


def deny_insecure(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


@pytest.fixture
def tls_only_bucket(boto_clients: Any) -> Any:
    s3 = boto_clients.s3
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(deny_insecure(BUCKET)))
    return s3


def test_loopback_requests_count_as_secure_transport(tls_only_bucket: Any) -> None:
    tls_only_bucket.put_object(Bucket=BUCKET, Key="a.bin", Body=b"firmware")
    assert tls_only_bucket.get_object(Bucket=BUCKET, Key="a.bin")["Body"].read() == b"firmware"


def test_plain_http_is_denied_when_loopback_is_not_trusted(
    tls_only_bucket: Any, emulator: LocalEmulator
) -> None:
    tls_only_bucket.put_object(Bucket=BUCKET, Key="a.bin", Body=b"firmware")
    emulator.state.loopback_is_secure = False
    with pytest.raises(ClientError) as info:
        tls_only_bucket.get_object(Bucket=BUCKET, Key="a.bin")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize(
    ("secure", "expected"),
    [(True, "NEUTRAL"), (False, "DENIED")],
)
def test_policy_evaluation(secure: bool, expected: str) -> None:
    policy = deny_insecure(BUCKET)
    result = bucket_policy_permission(policy, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/k", secure)
    assert result.name == expected


def test_allow_statements_and_unknown_conditions() -> None:
    allow = {
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": ["s3:Get*"], "Resource": "arn:aws:s3:::b/*"}
        ]
    }
    assert bucket_policy_permission(allow, "s3:GetObject", "arn:aws:s3:::b/k", False).name == "PERMITTED"
    assert bucket_policy_permission(allow, "s3:PutObject", "arn:aws:s3:::b/k", False).name == "NEUTRAL"
    unknown = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ]
    }
    assert bucket_policy_permission(unknown, "s3:GetObject", "arn:aws:s3:::b/k", False).name == "NEUTRAL"

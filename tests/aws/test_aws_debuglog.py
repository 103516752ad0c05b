"""Debug mode logs every call, and no secret ever reaches the log."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs, quote, urlparse

import pytest

from iotfleet.aws.debuglog import REDACTED, Redactor, redact, shorten

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEBcaDH+token/with=base64+chars"


def presigned_parts(url: str) -> dict[str, str]:
    query = parse_qs(urlparse(url).query)
    return {name: query[name][0] for name in ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token")}


def test_a_captured_debug_log_holds_no_secret(make_context, fake_aws, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="iotfleet.api")
    ctx = make_context(debug=True, access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token=SESSION_TOKEN)

    assumed = ctx.sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="ota-run")
    assert assumed["Credentials"]["SecretAccessKey"] == fake_aws.assumed_credentials["SecretAccessKey"]

    url = ctx.s3.generate_presigned_url("get_object", Params={"Bucket": "firmware", "Key": "v2.bin"}, ExpiresIn=600)
    signed = presigned_parts(url)
    assert signed["X-Amz-Security-Token"] == SESSION_TOKEN

    document = json.dumps({
        "steps": [{"download": url}],
        "v2": f"${{aws:iot:s3-presigned-url-v2:{quote(url, safe='')}}}",
    })
    fake_aws.throttle()
    ctx.iot.create_job(jobId="ota-1", targets=["arn:aws:iot:us-east-1:123456789012:thing/t"], document=document)
    fake_aws.job_document = document
    assert ctx.iot.get_job_document(jobId="ota-1")["document"] == document

    log = caplog.text
    # Every call is there, with its outcome, timing and retries.
    assert "sts:AssumeRole -> HTTP 200" in log
    assert "iot:CreateJob -> HTTP 200" in log
    assert "retries 1 (ThrottlingException)" in log
    assert "iot:CreateJob: ThrottlingException on attempt 1 of 8; retrying" in log
    assert "iot:GetJobDocument -> HTTP 200" in log
    assert " ms, retries 0" in log
    assert "firmware/v2.bin" in log and "2030-01-01" in log
    # ...and not one secret, raw or URL-encoded.
    secrets = [
        ACCESS_KEY,
        SECRET_KEY,
        SESSION_TOKEN,
        *fake_aws.assumed_credentials.values(),
        *signed.values(),
    ]
    for secret in secrets:
        for fragment in re.findall(r"[A-Za-z0-9]{12,}", secret):
            assert fragment not in log, f"leaked {fragment!r} of {secret!r}"
    assert REDACTED in log


def test_nothing_is_logged_without_debug(make_context, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="iotfleet.api")
    ctx = make_context()
    ctx.iot.create_thing(thingName="quiet")
    assert caplog.records == []


def test_redact_hides_secret_fields_at_any_depth() -> None:
    data = {
        "Credentials": {
            "AccessKeyId": "ASIAFAKE",
            "SecretAccessKey": "s3cr3t",
            "SessionToken": "tok",
            "Expiration": "2030-01-01",
        },
        "headers": {"Authorization": "AWS4-HMAC-SHA256 Credential=x", "X-Amz-Security-Token": "tok", "Host": "h"},
        "keyPair": {"PublicKey": "pub", "PrivateKey": "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----"},
        "items": [{"aws_secret_access_key": "x", "password": "p"}],
        "credentials": "opaque",
        "nextToken": "page-2",
        "clientToken": "idem",
        "thingName": "sensor-1",
    }
    result = redact(data)
    assert result["Credentials"] == {
        "AccessKeyId": REDACTED,
        "SecretAccessKey": REDACTED,
        "SessionToken": REDACTED,
        "Expiration": "2030-01-01",
    }
    assert result["headers"] == {"Authorization": REDACTED, "X-Amz-Security-Token": REDACTED, "Host": "h"}
    assert result["keyPair"] == {"PublicKey": "pub", "PrivateKey": REDACTED}
    assert result["items"] == [{"aws_secret_access_key": REDACTED, "password": REDACTED}]
    assert result["credentials"] == REDACTED
    assert (result["nextToken"], result["clientToken"], result["thingName"]) == ("page-2", "idem", "sensor-1")
    assert data["Credentials"]["SecretAccessKey"] == "s3cr3t"  # the input is not modified


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F2024"
         "&X-Amz-Signature=abcdef0123&X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2Bxyz%3D&X-Amz-Expires=60",
         ["X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Expires=60", "https://b.s3.amazonaws.com/k?"]),
        ("${aws:iot:s3-presigned-url-v2:https%3A%2F%2Fb%2Fk%3FX-Amz-Signature%3Dabcdef0123%26X-Amz-Credential%3D"
         "AKIAIOSFODNN7EXAMPLE%252F2024%26X-Amz-Security-Token%3Dabcdef0123%252Bx%253D%26versionId%3D7}",
         ["versionId%3D7}", "${aws:iot:s3-presigned-url-v2:https%3A%2F%2Fb%2Fk"]),
        ("https://b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=abcdef0123%3D&Expires=1", ["Expires=1"]),
        ("Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/2024, Signature=abcdef0123", []),
        ('{"SecretAccessKey": "abcdef0123", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}', ['"SecretAccessKey": ']),
        ("<SecretAccessKey>abcdef0123</SecretAccessKey><SessionToken>abcdef0123</SessionToken>", ["<SessionToken>"]),
        ("key id AKIAIOSFODNN7EXAMPLE in a sentence", ["key id ", " in a sentence"]),
    ],
)
def test_redact_scrubs_secrets_inside_strings(text: str, kept: list[str]) -> None:
    result = redact(text)
    assert "abcdef0123" not in result
    assert "AKIAIOSFODNN7EXAMPLE" not in result
    for fragment in kept:
        assert fragment in result


def test_known_secret_values_are_scrubbed_everywhere() -> None:
    redactor = Redactor(["my-very-secret-value", None, "tiny"])
    assert redactor({"note": "xx my-very-secret-value yy", "tag": "tiny"}) == {"note": f"xx {REDACTED} yy", "tag": "tiny"}


def test_binary_and_streams_are_summarised() -> None:
    import io

    assert redact({"Body": b"\x00" * 10}) == {"Body": "<10 bytes>"}
    assert redact({"Body": io.BytesIO(b"x")}) == {"Body": "<BytesIO>"}


def test_shorten_cuts_long_strings_and_lists() -> None:
    result = shorten({"text": "x" * 1500, "list": list(range(40))}, max_string=100, max_items=10)
    assert result["text"] == "x" * 100 + "... (+1400 chars)"
    assert result["list"] == [*range(10), "... (+30 items)"]

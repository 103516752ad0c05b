"""A malformed SigV4 credential scope gets a 4xx AWS error, never a 500: named cases over HTTP, and the header
parser and the endpoint fuzzed with hypothesis."""

from __future__ import annotations

import re

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.routing import CredentialScope, MalformedCredential, credential_from_authorization

SIGNATURE = "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64


def authorization(credential: str) -> dict[str, str]:
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, {SIGNATURE}", "X-Amz-Date": "20240101T000000Z"}


@pytest.mark.parametrize(
    ("credential", "fragment"),
    [
        ("testing/20240101/0/iot/aws4_request", "valid region, not '0'"),
        ("testing/20240101//iot/aws4_request", "valid region, not ''"),
        ("testing/20240101/us-east-1//aws4_request", "valid service, not ''"),
        ("testing/20240101/us-east-1/iot", "exactly 5 slash-delimited elements"),
        ("testing/20240101/us-east-1/iot/aws4_request/extra", "exactly 5 slash-delimited elements"),
        ("testing/20240101/us-east-1/iot/aws5_request", "terminator"),
        ("/20240101/us-east-1/iot/aws4_request", "access key"),
        ("testing/2024-01-01/us-east-1/iot/aws4_request", "yyyyMMdd"),
        ("testing/20240101/US-EAST-1/iot/aws4_request", "valid region"),
    ],
)
def test_malformed_credential_scopes_are_400_json_errors(
    emulator: LocalEmulator, credential: str, fragment: str
) -> None:
    answer = requests.get(f"{emulator.endpoint_url}/things", headers=authorization(credential), timeout=10)
    assert answer.status_code == 400
    assert answer.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    assert fragment in answer.json()["message"]


def test_a_sigv4_header_without_a_credential_is_a_400(emulator: LocalEmulator) -> None:
    answer = requests.get(
        f"{emulator.endpoint_url}/things", headers={"Authorization": f"AWS4-HMAC-SHA256 {SIGNATURE}"}, timeout=10
    )
    assert (answer.status_code, answer.headers["x-amzn-ErrorType"]) == (400, "IncompleteSignatureException")
    assert "requires 'Credential'" in answer.json()["message"]


@pytest.mark.parametrize("service", ["iot", "iotdata", "iot-jobs-data"])
def test_a_region_the_service_is_not_in_is_a_403(emulator: LocalEmulator, service: str) -> None:
    path = {"iot": "/things", "iotdata": "/things/t1/shadow", "iot-jobs-data": "/things/t1/jobs"}[service]
    answer = requests.get(
        emulator.endpoint_url + path,
        headers=authorization(f"testing/20240101/xx-nowhere-9/{service}/aws4_request"),
        timeout=10,
    )
    assert (answer.status_code, answer.headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")
    assert "xx-nowhere-9" in answer.json()["message"]


def test_s3_answers_malformed_credentials_in_its_own_shape(emulator: LocalEmulator) -> None:
    header = requests.get(
        f"{emulator.endpoint_url}/bucket/key", headers=authorization("testing/20240101/0/s3/aws4_request"), timeout=10
    )
    assert header.status_code == 400 and "<Code>AuthorizationHeaderMalformed</Code>" in header.text
    query = requests.get(
        f"{emulator.endpoint_url}/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=testing%2F20240101%2Fus-east-1%2Fs3&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
        timeout=10,
    )
    assert query.status_code == 400 and "<Code>AuthorizationQueryParametersError</Code>" in query.text


def test_well_formed_scopes_still_work(emulator: LocalEmulator, boto_clients) -> None:
    boto_clients.iot.create_thing(thingName="t1")
    answer = requests.get(
        f"{emulator.endpoint_url}/things", headers=authorization("testing/20240101/us-east-1/iot/aws4_request"), timeout=10
    )
    assert answer.status_code == 200 and [t["thingName"] for t in answer.json()["things"]] == ["t1"]


# --- fuzzing -------------------------------------------------------------------------------------------

HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
ELEMENT = st.one_of(
    st.sampled_from(["testing", "20240101", "us-east-1", "eu-west-1", "0", "", "iot", "iotdata", "iot-jobs-data",
                     "s3", "sts", "iam", "aws4_request", "xx-nowhere-9", "AKIA/EXTRA", " "]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="/,"), max_size=12),
)  # fmt: skip
CREDENTIAL = st.lists(ELEMENT, min_size=0, max_size=7).map("/".join)
AUTHORIZATION = st.one_of(
    HEADER_TEXT,
    CREDENTIAL.map(lambda c: f"AWS4-HMAC-SHA256 Credential={c}, {SIGNATURE}"),
    st.builds(lambda c, tail: f"AWS4-HMAC-SHA256 Credential={c}{tail}", CREDENTIAL, HEADER_TEXT),
    st.builds(lambda head, c: f"{head} Credential={c}", HEADER_TEXT, CREDENTIAL),
)

_FIELD_FORMS = {
    "access_key": r"[\w+=.@-]{1,128}",
    "date": r"\d{8}",
    "region": r"[a-z]{2}(-[a-z]+)+-\d{1,2}",
    "signing_name": r"[a-z0-9-]{1,64}",
}


@given(header=AUTHORIZATION)
@settings(max_examples=400, deadline=None)
def test_the_header_parser_gives_a_well_formed_scope_or_says_why_not(header: str) -> None:
    try:
        scope = credential_from_authorization(header)
    except MalformedCredential as exc:
        assert str(exc)
        return
    if scope is None:
        assert not header.strip().startswith("AWS4-HMAC-SHA256 ")
        return
    assert isinstance(scope, CredentialScope)
    for field, form in _FIELD_FORMS.items():
        assert re.fullmatch(form, getattr(scope, field), re.ASCII), (field, scope)


@given(
    header=AUTHORIZATION,
    request=st.sampled_from([("GET", "/things"), ("GET", "/things/t1/jobs"), ("POST", "/topics/a"),
                             ("GET", "/bucket/key"), ("POST", "/")]),
)  # fmt: skip
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_the_endpoint_never_fails_on_a_malformed_signature(
    emulator: LocalEmulator, header: str, request: tuple[str, str]
) -> None:
    header = header.strip()
    assume(header)  # requests sends no empty header value, nor one with leading whitespace
    method, path = request
    answer = requests.request(
        method, emulator.endpoint_url + path, headers={"Authorization": header}, data=b"{}", timeout=10
    )
    assert answer.status_code < 500, (header, answer.status_code, answer.text[:300])
    if answer.status_code >= 400:
        assert answer.headers.get("x-amzn-ErrorType") or "<Code>" in answer.text, (header, answer.text[:300])

"""What the emulator refuses and how it answers broken requests: no web page may drive it, no clock input or
malformed request may take it down, and every answer is JSON.

Raw HTTP (``requests``, and a socket for framing errors) sends what boto3 never would.
"""

from __future__ import annotations

import json
import socket
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from botocore.exceptions import ClientError

from iotfleet.emulator.clock import MAX_ADVANCE, MAX_TIME_SCALE
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.request_guard import allowed_host, host_name
from iotfleet.emulator.settings import EmulatorSettings

SIGNED = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/iot/aws4_request, "
    "SignedHeaders=host, Signature=0000",
}


def still_answers(emulator: LocalEmulator, iot: Any) -> None:
    assert requests.get(f"{emulator.endpoint_url}/_emulator/health", timeout=5).json()["status"] == "ok"
    iot.create_thing(thingName="still-here")
    assert iot.describe_thing(thingName="still-here")["thingName"] == "still-here"


# --- the clock ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"advance": NaN}', '{"advance": Infinity}', '{"advance": -Infinity}', '{"advance": 1e308}',
        '{"advance": -1}', '{"time_scale": NaN}', '{"time_scale": Infinity}', '{"time_scale": 1e308}',
        '{"time_scale": 0}', '{"time_scale": -2}', f'{{"time_scale": {MAX_TIME_SCALE * 10}}}',
        '{"advance": "soon"}',
    ],
)  # fmt: skip
def test_a_clock_input_that_is_not_finite_or_is_out_of_bounds_is_refused_and_the_server_goes_on(
    emulator: LocalEmulator, iot: Any, body: str
) -> None:
    before = requests.get(f"{emulator.endpoint_url}/_emulator/clock", timeout=5).json()
    answer = requests.post(f"{emulator.endpoint_url}/_emulator/clock", data=body, timeout=5)
    assert answer.status_code == 400, answer.text
    assert "error" in answer.json()
    after = requests.get(f"{emulator.endpoint_url}/_emulator/clock", timeout=5).json()
    assert after["time_scale"] == before["time_scale"]
    assert after["now"] - before["now"] < 60
    still_answers(emulator, iot)


def test_a_clock_carried_past_what_an_http_date_can_say_still_gets_answers(emulator: LocalEmulator, iot: Any) -> None:
    year_10000 = 253_402_300_800.0  # the first second an HTTP date (four-digit years) cannot say
    while emulator.clock.now() < year_10000:
        emulator.advance(MAX_ADVANCE)
    health = requests.get(f"{emulator.endpoint_url}/_emulator/health", timeout=5)
    assert health.status_code == 200
    assert parsedate_to_datetime(health.headers["Date"]).year < 10_000  # the real time stands in
    still_answers(emulator, iot)


def test_settings_refuse_a_time_scale_past_the_bound() -> None:
    for scale in (1e12, float("nan"), float("inf"), 0.0):
        with pytest.raises(ValueError, match="time_scale"):
            EmulatorSettings(time_scale=scale)
    assert EmulatorSettings(time_scale=MAX_TIME_SCALE).time_scale == MAX_TIME_SCALE


# --- hosts and origins ------------------------------------------------------------------------------------


def test_host_names_the_emulator_answers_to() -> None:
    assert host_name("[::1]:4567") == "::1" and host_name("LocalHost:80") == "localhost"
    for name in ("localhost", "bucket.localhost", "127.0.0.1", "::1", "192.168.1.20", "emulator.lan"):
        assert allowed_host(host_name(name), "emulator.lan"), name
    for name in ("attacker.example", "127.0.0.1.nip.io", "localhost.attacker.example"):
        assert not allowed_host(name, "127.0.0.1"), name


def test_a_request_for_another_host_name_is_refused_as_dns_rebinding_would_send_it(emulator: LocalEmulator) -> None:
    for path in ("/_emulator/health", "/things"):
        answer = requests.get(
            f"{emulator.endpoint_url}{path}", headers={**SIGNED, "Host": "attacker.example"}, timeout=5
        )
        assert answer.status_code == 403, path
        assert "does not name this emulator" in answer.json()["message"]
    port = urlparse(emulator.endpoint_url).port
    assert requests.get(
        f"{emulator.endpoint_url}/_emulator/health", headers={"Host": f"localhost:{port}"}, timeout=5
    ).ok


def test_a_web_page_cannot_change_fault_settings(emulator: LocalEmulator) -> None:
    before = requests.get(f"{emulator.endpoint_url}/_emulator/faults", timeout=5).json()
    answer = requests.post(
        f"{emulator.endpoint_url}/_emulator/faults",
        data='{"rate": 1.0}',
        headers={"Origin": "https://attacker.example", "Content-Type": "text/plain"},
        timeout=5,
    )
    assert answer.status_code == 403
    assert requests.get(f"{emulator.endpoint_url}/_emulator/faults", timeout=5).json() == before
    # Not even reading the control API: a page must learn nothing from it either.
    assert requests.get(
        f"{emulator.endpoint_url}/_emulator/health", headers={"Origin": "null"}, timeout=5
    ).status_code == 403


def test_a_cross_site_post_cannot_create_a_thing(emulator: LocalEmulator, iot: Any) -> None:
    # A form post carries no Authorization header; it could carry query-string credentials, or an Origin.
    credential = "X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fiot%2Faws4_request&X-Amz-Signature=00"
    by_query = requests.post(f"{emulator.endpoint_url}/things/from-a-page?{credential}", data="{}", timeout=5)
    assert by_query.status_code == 403
    assert "S3 presigned URLs only" in by_query.json()["message"]
    with_origin = requests.post(
        f"{emulator.endpoint_url}/things/from-a-page",
        data="{}",
        headers={**SIGNED, "Origin": "http://attacker.example", "Content-Type": "text/plain"},
        timeout=5,
    )
    assert with_origin.status_code == 403
    with pytest.raises(ClientError):
        iot.describe_thing(thingName="from-a-page")
    assert emulator.counters().get("iot:CreateThing", {}).get("calls", 0) == 0


# --- broken HTTP ----------------------------------------------------------------------------------------------


def raw_exchange(emulator: LocalEmulator, data: bytes) -> tuple[int, dict[str, Any]]:
    url = urlparse(emulator.endpoint_url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as connection:
        connection.sendall(data)
        received = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head.lower(), head
    return status, json.loads(body)


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /_emulator/health HTTP/9.9\r\nHost: localhost\r\n\r\n", 505),
        (b"POST /things/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /things/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /things/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST /things/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999\r\n\r\n", 413),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
    ids=["request-line", "version", "length-text", "length-negative", "chunk-size", "too-large", "uri-too-long"],
)
def test_a_malformed_request_gets_a_json_error_and_the_server_goes_on(
    emulator: LocalEmulator, iot: Any, request_bytes: bytes, status: int
) -> None:
    got, document = raw_exchange(emulator, request_bytes)
    assert got == status
    assert document["message"]
    still_answers(emulator, iot)


def test_a_request_cut_short_by_its_client_is_not_carried_out(emulator: LocalEmulator, iot: Any) -> None:
    # A client killed while sending: the headers promise a body that never fully arrives.
    body = json.dumps({"thingTypeName": "T", "attributePayload": {"attributes": {"a": "1"}}}).encode()
    url = urlparse(emulator.endpoint_url)
    head = (
        f"POST /things/cut-short HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Authorization: {SIGNED['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=5) as connection:
        connection.sendall(head + body[:10])
        connection.shutdown(socket.SHUT_WR)
        connection.recv(65536)
    with pytest.raises(ClientError):
        iot.describe_thing(thingName="cut-short")
    assert emulator.counters().get("iot:CreateThing", {}).get("calls", 0) == 0

"""iot-data Publish over HTTP: topic names are checked as AWS IoT's message broker checks them."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from raw_http import error_code, signed
from test_jobs_api import error_of

from iotfleet.emulator.inprocess import LocalEmulator


@pytest.mark.parametrize(
    "topic",
    [
        "fleet/dev-1/telemetry",
        "a/b/c/d/e/f/g/h",  # 7 slashes: 8 levels, the most allowed
        "$aws/rules/ingest/a/b/c/d/e/f/g/h",  # a Basic Ingest prefix does not count
        "$aws/things/dev-1/shadow/update",
        "t" * 256,
        "é" * 128,  # 256 bytes of UTF-8
    ],
)
def test_valid_topics_are_published(iot_data: Any, topic: str) -> None:
    answer = iot_data.publish(topic=topic, qos=1, payload=b'{"temperature": 21}')
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize(
    ("topic", "fragment"),
    [
        ("fleet/+/telemetry", "wildcard +"),
        ("fleet/#", "wildcard #"),
        ("+", "wildcard +"),
        ("a/+/#", "wildcard + and #"),
        ("t" * 257, "257 bytes"),
        ("é" * 129, "258 bytes"),
        ("a/b/c/d/e/f/g/h/i", "8 forward slashes"),
        ("$aws/rules/ingest/a/b/c/d/e/f/g/h/i", "8 forward slashes"),
    ],
)
def test_wildcards_and_oversized_topics_are_refused(iot_data: Any, topic: str, fragment: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        iot_data.publish(topic=topic, payload=b"{}")
    assert error_of(excinfo) == ("InvalidRequestException", 400)
    assert fragment in excinfo.value.response["Error"]["Message"]


@pytest.mark.parametrize("path", ["/topics/fleet+telemetry", "/topics/fleet%2F%23", "/topics/" + "x" * 300])
def test_bad_topics_in_the_raw_url_are_refused(emulator: LocalEmulator, path: str) -> None:
    answer = signed(emulator.endpoint_url, "iot-data", "POST", path + "?qos=0", b"{}")
    assert error_code(answer) == ("InvalidRequestException", 400)
    assert answer.json()["message"]

"""The account's logging options over HTTP: SetV2LoggingOptions / GetV2LoggingOptions and the v1 pair, as a
provisioning script turns logging on and a cleanup puts it back."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from raw_http import error_code, signed
from test_jobs_api import call, error_of

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.pytest_plugin import CLIENT_CONFIG, CREDENTIALS

ROLE = "arn:aws:iam::123456789012:role/iot-logging"


def test_v2_logging_options_before_any_set_are_not_configured(iot: Any) -> None:
    with pytest.raises(iot.exceptions.NotConfiguredException) as excinfo:
        iot.get_v2_logging_options()
    assert error_of(excinfo) == ("NotConfiguredException", 404)


def test_v2_logging_options_are_set_read_back_and_replaced(iot: Any) -> None:
    call(iot, "set_v2_logging_options", roleArn=ROLE, defaultLogLevel="INFO")
    assert {k: v for k, v in call(iot, "get_v2_logging_options").items() if k != "ResponseMetadata"} == {
        "roleArn": ROLE,
        "defaultLogLevel": "INFO",
        "disableAllLogs": False,
    }
    events = [{"eventType": "Publish-In", "logLevel": "DEBUG"}]
    call(iot, "set_v2_logging_options", roleArn=ROLE, defaultLogLevel="ERROR", eventConfigurations=events)
    answer = call(iot, "get_v2_logging_options", verbose=True)
    assert (answer["defaultLogLevel"], answer["eventConfigurations"]) == ("ERROR", events)
    # Each call replaces the whole setting.
    call(iot, "set_v2_logging_options", roleArn=ROLE, disableAllLogs=True)
    answer = call(iot, "get_v2_logging_options")
    assert answer["disableAllLogs"] is True
    assert "defaultLogLevel" not in answer and "eventConfigurations" not in answer


def test_bad_v2_logging_options_are_refused_and_change_nothing(iot: Any, emulator: LocalEmulator) -> None:
    call(iot, "set_v2_logging_options", roleArn=ROLE, defaultLogLevel="WARN")
    twice = [{"eventType": "Connect", "logLevel": "INFO"}, {"eventType": "Connect", "logLevel": "DEBUG"}]
    for bad in (
        {"roleArn": "not-an-arn", "defaultLogLevel": "INFO"},
        {"roleArn": "arn:aws:iam::123456789012:user/someone"},
        {"roleArn": ROLE, "eventConfigurations": twice},
    ):
        with pytest.raises(ClientError) as excinfo:
            iot.set_v2_logging_options(**bad)
        assert error_of(excinfo) == ("InvalidRequestException", 400), bad
    # A log level outside the model's enum (boto3 does not check enums; raw HTTP to be explicit).
    answer = signed(emulator.endpoint_url, "iot", "POST", "/v2LoggingOptions", {"roleArn": ROLE, "defaultLogLevel": "LOUD"})
    assert error_code(answer) == ("InvalidRequestException", 400)
    assert call(iot, "get_v2_logging_options")["defaultLogLevel"] == "WARN"


def test_v1_logging_options_are_their_own_setting(iot: Any) -> None:
    assert {k: v for k, v in call(iot, "get_logging_options").items() if k != "ResponseMetadata"} == {}
    call(iot, "set_logging_options", loggingOptionsPayload={"roleArn": ROLE, "logLevel": "DEBUG"})
    answer = call(iot, "get_logging_options")
    assert (answer["roleArn"], answer["logLevel"]) == (ROLE, "DEBUG")
    with pytest.raises(iot.exceptions.NotConfiguredException):
        iot.get_v2_logging_options()
    with pytest.raises(ClientError) as excinfo:
        iot.set_logging_options(loggingOptionsPayload={"roleArn": "arn:aws:s3:::bucket"})
    assert error_of(excinfo) == ("InvalidRequestException", 400)
    assert call(iot, "get_logging_options")["logLevel"] == "DEBUG"


def test_logging_options_are_per_region(emulator: LocalEmulator, iot: Any) -> None:
    other = boto3.session.Session().client(
        "iot", endpoint_url=emulator.endpoint_url, region_name="eu-west-1", config=CLIENT_CONFIG, **CREDENTIALS
    )
    call(iot, "set_v2_logging_options", roleArn=ROLE, defaultLogLevel="INFO")
    with pytest.raises(other.exceptions.NotConfiguredException):
        other.get_v2_logging_options()

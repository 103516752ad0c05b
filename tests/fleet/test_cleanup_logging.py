"""Logging options recorded in a fleet's state are put back. The emulator (like moto) has no V2 logging
operations, so botocore's Stubber stands in for AWS here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.stub import Stubber

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.fleet.cleanup.account_settings import (
    HAND_OVER,
    LOGGING,
    NOTHING,
    RESTORE,
    Heir,
    _plan_logging,
    restore_setting,
)
from iotfleet.fleet.fleet_state import FleetState

BEFORE = {
    "roleArn": "arn:aws:iam::123456789012:role/ops-logging",
    "defaultLogLevel": "ERROR",
    "disableAllLogs": False,
}
IOTFLEET = {
    "roleArn": "arn:aws:iam::123456789012:role/ops-logging",
    "defaultLogLevel": "DEBUG",
    "disableAllLogs": False,
}


@pytest.fixture
def ctx() -> Iterator[AwsContext]:
    settings = TargetSettings.resolve(target="local", endpoint_url="http://127.0.0.1:9", env={})
    with AwsContext(settings) as context:
        yield context


def test_logging_options_iotfleet_changed_are_put_back(ctx: AwsContext) -> None:
    state = FleetState("demo", logging_previous=dict(BEFORE))
    with Stubber(ctx.iot) as stub:
        stub.add_response("get_v2_logging_options", dict(IOTFLEET))
        stub.add_response("set_v2_logging_options", {}, expected_params=dict(BEFORE))
        change, skipped = _plan_logging(ctx, state, [], None)
        assert skipped is None and change is not None
        assert (change.name, change.action, change.current, change.target) == (
            LOGGING,
            RESTORE,
            IOTFLEET,
            BEFORE,
        )
        restore_setting(ctx, change)
        stub.assert_no_pending_responses()


def test_logging_options_already_as_before_need_nothing(ctx: AwsContext) -> None:
    with Stubber(ctx.iot) as stub:
        stub.add_response("get_v2_logging_options", dict(BEFORE))
        change, _ = _plan_logging(ctx, FleetState("demo", logging_previous=dict(BEFORE)), [], None)
        assert change is not None and change.action == NOTHING


def test_logging_options_never_configured_read_as_empty(ctx: AwsContext) -> None:
    with Stubber(ctx.iot) as stub:
        stub.add_client_error("get_v2_logging_options", "NotConfiguredException", http_status_code=404)
        change, _ = _plan_logging(ctx, FleetState("demo", logging_previous=dict(BEFORE)), [], None)
        assert change is not None and change.current == {} and change.action == RESTORE


def test_logging_options_stay_while_another_fleet_exists(ctx: AwsContext) -> None:
    with Stubber(ctx.iot) as stub:
        stub.add_response("get_v2_logging_options", dict(IOTFLEET))
        heir = Heir("other", "iotfleet-other-bucket")
        change, _ = _plan_logging(ctx, FleetState("demo", logging_previous=dict(BEFORE)), ["other"], heir)
        assert change is not None and change.action == HAND_OVER and change.target == IOTFLEET

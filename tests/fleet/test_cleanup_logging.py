"""Logging options recorded in a fleet's state are put back, on the emulator (which keeps the account's
logging options as AWS does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cleanup_setup import aws_context, calls

from iotfleet.aws.context import AwsContext
from iotfleet.emulator.inprocess import LocalEmulator
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
def ctx(emulator: LocalEmulator) -> Iterator[AwsContext]:
    with aws_context(emulator) as context:
        yield context


def logging_now(ctx: AwsContext) -> dict[str, object]:
    answer = ctx.iot.get_v2_logging_options()
    return {key: answer[key] for key in ("roleArn", "defaultLogLevel", "disableAllLogs") if key in answer}


def test_logging_options_iotfleet_changed_are_put_back(ctx: AwsContext, emulator: LocalEmulator) -> None:
    ctx.iot.set_v2_logging_options(**IOTFLEET)
    state = FleetState("demo", logging_previous=dict(BEFORE))
    change, skipped = _plan_logging(ctx, state, [], None)
    assert skipped is None and change is not None
    assert (change.name, change.action, change.current, change.target) == (LOGGING, RESTORE, IOTFLEET, BEFORE)
    emulator.reset_counters()
    restore_setting(ctx, change)
    assert calls(emulator) == {"iot:SetV2LoggingOptions": 1}
    assert logging_now(ctx) == BEFORE


def test_logging_options_already_as_before_need_nothing(ctx: AwsContext, emulator: LocalEmulator) -> None:
    ctx.iot.set_v2_logging_options(**BEFORE)
    change, _ = _plan_logging(ctx, FleetState("demo", logging_previous=dict(BEFORE)), [], None)
    assert change is not None and change.action == NOTHING
    emulator.reset_counters()
    restore_setting(ctx, change)
    assert calls(emulator) == {}


def test_logging_options_never_configured_read_as_empty(ctx: AwsContext) -> None:
    change, _ = _plan_logging(ctx, FleetState("demo", logging_previous=dict(BEFORE)), [], None)
    assert change is not None and change.current == {} and change.action == RESTORE
    restore_setting(ctx, change)
    assert logging_now(ctx) == BEFORE


def test_logging_options_stay_while_another_fleet_exists(ctx: AwsContext, emulator: LocalEmulator) -> None:
    ctx.iot.set_v2_logging_options(**IOTFLEET)
    heir = Heir("other", "iotfleet-other-bucket")
    change, _ = _plan_logging(ctx, FleetState("demo", logging_previous=dict(BEFORE)), ["other"], heir)
    assert change is not None and change.action == HAND_OVER and change.target == IOTFLEET
    assert logging_now(ctx) == IOTFLEET

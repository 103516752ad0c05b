"""Deleting thing types: deprecate, wait the 5 minutes AWS requires (polling, with a countdown), delete.

The emulator applies AWS's rule: DeleteThingType is an InvalidRequestException until 300 seconds of emulator
time after DeprecateThingType. The cleanup runs on a clock that is the emulator's, so its waits move emulator
time instead of taking real time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cleanup_setup import FLEET, EmulatorClock, aws_context, calls

from iotfleet.aws.context import AwsContext
from iotfleet.emulator.errors import InvalidRequestException, ValidationException
from iotfleet.emulator.extension import Call, temporary_handler
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.cleanup import thing_types as cleanup_types
from iotfleet.fleet.cleanup.apply import DELETED, FAILED, SKIPPED, apply_cleanup
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.ownership import tag_list

TYPES = ("SedanVehicle", "TruckVehicle")


@pytest.fixture
def ctx(emulator: LocalEmulator) -> Iterator[AwsContext]:
    with aws_context(emulator, clock=EmulatorClock(emulator)) as context:
        for name in TYPES:
            context.iot.create_thing_type(thingTypeName=name, tags=tag_list(FLEET))
        yield context


class Countdown:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def start(self, total: int | None, label: str) -> None:
        self.events.append(("start", (total, label)))

    def advance(self, n: int = 1) -> None:
        self.events.append(("advance", n))

    def finish(self) -> None:
        self.events.append(("finish", None))

    def waited(self) -> tuple[int, int]:
        """The countdown's total and how far it advanced."""
        [begin] = [
            i for i, (kind, value) in enumerate(self.events) if kind == "start" and "Waiting" in value[1]
        ]
        end = next(i for i, (kind, _) in enumerate(self.events) if kind == "finish" and i > begin)
        total = self.events[begin][1][0]
        return total, sum(value for kind, value in self.events[begin:end] if kind == "advance")


def test_types_are_deleted_once_aws_allows_polling_with_a_countdown(
    ctx: AwsContext,
    emulator: LocalEmulator,
) -> None:
    started = emulator.clock.now()
    countdown = Countdown()
    result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET, "types"), progress=countdown)

    assert result.ok, result.failures
    assert {(o.name, o.status) for o in result.outcomes} == {(name, DELETED) for name in TYPES}
    assert emulator.clock.now() - started >= cleanup_types.DEPRECATION_WAIT
    total, advanced = countdown.waited()
    assert cleanup_types.DEPRECATION_WAIT - 2 <= total <= cleanup_types.DEPRECATION_WAIT
    assert advanced == total
    # Refused at once, then polled until the 5 minutes were over: not a blind sleep, not a flood.
    deletes = calls(emulator)["iot:DeleteThingType"]
    # Quick first polls (1, 2, 4, 8 s), then every POLL_INTERVAL, and once when the wait is over.
    polls_per_type = cleanup_types.DEPRECATION_WAIT / cleanup_types.POLL_INTERVAL + 6
    assert len(TYPES) * 2 <= deletes <= len(TYPES) * polls_per_type
    assert not ctx.iot.list_thing_types()["thingTypes"]


def test_no_wait_leaves_types_deprecated_and_a_later_run_deletes_them(
    ctx: AwsContext,
    emulator: LocalEmulator,
) -> None:
    started = emulator.clock.now()
    result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET, "types"), wait_for_types=False)
    assert result.ok
    assert {o.status for o in result.outcomes} == {SKIPPED}
    assert all("run cleanup again" in o.detail for o in result.outcomes)
    assert emulator.clock.now() - started < 5
    for name in TYPES:
        assert ctx.iot.describe_thing_type(thingTypeName=name)["thingTypeMetadata"]["deprecated"] is True

    emulator.advance(cleanup_types.DEPRECATION_WAIT)
    plan = plan_cleanup(ctx, FLEET, "types")
    assert sorted(r.name for r in plan.resources("thing type")) == sorted(TYPES)
    emulator.reset_counters()
    later = apply_cleanup(ctx, plan)
    assert later.ok
    assert {o.status for o in later.outcomes} == {DELETED}
    assert calls(emulator)["iot:DeleteThingType"] == len(TYPES)
    assert "iot:DeprecateThingType" not in calls(emulator)


def test_a_type_aws_keeps_refusing_fails_after_the_grace_period(
    ctx: AwsContext, emulator: LocalEmulator
) -> None:
    def never(call: Call) -> dict[str, Any]:
        raise InvalidRequestException("Thing type still has things associated")

    started = emulator.clock.now()
    with temporary_handler("iot", "DeleteThingType", never):
        result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET, "types"))
    assert not result.ok
    assert {o.status for o in result.outcomes} == {FAILED}
    assert all("still has things associated" in f.error for f in result.failures)
    waited = emulator.clock.now() - started
    assert (
        cleanup_types.DEPRECATION_WAIT + cleanup_types.GRACE <= waited < cleanup_types.DEPRECATION_WAIT + 200
    )


def test_a_type_things_still_have_fails_at_once_naming_them(ctx: AwsContext, emulator: LocalEmulator) -> None:
    # A thing that got the type after the plan was made keeps it: AWS will never delete the type while it
    # does, so waiting out the 5 minutes would be no use.
    plan = plan_cleanup(ctx, FLEET, "types")
    ctx.iot.create_thing(thingName="someone-elses-car", thingTypeName="SedanVehicle")
    countdown = Countdown()
    result = apply_cleanup(ctx, plan, progress=countdown)
    # Only the other type is waited for.
    [label] = [value[1] for kind, value in countdown.events if kind == "start" and "Waiting" in value[1]]
    assert "1 deprecated thing type" in label
    statuses = {o.name: o.status for o in result.outcomes if o.kind == "thing type"}
    assert statuses == {"SedanVehicle": FAILED, "TruckVehicle": DELETED}
    [failure] = [f for f in result.failures if f.name == "SedanVehicle"]
    assert "someone-elses-car" in failure.error
    assert ctx.iot.describe_thing(thingName="someone-elses-car")["thingTypeName"] == "SedanVehicle"


def test_each_type_is_counted_once_however_many_attempts_failed(ctx: AwsContext, emulator: LocalEmulator) -> None:
    attempts: list[str] = []

    def refuse_then_fail(call: Call) -> dict[str, Any]:
        attempts.append(call.params["thingTypeName"])
        if attempts.count(call.params["thingTypeName"]) == 1:
            raise InvalidRequestException("Thing type cannot be deleted until 5 minutes after deprecation")
        raise ValidationException("something else is wrong with this type")

    with temporary_handler("iot", "DeleteThingType", refuse_then_fail):
        result = apply_cleanup(ctx, plan_cleanup(ctx, FLEET, "types"))
    assert len(attempts) >= 2 * len(TYPES)
    failed = [o.name for o in result.outcomes if o.kind == "thing type" and o.status == FAILED]
    assert sorted(failed) == sorted(TYPES)
    assert sorted(f.name for f in result.failures) == sorted(TYPES)
    assert all("something else is wrong" in f.error for f in result.failures)

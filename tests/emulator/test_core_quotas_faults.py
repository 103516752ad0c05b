"""Counters, server-side quotas and reproducible fault injection, seen through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.control import EmulatorControl, EmulatorControlError


def test_counters_count_calls_per_operation(boto_clients, emulator) -> None:
    for index in range(3):
        boto_clients.iot.create_thing(thingName=f"t{index}")
    boto_clients.iot.list_things()
    with pytest.raises(ClientError):
        boto_clients.iot.describe_thing(thingName="missing")
    counts = emulator.counters()
    assert counts["iot:CreateThing"] == {"calls": 3, "throttles": 0, "faults": 0}
    assert counts["iot:ListThings"]["calls"] == 1
    assert counts["iot:DescribeThing"]["calls"] == 1
    emulator.reset_counters()
    assert emulator.counters() == {}


@pytest.mark.emulator(enforce_quotas=True, quota_overrides={"iot:CreateThingType": 2})
def test_quota_throttles_with_throttling_exception(boto_clients, emulator) -> None:
    outcomes = []
    for index in range(6):
        try:
            boto_clients.iot.create_thing_type(thingTypeName=f"type-{index}")
            outcomes.append("ok")
        except ClientError as err:
            outcomes.append(err.response["Error"]["Code"])
            status = err.response["ResponseMetadata"]["HTTPStatusCode"]
    # The bucket holds one second's worth (2 calls); the rest of a fast burst is throttled.
    assert outcomes[:2] == ["ok", "ok"]
    assert "ThrottlingException" in outcomes
    assert status == 429
    counts = emulator.counters()["iot:CreateThingType"]
    assert counts["calls"] == 6
    assert counts["throttles"] == outcomes.count("ThrottlingException")
    # Throttled calls changed nothing.
    assert len(boto_clients.iot.list_thing_types()["thingTypes"]) == outcomes.count("ok")


@pytest.mark.emulator(enforce_quotas=True, quota_scale=0.001)
def test_quota_scale_and_s3_slowdown(boto_clients) -> None:
    boto_clients.s3.create_bucket(Bucket="scaled-bucket")
    codes = set()
    for index in range(12):
        try:
            boto_clients.s3.put_object(Bucket="scaled-bucket", Key=f"k{index}", Body=b"x")
        except ClientError as err:
            codes.add(err.response["Error"]["Code"])
    assert codes == {"SlowDown"}


def _fault_sequence(make_client, emulator, seed: int) -> list[str]:
    emulator.set_faults(0.5, seed=seed, operations=["iot:CreateThing"])
    iot = make_client("iot")
    outcome = []
    for index in range(30):
        try:
            iot.create_thing(thingName=f"f{seed}-{index}")
            outcome.append("ok")
        except ClientError as err:
            outcome.append(err.response["Error"]["Code"])
        iot.list_things()  # not selected: never fails, never draws
    return outcome


def test_faults_are_reproducible_for_a_seed(make_client, emulator) -> None:
    first = _fault_sequence(make_client, emulator, seed=11)
    emulator.reset()
    second = _fault_sequence(make_client, emulator, seed=11)
    emulator.reset()
    other = _fault_sequence(make_client, emulator, seed=12)
    assert first == second
    assert first != other
    assert {"InternalFailureException", "ServiceUnavailableException", "ThrottlingException"} <= set(first + other)
    counts = emulator.counters()
    assert counts["iot:CreateThing"]["faults"] == sum(1 for o in other if o != "ok")
    assert counts["iot:ListThings"]["faults"] == 0


@pytest.mark.emulator(fault_rate=1.0, fault_seed=3, fault_operations=["iot-data:*"])
def test_fault_marker_selects_a_service(boto_clients) -> None:
    boto_clients.iot.create_thing(thingName="ok")
    with pytest.raises(ClientError) as caught:
        boto_clients.iot_data.get_thing_shadow(thingName="ok")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] in (429, 500, 503)


def test_control_api_drives_the_same_settings(emulator, boto_clients) -> None:
    control = EmulatorControl(emulator.endpoint_url)
    assert control.health()["status"] == "ok"
    assert control.set_quotas(True, {"iot:ListThings": 1})["overrides"] == {"iot:ListThings": 1}
    codes = []
    for _ in range(4):
        try:
            boto_clients.iot.list_things()
            codes.append("ok")
        except ClientError as err:
            codes.append(err.response["Error"]["Code"])
    assert codes[0] == "ok" and "ThrottlingException" in codes
    assert control.counters()["iot:ListThings"]["throttles"] == codes.count("ThrottlingException")
    control.set_quotas(False)
    control.set_faults(0.25, seed=5, operations=["CreateThing"])
    assert control.faults() == {"rate": 0.25, "seed": 5, "operations": ["CreateThing"], "after": 0.0}
    with pytest.raises(EmulatorControlError, match="between 0 and 1"):
        control.set_faults(2.0)
    before = control.now()
    assert control.advance(120) >= before + 120
    control.set_time_scale(4.0)
    assert emulator.clock.time_scale == 4.0
    control.reset()
    assert emulator.clock.time_scale == 1.0
    assert control.counters() == {}
    assert control.faults()["rate"] == 0.0

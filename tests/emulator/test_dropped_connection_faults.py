"""A connection dropped after the call took effect, over real HTTP: the service did the work, the client got no
answer at all, and iotfleet's retries take it for a transient fault."""

from __future__ import annotations

from botocore.exceptions import ClientError, ConnectionClosedError

from iotfleet.aws.pacing import TRANSIENT, classify
from iotfleet.emulator.faults import AFTER_EFFECT_KINDS, DROPPED_CONNECTION, FaultInjector


def _outcome(call) -> str:  # type: ignore[no-untyped-def]
    try:
        call()
    except ConnectionClosedError as err:
        assert classify(None, err) == TRANSIENT
        return "dropped"
    except ClientError as err:
        return str(err.response["Error"]["Code"])
    return "ok"


def test_a_call_whose_connection_is_dropped_after_the_effect_did_its_work(make_client, emulator) -> None:
    iot = make_client("iot")
    emulator.set_faults(1.0, seed=4, operations=["iot:CreateThing"], after=1.0)
    outcomes = [_outcome(lambda n=n: iot.create_thing(thingName=f"late-{n}")) for n in range(12)]
    emulator.set_faults(0.0)

    assert "dropped" in outcomes and {"InternalFailureException", "ServiceUnavailableException"} & set(outcomes)
    assert "ok" not in outcomes and "ThrottlingException" not in outcomes  # every call failed, none "not done"
    names = {thing["thingName"] for thing in iot.list_things()["things"]}
    assert names == {f"late-{n}" for n in range(12)}  # and every one took effect
    assert emulator.counters()["iot:CreateThing"]["faults"] == 12
    assert iot.describe_thing(thingName="late-0")["thingName"] == "late-0"  # the client reconnects


def test_an_s3_upload_whose_connection_is_dropped_is_stored(make_client, emulator) -> None:
    s3 = make_client("s3")
    s3.create_bucket(Bucket="dropped")
    emulator.set_faults(1.0, seed=4, operations=["s3:PutObject"], after=1.0)
    outcomes = [_outcome(lambda n=n: s3.put_object(Bucket="dropped", Key=f"k{n}", Body=b"x")) for n in range(12)]
    emulator.set_faults(0.0)
    assert "dropped" in outcomes and {"InternalError", "ServiceUnavailable"} & set(outcomes)
    keys = {entry["Key"] for entry in s3.list_objects_v2(Bucket="dropped")["Contents"]}
    assert keys == {f"k{n}" for n in range(12)}


def test_a_connection_is_dropped_after_the_effect_only() -> None:
    assert DROPPED_CONNECTION in AFTER_EFFECT_KINDS
    before = FaultInjector(rate=1.0, seed=9, after=0.0)
    assert not any(before.draw("iot", "CreateThing").kind.drops_connection for _ in range(200))  # type: ignore[union-attr]
    after = FaultInjector(rate=1.0, seed=9, after=1.0)
    drawn = [after.draw("iot", "CreateThing") for _ in range(200)]
    assert all(fault is not None and fault.after for fault in drawn)
    assert 40 < sum(1 for fault in drawn if fault is not None and fault.kind.drops_connection) < 100


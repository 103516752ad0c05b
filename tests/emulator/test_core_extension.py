"""The extension API over real HTTP: handlers, parsed params, error shapes, call.moto(), after-hooks, events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.errors import (
    InvalidRequestException,
    ResourceAlreadyExistsException,
    ServiceError,
    TerminalStateException,
)
from iotfleet.emulator.events import GROUP_MEMBERSHIP_CHANGED, THING_CHANGED, THING_DELETED
from iotfleet.emulator.extension import Call, handles, temporary_after_hook, temporary_handler
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.testing import assert_valid_output


def test_handler_gets_boto3_shaped_params_and_its_result_reaches_boto3(boto_clients) -> None:
    seen: dict[str, Any] = {}

    def create(call: Call) -> dict[str, Any]:
        seen.update(call.params)
        seen["context"] = (call.service, call.operation, call.account_id, call.region, call.base_url)
        return {
            "thingGroupName": call.params["thingGroupName"],
            "thingGroupArn": f"arn:aws:iot:{call.region}:{call.account_id}:thinggroup/{call.params['thingGroupName']}",
            "thingGroupId": "id-1",
            "indexName": "AWS_Things",
            "queryString": call.params["queryString"],
            "queryVersion": "2017-09-30",
        }

    with temporary_handler("iot", "CreateDynamicThingGroup", create):
        response = boto_clients.iot.create_dynamic_thing_group(
            thingGroupName="low-battery",
            queryString="shadow.reported.battery < 20",
            thingGroupProperties={"attributePayload": {"attributes": {"team": "ops"}}},
            tags=[{"Key": "env", "Value": "test"}],
        )
    assert seen["thingGroupName"] == "low-battery"
    assert seen["thingGroupProperties"] == {"attributePayload": {"attributes": {"team": "ops"}}}
    assert seen["tags"] == [{"Key": "env", "Value": "test"}]
    service, operation, account, region, base_url = seen["context"]
    assert (service, operation, account, region) == ("iot", "CreateDynamicThingGroup", "123456789012", "us-east-1")
    assert base_url.startswith("http://127.0.0.1:")
    assert response["queryString"] == "shadow.reported.battery < 20"
    assert_valid_output(boto_clients.iot, "create_dynamic_thing_group", response)


def test_timestamps_blobs_querystring_and_status_code(boto_clients) -> None:
    """Datetimes out become epoch seconds; a blob payload is the raw body; querystring members are typed."""
    stamp = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)

    def list_jobs(call: Call) -> dict[str, Any]:
        assert call.params == {"status": "IN_PROGRESS", "maxResults": 7, "thingGroupName": "fleet"}
        return {"jobs": [{"jobId": "j1", "status": "IN_PROGRESS", "createdAt": stamp, "lastUpdatedAt": stamp}]}

    def shadow(call: Call) -> dict[str, Any]:
        assert call.params == {"thingName": "t1", "shadowName": "cfg", "payload": b'{"state":{}}'}
        return {"payload": b'{"state":{"reported":{"v":1}},"version":3}'}

    with temporary_handler("iot", "ListJobs", list_jobs), temporary_handler("iot-data", "UpdateThingShadow", shadow):
        jobs = boto_clients.iot.list_jobs(status="IN_PROGRESS", maxResults=7, thingGroupName="fleet")
        payload = boto_clients.iot_data.update_thing_shadow(thingName="t1", shadowName="cfg", payload=b'{"state":{}}')
    assert jobs["jobs"][0]["createdAt"] == stamp
    assert_valid_output(boto_clients.iot, "list_jobs", jobs)
    assert payload["payload"].read() == b'{"state":{"reported":{"v":1}},"version":3}'


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (InvalidRequestException("bad name"), "InvalidRequestException", 400),
        (TerminalStateException("execution is terminal"), "TerminalStateException", 410),
        (ServiceError("LimitExceededException", "too many", 410), "LimitExceededException", 410),
    ],
)
def test_handler_errors_reach_boto3_with_code_message_and_status(boto_clients, error, code, status) -> None:
    def fail(call: Call) -> dict[str, Any]:
        raise error

    with temporary_handler("iot", "DescribeJob", fail), pytest.raises(ClientError) as caught:
        boto_clients.iot.describe_job(jobId="j1")
    response = caught.value.response
    assert response["Error"]["Code"] == code
    assert response["Error"]["Message"] == error.message
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_error_fields_are_parsed_into_the_modeled_exception(boto_clients) -> None:
    def fail(call: Call) -> dict[str, Any]:
        raise ResourceAlreadyExistsException("exists", resourceId="id-9", resourceArn="arn:aws:iot:x")

    with temporary_handler("iot", "CreateThingType", fail), pytest.raises(
        boto_clients.iot.exceptions.ResourceAlreadyExistsException
    ) as caught:
        boto_clients.iot.create_thing_type(thingTypeName="sensor")
    assert caught.value.response["resourceId"] == "id-9"
    assert caught.value.response["resourceArn"] == "arn:aws:iot:x"


def test_call_moto_extends_moto_answer(boto_clients) -> None:
    boto_clients.iot.create_thing(thingName="pump-7", attributePayload={"attributes": {"model": "x1"}})

    def describe(call: Call) -> dict[str, Any]:
        answer = call.moto()
        answer["attributes"]["seen"] = "yes"
        return answer

    with temporary_handler("iot", "DescribeThing", describe):
        response = boto_clients.iot.describe_thing(thingName="pump-7")
        with pytest.raises(boto_clients.iot.exceptions.ResourceNotFoundException):
            boto_clients.iot.describe_thing(thingName="missing")
    assert response["attributes"] == {"model": "x1", "seen": "yes"}
    assert_valid_output(boto_clients.iot, "describe_thing", response)


def test_after_hooks_run_after_success_only(boto_clients) -> None:
    calls: list[tuple[str, str]] = []

    def hook(call: Call, params: dict[str, Any], response: dict[str, Any]) -> None:
        calls.append((params["thingName"], response["thingArn"]))

    with temporary_after_hook("iot", "CreateThing", hook):
        boto_clients.iot.create_thing(thingName="ok-1")
        with pytest.raises(ClientError):
            boto_clients.iot.create_thing(thingName="bad name")
    assert calls == [("ok-1", "arn:aws:iot:us-east-1:123456789012:thing/ok-1")]


def test_thing_events_follow_registry_and_shadow_calls(boto_clients, emulator) -> None:
    events: list[tuple[str, ...]] = []

    def changed(account_id: str, region: str, thing_name: str) -> None:
        events.append(("changed", thing_name))

    def deleted(account_id: str, region: str, thing_name: str) -> None:
        events.append(("deleted", thing_name))

    def membership(account_id: str, region: str, group_name: str, thing_name: str, added: bool) -> None:
        events.append(("member", group_name, thing_name, str(added)))

    bus = emulator.state.events
    for name, fn in ((THING_CHANGED, changed), (THING_DELETED, deleted), (GROUP_MEMBERSHIP_CHANGED, membership)):
        bus.subscribe(name, fn)
    try:
        iot, data = boto_clients.iot, boto_clients.iot_data
        iot.create_thing(thingName="t1")
        iot.create_thing_group(thingGroupName="g1")
        iot.add_thing_to_thing_group(thingGroupName="g1", thingName="t1")
        iot.update_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
        data.update_thing_shadow(thingName="t1", payload=b'{"state":{"reported":{"x":1}}}')
        iot.update_thing_groups_for_thing(thingName="t1", thingGroupsToRemove=["g1"])
        with emulator.state.lock:
            accessors.write_shadow("123456789012", "us-east-1", "t1", "$package", {"state": {"reported": {}}})
        iot.describe_thing(thingName="t1")
        iot.delete_thing(thingName="t1")
    finally:
        for name, fn in ((THING_CHANGED, changed), (THING_DELETED, deleted), (GROUP_MEMBERSHIP_CHANGED, membership)):
            bus.unsubscribe(name, fn)
    assert events == [
        ("changed", "t1"),
        ("member", "g1", "t1", "True"),
        ("changed", "t1"),
        ("changed", "t1"),
        ("changed", "t1"),
        ("member", "g1", "t1", "False"),
        ("changed", "t1"),
        ("changed", "t1"),
        ("changed", "t1"),
        ("deleted", "t1"),
    ]


def test_registering_twice_is_refused_and_names_are_checked() -> None:
    def first(call: Call) -> dict[str, Any]:
        return {}

    with temporary_handler("iot", "ListFleetMetrics", first):
        with pytest.raises(ValueError, match="already has a handler"):
            handles("iot", "ListFleetMetrics")(lambda call: {})
    with pytest.raises(ValueError, match="no operation"):
        handles("iot", "CreateThingz")
    with pytest.raises(ValueError, match="does not serve"):
        handles("kinesis", "PutRecord")

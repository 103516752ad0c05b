"""Where moto differed from AWS in operations iotfleet uses, and the emulator's fixes."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.testing import assert_valid_output


def _shadow(response) -> dict:
    return json.loads(response["payload"].read())


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = err.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_first_shadow_update_with_version_is_optimistic_locking(boto_clients) -> None:
    data = boto_clients.iot_data
    boto_clients.iot.create_thing(thingName="t1")
    with pytest.raises(ClientError) as conflict:
        data.update_thing_shadow(thingName="t1", payload=b'{"state":{"reported":{"a":1}},"version":5}')
    assert _code(conflict) == ("ConflictException", 409)
    created = _shadow(data.update_thing_shadow(thingName="t1", payload=b'{"state":{"reported":{"a":1}},"version":0}'))
    assert created["version"] == 1
    updated = _shadow(data.update_thing_shadow(thingName="t1", payload=b'{"state":{"desired":{"a":2}},"version":1}'))
    assert updated["version"] == 2
    with pytest.raises(ClientError) as stale:
        data.update_thing_shadow(thingName="t1", payload=b'{"state":{"desired":{"a":3}},"version":1}')
    assert _code(stale) == ("ConflictException", 409)
    with pytest.raises(ClientError) as invalid:
        data.update_thing_shadow(thingName="t1", payload=b'{"state":{"desired":{"a":3}},"version":"x"}')
    assert _code(invalid) == ("InvalidRequestException", 400)
    document = _shadow(data.get_thing_shadow(thingName="t1"))
    assert document["state"] == {"desired": {"a": 2}, "reported": {"a": 1}, "delta": {"a": 2}}
    assert document["version"] == 2


def test_shadow_bad_documents_and_deleted_shadows(boto_clients) -> None:
    data = boto_clients.iot_data
    boto_clients.iot.create_thing(thingName="t1")
    for payload, message in (
        (b"not json", "Invalid JSON"),
        (b'{"nostate":1}', "Missing required node: state"),
        (b'{"state":{"other":{}}}', "State contains an invalid node"),
        (b'{"state":{"reported":5}}', "Reported node must be an object"),
    ):
        with pytest.raises(ClientError) as caught:
            data.update_thing_shadow(thingName="t1", payload=payload)
        assert _code(caught) == ("InvalidRequestException", 400)
        assert caught.value.response["Error"]["Message"] == message
    data.update_thing_shadow(thingName="t1", shadowName="cfg", payload=b'{"state":{"reported":{"a":1}}}')
    data.delete_thing_shadow(thingName="t1", shadowName="cfg")
    with pytest.raises(ClientError) as again:
        data.delete_thing_shadow(thingName="t1", shadowName="cfg")
    assert _code(again) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError):
        data.get_thing_shadow(thingName="t1", shadowName="cfg")
    # A re-created shadow continues the version and starts from an empty document.
    recreated = _shadow(data.update_thing_shadow(thingName="t1", shadowName="cfg", payload=b'{"state":{"reported":{"b":2}}}'))
    assert recreated["version"] == 3
    assert _shadow(data.get_thing_shadow(thingName="t1", shadowName="cfg"))["state"] == {"reported": {"b": 2}}


def test_shadows_need_no_registry_entry(boto_clients) -> None:
    data = boto_clients.iot_data
    assert boto_clients.iot.list_things()["things"] == []
    classic = _shadow(data.update_thing_shadow(thingName="unregistered", payload=b'{"state":{"reported":{"a":1}}}'))
    assert classic["version"] == 1
    data.update_thing_shadow(thingName="unregistered", shadowName="cfg", payload=b'{"state":{"desired":{"b":2}}}')
    assert _shadow(data.get_thing_shadow(thingName="unregistered"))["state"] == {"reported": {"a": 1}}
    assert _shadow(data.get_thing_shadow(thingName="unregistered", shadowName="cfg"))["state"]["desired"] == {"b": 2}
    assert data.list_named_shadows_for_thing(thingName="unregistered")["results"] == ["cfg"]
    data.delete_thing_shadow(thingName="unregistered", shadowName="cfg")
    assert data.list_named_shadows_for_thing(thingName="unregistered")["results"] == []
    with pytest.raises(ClientError) as missing:
        data.get_thing_shadow(thingName="never-used")
    assert _code(missing) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as bad_name:
        data.get_thing_shadow(thingName="no spaces")
    assert _code(bad_name) == ("InvalidRequestException", 400)
    # A thing registered later under that name has the shadow already.
    boto_clients.iot.create_thing(thingName="unregistered")
    assert _shadow(data.get_thing_shadow(thingName="unregistered"))["version"] == 1
    assert boto_clients.iot.list_things()["things"][0]["thingName"] == "unregistered"


def test_delete_thing_keeps_its_shadows(boto_clients) -> None:
    iot, data = boto_clients.iot, boto_clients.iot_data
    iot.create_thing(thingName="t1")
    data.update_thing_shadow(thingName="t1", payload=b'{"state":{"reported":{"fw":"1.0"}}}')
    data.update_thing_shadow(thingName="t1", shadowName="$package", payload=b'{"state":{"reported":{"p":{"version":"1"}}}}')
    iot.delete_thing(thingName="t1")
    with pytest.raises(ClientError) as gone:
        iot.describe_thing(thingName="t1")
    assert _code(gone) == ("ResourceNotFoundException", 404)
    assert _shadow(data.get_thing_shadow(thingName="t1"))["state"] == {"reported": {"fw": "1.0"}}
    assert data.list_named_shadows_for_thing(thingName="t1")["results"] == ["$package"]
    # Created again, the thing finds its old shadows (they were never deleted).
    iot.create_thing(thingName="t1")
    updated = _shadow(data.update_thing_shadow(thingName="t1", payload=b'{"state":{"reported":{"fw":"2.0"}}}'))
    assert updated["version"] == 2


def test_list_named_shadows_for_thing(boto_clients) -> None:
    data = boto_clients.iot_data
    boto_clients.iot.create_thing(thingName="t1")
    data.update_thing_shadow(thingName="t1", payload=b'{"state":{"reported":{}}}')
    for name in ("b", "a", "$package", "c"):
        data.update_thing_shadow(thingName="t1", shadowName=name, payload=b'{"state":{"reported":{"x":1}}}')
    data.delete_thing_shadow(thingName="t1", shadowName="c")
    first = data.list_named_shadows_for_thing(thingName="t1", pageSize=2)
    assert_valid_output(data, "list_named_shadows_for_thing", first)
    assert first["results"] == ["$package", "a"]
    second = data.list_named_shadows_for_thing(thingName="t1", pageSize=2, nextToken=first["nextToken"])
    assert second["results"] == ["b"] and "nextToken" not in second
    assert isinstance(first["timestamp"], int)
    assert data.list_named_shadows_for_thing(thingName="nope")["results"] == []  # no registry entry needed
    with pytest.raises(ClientError) as bad_token:
        data.list_named_shadows_for_thing(thingName="t1", nextToken="garbage")
    assert _code(bad_token) == ("InvalidRequestException", 400)


def test_create_thing_is_idempotent_and_conflicts_on_different_settings(boto_clients) -> None:
    iot = boto_clients.iot
    first = iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    iot.create_thing_group(thingGroupName="g1")
    iot.add_thing_to_thing_group(thingGroupName="g1", thingName="t1")
    again = iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    assert again["thingId"] == first["thingId"]
    assert iot.list_things_in_thing_group(thingGroupName="g1")["things"] == ["t1"]
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException) as caught:
        iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "2"}})
    assert caught.value.response["resourceId"] == first["thingId"]


def test_update_thing_versions_and_expected_version(boto_clients) -> None:
    iot = boto_clients.iot
    iot.create_thing(thingName="t1")
    assert iot.describe_thing(thingName="t1")["version"] == 1
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}}, expectedVersion=1)
    described = iot.describe_thing(thingName="t1")
    assert described["version"] == 2 and described["attributes"] == {"a": "1"}
    with pytest.raises(ClientError) as stale:
        iot.update_thing(thingName="t1", attributePayload={"attributes": {"a": "2"}}, expectedVersion=1)
    assert _code(stale) == ("VersionConflictException", 409)
    with pytest.raises(ClientError) as stale_delete:
        iot.delete_thing(thingName="t1", expectedVersion=1)
    assert _code(stale_delete) == ("VersionConflictException", 409)
    assert iot.describe_thing(thingName="t1")["attributes"] == {"a": "1"}
    iot.delete_thing(thingName="t1", expectedVersion=2)


def test_deleted_thing_leaves_its_groups(boto_clients) -> None:
    iot = boto_clients.iot
    iot.create_thing_group(thingGroupName="g1")
    for name in ("t1", "t2"):
        iot.create_thing(thingName=name)
        iot.add_thing_to_thing_group(thingGroupName="g1", thingName=name)
    iot.delete_thing(thingName="t1")
    assert iot.list_things_in_thing_group(thingGroupName="g1")["things"] == ["t2"]


@pytest.mark.parametrize(
    ("call", "member"),
    [
        (lambda iot: iot.create_thing(thingName="has space"), "thingName"),
        (lambda iot: iot.create_thing_group(thingGroupName="x" * 129), "thingGroupName"),
        (lambda iot: iot.describe_thing(thingName="bad/slash"), "thingName"),
    ],
)
def test_invalid_names_are_rejected_with_aws_error(boto_clients, call, member) -> None:
    with pytest.raises(ClientError) as caught:
        call(boto_clients.iot)
    assert _code(caught) == ("InvalidRequestException", 400)
    assert f"at '{member}'" in caught.value.response["Error"]["Message"]
    assert boto_clients.iot.list_things()["things"] == []


def test_describe_endpoint_returns_the_emulator_address(boto_clients, emulator) -> None:
    host = emulator.endpoint_url.split("://", 1)[1]
    for endpoint_type in ("iot:Data-ATS", "iot:Data", "iot:CredentialProvider", "iot:Jobs"):
        response = boto_clients.iot.describe_endpoint(endpointType=endpoint_type)
        assert response["endpointAddress"] == host
        assert_valid_output(boto_clients.iot, "describe_endpoint", response)
    with pytest.raises(ClientError) as caught:
        boto_clients.iot.describe_endpoint(endpointType="iot:Nope")
    assert _code(caught) == ("InvalidRequestException", 400)


def test_tags_on_registry_resources(boto_clients) -> None:
    iot = boto_clients.iot
    group = iot.create_thing_group(thingGroupName="g1", tags=[{"Key": "team", "Value": "ops"}])
    thing_type = iot.create_thing_type(thingTypeName="sensor", tags=[{"Key": "k", "Value": "v"}])
    document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}'
    policy = iot.create_policy(policyName="p1", policyDocument=document)
    assert iot.list_tags_for_resource(resourceArn=group["thingGroupArn"])["tags"] == [{"Key": "team", "Value": "ops"}]
    assert iot.list_tags_for_resource(resourceArn=thing_type["thingTypeArn"])["tags"] == [{"Key": "k", "Value": "v"}]
    iot.tag_resource(resourceArn=policy["policyArn"], tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iot.untag_resource(resourceArn=policy["policyArn"], tagKeys=["a"])
    listed = iot.list_tags_for_resource(resourceArn=policy["policyArn"])
    assert listed["tags"] == [{"Key": "b", "Value": "2"}]
    assert_valid_output(iot, "list_tags_for_resource", listed)
    thing = iot.create_thing(thingName="t1")
    with pytest.raises(ClientError) as not_taggable:
        iot.tag_resource(resourceArn=thing["thingArn"], tags=[{"Key": "a", "Value": "1"}])
    assert _code(not_taggable) == ("InvalidRequestException", 400)
    with pytest.raises(ClientError) as missing:
        iot.list_tags_for_resource(resourceArn="arn:aws:iot:us-east-1:123456789012:thinggroup/nope")
    assert _code(missing) == ("ResourceNotFoundException", 404)
    iot.delete_thing_group(thingGroupName="g1")
    recreated = iot.create_thing_group(thingGroupName="g1")
    assert iot.list_tags_for_resource(resourceArn=recreated["thingGroupArn"])["tags"] == []


def test_group_listings_page_and_recurse(boto_clients) -> None:
    iot = boto_clients.iot
    iot.create_thing_group(thingGroupName="parent")
    iot.create_thing_group(thingGroupName="child", parentGroupName="parent")
    for index in range(5):
        iot.create_thing(thingName=f"p{index}")
        iot.add_thing_to_thing_group(thingGroupName="parent", thingName=f"p{index}")
    iot.create_thing(thingName="c0")
    iot.add_thing_to_thing_group(thingGroupName="child", thingName="c0")
    iot.add_thing_to_thing_group(thingGroupName="child", thingName="p0")
    first = iot.list_things_in_thing_group(thingGroupName="parent", maxResults=2)
    assert first["things"] == ["p0", "p1"] and first["nextToken"]
    assert_valid_output(iot, "list_things_in_thing_group", first)
    pages = iot.get_paginator("list_things_in_thing_group").paginate(
        thingGroupName="parent", recursive=True, PaginationConfig={"PageSize": 2}
    )
    assert [name for p in pages for name in p["things"]] == ["p0", "p1", "p2", "p3", "p4", "c0"]
    assert iot.list_things_in_thing_group(thingGroupName="child")["things"] == ["c0", "p0"]
    groups = iot.list_thing_groups_for_thing(thingName="p0", maxResults=1)
    assert len(groups["thingGroups"]) == 1 and "nextToken" in groups
    listed = iot.list_thing_groups(maxResults=1)
    assert len(listed["thingGroups"]) == 1
    second = iot.list_thing_groups(maxResults=1, nextToken=listed["nextToken"])
    assert {listed["thingGroups"][0]["groupName"], second["thingGroups"][0]["groupName"]} == {"parent", "child"}
    with pytest.raises(ClientError) as missing:
        iot.list_things_in_thing_group(thingGroupName="nope")
    assert _code(missing) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as too_many:
        iot.list_things_in_thing_group(thingGroupName="parent", maxResults=251)
    assert _code(too_many) == ("InvalidRequestException", 400)


def test_bad_input_that_crashed_moto_is_an_aws_error(boto_clients) -> None:
    iot = boto_clients.iot
    with pytest.raises(ClientError) as parent:
        iot.create_thing_group(thingGroupName="child", parentGroupName="missing")
    assert _code(parent) == ("ResourceNotFoundException", 404)
    for call in (lambda: iot.list_thing_types(nextToken="zzz"), lambda: iot.list_things(nextToken="zzz")):
        with pytest.raises(ClientError) as token:
            call()
        assert _code(token) == ("InvalidRequestException", 400)


def test_attribute_limits_follow_the_thing_type(boto_clients) -> None:
    iot = boto_clients.iot
    four = {f"a{index}": "v" for index in range(4)}
    with pytest.raises(ClientError) as untyped:
        iot.create_thing(thingName="plain", attributePayload={"attributes": four})
    assert _code(untyped) == ("InvalidRequestException", 400)
    iot.create_thing_type(thingTypeName="sensor")
    iot.create_thing(thingName="typed", thingTypeName="sensor", attributePayload={"attributes": four})
    with pytest.raises(ClientError) as removing_type:
        iot.update_thing(thingName="typed", removeThingType=True)
    assert _code(removing_type) == ("InvalidRequestException", 400)
    with pytest.raises(ClientError) as bad_value:
        iot.create_thing(thingName="odd", attributePayload={"attributes": {"a": "no spaces allowed"}})
    assert "at 'attributePayload.attributes.a.value'" in bad_value.value.response["Error"]["Message"]


def test_create_thing_type_returns_its_id_and_is_idempotent_for_the_same_properties(boto_clients) -> None:
    iot = boto_clients.iot
    properties = {"thingTypeDescription": "cars", "searchableAttributes": ["model", "country"]}
    created = iot.create_thing_type(thingTypeName="Sedan", thingTypeProperties=properties)
    assert_valid_output(iot, "create_thing_type", created)
    described = iot.describe_thing_type(thingTypeName="Sedan")
    assert created["thingTypeId"] == described["thingTypeId"]
    assert created["thingTypeArn"] == described["thingTypeArn"]
    iot.deprecate_thing_type(thingTypeName="Sedan")
    same = iot.create_thing_type(
        thingTypeName="Sedan",
        thingTypeProperties={"searchableAttributes": ["country", "model"], "thingTypeDescription": "cars"},
    )
    assert (same["thingTypeId"], same["thingTypeArn"]) == (created["thingTypeId"], created["thingTypeArn"])
    # The existing type is returned as it is, not replaced.
    assert iot.describe_thing_type(thingTypeName="Sedan")["thingTypeMetadata"]["deprecated"] is True
    for different in ({"thingTypeDescription": "cars", "searchableAttributes": ["model"]}, {}):
        with pytest.raises(iot.exceptions.ResourceAlreadyExistsException) as conflict:
            iot.create_thing_type(thingTypeName="Sedan", thingTypeProperties=different)
        assert _code(conflict) == ("ResourceAlreadyExistsException", 409)
        assert conflict.value.response["resourceId"] == created["thingTypeId"]
        assert conflict.value.response["resourceArn"] == created["thingTypeArn"]
    assert iot.describe_thing_type(thingTypeName="Sedan")["thingTypeProperties"]["searchableAttributes"] == [
        "model",
        "country",
    ]
    plain = iot.create_thing_type(thingTypeName="Plain")
    assert iot.create_thing_type(thingTypeName="Plain", thingTypeProperties={})["thingTypeId"] == plain["thingTypeId"]


@pytest.mark.emulator(time_scale=0.001)  # the five minutes are counted by advance() alone
def test_thing_types_are_deleted_five_minutes_after_deprecation(boto_clients, emulator) -> None:
    iot = boto_clients.iot
    iot.create_thing_type(thingTypeName="Sedan")
    with pytest.raises(ClientError) as not_deprecated:
        iot.delete_thing_type(thingTypeName="Sedan")
    assert _code(not_deprecated) == ("InvalidRequestException", 400)
    iot.deprecate_thing_type(thingTypeName="Sedan")
    metadata = iot.describe_thing_type(thingTypeName="Sedan")["thingTypeMetadata"]
    assert metadata["deprecated"] is True
    assert abs(metadata["deprecationDate"].timestamp() - emulator.clock.now()) < 5
    with pytest.raises(ClientError) as new_thing:
        iot.create_thing(thingName="car", thingTypeName="Sedan")
    assert _code(new_thing) == ("InvalidRequestException", 400)
    emulator.advance(299)
    with pytest.raises(ClientError) as too_early:
        iot.delete_thing_type(thingTypeName="Sedan")
    assert "deprecated" in too_early.value.response["Error"]["Message"]
    emulator.advance(2)
    iot.delete_thing_type(thingTypeName="Sedan")
    assert [t["thingTypeName"] for t in iot.list_thing_types()["thingTypes"]] == []


def test_a_thing_type_in_use_is_not_deleted_and_undo_restarts_the_wait(boto_clients, emulator) -> None:
    iot = boto_clients.iot
    iot.create_thing_type(thingTypeName="Truck")
    iot.create_thing(thingName="truck-1", thingTypeName="Truck")
    iot.deprecate_thing_type(thingTypeName="Truck")
    emulator.advance(301)
    with pytest.raises(ClientError) as in_use:
        iot.delete_thing_type(thingTypeName="Truck")
    assert "use" in in_use.value.response["Error"]["Message"]
    iot.delete_thing(thingName="truck-1")
    iot.deprecate_thing_type(thingTypeName="Truck", undoDeprecate=True)
    assert "deprecationDate" not in iot.describe_thing_type(thingTypeName="Truck")["thingTypeMetadata"]
    iot.deprecate_thing_type(thingTypeName="Truck")
    with pytest.raises(ClientError):
        iot.delete_thing_type(thingTypeName="Truck")
    emulator.advance(300)
    iot.delete_thing_type(thingTypeName="Truck")

"""The emulator's policies and thing principals over HTTP: document checks, versions, attachments, deletion."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from certificate_setup import CONNECT, document, error_of, registered_ca
from cryptography.hazmat.primitives import serialization

from iotfleet.emulator.identity.registry import identity_registry
from iotfleet.emulator.testing import assert_valid_output
from iotfleet.fleet.identity.certificates import load_certificate

MALFORMED = {
    "not JSON": "{'Version': '2012-10-17'",
    "not an object": json.dumps(["iot:Connect"]),
    "no Version": json.dumps({"Statement": [CONNECT]}),
    "unknown Version": json.dumps({"Version": "2020-01-01", "Statement": [CONNECT]}),
    "no Statement": json.dumps({"Version": "2012-10-17"}),
    "empty Statement": document(),
    "no Effect": document({"Action": "iot:Connect", "Resource": "*"}),
    "bad Effect": document({**CONNECT, "Effect": "Maybe"}),
    "no Action": document({"Effect": "Allow", "Resource": "*"}),
    "empty Action list": document({**CONNECT, "Action": []}),
    "not an IoT action": document({**CONNECT, "Action": "s3:GetObject"}),
    "no Resource": document({"Effect": "Allow", "Action": "iot:Connect"}),
    "Resource not a string": document({**CONNECT, "Resource": 7}),
    "unknown statement field": document({**CONNECT, "Principal": "*"}),
    "too long": document(*[{**CONNECT, "Sid": f"s{n}"} for n in range(30)]),
}


@pytest.mark.parametrize("problem", sorted(MALFORMED))
def test_malformed_policy_documents_are_refused(boto_clients, problem: str) -> None:
    iot = boto_clients.iot
    with pytest.raises(ClientError) as created:
        iot.create_policy(policyName="p", policyDocument=MALFORMED[problem])
    assert error_of(created) == ("MalformedPolicyException", 400)
    assert iot.list_policies()["policies"] == []
    iot.create_policy(policyName="p", policyDocument=document(CONNECT))
    with pytest.raises(ClientError) as versioned:
        iot.create_policy_version(policyName="p", policyDocument=MALFORMED[problem], setAsDefault=True)
    assert error_of(versioned) == ("MalformedPolicyException", 400)
    assert [v["versionId"] for v in iot.list_policy_versions(policyName="p")["policyVersions"]] == ["1"]


def test_valid_documents_in_every_accepted_form(boto_clients) -> None:
    iot = boto_clients.iot
    accepted = [
        json.dumps({"Version": "2012-10-17", "Statement": CONNECT}),  # one statement, not a list
        document({**CONNECT, "Action": ["iot:Publish", "iot:Receive"], "Resource": ["a", "b"], "Sid": "x",
                  "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}}),
        document({"Effect": "Deny", "NotAction": "iot:Connect", "NotResource": "*"}),
        json.dumps({"Version": "2008-10-17", "Statement": [{**CONNECT, "Action": "iot:*"}]}),
    ]  # fmt: skip
    for number, text in enumerate(accepted):
        iot.create_policy(policyName=f"p{number}", policyDocument=text)
    assert len(iot.list_policies()["policies"]) == len(accepted)


def test_policy_versions_and_deletion_rules(boto_clients) -> None:
    iot = boto_clients.iot
    created = iot.create_policy(policyName="device", policyDocument=document(CONNECT), tags=[{"Key": "k", "Value": "v"}])
    assert created["policyVersionId"] == "1"
    with pytest.raises(ClientError) as again:
        iot.create_policy(policyName="device", policyDocument=document(CONNECT))
    assert error_of(again) == ("ResourceAlreadyExistsException", 409)
    for number in range(2, 6):
        version = iot.create_policy_version(
            policyName="device", policyDocument=document({**CONNECT, "Sid": f"v{number}"}), setAsDefault=number == 3
        )
        assert version["policyVersionId"] == str(number)
    with pytest.raises(ClientError) as full:
        iot.create_policy_version(policyName="device", policyDocument=document(CONNECT))
    assert error_of(full) == ("VersionsLimitExceededException", 409)
    got = iot.get_policy(policyName="device")
    assert_valid_output(iot, "get_policy", got)
    assert got["defaultVersionId"] == "3" and json.loads(got["policyDocument"])["Statement"][0]["Sid"] == "v3"
    assert iot.get_policy_version(policyName="device", policyVersionId="3")["isDefaultVersion"] is True
    with pytest.raises(ClientError) as default:
        iot.delete_policy_version(policyName="device", policyVersionId="3")
    assert error_of(default) == ("DeleteConflictException", 409)
    with pytest.raises(ClientError) as versions_left:
        iot.delete_policy(policyName="device")
    assert error_of(versions_left) == ("DeleteConflictException", 409)
    iot.set_default_policy_version(policyName="device", policyVersionId="5")
    for version in ("1", "2", "3", "4"):
        iot.delete_policy_version(policyName="device", policyVersionId=version)
    listed = iot.list_policy_versions(policyName="device")
    assert_valid_output(iot, "list_policy_versions", listed)
    assert [(v["versionId"], v["isDefaultVersion"]) for v in listed["policyVersions"]] == [("5", True)]
    assert iot.list_tags_for_resource(resourceArn=created["policyArn"])["tags"] == [{"Key": "k", "Value": "v"}]
    iot.delete_policy(policyName="device")
    with pytest.raises(ClientError) as gone:
        iot.get_policy(policyName="device")
    assert error_of(gone) == ("ResourceNotFoundException", 404)


def test_attached_policies_and_targets(boto_clients) -> None:
    iot = boto_clients.iot
    ca = registered_ca(iot)
    arn = iot.register_certificate(certificatePem=ca.sign("t-1"), caCertificatePem=ca.pem)["certificateArn"]
    group = iot.create_thing_group(thingGroupName="parent")["thingGroupArn"]
    child = iot.create_thing_group(thingGroupName="child", parentGroupName="parent")["thingGroupArn"]
    for name in ("a", "b"):
        iot.create_policy(policyName=name, policyDocument=document(CONNECT))
    iot.attach_policy(policyName="a", target=arn)
    iot.attach_policy(policyName="a", target=arn)  # idempotent
    iot.attach_policy(policyName="b", target=group)
    iot.attach_policy(policyName="a", target=child)
    assert [p["policyName"] for p in iot.list_attached_policies(target=arn)["policies"]] == ["a"]
    assert [p["policyName"] for p in iot.list_attached_policies(target=child, recursive=True)["policies"]] == ["a", "b"]
    assert sorted(iot.list_targets_for_policy(policyName="a")["targets"]) == sorted([arn, child])
    with pytest.raises(ClientError) as attached:
        iot.delete_policy(policyName="a")
    assert error_of(attached) == ("DeleteConflictException", 409)
    with pytest.raises(ClientError) as missing:
        iot.attach_policy(policyName="a", target=arn.replace(arn[-6:], "000000"))
    assert error_of(missing) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as nonsense:
        iot.attach_policy(policyName="a", target="not-a-principal")
    assert error_of(nonsense) == ("InvalidRequestException", 400)
    for number in range(9):
        iot.create_policy(policyName=f"extra{number}", policyDocument=document(CONNECT))
        iot.attach_policy(policyName=f"extra{number}", target=arn)
    iot.create_policy(policyName="eleventh", policyDocument=document(CONNECT))
    with pytest.raises(ClientError) as limit:
        iot.attach_policy(policyName="eleventh", target=arn)
    assert error_of(limit) == ("LimitExceededException", 410)
    iot.detach_policy(policyName="a", target=arn)
    assert arn not in iot.list_targets_for_policy(policyName="a")["targets"]
    iot.delete_thing_group(thingGroupName="child")
    assert iot.list_targets_for_policy(policyName="a")["targets"] == []


def test_thing_principals_and_exclusive_attachment(boto_clients) -> None:
    iot = boto_clients.iot
    ca = registered_ca(iot)
    arn = iot.register_certificate(certificatePem=ca.sign("t-1"), caCertificatePem=ca.pem)["certificateArn"]
    shared = iot.register_certificate(certificatePem=ca.sign("t-2"), caCertificatePem=ca.pem)["certificateArn"]
    for thing in ("t-1", "t-2"):
        iot.create_thing(thingName=thing)
    iot.attach_thing_principal(thingName="t-1", principal=arn, thingPrincipalType="EXCLUSIVE_THING")
    with pytest.raises(ClientError) as exclusive:
        iot.attach_thing_principal(thingName="t-2", principal=arn)
    assert error_of(exclusive) == ("InvalidRequestException", 400)
    iot.attach_thing_principal(thingName="t-1", principal=shared)
    iot.attach_thing_principal(thingName="t-2", principal=shared)
    assert iot.list_thing_principals(thingName="t-1")["principals"] == [arn, shared]
    v2 = iot.list_thing_principals_v2(thingName="t-1")
    assert_valid_output(iot, "list_thing_principals_v2", v2)
    assert [(o["principal"], o["thingPrincipalType"]) for o in v2["thingPrincipalObjects"]] == [
        (arn, "EXCLUSIVE_THING"), (shared, "NON_EXCLUSIVE_THING"),
    ]  # fmt: skip
    assert sorted(iot.list_principal_things(principal=shared)["things"]) == ["t-1", "t-2"]
    assert iot.list_thing_principals(thingName="t-1", maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as attached:
        iot.delete_thing(thingName="t-1")
    assert error_of(attached) == ("InvalidRequestException", 400)
    for principal in (arn, shared):
        iot.detach_thing_principal(thingName="t-1", principal=principal)
    iot.delete_thing(thingName="t-1")
    with pytest.raises(ClientError) as no_thing:
        iot.list_thing_principals(thingName="t-1")
    assert error_of(no_thing) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as no_certificate:
        iot.attach_thing_principal(thingName="t-2", principal=arn.replace(arn[-6:], "000000"))
    assert error_of(no_certificate) == ("ResourceNotFoundException", 404)


def test_the_registry_answers_a_brokers_lookups_in_one_read(emulator, boto_clients) -> None:
    iot = boto_clients.iot
    ca = registered_ca(iot)
    pem = ca.sign("t-1")
    arn = iot.register_certificate(certificatePem=pem, caCertificatePem=ca.pem, status="ACTIVE")["certificateArn"]
    iot.create_thing(thingName="t-1")
    iot.create_policy(policyName="device", policyDocument=document(CONNECT))
    iot.attach_policy(policyName="device", target=arn)
    iot.attach_thing_principal(thingName="t-1", principal=arn)
    registry = identity_registry(emulator.state, "123456789012", "us-east-1")
    der = load_certificate(pem).public_bytes(serialization.Encoding.DER)
    found = registry.certificate_by_der(der)
    assert found is not None and found is registry.certificate_by_pem(pem) is registry.certificate_by_arn(arn)
    assert found.status == "ACTIVE"
    owner = registry.ca_of(found)
    assert owner is not None and (owner.certificate_id, owner.status) == (ca.certificate_id, "ACTIVE")
    assert [json.loads(p.document) for p in registry.policies_of(arn)] == [json.loads(document(CONNECT))]
    assert registry.things_of(arn) == ["t-1"]
    assert registry.principals_of("t-1") == [(arn, "NON_EXCLUSIVE_THING")]

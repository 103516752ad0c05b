"""The quota table paces no operation above AWS's documented default, and the emulator enforces the same table."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from iotfleet.aws.quotas import DEFAULT_QUOTAS, THING_TPS, THING_TYPE_TPS

# AWS IoT Core's default rate quotas ("<Operation> API TPS" in Service Quotas). Where two listings
# disagree (ListThingPrincipals: 20 and 10), the lower one.
DOCUMENTED_DEFAULTS = {
    "iot:CreateThing": 100.0,
    "iot:UpdateThing": 100.0,
    "iot:DeleteThing": 100.0,
    "iot:DescribeThing": 350.0,
    "iot:ListThings": 10.0,
    "iot:AddThingToThingGroup": 100.0,
    "iot:RemoveThingFromThingGroup": 100.0,
    "iot:ListThingGroupsForThing": 100.0,
    "iot:ListThingPrincipals": 10.0,
    "iot:AttachThingPrincipal": 100.0,
    "iot:DetachThingPrincipal": 100.0,
    "iot:CreateThingType": 15.0,
    "iot:DescribeThingType": 100.0,
    "iot:DeprecateThingType": 15.0,
    "iot:DeleteThingType": 15.0,
    "iot:ListThingTypes": 10.0,
    "iot:CreateThingGroup": 25.0,
    "iot:UpdateThingGroup": 15.0,
    "iot:DeleteThingGroup": 15.0,
    "iot:DescribeThingGroup": 100.0,
    "iot:ListThingGroups": 10.0,
    "iot:ListThingsInThingGroup": 25.0,
    "iot:CreateDynamicThingGroup": 5.0,
    "iot:UpdateDynamicThingGroup": 5.0,
    "iot:DeleteDynamicThingGroup": 5.0,
    "iot:TagResource": 10.0,
    "iot:UntagResource": 10.0,
    "iot:ListTagsForResource": 10.0,
    "iot:GetCardinality": 15.0,
    "iot:GetIndexingConfiguration": 20.0,
}


@pytest.mark.parametrize("key", sorted(DOCUMENTED_DEFAULTS))
def test_no_operation_is_paced_above_its_documented_default(key: str) -> None:
    assert DEFAULT_QUOTAS[key] <= DOCUMENTED_DEFAULTS[key]


def test_reads_far_below_their_default_use_it_and_the_product_rates_stay_where_they_fit() -> None:
    for key in ("iot:DescribeThing", "iot:DescribeThingType", "iot:GetCardinality", "iot:GetIndexingConfiguration",
                "iot:UpdateThingGroup", "iot:DeleteThingGroup", "iot:ListThingPrincipals"):  # fmt: skip
        assert DEFAULT_QUOTAS[key] == DOCUMENTED_DEFAULTS[key], key
    assert DEFAULT_QUOTAS["iot:CreateThing"] == THING_TPS
    assert DEFAULT_QUOTAS["iot:CreateThingType"] == THING_TYPE_TPS


def _burst(call, count: int) -> list[str]:
    outcomes = []
    for _ in range(count):
        try:
            call()
            outcomes.append("ok")
        except ClientError as err:
            outcomes.append(err.response["Error"]["Code"])
    return outcomes


@pytest.mark.emulator(enforce_quotas=True, quota_scale=0.1)
def test_the_emulator_enforces_the_corrected_table(boto_clients) -> None:
    iot = boto_clients.iot
    iot.create_thing(thingName="t1")
    # A tenth of each default: ListThingPrincipals 1 TPS, DescribeThing 35, DescribeThingType 10. Each
    # bucket starts with one second's worth, so a quick burst of 5 fits the last two and not the first.
    principals = _burst(lambda: iot.list_thing_principals(thingName="t1"), 5)
    assert principals[0] == "ok" and "ThrottlingException" in principals
    assert _burst(lambda: iot.describe_thing(thingName="t1"), 5) == ["ok"] * 5
    iot_types = _burst(lambda: iot.describe_thing_type(thingTypeName="none"), 5)
    assert set(iot_types) == {"ResourceNotFoundException"}  # answered, not throttled
    # The group writes (15 TPS) and the two indexing reads (15 and 20 TPS) at a tenth: 1.5 and 2 a second.
    iot.create_thing_group(thingGroupName="g1")
    writes = _burst(lambda: iot.update_thing_group(thingGroupName="g1", thingGroupProperties={}), 5)
    assert writes[0] == "ok" and "ThrottlingException" in writes
    for call in (lambda: iot.delete_thing_group(thingGroupName="none"), lambda: iot.get_cardinality(queryString="t*")):
        outcomes = _burst(call, 5)
        assert outcomes[0] != "ThrottlingException" and "ThrottlingException" in outcomes
    configuration = _burst(iot.get_indexing_configuration, 5)
    assert configuration[0] == "ok" and "ThrottlingException" in configuration

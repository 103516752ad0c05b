"""What the emulator relies on inside moto. A moto upgrade that breaks a patch fails here first."""

from __future__ import annotations

from iotfleet.emulator import moto_patches
from iotfleet.emulator.routing import service_model


def test_moto_internals_are_as_the_patches_expect() -> None:
    assert moto_patches.moto_contract_problems() == []


def test_moto_answers_the_registry_operations_iotfleet_uses() -> None:
    gateway = moto_patches.MotoGateway()
    used = {
        "iot": ["CreateThing", "DescribeThing", "UpdateThing", "DeleteThing", "ListThings", "CreateThingType",
                "DescribeThingType", "DeprecateThingType", "DeleteThingType", "ListThingTypes", "CreateThingGroup",
                "DescribeThingGroup", "UpdateThingGroup", "DeleteThingGroup", "ListThingGroups",
                "AddThingToThingGroup", "RemoveThingFromThingGroup", "ListThingsInThingGroup",
                "ListThingGroupsForThing", "UpdateThingGroupsForThing", "CreatePolicy", "DeletePolicy"],
        "iot-data": ["GetThingShadow", "UpdateThingShadow", "DeleteThingShadow"],
    }  # fmt: skip
    for service, operations in used.items():
        model = service_model(service)
        for operation in operations:
            assert operation in model.operation_names, operation
            assert gateway.implements(service, operation), f"moto no longer implements {service}:{operation}"
    assert not gateway.implements("iot", "CreateDynamicThingGroup")
    assert not gateway.implements("iot-jobs-data", "GetPendingJobExecutions")

"""What the emulator relies on inside moto. A moto upgrade that breaks a patch fails here first."""

from __future__ import annotations

import ast
from pathlib import Path

from iotfleet.emulator.moto_patches import contract
from iotfleet.emulator.moto_patches.gateway import MotoGateway
from iotfleet.emulator.routing import service_model

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "iotfleet"
MOTO_PATCHES = PACKAGE_ROOT / "emulator" / "moto_patches"


def test_moto_internals_are_as_the_patches_expect() -> None:
    assert contract.moto_contract_problems() == []


def test_every_moto_function_a_patch_relies_on_has_its_expected_parameters() -> None:
    assert set(contract.ORIGINALS) == set(contract.EXPECTED_PARAMETERS)


def test_only_the_moto_patches_package_imports_moto() -> None:
    importers = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if MOTO_PATCHES in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(name == "moto" or name.startswith("moto.") for name in names):
                importers.append(str(path.relative_to(PACKAGE_ROOT.parent)))
    assert importers == []


def test_moto_answers_the_registry_operations_iotfleet_uses() -> None:
    gateway = MotoGateway()
    used = {
        "iot": ["CreateThing", "DescribeThing", "UpdateThing", "DeleteThing", "ListThings", "CreateThingType",
                "DescribeThingType", "DeprecateThingType", "DeleteThingType", "ListThingTypes", "CreateThingGroup",
                "DescribeThingGroup", "UpdateThingGroup", "DeleteThingGroup", "ListThingGroups",
                "AddThingToThingGroup", "RemoveThingFromThingGroup", "ListThingsInThingGroup",
                "ListThingGroupsForThing", "UpdateThingGroupsForThing"],
        "iot-data": ["GetThingShadow", "UpdateThingShadow", "DeleteThingShadow"],
    }  # fmt: skip
    for service, operations in used.items():
        model = service_model(service)
        for operation in operations:
            assert operation in model.operation_names, operation
            assert gateway.implements(service, operation), f"moto no longer implements {service}:{operation}"
    assert not gateway.implements("iot", "CreateDynamicThingGroup")
    assert not gateway.implements("iot-jobs-data", "GetPendingJobExecutions")


def test_a_moto_answer_carries_a_fresh_request_id_of_motos_shape(boto_clients) -> None:
    ids = [boto_clients.iot.create_thing(thingName=f"rid-{i}")["ResponseMetadata"]["RequestId"] for i in range(3)]
    assert len(set(ids)) == 3
    assert all(len(i) == 52 and i.isalnum() and i == i.upper() for i in ids)

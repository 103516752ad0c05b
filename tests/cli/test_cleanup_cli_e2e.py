"""End to end on the emulator: a provisioned fleet with jobs, packages and a dynamic group, next to a "foreign"
fleet made with plain boto3; the dry run only reads, the cleanup removes exactly the fleet (shadows and named
shadows included) and puts fleet indexing back, and a second cleanup finds nothing left."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))  # the shared set-ups

from cleanup_setup import aws_context, mutating_calls, report

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.pytest_plugin import BotoClients
from iotfleet.fleet import groups, resources
from iotfleet.fleet.jobs.create import JobSpec, create_job
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.provision.inventory import devices
from iotfleet.fleet.spec import FleetSpec

# The CLI waits on the real clock; AWS's 5-minute thing-type wait passes in half a second at this scale.
pytestmark = pytest.mark.emulator(time_scale=600)

FLEET = "demo"
Run = Callable[..., Any]
FOREIGN_THINGS = ("Vehicle-VIN-1001", "Vehicle-VIN-1002", "Vehicle-VIN-1003")
FOREIGN_GROUPS = {"Europe_Fleet": None, "DE_Fleet": "Europe_Fleet"}
FOREIGN_BUCKETS = ("iotfleet-demo-firmware-copy", "firmware-archive")
FOREIGN_ROLES = ("iotfleet-demo-jobs-presign-v0", "demo-package-config")


@pytest.fixture
def iotfleet(invoke: Run, emulator: LocalEmulator) -> Run:
    def run(*args: str) -> Any:
        return invoke("--target", "local", "--endpoint-url", emulator.endpoint_url, *args)

    return run


def make_foreign_fleet(boto: BotoClients) -> None:
    """A fleet iotfleet did not create: same name prefix, country-style groups elsewhere, no tags anywhere."""
    for name in FOREIGN_THINGS:
        boto.iot.create_thing(thingName=name, attributePayload={"attributes": {"country": "DE"}})
        boto.iot_data.update_thing_shadow(
            thingName=name, payload=b'{"state":{"reported":{"batteryStatus":9}}}'
        )
        boto.iot_data.update_thing_shadow(
            thingName=name, shadowName="$package", payload=b'{"state":{"reported":{"fw":{"version":"9"}}}}'
        )
    for group, parent in FOREIGN_GROUPS.items():
        boto.iot.create_thing_group(thingGroupName=group, **({"parentGroupName": parent} if parent else {}))
    boto.iot.add_thing_to_thing_group(thingGroupName="DE_Fleet", thingName=FOREIGN_THINGS[0])
    for bucket in FOREIGN_BUCKETS:
        boto.s3.create_bucket(Bucket=bucket)
        boto.s3.put_object(Bucket=bucket, Key="fw.bin", Body=b"foreign")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    for role in FOREIGN_ROLES:
        boto.iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)


def foreign_fleet_is_intact(boto: BotoClients) -> None:
    for name in FOREIGN_THINGS:
        assert boto.iot.describe_thing(thingName=name)["thingName"] == name
        assert boto.iot_data.get_thing_shadow(thingName=name)["payload"].read()
        assert boto.iot_data.list_named_shadows_for_thing(thingName=name)["results"] == ["$package"]
    for group, parent in FOREIGN_GROUPS.items():
        described = boto.iot.describe_thing_group(thingGroupName=group)
        assert described["thingGroupMetadata"].get("parentGroupName") == parent
    assert boto.iot.list_things_in_thing_group(thingGroupName="DE_Fleet")["things"] == [FOREIGN_THINGS[0]]
    for bucket in FOREIGN_BUCKETS:
        assert boto.s3.get_object(Bucket=bucket, Key="fw.bin")["Body"].read() == b"foreign"
    for role in FOREIGN_ROLES:
        assert boto.iam.get_role(RoleName=role)["Role"]["RoleName"] == role


def gone(call: Any, **request: Any) -> bool:
    try:
        call(**request)
    except ClientError as err:
        return err.response["Error"]["Code"] in (
            "ResourceNotFoundException",
            "NoSuchEntity",
            "404",
            "NoSuchBucket",
        )
    return False


def test_cleanup_removes_exactly_the_fleet_and_puts_indexing_back(
    emulator: LocalEmulator, iotfleet: Run, boto_clients: BotoClients
) -> None:
    emulator = emulator
    with aws_context(emulator) as ctx:
        indexing_before = ctx.iot.get_indexing_configuration()["thingIndexingConfiguration"]
        spec = FleetSpec(fleet=FLEET, devices=12, countries=("US", "CA"), firmware_size=4096).validated()
        assert provision(ctx, spec).ok
        things = [device.name for device in devices(spec)]
        report(ctx, things[0], "diagnostics", {"uptime": 1})
        create_job(
            ctx, JobSpec(fleet=FLEET, package="SedanVehicle", version="1.1.0", groups=("US_Fleet",))
        )
        groups.create_dynamic_group(ctx, "demo-low-battery", "shadow.reported.batteryStatus<30", fleet=FLEET)
        found = resources.discover(ctx, FLEET)
        assert found.bucket and found.thing_types and found.packages and found.dynamic_groups
    make_foreign_fleet(boto_clients)

    emulator.reset_counters()
    dry = iotfleet("--output", "json", "cleanup", "--fleet", FLEET, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    plan = json.loads(dry.stdout)["plan"]
    assert mutating_calls(emulator) == {}
    assert (
        plan["counts"]["thing"] == 12 and plan["counts"]["job"] == 1 and plan["counts"]["dynamic group"] == 1
    )
    skipped = {(s["kind"], s["name"]) for s in plan["skipped"]}
    assert {("thing", name) for name in FOREIGN_THINGS} <= skipped
    assert {("static group", "DE_Fleet"), ("static group", "Europe_Fleet")} <= skipped
    assert ("bucket", "iotfleet-demo-firmware-copy") in skipped
    assert ("role", "iotfleet-demo-jobs-presign-v0") in skipped

    ran = iotfleet("--output", "json", "cleanup", "--fleet", FLEET, "--yes")
    assert ran.exit_code == 0, ran.stderr
    assert json.loads(ran.stdout)["result"]["ok"] is True

    with aws_context(emulator) as ctx:
        left = resources.discover(ctx, FLEET)
        assert left.as_dict() == resources.FleetResources(FLEET).as_dict()
        assert list(resources.fleet_things(ctx, FLEET)) == []
        for thing in things:
            assert gone(ctx.iot.describe_thing, thingName=thing)
            assert gone(ctx.iot_data.get_thing_shadow, thingName=thing)
            assert gone(ctx.iot_data.get_thing_shadow, thingName=thing, shadowName="$package")
        assert gone(ctx.iot_data.get_thing_shadow, thingName=things[0], shadowName="diagnostics")
        for name in ("US_Fleet", "CA_Fleet", "NorthAmerica_Fleet", "demo-low-battery"):
            assert gone(ctx.iot.describe_thing_group, thingGroupName=name)
        for name in spec.thing_types:
            assert gone(ctx.iot.describe_thing_type, thingTypeName=name)
            assert gone(ctx.iot.get_package, packageName=name)
        assert [j for j in ctx.iot.list_jobs()["jobs"] if j["status"] != "DELETION_IN_PROGRESS"] == []
        assert ctx.iot.get_indexing_configuration()["thingIndexingConfiguration"] == indexing_before
    foreign_fleet_is_intact(boto_clients)

    again = iotfleet("cleanup", "--fleet", FLEET, "--yes")
    assert again.exit_code == 0, again.stderr
    assert "Nothing left to delete for fleet 'demo'." in again.stdout
    foreign_fleet_is_intact(boto_clients)

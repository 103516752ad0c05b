"""Without --fleet, commands act for the account's only iotfleet fleet; with several they stop, naming them.

On the emulator: a provisioned fleet named ``bars`` (not the default name), then fleets found only by their
buckets' ownership tags, which is how the account's fleets are found.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from iotfleet.aws.context import AwsContext
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.ownership import tag_list
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.resources import discover
from iotfleet.fleet.spec import FleetSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from packages_setup import aws_context, mutating_calls

Run = Callable[..., object]


@pytest.fixture
def iotfleet(invoke, emulator: LocalEmulator) -> Run:  # type: ignore[no-untyped-def]
    def run(*args: str, env: dict[str, str] | None = None) -> object:
        return invoke("--target", "local", "--endpoint-url", emulator.endpoint_url, "--output", "json", *args, env=env)

    return run


def tagged_bucket(ctx: AwsContext, fleet: str) -> None:
    """A bucket carrying ``fleet``'s ownership tag: enough for the account to hold that fleet."""
    name = f"iotfleet-{fleet}-bucket"
    ctx.s3.create_bucket(Bucket=name)
    ctx.s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(fleet)})


def firmware(tmp_path: Path) -> str:
    path = tmp_path / "bar-1.2.0.bin"
    path.write_bytes(b"bar firmware " * 300)
    return str(path)


def test_the_only_fleet_is_used_when_none_is_named(iotfleet: Run, emulator: LocalEmulator, tmp_path: Path) -> None:
    with aws_context(emulator) as ctx:
        spec = FleetSpec(fleet="bars", devices=2, thing_types=("Bar",), countries=("US",), firmware_size=1024)
        provision(ctx, spec.validated()).raise_for_failures()
        owned = discover(ctx, "bars", kinds={"bucket", "roles"})

        ran = iotfleet("packages", "create-version", "Bar", "1.2.0", "--file", firmware(tmp_path), "--publish")
        assert ran.exit_code == 0, ran.stderr  # type: ignore[attr-defined]
        assert json.loads(ran.stdout)["s3"]["bucket"] == owned.bucket  # type: ignore[attr-defined]
        assert "Using fleet 'bars', the only iotfleet fleet" in ran.stderr  # type: ignore[attr-defined]

        job = iotfleet("jobs", "create", "--package", "Bar", "--version", "1.2.0", "--thing", "Vehicle-VIN-1",
                       "--dry-run")  # fmt: skip
        assert job.exit_code == 0, job.stderr  # type: ignore[attr-defined]
        request = json.loads(job.stdout)  # type: ignore[attr-defined]
        assert request["presignedUrlConfig"]["roleArn"] == owned.jobs_role_arn
        assert {"Key": "iotfleet:fleet", "Value": "bars"} in request["tags"]

        group = iotfleet("--yes", "groups", "create", "Charged", "--battery", ">=0", "--thing-type", "Bar")
        assert group.exit_code == 0, group.stderr  # type: ignore[attr-defined]
        assert "attributes.iotfleet_fleet:bars" in json.loads(group.stdout)["query"]  # type: ignore[attr-defined]

        # provision names the fleet it creates: without --fleet that is still "default", not the one found.
        plan = iotfleet("provision", "--devices", "1", "--dry-run")
        assert plan.exit_code == 0, plan.stderr  # type: ignore[attr-defined]
        assert json.loads(plan.stdout)["plan"]["fleet"] == "default"  # type: ignore[attr-defined]


def test_several_fleets_need_a_name_and_nothing_changes_without_one(
    iotfleet: Run, emulator: LocalEmulator, tmp_path: Path
) -> None:
    with aws_context(emulator) as ctx:
        tagged_bucket(ctx, "bars")
        tagged_bucket(ctx, "field")
    emulator.reset_counters()
    for command in (
        ["packages", "create-version", "Bar", "1.2.0", "--file", firmware(tmp_path)],
        ["packages", "create", "Bar"],
        ["jobs", "create", "--package", "Bar", "--version", "1.2.0", "--thing", "Vehicle-VIN-1"],
        ["--yes", "groups", "create", "Charged", "--battery", ">=0"],
    ):
        ran = iotfleet(*command)
        assert ran.exit_code == 2, (command, ran.stderr)  # type: ignore[attr-defined]
        assert "2 iotfleet fleets (bars, field)" in ran.stderr and "--fleet" in ran.stderr  # type: ignore[attr-defined]
    assert mutating_calls(emulator) == {}

    # Named by flag or by IOTFLEET_FLEET, the fleet is used as given, without a look-up.
    emulator.reset_counters()
    named = iotfleet("packages", "create", "Bar", env={"IOTFLEET_FLEET": "field"})
    assert named.exit_code == 0, named.stderr  # type: ignore[attr-defined]
    assert "s3:ListBuckets" not in emulator.counters()
    with aws_context(emulator) as ctx:
        arn = json.loads(named.stdout)["arn"]  # type: ignore[attr-defined]
        tags = ctx.iot.list_tags_for_resource(resourceArn=arn)["tags"]
    assert {"Key": "iotfleet:fleet", "Value": "field"} in tags


def test_with_no_fleet_in_the_account_the_default_name_is_reported_as_missing(
    iotfleet: Run, tmp_path: Path
) -> None:
    ran = iotfleet("packages", "create-version", "Bar", "1.2.0", "--file", firmware(tmp_path))
    assert ran.exit_code == 2  # type: ignore[attr-defined]
    assert "fleet 'default' has no firmware bucket" in ran.stderr  # type: ignore[attr-defined]

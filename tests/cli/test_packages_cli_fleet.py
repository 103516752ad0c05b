"""Packages and jobs on a provisioned fleet, end to end on the emulator: a new version from a file, an OTA job with
the fleet's role, simulated devices that download and verify it, and a rollback they carry out."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iotfleet.aws.context import AwsContext
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.packages.reported import distribution
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.resources import discover
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import run_simulation
from iotfleet.fleet.spec import FleetSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from packages_setup import aws_context, mutating_calls

FLEET = "ota"
PACKAGE = "Sensor"
Run = Callable[..., object]


@pytest.fixture
def fleet(emulator: LocalEmulator) -> Iterator[AwsContext]:
    """Six sensors in two country groups, running Sensor 1.1.0 (1.0.0 and 1.1.0 published)."""
    with aws_context(emulator) as ctx:
        spec = FleetSpec(fleet=FLEET, devices=6, thing_types=(PACKAGE,), versions=("1.0.0", "1.1.0"),
                         countries=("US", "CA"), firmware_size=4096)  # fmt: skip
        provision(ctx, spec)
        emulator.reset_counters()
        yield ctx


@pytest.fixture
def iotfleet(invoke, emulator: LocalEmulator) -> Run:  # type: ignore[no-untyped-def]
    def run(*args: str) -> object:
        return invoke("--target", "local", "--endpoint-url", emulator.endpoint_url, "--output", "json", *args)

    return run


def output(ran: object) -> dict:  # type: ignore[type-arg]
    assert ran.exit_code == 0, ran.stderr  # type: ignore[attr-defined]
    return json.loads(ran.stdout)  # type: ignore[attr-defined,no-any-return]


def simulate(ctx: AwsContext, job_id: str) -> dict[str, int]:
    return run_simulation(ctx, plan_simulation(ctx, job_id=job_id), BehaviourModel(success_rate=100, seed=1)).outcome_counts()


def test_new_version_ota_and_rollback_on_a_provisioned_fleet(
    fleet: AwsContext, iotfleet: Run, emulator: LocalEmulator, tmp_path: Path
) -> None:
    resources = discover(fleet, FLEET)
    firmware = tmp_path / "sensor-1.2.0.bin"
    firmware.write_bytes(b"sensor firmware 1.2.0 " * 400)

    created = output(iotfleet("packages", "create-version", PACKAGE, "1.2.0", "--file", str(firmware), "--publish",
                              "--fleet", FLEET))  # fmt: skip
    assert created["s3"]["bucket"] == resources.bucket and created["status"] == "PUBLISHED"

    groups = [arg for group in resources.country_groups for arg in ("--group", group)]
    job = output(iotfleet("jobs", "create", "--package", PACKAGE, "--version", "1.2.0", *groups,
                          "--max-per-minute", "100", "--fleet", FLEET))  # fmt: skip
    assert job["request"]["presignedUrlConfig"]["roleArn"] == resources.jobs_role_arn
    assert simulate(fleet, job["jobId"]).get("succeeded") == 6
    assert distribution(fleet, PACKAGE).counts["1.2.0"] == 6

    emulator.reset_counters()
    rollback = output(iotfleet("packages", "rollback", PACKAGE, "--to", "1.1.0", "--fleet", FLEET))
    assert (rollback["method"], rollback["devices"]) == ("things", 6)
    assert not [op for op in mutating_calls(emulator) if op.startswith("iot-data:")]
    assert simulate(fleet, rollback["jobId"]).get("succeeded") == 6
    assert distribution(fleet, PACKAGE).counts == {"1.0.0": 0, "1.1.0": 6, "1.2.0": 0}


def test_config_enable_uses_the_fleet_role_and_keeps_the_first_record(fleet: AwsContext, iotfleet: Run) -> None:
    resources = discover(fleet, FLEET, kinds={"roles"})
    output(iotfleet("packages", "config", "disable"))
    enabled = output(iotfleet("packages", "config", "enable", "--fleet", FLEET))
    assert enabled["current"] == {"enabled": True, "roleArn": resources.package_role_arn}
    assert enabled["recorded"] is False  # provisioning recorded the account's original setting already

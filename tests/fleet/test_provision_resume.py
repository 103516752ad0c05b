"""Resuming: a provisioning process killed midway is completed by running it again, and per-thing failures are
retried, then reported by name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from provision_setup import assert_inventory, fleet_context, fleet_thing_summaries

from iotfleet.aws.errors import OperationFailed
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.provision.model import CREATE, MEMBERSHIP, PRESENT, SHADOW, THING
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.spec import FleetSpec

DEVICES = 400
KILL_AFTER = 120  # CreateThing calls seen by the emulator


def _child_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IOTFLEET_"))}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _create_thing_calls(emulator: LocalEmulator) -> int:
    return emulator.counters().get("iot:CreateThing", {}).get("calls", 0)


def test_a_killed_run_is_completed_by_running_the_same_command_again(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    command = [
        sys.executable, "-c", "from iotfleet.cli.main import main; main()",
        "--target", "local", "--endpoint-url", emulator.endpoint_url, "--yes",
        "--quota", "iot:CreateThing=60",  # slow enough to be caught midway
        "provision", "--fleet", "demo", "--devices", str(DEVICES),
    ]  # fmt: skip
    child = subprocess.Popen(
        command, env=_child_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while _create_thing_calls(emulator) < KILL_AFTER:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never got to its things"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    spec = FleetSpec(fleet="demo", devices=DEVICES)
    with fleet_context(emulator) as ctx:
        created_before = len(fleet_thing_summaries(ctx, "demo"))
        assert KILL_AFTER <= created_before < DEVICES
        plan = plan_provision(ctx, spec)
        assert plan.counts[THING][CREATE] == DEVICES - created_before
        assert plan.counts[THING][PRESENT] == created_before
        result = provision(ctx, spec)
        assert result.ok, result.failures
        assert_inventory(ctx, spec)
        assert not plan_provision(ctx, spec).changes


@pytest.mark.emulator(fault_rate=1.0, fault_operations=["iot:AddThingToThingGroup"])
def test_a_thing_that_keeps_failing_is_reported_by_name_and_a_rerun_finishes_it(
    emulator: LocalEmulator,
) -> None:
    spec = FleetSpec(fleet="demo", devices=4)
    with fleet_context(emulator) as ctx:
        result = provision(ctx, spec)
        assert not result.ok
        assert sorted((f.kind, f.name) for f in result.failures) == [
            (MEMBERSHIP, f"Vehicle-VIN-{n}") for n in range(1, 5)
        ]
        injected = {"InternalFailureException", "ServiceUnavailableException", "ThrottlingException"}
        assert {f.code for f in result.failures} <= injected
        assert result.counts[THING].created == 4 and result.counts[MEMBERSHIP].failed == 4
        # The shadows of those things were never tried: counted as skipped, not lost from the summary.
        assert result.counts[SHADOW].skipped == 8 and result.counts[SHADOW].created == 0
        # Every attempt reached the emulator: the access layer retried each thing before giving up.
        assert emulator.counters()["iot:AddThingToThingGroup"]["calls"] > 4
        with pytest.raises(OperationFailed) as failed:
            result.raise_for_failures()
        assert failed.value.exit_code == 1

        emulator.set_faults(0.0)
        assert provision(ctx, spec).ok
        assert_inventory(ctx, spec)

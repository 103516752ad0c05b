"""``iotfleet simulate`` against the emulator: flags, bad input (exit 2, nothing sent), text and JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))  # the shared OTA fleet set-up

from mqtt_fleet import enrol
from ota_fleet import make_ota_fleet

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.simulate import behaviour
from iotfleet.fleet.simulate.behaviour import BehaviourModel


def base(emulator: LocalEmulator, *extra: str) -> list[str]:
    return ["--target", "local", "--endpoint-url", emulator.endpoint_url, *extra]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--job", "ota-1", "--success-rate", "150"], "between 0 and 100"),
        (["--job", "ota-1", "--success-rate", "-1"], "between 0 and 100"),
        (["--job", "ota-1", "--failure-weights", "download=0,hang=0"], "must sum to a positive number"),
        (["--job", "ota-1", "--failure-weights", "meteor=1"], "MODE one of"),
        (["--job", "ota-1", "--latency", "soon"], "--latency"),
        (["--job", "ota-1", "--devices", "0"], "--devices"),
        (["--job", "ota-1", "--until", "-5"], "--until"),
        (["--job", "ota-1", "--fleet", "sim"], "not both"),
        ([], "missing --job JOB or --fleet NAME"),
        (["--job", "nope"], "job 'nope' does not exist"),
        (["--fleet", "nobody"], "no things belong to fleet 'nobody'"),
    ],
)
def test_bad_input_is_exit_2_and_sends_nothing_to_devices(
    invoke: Any, emulator: LocalEmulator, boto_clients: Any, flags: list[str], message: str
) -> None:
    make_ota_fleet(boto_clients, 2)
    emulator.reset_counters()
    ran = invoke(*base(emulator, "simulate", *flags))
    assert ran.exit_code == 2, ran.stderr
    assert message in ran.stderr
    assert not [key for key in emulator.counters() if key.startswith(("iot-jobs-data:", "iot-data:", "s3:"))]
    assert boto_clients.iot.describe_job(jobId="ota-1")["job"]["jobProcessDetails"]["numberOfQueuedThings"] == 2


def test_a_run_prints_a_summary_of_outcomes_and_failure_types(
    invoke: Any, emulator: LocalEmulator, boto_clients: Any
) -> None:
    make_ota_fleet(boto_clients, 12)
    ran = invoke(*base(emulator, "simulate", "--job", "ota-1", "--success-rate", "50", "--seed", "11",
                       "--failure-weights", "checksum=1,install=1", "--latency", "0"))  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    assert "Simulation of job ota-1" in ran.stdout
    assert "Seed" in ran.stdout and "11" in ran.stdout
    for heading in ("Outcome", "succeeded", "failed", "Failure type"):
        assert heading in ran.stdout
    assert "Simulating 12 device(s) of job ota-1" in ran.stderr
    assert boto_clients.iot.describe_job(jobId="ota-1")["job"]["status"] == "COMPLETED"


def test_json_output_is_one_document_that_replays_with_the_seed(
    invoke: Any, emulator: LocalEmulator, boto_clients: Any
) -> None:
    make_ota_fleet(boto_clients, 20)
    ran = invoke(*base(emulator, "--output", "json", "simulate", "--job", "ota-1", "--success-rate", "60",
                       "--seed", "5", "--latency", "0", "--devices", "15"))  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert (result["devices"], result["devicesInScope"], result["executions"]) == (15, 20, 15)
    assert sum(result["outcomes"].values()) == 15
    assert result["behaviour"] == {"successRate": 60.0, "failureWeights": behaviour.DEFAULT_FAILURE_WEIGHTS,
                                   "latency": "0", "seed": 5}  # fmt: skip
    model = BehaviourModel.from_options(
        success_rate=60, failure_weights=behaviour.DEFAULT_FAILURE_WEIGHTS, latency="0", seed=5
    )
    for record in result["executionRecords"]:
        planned = model.plan("ota-1", record["thingName"], record["attempt"])
        assert (record["outcome"] == "succeeded") == (planned.outcome == behaviour.SUCCESS)
    assert result["idleDevices"] == {} and result["errors"] == []


def test_fleet_scope_and_package_shadow(invoke: Any, emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 3)
    ran = invoke(*base(emulator, "-o", "json", "simulate", "--fleet", "sim", "--latency", "0", "--seed", "1",
                       "--write-package-shadow"))  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["scope"] == {"jobId": None, "fleet": "sim"}
    assert result["outcomes"]["succeeded"] == 3
    shadow = json.loads(boto_clients.iot_data.get_thing_shadow(thingName="dev-00000", shadowName="$package")[
        "payload"].read())  # fmt: skip
    assert shadow["state"]["reported"]["fw-main"]["version"] == "1.2.0"


def test_a_seed_is_chosen_and_printed_when_none_is_given(invoke: Any, emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 1)
    ran = invoke(*base(emulator, "-o", "json", "simulate", "--job", "ota-1", "--latency", "0"))
    assert ran.exit_code == 0, ran.stderr
    assert isinstance(json.loads(ran.stdout)["behaviour"]["seed"], int)


@pytest.mark.parametrize("named", [False, True], ids=["learned from the emulator", "given"])
def test_devices_over_mqtt_connect_with_their_own_certificates(
    invoke: Any, emulator: LocalEmulator, boto_clients: Any, tmp_path: Path, named: bool
) -> None:
    fleet = make_ota_fleet(boto_clients, 4)
    enrol(emulator, fleet.fleet, fleet.things, tmp_path / "keys")
    emulator.advance(120)
    emulator.reset_counters()
    where = ["--mqtt-endpoint", emulator.mqtt_endpoint or "", "--mqtt-ca", emulator.ca_path or ""] if named else []
    ran = invoke(*base(emulator, "--output", "json", "simulate", "--job", "ota-1", "--transport", "mqtt",
                       "--keys-dir", str(tmp_path / "keys"), "--latency", "0", *where))  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["options"]["transport"] == "mqtt" and result["outcomes"]["succeeded"] == 4
    counted = emulator.counters()
    assert counted["mqtt:Connect"]["calls"] == 4 and "iot-data:UpdateThingShadow" not in counted


@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--mqtt-endpoint", "host:99999"], "--mqtt-endpoint"), (["--mqtt-ca", "no-such-ca.pem"], "--mqtt-ca")],
)
def test_a_bad_mqtt_endpoint_is_a_usage_error_before_any_device_runs(
    invoke: Any, emulator: LocalEmulator, boto_clients: Any, flags: list[str], named: str
) -> None:
    make_ota_fleet(boto_clients, 2)
    ran = invoke(*base(emulator, "simulate", "--job", "ota-1", "--transport", "mqtt", *flags))
    assert ran.exit_code == 2 and named in ran.stderr
    assert boto_clients.iot.describe_job(jobId="ota-1")["job"]["jobProcessDetails"]["numberOfQueuedThings"] == 2

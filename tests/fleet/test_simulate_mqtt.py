"""Simulated devices over MQTT against the emulator: each with its own certificate, woken by notify-next, with
the same behaviour model, outcomes and result as over HTTPS."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mqtt_fleet import enrol
from ota_fleet import aws_context, executions_of, make_ota_fleet, shadow_of
from test_simulate_run import TERMINAL, clock_running, expected_outcome, model

from iotfleet.aws.errors import UsageError
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.simulate import device
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.mqtt_network import MqttEndpoint
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, SimulationResult, run_simulation
from iotfleet.fleet.simulate.transport import MqttSettings

# The emulator enforces no connect or subscription quota here; the client's own pacing would spread 2,000
# connects over 4 s and their 4,000 topic filters over 20 s.
QUOTAS = {"mqtt:Connect": 5000.0, "mqtt:Subscribe": 10000.0}


def mqtt_options(emulator: LocalEmulator, keys: Path, **extra: Any) -> SimulationOptions:
    endpoint = MqttEndpoint.parse(emulator.mqtt_endpoint or "", emulator.ca_path)
    settings = {"poll_initial": 0.05, "poll_max": 0.2, "job_check_interval": 0.2, **extra}
    return SimulationOptions(transport="mqtt", mqtt=MqttSettings(endpoint=endpoint, keys_dir=str(keys)), **settings)


def simulate(emulator: LocalEmulator, chosen: BehaviourModel, options: SimulationOptions, *, job_id: str | None = "ota-1",
             fleet: str | None = None) -> SimulationResult:  # fmt: skip
    with aws_context(emulator.endpoint_url, quotas=QUOTAS) as ctx:
        plan = plan_simulation(ctx, job_id=job_id, fleet=fleet)
        return run_simulation(ctx, plan, chosen, options)


@pytest.mark.slow
def test_two_thousand_devices_complete_a_job_over_mqtt(emulator: LocalEmulator, boto_clients: Any, tmp_path: Path) -> None:
    fleet = make_ota_fleet(boto_clients, 2000)
    enrol(emulator, fleet.fleet, fleet.things, tmp_path / "keys")
    emulator.advance(180)  # the default rollout (1,000 a minute) has released every execution
    chosen = model(success_rate=80, seed=2024)
    emulator.reset_counters()
    result = simulate(emulator, chosen, mqtt_options(emulator, tmp_path / "keys"))

    assert result.failures == [] and result.idle == {} and not result.interrupted
    job = boto_clients.iot.describe_job(jobId="ota-1")["job"]
    assert job["status"] == "COMPLETED"
    listed = executions_of(boto_clients.iot, "ota-1")
    assert len(listed) == 2000 and {e["jobExecutionSummary"]["status"] for e in listed} <= TERMINAL
    recorded = [(r.thing_name, r.execution_number) for r in result.executions]
    assert len(set(recorded)) == 2000
    assert Counter(e["jobExecutionSummary"]["status"] for e in listed) == Counter(r.status for r in result.executions)
    succeeded = result.outcome_counts()[device.OUTCOME_SUCCEEDED]
    assert abs(succeeded - 1600) < 4 * math.sqrt(2000 * 0.8 * 0.2)
    for record in result.executions:  # the same draws as over HTTPS
        assert (record.outcome, record.failure_type) == expected_outcome(chosen.plan("ota-1", record.thing_name, record.attempt))

    counters = emulator.counters()
    assert counters["mqtt:Connect"]["calls"] == 2000
    assert counters["mqtt:Subscribe"]["calls"] == 4000  # notify-next and the shadow's answers: two filters each
    assert counters["iot-jobs-data:DescribeJobExecution"]["calls"] == 2000  # over MQTT: one look each, no polling
    assert "iot-data:UpdateThingShadow" not in counters  # the firmware report went over the shadow topic
    done = next(r.thing_name for r in result.executions if r.outcome == device.OUTCOME_SUCCEEDED)
    assert shadow_of(boto_clients.iot_data, done)["state"]["reported"][device.FIRMWARE_SHADOW_KEY]["version"] == fleet.version


def test_waiting_devices_are_woken_by_notify_next_instead_of_polling(emulator: LocalEmulator, boto_clients: Any,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    fleet = make_ota_fleet(boto_clients, 12, jobExecutionsRolloutConfig={"maximumPerMinute": 4})
    enrol(emulator, fleet.fleet, fleet.things, tmp_path / "keys")
    emulator.reset_counters()
    with clock_running(emulator, step=6):  # a rollout minute every 0.5 s: devices polling at 0.2 s would look often
        result = simulate(emulator, model(), mqtt_options(emulator, tmp_path / "keys"), job_id=None, fleet=fleet.fleet)
    assert result.outcome_counts()[device.OUTCOME_SUCCEEDED] == 12 and result.failures == []
    starts = emulator.counters()["iot-jobs-data:StartNextPendingJobExecution"]["calls"]
    # Per device: one look at start, one when notify-next announces its execution, one after the execution, and
    # one more if its last look came before the run learned that nothing more will be released. No polling.
    assert starts <= 12 * 4


@pytest.mark.parametrize("client_rate", [8.0, 8000.0], ids=["paced", "refused-then-retried"])
def test_devices_connect_within_the_accounts_connect_quota(emulator: LocalEmulator, boto_clients: Any, tmp_path: Path,
                                                           client_rate: float) -> None:  # fmt: skip
    fleet = make_ota_fleet(boto_clients, 24)
    enrol(emulator, fleet.fleet, fleet.things, tmp_path / "keys")
    emulator.advance(120)
    # The endpoint refuses connects above 8 a second (its bucket holds one second's worth), as AWS IoT does
    # when a client, or the others sharing the account's quota, goes faster: 24 devices at once meet 16
    # refusals. Paced at the same 8, next to none is refused (the pace is kept when a connect starts, so a
    # stall of the process that bunches TLS handshakes can push a few over); unpaced, each refused device
    # backs off and tries again. Either way every device connects.
    emulator.set_quotas(enforce=True, overrides={"mqtt:Connect": 8.0})
    emulator.reset_counters()
    with aws_context(emulator.endpoint_url, quotas={**QUOTAS, "mqtt:Connect": client_rate}) as ctx:
        plan = plan_simulation(ctx, job_id="ota-1")
        result = run_simulation(ctx, plan, model(), mqtt_options(emulator, tmp_path / "keys"))
    assert result.failures == [] and result.outcome_counts()[device.OUTCOME_SUCCEEDED] == 24
    connects = emulator.counters()["mqtt:Connect"]
    assert connects["calls"] == 24 + connects["throttles"]
    if client_rate <= 8.0:
        assert connects["throttles"] <= 4
    else:
        assert connects["throttles"] >= 16


def test_mqtt_needs_the_fleets_key_store(emulator: LocalEmulator, boto_clients: Any, tmp_path: Path) -> None:
    make_ota_fleet(boto_clients, 2)
    with pytest.raises(UsageError) as refused:
        simulate(emulator, model(), mqtt_options(emulator, tmp_path / "empty"))
    assert refused.value.param == "--keys-dir"
    detail = boto_clients.iot.describe_job(jobId="ota-1")["job"]["jobProcessDetails"]
    assert detail["numberOfQueuedThings"] == 2


def test_a_device_without_a_certificate_fails_alone(emulator: LocalEmulator, boto_clients: Any, tmp_path: Path) -> None:
    fleet = make_ota_fleet(boto_clients, 3)
    enrol(emulator, fleet.fleet, fleet.things[:2], tmp_path / "keys")
    emulator.advance(120)
    result = simulate(emulator, model(), mqtt_options(emulator, tmp_path / "keys"))
    assert [f.name for f in result.failures] == [fleet.things[2]]
    assert "cannot connect over MQTT" in result.failures[0].error
    assert result.outcome_counts()[device.OUTCOME_SUCCEEDED] == 2


def test_a_named_shadow_is_subscribed_to_on_its_first_update(emulator: LocalEmulator, boto_clients: Any,
                                                            tmp_path: Path) -> None:  # fmt: skip
    fleet = make_ota_fleet(boto_clients, 2)
    enrol(emulator, fleet.fleet, fleet.things, tmp_path / "keys")
    emulator.advance(120)
    emulator.reset_counters()
    result = simulate(emulator, model(), mqtt_options(emulator, tmp_path / "keys", write_package_shadow=True))
    assert result.outcome_counts()[device.OUTCOME_SUCCEEDED] == 2 and result.failures == []
    assert emulator.counters()["mqtt:Subscribe"]["calls"] == 2 * 3  # notify-next, the classic and $package answers
    package = shadow_of(boto_clients.iot_data, fleet.things[0], device.PACKAGE_SHADOW)["state"]["reported"]
    assert {name: entry["version"] for name, entry in package.items()} == {fleet.package: fleet.version}
